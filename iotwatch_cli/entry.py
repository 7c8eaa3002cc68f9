"""The `iotwatch` command's entry point: says which installable part is missing rather than
failing with an import error (the command is installed with the Lambda package alone too)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

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
        return 2


if __name__ == "__main__":
    sys.exit(main())
