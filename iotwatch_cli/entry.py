"""The `iotwatch` command's entry point, and the one rule for how it ends (iotwatch_cli.errors):
an exit code from the command, or a one-line message for what a user can cause anywhere
(a part not installed, Ctrl-C, a closed pipe, a file that is not text, no AWS region or
credentials), never a traceback. The command is installed with the Lambda package alone too,
so a missing part is named with the extra that installs it."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from iotwatch_cli.errors import (
    EXIT_BAD_INPUT,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    aws_failure,
)

# top-level module -> the extra that installs it (pyproject.toml, requirements/)
EXTRA_OF = {
    "pydantic": "cli",
    "yaml": "cli",
    "matplotlib": "cli",
    "aws_cdk": "local",
    "cdk_nag": "local",
    "moto": "local",
}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # a pipe closed early shows here, inside the rule, not at exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("iotwatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(argv: Sequence[str] | None) -> int:
    try:
        from iotwatch_cli.main import main as run

        return run(argv)  # some parts are imported by the command that needs them (yaml, moto)
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"iotwatch: {exc.name} is not installed; install the command with pip install 'iotwatch[{extra}]'",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except UnicodeDecodeError as exc:  # a reader that did not say which file: at least say what
        print(
            f"error: an input is not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8 (plans, CSV and audit logs are text)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except Exception as exc:
        if not _missing_aws_setting(exc):
            raise  # a bug: its traceback is what a report needs
        failure = aws_failure(exc)
        print(failure, file=sys.stderr)
        return failure.code


def _missing_aws_setting(exc: Exception) -> bool:
    """No region or credentials, from a command that let botocore's error through (botocore is
    imported only when a command talks to AWS: `score` must not pay for it)."""
    if "botocore.exceptions" not in sys.modules:
        return False
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError

    return isinstance(exc, NoRegionError | NoCredentialsError | PartialCredentialsError)


def _quiet_stdout() -> None:
    """Python flushes stdout again at exit and would complain about the same closed pipe: point
    it at /dev/null (the recipe of Python's signal module documentation, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by something without a descriptor (tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
