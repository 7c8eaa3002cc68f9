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

from iotwatch.domain.discovery import MAX_SERIES_PER_TEMPLATE
from iotwatch.domain.ratios import formula
from iotwatch.domain.series import Series
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.loader import DEFAULT_PLAN_FILE, PlanCheck, PlanError
from iotwatch.plan.model.detection import Detection
from iotwatch.plan.model.frequency import Frequency
from iotwatch.plan.model.plan import Plan

from iotwatch_cli.plan_file import plan_or_builtin, read_checked_plan

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
OUTPUT_BLOCK = 1000  # rows of `score` output per write
REPLAY_GC_THRESHOLD = 100_000  # allocations between young-generation collections while replaying


def plan_summary(plan: Plan, check: PlanCheck, source: str) -> str:
    series = expand_series(plan)
    f, d = plan.frequency, plan.detection
    warned = f" (with {len(check.warnings)} warning(s), above)" if check.warnings else ""
    lines = [f"{source}: OK - plan '{plan.name}' deploys as stack {plan.stack_name}{warned}", "", "Goals:"]
    lines += [f"  - {goal}" for goal in plan.goals]
    lines.append("")
    templates = expand_templates(plan)
    extra = f", and every value of a dimension for {len(templates)} metric(s)" if templates else ""
    shares = [s for s in series if s.ratio is not None]
    of_them = f" ({len(shares)} of them shares of attempts)" if shares else ""
    lines.append(f"Watches {len(series)} series{of_them}{extra}:")
    sides = {"up": "pages when it rises", "down": "pages when it falls", "both": "pages either way"}
    for s in series:
        if s.ratio is None:
            lines.append(
                f"  {s.label:<40} {s.namespace}, {s.statistic} per {s.period // 60} min; "
                f"{sides[s.detection.direction]}{_limits(s.detection.above, s.detection.below)}"
            )
            continue
        lines.append(f"  {s.label:<40} share: {formula(s.ratio)}")
        lines.append(
            f"  {'':<40} {sides[s.detection.direction]}{_limits(s.detection.above, s.detection.below)}; "
            f"judged per {s.period // 60} min with >= "
            f"{s.ratio.min_denominator:,.0f} {s.ratio.denominator_label}, >= {s.detection.min_volume:g} failed"
        )
    for t in templates:
        every = " and ".join(t.wildcard)
        lines.append(
            f"  {t.label:<40} {t.namespace}, {t.statistic} per {t.period // 60} min: "
            f"every value of {every} (discovered)"
        )
    if templates:
        lines += [
            f"  (discovered with ListMetrics: values with data in the last 14 days, at most "
            f"{MAX_SERIES_PER_TEMPLATE} per metric,",
            "   listed again hourly by the evaluator and on every baseline build; a value first seen",
            "   after the last build is learning until the next build)",
        ]
    lines.append("")
    lines.append(
        f"Evaluates on {f.evaluation} (waits {f.settle_seconds}s for CloudWatch to settle); "
        f"baselines refresh on {f.baseline_refresh} from {f.history_days} days of history; "
        + (
            f"after an outage, catches up on up to {_hours_or_minutes(f.catch_up)} of missed ticks."
            if f.catch_up
            else "missed ticks are not caught up on (frequency.catch_up: 0)."
        )
    )
    lines.append(
        f"Pages at deviation >= {d.sensitivity.warning:g} sd (warning) / {d.sensitivity.critical:g} sd (critical) "
        f"for {d.pending_periods} period(s); resolves after {d.recovery_periods} normal period(s); "
        f"ignores periods under {d.min_volume:g} counts or {d.min_relative_change:.0%} change."
    )
    n = plan.notify
    grouping = {
        "dimensions": "per dimension set, any protocol (account-wide metrics join any)",
        "tick": "one for the whole plan",
    }
    group_by = grouping[n.group_by] if isinstance(n.group_by, str) else f"per {', '.join(n.group_by)}"
    lines.append(
        f"Incidents {group_by}: one page per topic when one opens, updates at most every "
        f"{_interval(n.group_interval)}, reminders every {_interval(n.repeat_interval)}, one RESOLVED; "
        f"kept {n.history_days} days (iotwatch incidents)."
    )
    lines.append("")
    lines.append(
        f"Owners: {plan.owners.team}" + (f", runbook {plan.owners.runbook}" if plan.owners.runbook else "")
    )
    lines.append("Topics:")
    for topic in plan.notify.topics:
        subs = (
            ", ".join(f"{s.protocol} {s.contact.describe()}" for s in topic.subscribers) or "no subscribers"
        )
        lines.append(f"  {plan.topic_physical_name(topic.name)}: {subs}")
    lines.append("Routes:")
    for route in plan.notify.routes:
        lines.append(f"  {', '.join(route.severities)} of {', '.join(route.metrics)} -> {route.topic}")
    lines += _maintenance_lines(plan)
    lines.append(
        f"Tools: dashboard {'on' if plan.tools.dashboard else 'off'}, "
        f"CloudTrail audit {'on' if plan.tools.audit else 'off'}"
    )
    lines += _device_lines(plan)
    return "\n".join(lines)


def _limits(above: float | None, below: float | None) -> str:
    """A series' absolute limits, as the summary says them."""
    said = [f"above {above:g}" for _ in [above] if above is not None]
    said += [f"below {below:g}" for _ in [below] if below is not None]
    return f"; also pages {' or '.join(said)} whatever the baseline" if said else ""


def _maintenance_lines(plan: Plan) -> list[str]:
    windows = plan.notify.maintenance_windows
    if not windows:
        return ["Maintenance windows: none (every deviation may page)"]
    lines = ["Maintenance windows (deviations recorded, not paged):"]
    for w in windows:
        scope = ", ".join(w.metrics) + "".join(f", {k}={v}" for k, v in w.dimensions.items())
        lines.append(f"  {w.name}: {', '.join(w.days)} {w.start}-{w.end} {w.timezone}, for {scope}")
    return lines


def warning_lines(check: PlanCheck, source: str) -> list[str]:
    """The plan's warnings, those that leave a series without data first (a misspelt metric,
    dimension key or value): they are what a deploy that 'works' silently misses."""
    ordered = sorted(check.warnings, key=lambda w: not w.empty_series)
    return [w.at(source) for w in ordered]


def _device_lines(plan: Plan) -> list[str]:
    """The `devices` section: what it watches, and what the account must have switched on."""
    from iotwatch.domain.where import CONNECT_FAILURE_REASONS, device_namespace
    from iotwatch.plan.devices import prerequisites

    devices = plan.devices
    if devices is None:
        return []
    groups = ", ".join(g.label for g in devices.groups) or "none"
    lines = [
        "",
        f"Devices: connected devices per group ({groups}"
        + ("" if devices.fleet_metrics_on or not devices.groups else ", waiting for fleet indexing")
        + f"); disconnects by reason in {device_namespace(plan.name)} ("
        + ", ".join(devices.disconnect_reasons)
        + (f"; failed connects {', '.join(CONNECT_FAILURE_REASONS)}" if devices.connect_failures else "")
        + f"); pages break disconnected devices down by {', '.join(devices.where)}"
        + (f"; top clients of {', '.join(devices.top_clients)}" if devices.top_clients else "")
        + (f"; AWS IoT log level {devices.logging.level}" if devices.logging is not None else "")
        + ".",
    ]
    steps = prerequisites(plan)
    if steps:
        lines += ["The account must have switched on:", *(f"  {line}" for line in steps)]
    return lines


def _interval(seconds: int) -> str:
    if seconds <= 0:
        return "never"
    hours, rest = divmod(seconds // 60, 60)
    return f"{hours} h {rest} min" if hours and rest else f"{hours} h" if hours else f"{rest} min"


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

    from iotwatch_cli.incidents import add_parsers as add_incident_parsers

    add_incident_parsers(commands, DEFAULT_PLAN_FILE)

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


def _hours_or_minutes(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"


if __name__ == "__main__":
    sys.exit(main())
