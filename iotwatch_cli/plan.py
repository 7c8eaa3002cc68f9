"""`iotwatch plan validate | schema | cost`: check a monitoring plan, print its JSON Schema,
estimate its cost (`plan cost`: iotwatch_cli.cost)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from iotwatch.plan.loader import DEFAULT_PLAN_FILE

from iotwatch_cli import cost
from iotwatch_cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK
from iotwatch_cli.parsing import command_group
from iotwatch_cli.plan_file import read_checked_plan
from iotwatch_cli.plan_summary import plan_summary, warning_lines


def cmd_plan_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    read = read_checked_plan(args.file, err, resolve_env=args.resolve_env)
    if read is None:
        return EXIT_BAD_INPUT
    plan, check = read
    warnings = warning_lines(check, args.file)
    if warnings:
        print(f"{len(warnings)} warning(s):", file=out)
        print("\n".join(f"  {w}" for w in warnings), file=out)
        print(file=out)
    print(plan_summary(plan, check, args.file), file=out)
    if warnings and args.strict:
        print(f"{args.file}: --strict: {len(warnings)} warning(s) fail the check; fix them", file=err)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_plan_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch.plan.schema import plan_json_schema_text

    out.write(plan_json_schema_text())
    return EXIT_OK


def register(commands: Any) -> None:
    """Registers `plan validate|schema|cost` on the top-level subparsers."""
    plan_commands = command_group(commands, "plan", "check a monitoring plan")
    validate = plan_commands.add_parser(
        "validate", help="list every problem, or summarize what will be deployed"
    )
    validate.add_argument(
        "file", nargs="?", default=DEFAULT_PLAN_FILE, help=f"plan file (default {DEFAULT_PLAN_FILE})"
    )
    validate.add_argument(
        "--resolve-env",
        action="store_true",
        help="require {env: VAR} contacts to be set now, as `cdk synth` does",
    )
    validate.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the plan has warnings (for CI), 2 on errors as always",
    )
    validate.set_defaults(func=cmd_plan_validate)

    schema = plan_commands.add_parser(
        "schema",
        help="print the plan's JSON Schema (for editors; checked in as docs/monitoring-plan.schema.json)",
    )
    schema.set_defaults(func=cmd_plan_schema)

    cost.register(plan_commands)
