"""The stack's table, as the CLI commands that read or write it find it: `--table NAME`, or the
`TableName` output of `--stack NAME` (default: the plan's stack), and AWS errors said plainly."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TextIO

from iotwatch.plan.loader import DEFAULT_PLAN_FILE
from iotwatch.stack_outputs import OUTPUT_TABLE_NAME

from iotwatch_cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, CliError, aws_failure


def add_table_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """--table / --stack / --plan. `suppress`: on a subcommand whose parent has them too, so a
    value given before the subcommand is not reset by the subcommand's default."""
    default = argparse.SUPPRESS if suppress else None
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--table", default=default, help="DynamoDB table of the stack")
    where.add_argument(
        "--stack", default=default, help="iotwatch stack whose TableName output to use (default: the plan's)"
    )
    parser.add_argument(
        "--plan",
        default=argparse.SUPPRESS if suppress else DEFAULT_PLAN_FILE,
        help="plan for the stack name and its series",
    )


def resolve_table(cloudformation: Any, stack_name: str) -> str:
    """The stack's `TableName` output."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            raise CliError(
                f"error: stack {stack_name} not found ({exc.response['Error'].get('Message', '')}); "
                "pass --stack NAME or --table NAME"
            ) from None
        raise
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output.get("OutputKey") == OUTPUT_TABLE_NAME:
            return str(output["OutputValue"])
    raise CliError(f"error: stack {stack_name} has no {OUTPUT_TABLE_NAME} output; is it an iotwatch stack?")


def open_store(args: argparse.Namespace, plan: Any) -> tuple[Any, str]:
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.store.state_store import DynamoStateStore

    stack = None if args.table else (args.stack or plan.stack_name)
    table = args.table or resolve_table(client("cloudformation"), stack or "")
    return DynamoStateStore(client("dynamodb"), table), table


def run_with_plan(args: argparse.Namespace, out: TextIO, err: TextIO, action: Callable[[Any], int]) -> int:
    """Loads `--plan`, runs `action(plan)`, and turns what can go wrong into a message and an
    exit code: 2 for what the user can fix, 1 for AWS refusing or unreachable."""
    from botocore.exceptions import BotoCoreError, ClientError
    from iotwatch.plan.loader import PlanError, load_plan

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        print(exc, file=err)
        return EXIT_BAD_INPUT
    try:
        return int(action(plan))
    except CliError as exc:
        print(exc, file=err)
        return exc.code
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            print(
                "error: the table does not exist (or is not in this region); check --table/--stack", file=err
            )
            return EXIT_BAD_INPUT
        print(f"error: AWS refused the request: {exc}", file=err)
        return EXIT_FAILURE
    except BotoCoreError as exc:
        failure = aws_failure(exc)
        print(failure, file=err)
        return failure.code
