#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c plan=monitoring-plan.yaml [-c stage=dev]` (or `python app.py`).
Context keys and the environment: see infra/app.py.

A plan with problems stops synth with every problem listed and exit status 2, as does a bad
context value (the message names the key); a plan's warnings are printed on stderr, and with
`-c strict=true` stop synth with exit status 1; a cdk-nag finding without an acknowledgement
stops it with the validation report and exit status 1. None prints a Python traceback.

cdk.json runs this file as
    test -x .venv/bin/python && exec .venv/bin/python app.py || exec python3 app.py
so `npx cdk synth` uses the project's virtualenv (where aws-cdk-lib, cdk-nag and the plan
model are installed) without anyone activating it, and still works in CI images that
install the dependencies into the system Python. `exec` keeps this script's exit status,
and the `||` branch only runs when there is no venv, never after a failed synth. (POSIX
shell only; on Windows run `python app.py` through `cdk --app`.)
"""

from __future__ import annotations

import sys

from iotwatch.plan.loader import PlanError, PlanWarnings

from infra.app import ContextError, build_app


def main() -> int:
    try:
        app = build_app()
    except PlanWarnings as exc:
        print(exc, file=sys.stderr)
        return 1
    except (PlanError, ContextError) as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        app.synth()
    except RuntimeError as exc:  # jsii surfaces CDK errors as RuntimeError
        if "ValidationFailed" not in str(exc):
            raise
        # CDK has already printed the validation report (cdk-nag findings) above.
        print(f"synth stopped: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
