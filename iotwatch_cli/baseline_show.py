"""`iotwatch baseline show`: one series' learned baseline, and why it is what it is.

Names the series from the arguments, reads its baseline and tracker from the stack's table
and prints them as `iotwatch_cli.baseline_report` renders them (the stored facts and a
7 x 24 grid of the expected value per UTC hour). Only `cmd_baseline_show` talks to AWS.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any, TextIO

from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.plan.loader import DEFAULT_PLAN_FILE

from iotwatch_cli.baseline_report import BaselineView, render_json, render_text
from iotwatch_cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, CliError
from iotwatch_cli.parsing import command_group, dimension_options

LISTED_SERIES = 20
SCAN_PAGES = 5


def clock() -> float:
    """Now, for the grid's "now" marker (a function, so tests can fix it)."""
    return time.time()


class ShowError(CliError):
    """A `baseline show` problem the user can fix, or an AWS resource it cannot reach."""


# --- naming the series ---------------------------------------------------------------------


def parse_dimensions(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return dimension_options(items, error=ShowError, one_value_per="a series has one value per dimension")


def series_for(
    namespace: str,
    metric: str,
    dimensions: tuple[tuple[str, str], ...],
    *,
    plan_series: Sequence[Series],
    default: DetectionSettings,
    period: int,
) -> tuple[Series, bool]:
    """The plan's series with this id (its own detection settings), else one at the plan's defaults."""
    candidate = Series(
        namespace=namespace,
        metric=metric,
        dimensions=dimensions,
        statistic="Sum",
        period=period,
        detection=default,
    )
    for s in plan_series:
        if s.id == candidate.id:
            return s, True
    return candidate, False


def show_command(series_id: str) -> str:
    """The `baseline show` arguments that name `series_id`."""
    namespace, _, rest = series_id.partition("|")
    metric, _, dims = rest.partition("|")
    words = [metric]
    words += [f"--dimension {pair}" for pair in dims.split(",") if pair]
    if namespace != "AWS/IoT":
        words.append(f"--namespace {namespace}")
    return " ".join(words)


def missing_message(series_id: str, table: str, existing: Sequence[str], *, more: bool) -> str:
    metric = series_id.split("|")[1] if series_id.count("|") >= 2 else series_id
    lines = [f"error: no baseline for series {series_id} in table {table}."]
    if not existing:
        lines.append(
            "The table holds no baselines yet: the baseline builder runs after each deploy and on the "
            "plan's baseline_refresh schedule."
        )
        return "\n".join(lines)
    close = [sid for sid in existing if sid.split("|")[1:2] == [metric]]
    if close:
        lines.append("Did you mean:")
        lines += [f"  iotwatch baseline show {show_command(sid)}" for sid in close]
    shown = list(existing)[:LISTED_SERIES]
    suffix = " (first ones)" if more or len(existing) > len(shown) else ""
    lines.append(f"Series with a baseline in the table{suffix}:")
    lines += [f"  {sid}" for sid in shown]
    return "\n".join(lines)


# --- AWS -----------------------------------------------------------------------------------


def list_baseline_series(dynamodb: Any, table: str, *, limit: int = LISTED_SERIES) -> tuple[list[str], bool]:
    """Series ids that have a baseline item, from a Scan of at most a few pages. Returns the
    ids (sorted) and whether the table may hold more than were listed."""
    from iotwatch.adapters.store.series_items import BASELINE_SK

    found: list[str] = []
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "pk",
        "FilterExpression": "sk = :b",
        "ExpressionAttributeValues": {":b": {"S": BASELINE_SK}},
    }
    more = False
    for _ in range(SCAN_PAGES):
        response = dynamodb.scan(**request)
        found += [item["pk"]["S"].removeprefix("SERIES#") for item in response.get("Items", [])]
        key = response.get("LastEvaluatedKey")
        more = bool(key)
        if not key or len(found) >= limit * 5:
            break
        request["ExclusiveStartKey"] = key
    return sorted(found), more


def cmd_baseline_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.store.state_store import DynamoStateStore
    from iotwatch.plan.expand import expand_series, unlisted_detection

    from iotwatch_cli.errors import aws_failure
    from iotwatch_cli.plan_file import plan_or_report
    from iotwatch_cli.stack_table import resolve_table

    plan = plan_or_report(args.plan, err)
    if plan is None:
        return EXIT_BAD_INPUT
    try:
        dimensions = parse_dimensions(args.dimension)
        series, in_plan = series_for(
            args.namespace,
            args.metric,
            dimensions,
            plan_series=expand_series(plan),
            default=unlisted_detection(plan.detection, args.metric),
            period=plan.frequency.period_seconds,
        )
        stack = None if args.table else (args.stack or plan.stack_name)
        table = args.table or resolve_table(client("cloudformation"), stack or "")
        dynamodb = client("dynamodb")
        store = DynamoStateStore(dynamodb, table)
        try:
            found = store.baselines.get_baselines([series.id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise ShowError(f"error: table {table} does not exist (or is not in this region)") from None
            raise
        baseline = found.get(series.id)
        tracker = (
            store.series_state.get_trackers([series.id]).get(series.id) if baseline is not None else None
        )
        if baseline is None:
            existing, more = list_baseline_series(dynamodb, table)
            raise ShowError(missing_message(series.id, table, existing, more=more))
    except CliError as exc:
        print(exc, file=err)
        return exc.code
    except BotoCoreError as exc:
        failure = aws_failure(exc)
        print(failure, file=err)
        return failure.code
    except ClientError as exc:
        print(f"error: cannot read the baseline from AWS: {exc}", file=err)
        return EXIT_FAILURE
    exclusions = [(*e.window, e.reason) for e in plan.detection.exclude_from_training]
    view = BaselineView(
        baseline,
        series,
        in_plan=in_plan,
        plan_name=plan.name,
        table=table,
        stack=stack,
        exclusions=exclusions,
        tracker=tracker,
    )
    if args.json:
        print(json.dumps(render_json(view), indent=2), file=out)
    else:
        text = render_text(view, now=clock())
        print(text, file=out)
    return EXIT_OK


def register(commands: Any) -> None:
    """Registers `baseline show` on the top-level subparsers."""
    baseline_commands = command_group(commands, "baseline", "inspect the baselines a deployed stack learned")
    show = baseline_commands.add_parser(
        "show", help="print a series' expected band by hour of week, and where it came from"
    )
    show.add_argument("metric", help="metric name, e.g. PublishIn.Success")
    show.add_argument(
        "--dimension",
        action="append",
        default=[],
        metavar="K=V",
        help="dimension of the series, e.g. Protocol=MQTT (repeat for several)",
    )
    show.add_argument("--namespace", default="AWS/IoT", help="metric namespace (default AWS/IoT)")
    where = show.add_mutually_exclusive_group()
    where.add_argument("--table", help="DynamoDB table holding the baselines")
    where.add_argument("--stack", help="iotwatch stack whose TableName output to use (default: the plan's)")
    show.add_argument("--plan", default=DEFAULT_PLAN_FILE, help="plan for the stack name and sensitivity")
    show.add_argument("--json", action="store_true", help="print every figure as JSON (168 hours)")
    show.set_defaults(func=cmd_baseline_show)
