"""Errors the CLI reports as a message and an exit code, never a traceback.

Exit codes, for every command (README, "Seeing why iotwatch says what it says"):
- 0: done (for `plan validate --strict`: and no warnings);
- 1: the check or the work failed: AWS refused or could not be reached (no region or
  credentials set included: the message says which variable to set), a warning under
  `--strict`;
- 2: bad input the user can fix: arguments, a plan, a CSV, an audit log;
- 130: interrupted (Ctrl-C), as a shell reports a process stopped by SIGINT;
- 141: whoever read the output went away (`iotwatch score x.csv | head`), as a shell reports
  a process stopped by SIGPIPE; nothing is printed.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE

REGION_HINT = "set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your AWS profile (aws configure)"
CREDENTIALS_HINT = (
    "set AWS_PROFILE, or run `aws configure` / `aws sso login`, or export AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY"
)


class CliError(Exception):
    """Something the user can fix (or cannot reach); the message says what, `code` how to exit."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def aws_failure(exc: Exception) -> CliError:
    """A botocore error as the CLI reports it (exit 1): a missing region or credentials with
    what to set, anything else as AWS unreachable."""
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError

    if isinstance(exc, NoRegionError):
        return CliError(f"error: no AWS region: {REGION_HINT}", EXIT_FAILURE)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(f"error: no AWS credentials: {CREDENTIALS_HINT}", EXIT_FAILURE)
    return CliError(f"error: cannot reach AWS: {exc}", EXIT_FAILURE)
