"""Building the CDK app from a monitoring plan, usable in-process (tests, demo) and by app.py.

    app = build_app("monitoring-plan.yaml", outdir="cdk.out")
    app.synth()

Context keys (`cdk synth -c key=value`, or `context=` here):
- `plan`: path of the monitoring plan (default monitoring-plan.yaml, relative to the cwd);
- `data_removal_policy`: `retain` (default) or `destroy` for the baselines table; `destroy`
  is for demos and throw-away stacks.

The feature flags in cdk.json are applied here too, so an in-process synth produces the same
template as `cdk synth`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from iotwatch.plan.loader import DEFAULT_PLAN_FILE, load_plan

from infra.nag import enable_nag
from infra.naming import check_output_names
from infra.stack import IotWatchStack

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"
CONTEXT_PLAN = "plan"
CONTEXT_DATA_REMOVAL = "data_removal_policy"
_REMOVAL_POLICIES = {"retain": cdk.RemovalPolicy.RETAIN, "destroy": cdk.RemovalPolicy.DESTROY}


def project_context() -> dict[str, Any]:
    """The `context` block of cdk.json (feature flags)."""
    try:
        return dict(json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {}))
    except FileNotFoundError:
        return {}


def build_app(
    plan_path: str | os.PathLike[str] | None = None,
    outdir: str | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> cdk.App:
    """An App with the plan's stack and cdk-nag attached. Raises PlanError for a bad plan.

    `plan_path` wins over the `plan` context key. `environ` is where {env: VAR} contacts are
    read from (default: os.environ).
    """
    app = cdk.App(outdir=outdir, context={**project_context(), **(context or {})})
    path = Path(
        plan_path if plan_path is not None else app.node.try_get_context(CONTEXT_PLAN) or DEFAULT_PLAN_FILE
    )
    env = os.environ if environ is None else environ
    plan = load_plan(path, environ=env, resolve_env=True)
    check_output_names(plan, str(path))

    removal = str(app.node.try_get_context(CONTEXT_DATA_REMOVAL) or "retain").lower()
    if removal not in _REMOVAL_POLICIES:
        raise ValueError(
            f"context {CONTEXT_DATA_REMOVAL} must be one of {', '.join(_REMOVAL_POLICIES)}, got {removal!r}"
        )

    IotWatchStack(
        app,
        plan=plan,
        # Staged code lives beside the cloud assembly (cdk.out/.iotwatch-staging/<hash>).
        staging_root=app.outdir,
        data_removal_policy=_REMOVAL_POLICIES[removal],
        environ=env,
    )
    enable_nag(app)
    return app


def iotwatch_stack(app: cdk.App) -> IotWatchStack:
    """The (single) iotwatch stack of an app made by build_app."""
    stacks = [child for child in app.node.children if isinstance(child, IotWatchStack)]
    if len(stacks) != 1:
        raise LookupError(f"expected one IotWatchStack in the app, found {len(stacks)}")
    return stacks[0]


def build_stack(
    plan_path: str | os.PathLike[str],
    outdir: str | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> IotWatchStack:
    """build_app, then the stack: what tests and the demo usually want."""
    return iotwatch_stack(build_app(plan_path, outdir, context, environ=environ))
