"""The `iotwatch` command."""

from __future__ import annotations

import argparse
import csv
import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from iotwatch.domain.series import Series
from iotwatch.plan.loader import DEFAULT_PLAN_FILE, PlanError
from iotwatch.plan.model.detection import Detection
from iotwatch.plan.model.frequency import Frequency
from iotwatch.plan.model.plan import Plan

from iotwatch_cli.plan_file import plan_or_builtin, read_checked_plan
from iotwatch_cli.plan_summary import plan_summary, warning_lines

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
OUTPUT_BLOCK = 1000  # rows of `score` output per write
REPLAY_GC_THRESHOLD = 100_000  # allocations between young-generation collections while replaying


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


def cmd_score(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch.service.backtest import refresh_interval
    from iotwatch.service.replay import ReplayPoint, prebuilt_baselines, replay, snap_to_grid

    from iotwatch_cli.series_csv import CsvInputError, period_of, read_series_csv

    try:
        plan = score_plan(args.plan, err)
    except PlanError as exc:
        print(exc, file=err)
        return EXIT_BAD_INPUT
    warnings: list[str] = []
    try:
        if args.file == "-":
            rows = read_series_csv(sys.stdin, source="<stdin>", warnings=warnings)
        else:
            with open(args.file, encoding="utf-8", newline="") as handle:
                rows = read_series_csv(handle, source=args.file, warnings=warnings)
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=err)
        return EXIT_BAD_INPUT
    except CsvInputError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    if args.period is not None and args.period <= 0:
        print("error: --period must be a positive number of seconds", file=err)
        return EXIT_BAD_INPUT
    period = period_of(rows, args.period, args.file if args.file != "-" else "<stdin>", warnings)
    for warning in warnings:
        print(warning, file=err)
    snapped, _ = snap_to_grid([r.ts for r in rows], period)
    series = score_series(plan, period)
    refresh = refresh_interval(plan.frequency)
    points = [ReplayPoint(ts, r.value) for ts, r in zip(snapped, rows, strict=True)]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "anomaly_score", "alert"])
    history_days, excluded = plan.frequency.history_days, plan.detection.excluded_windows
    with (
        few_collections(),
        prebuilt_baselines(
            points, series=series, history_days=history_days, refresh_seconds=refresh, excluded=excluded
        ) as prebuilt,
    ):
        replayed = replay(
            points,
            series=series,
            history_days=history_days,
            refresh_seconds=refresh,
            excluded=excluded,
            prebuilt=prebuilt,
        )
        # one write per row costs more than the row's judgement: lines go out in blocks
        block: list[str] = []
        for row, result in zip(rows, replayed, strict=True):
            block.append(f"{row.raw_timestamp},{result.anomaly_score:.4f},{1 if result.alert else 0}\n")
            if len(block) == OUTPUT_BLOCK:
                out.write("".join(block))
                block.clear()
        out.write("".join(block))
    return EXIT_OK


@contextmanager
def few_collections() -> Iterator[None]:
    """The replay allocates a few short-lived objects per row and makes no reference cycles:
    the garbage collector need not walk the parsed file (frozen) nor run every 700 allocations."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(REPLAY_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@dataclass(frozen=True)
class ScoringPlan:
    """What `score` takes from a plan: its default detection and how often baselines rebuild."""

    detection: Detection
    frequency: Frequency


def score_plan(path: str | None, err: TextIO) -> ScoringPlan:
    """The plan `--plan` names; without one, the plan file here, else the built-in defaults
    (said on stderr: iotwatch_cli.plan_file.plan_or_builtin)."""
    plan = plan_or_builtin(path, err, "scoring")
    if plan is None:
        return ScoringPlan(Detection(), Frequency())
    return ScoringPlan(plan.detection, plan.frequency)


def score_series(plan: Plan | ScoringPlan, period: int) -> Series:
    """The series a CSV replays as: the plan's default detection, at the CSV's period."""
    from iotwatch.plan.expand import unlisted_detection

    return Series(
        namespace="csv",
        metric="value",
        dimensions=(),
        statistic="Sum",
        period=period,
        detection=unlisted_detection(plan.detection, "value"),
    )


def cmd_baseline_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch_cli.baseline_show import cmd_baseline_show as run

    return run(args, out, err)


def cmd_backtest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch_cli.backtest import cmd_backtest as run

    return run(args, out, err)


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch_local.demo import run_demo

    return run_demo(plan_path=args.plan, out_dir=args.out, stream=out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iotwatch", description="Alerting for AWS IoT Core fleets from learned baselines."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser("plan", help="check a monitoring plan")
    plan_commands = plan.add_subparsers(dest="plan_command", required=True, metavar="SUBCOMMAND")
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

    from iotwatch_cli.cost import add_parser as add_cost_parser

    add_cost_parser(plan_commands, DEFAULT_PLAN_FILE)

    score = commands.add_parser(
        "score", help="replay a metric exported as CSV: what would iotwatch have said at each row?"
    )
    score.add_argument(
        "file",
        help="CSV of timestamp,value rows, under a header line or not (- for stdin); empty value: no datapoint",
    )
    score.add_argument(
        "--plan",
        default=None,
        help=f"plan whose default detection to use (default: {DEFAULT_PLAN_FILE} if present, else built-in)",
    )
    score.add_argument("--period", type=int, default=None, help="seconds per row (default: median spacing)")
    score.set_defaults(func=cmd_score)

    baseline = commands.add_parser("baseline", help="inspect the baselines a deployed stack learned")
    baseline_commands = baseline.add_subparsers(dest="baseline_command", required=True, metavar="SUBCOMMAND")
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

    backtest = commands.add_parser(
        "backtest", help="replay a plan's metrics (CloudWatch history or CSV files), plot them, count alerts"
    )
    backtest.add_argument(
        "--plan",
        default=None,
        help=f"plan whose series, detection and history_days to use (default: {DEFAULT_PLAN_FILE}; "
        "for --csv without one, the built-in detection)",
    )
    backtest.add_argument(
        "--csv",
        action="append",
        default=[],
        metavar="SERIES=FILE",
        help="replay FILE (timestamp,value CSV) as the plan's SERIES instead of reading CloudWatch "
        "(repeatable); SERIES is a metric, METRIC:KEY=VALUE[,KEY=VALUE] for one of its dimension "
        "values (Connect.Success:Protocol=MQTT), or a series id or label",
    )
    backtest.add_argument(
        "--days",
        type=float,
        default=None,
        help="days to score before --end (default 7 from CloudWatch, the whole file for CSV); "
        "the plan's history_days before them are warm-up",
    )
    backtest.add_argument(
        "--end", default=None, help="end of the scored window, ISO 8601 (default: now, or the CSV's last row)"
    )
    backtest.add_argument("--out", default="out/backtest", help="directory for the PNGs and summary.json")
    backtest.set_defaults(func=cmd_backtest)

    from iotwatch_cli.silence import add_parsers as add_silence_parsers

    add_silence_parsers(commands, DEFAULT_PLAN_FILE)

    from iotwatch_cli.incident_feedback import add_parsers as add_feedback_parsers
    from iotwatch_cli.incidents import add_parsers as add_incident_parsers

    add_feedback_parsers(add_incident_parsers(commands, DEFAULT_PLAN_FILE), DEFAULT_PLAN_FILE)

    from iotwatch_cli.audit import add_parsers as add_audit_parsers

    add_audit_parsers(commands)

    demo = commands.add_parser("demo", help="run iotwatch end to end on a local AWS endpoint")
    demo.add_argument("--plan", default=DEFAULT_PLAN_FILE)
    demo.add_argument("--out", default="out/demo")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args, out or sys.stdout, err or sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
