"""`iotwatch backtest`: what would iotwatch have said about the last N days?

Every series of a plan (read from CloudWatch) or every given CSV file is replayed by the
backtest core (`iotwatch.service.backtest`, the same causal evaluator `iotwatch score`
uses, after the plan's `history_days` of warm-up). For each series a PNG shows the actual
value, the expected value, the warning band and the alerting periods
(`iotwatch_cli.backtest_plot`), and `summary.json` counts the alerts that would have fired.

Layers: `write_backtest` (files), `render_report` (the table printed), `cmd_backtest`
(arguments, CloudWatch, CSV).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from iotwatch.domain.series import Series
from iotwatch.plan.loader import DEFAULT_PLAN_FILE, PlanError, load_plan
from iotwatch.plan.model.plan import Plan

from iotwatch_cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK

# the replay core (and its process pool) is imported by the functions that run it: every
# command registers `backtest`, and none but it should pay for that import
if TYPE_CHECKING:
    from iotwatch.service.backtest import BacktestReport

DAY = 86400
DEFAULT_CLOUDWATCH_DAYS = 7.0


class BacktestError(Exception):
    """Bad input the user can fix; the message says what."""


# --- files and report -----------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenBacktest:
    """A backtest and the files written for it: one PNG per series (in the report's order) and summary.json."""

    report: BacktestReport
    plots: list[Path]
    summary_path: Path


def write_backtest(report: BacktestReport, out_dir: Path) -> WrittenBacktest:
    """One PNG per series and summary.json (the report's summary, each series with its plot) in `out_dir`."""
    from iotwatch_cli.backtest_plot import plot_backtest, plot_name

    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    plots = [plot_backtest(s, out_dir / plot_name(s.series, taken)) for s in report.series]
    summary = report.to_summary()
    for entry, path in zip(summary["series"], plots, strict=True):
        entry["plot"] = str(path)
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return WrittenBacktest(report, plots, summary_path)


def render_report(written: WrittenBacktest) -> str:
    from iotwatch.service.backtest import iso

    report = written.report
    start, end = iso(report.window_start), iso(report.window_end)
    window = f"{start} to {end}" if start and end else "every row"
    lines = [
        f"Backtest of plan '{report.plan}' from {report.source}: {len(report.series)} series, "
        f"{window} "
        + (
            f"(after {report.warmup_days} days of warm-up)"
            if report.source == "cloudwatch"
            else f"(replayed from each file's first row; baselines learn from up to {report.warmup_days} days)"
        ),
        f"{'series':<36} {'rows':>6} {'alerts':>6} {'alerting':>8}  {'first alert':<17}  {'last alert':<17}  plot",
    ]
    for s, plot in zip(report.series, written.plots, strict=True):
        first = (iso(s.first_alert) or "-").replace("T", " ")[:16]
        last = (iso(s.last_alert) or "-").replace("T", " ")[:16]
        lines.append(
            f"{s.series.label[:36]:<36} {s.rows:>6} {s.alerts_fired:>6} {s.alerting_periods:>8}  "
            f"{first:<17}  {last:<17}  {plot}"
        )
    with_alerts = sum(1 for s in report.series if s.alerts_fired)
    lines.append(
        f"{report.alerts_fired} alert(s) would have fired on {with_alerts} of {len(report.series)} series "
        f"({report.alerting_periods} alerting period(s)). Wrote {written.summary_path}"
    )
    return "\n".join(lines)


# --- inputs ---------------------------------------------------------------------------------


def parse_csv_spec(spec: str) -> tuple[str, str]:
    """SERIES=FILE; SERIES may hold '=' itself (Connect.Success:Protocol=MQTT), so the file is
    what follows the last one."""
    metric, sep, path = spec.rpartition("=")
    if not sep or not metric.strip() or not path.strip():
        raise BacktestError(
            f"--csv {spec!r}: use SERIES=FILE, e.g. --csv PublishIn.Success=publish.csv or "
            "--csv Connect.Success:Protocol=MQTT=connect.csv"
        )
    return metric.strip(), path.strip()


def plan_series_named(plan_series: Sequence[Series], name: str) -> Series | None:
    """The plan's series `name` names: an id, a label, `METRIC:KEY=VALUE[,KEY=VALUE]`, or a
    metric the plan watches as one series. None for a name the plan does not have and that does
    not look like a misspelling of one (a CSV of something else, judged by the defaults).
    Raises BacktestError for a name that is ambiguous, or close to a series but not it."""
    from iotwatch.plan.catalog import AWS_IOT_METRICS, closest

    exact = [s for s in plan_series if name in (s.id, s.label)]
    if exact:
        return exact[0]
    metric, colon, dims_text = name.partition(":")
    wanted = _dimensions(name, dims_text) if colon else None
    of_metric = [s for s in plan_series if s.metric == metric]
    matches = [s for s in of_metric if wanted is None or s.dimension_map == wanted]
    if len(matches) == 1:
        return matches[0]
    if of_metric:
        choices = ", ".join(_series_spec(s) for s in of_metric)
        what = "none has those dimensions" if not matches else "name one"
        raise BacktestError(
            f"--csv {name}: the plan watches {metric} as {len(of_metric)} series; {what}: {choices}"
        )
    if colon:
        raise BacktestError(
            f"--csv {name}: the plan does not watch {metric}; its series: {_listing(plan_series)}"
        )
    if name in AWS_IOT_METRICS:
        return None  # an AWS/IoT metric the plan does not watch: the defaults judge it
    meant = closest(name, {s.metric for s in plan_series} | set(AWS_IOT_METRICS))
    if meant is not None:
        raise BacktestError(
            f"--csv {name}: no such series in the plan: did you mean {meant}? (its series: {_listing(plan_series)})"
        )
    return None


def _dimensions(name: str, text: str) -> dict[str, str]:
    pairs = [part.partition("=") for part in text.split(",")]
    if not text or any(not sep or not k.strip() or not v.strip() for k, sep, v in pairs):
        raise BacktestError(f"--csv {name}: write dimensions as METRIC:KEY=VALUE[,KEY=VALUE]")
    return {k.strip(): v.strip() for k, _, v in pairs}


def _series_spec(series: Series) -> str:
    dims = ",".join(f"{k}={v}" for k, v in series.dimensions)
    return f"{series.metric}:{dims}" if dims else series.metric


def _listing(plan_series: Sequence[Series]) -> str:
    names = [_series_spec(s) for s in plan_series]
    return (
        ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") if names else "none"
    )


def csv_series(plan: Plan | None, name: str, period: int) -> Series:
    """The plan series `name` names (plan_series_named), at the CSV's period; otherwise a
    series with the plan's default detection (the built-in one without a plan)."""
    from iotwatch.plan.expand import expand_series, unlisted_detection
    from iotwatch.plan.model.detection import Detection

    found = plan_series_named(expand_series(plan), name) if plan is not None else None
    if found is not None:
        return replace(found, period=period)
    return Series(
        namespace="csv",
        metric=name,
        dimensions=(),
        statistic="Sum",
        period=period,
        detection=unlisted_detection(
            plan.detection if plan is not None else Detection(), name
        ),  # "errors.csv" pages when errors rise
    )


def csv_backtest(
    plan: Plan | None,
    specs: Sequence[str],
    *,
    days: float | None,
    end: int | None,
    refresh_seconds: int,
    err: TextIO | None = None,
) -> BacktestReport:
    """`plan` None: the built-in detection and frequency. Warnings (a period mismatch, repeated
    times) go to `err`."""
    from iotwatch.plan.model.detection import Detection
    from iotwatch.plan.model.frequency import Frequency
    from iotwatch.service.backtest import BacktestReport, backtest_series
    from iotwatch.service.replay import ReplayPoint, snap_to_grid

    from iotwatch_cli.series_csv import CsvInputError, period_of, read_series_csv

    history_days = (plan.frequency if plan is not None else Frequency()).history_days
    excluded = (plan.detection if plan is not None else Detection()).excluded_windows
    report = BacktestReport(plan.name if plan is not None else "built-in", "csv", None, None, history_days)
    for spec in specs:
        name, path = parse_csv_spec(spec)
        warnings: list[str] = []
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                rows = read_series_csv(handle, source=path, warnings=warnings)
        except OSError as exc:
            raise BacktestError(f"{path}: cannot read: {exc.strerror}") from None
        except CsvInputError as exc:
            raise BacktestError(f"error: {exc}") from None
        period = period_of(rows, None, path, warnings)
        for warning in warnings:
            print(warning, file=err)
        snapped, _ = snap_to_grid([r.ts for r in rows], period)
        window_end = end if end is not None else snapped[-1] + period
        window_start = None if days is None else int(window_end - days * DAY)
        series = csv_series(plan, name, period)
        points = [ReplayPoint(ts, r.value) for ts, r in zip(snapped, rows, strict=True)]
        report.series.append(
            backtest_series(
                series,
                points,
                history_days=history_days,
                refresh_seconds=refresh_seconds,
                window_start=window_start,
                window_end=window_end,
                source=path,
                excluded=excluded,
            )
        )
        if days is not None:
            report.window_start, report.window_end = window_start, window_end
    return report


def cmd_backtest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch.plan.model.frequency import Frequency
    from iotwatch.service.backtest import refresh_interval

    from iotwatch_cli.plan_file import plan_or_builtin
    from iotwatch_cli.series_csv import parse_timestamp

    try:
        plan = (
            plan_or_builtin(args.plan, err, "replaying")
            if args.csv
            else load_plan(args.plan or DEFAULT_PLAN_FILE)
        )
    except PlanError as exc:
        print(exc, file=err)
        return EXIT_BAD_INPUT
    if args.days is not None and not (args.days > 0 and math.isfinite(args.days)):
        print("error: --days must be a positive number of days", file=err)
        return EXIT_BAD_INPUT
    end: int | None = None
    if args.end is not None:
        try:
            end = parse_timestamp(args.end)
        except ValueError:
            print(f"error: --end {args.end!r}: use ISO 8601, e.g. 2026-11-16T16:00:00Z", file=err)
            return EXIT_BAD_INPUT
    refresh = refresh_interval(plan.frequency if plan is not None else Frequency())
    try:
        if args.csv:
            report = csv_backtest(plan, args.csv, days=args.days, end=end, refresh_seconds=refresh, err=err)
        else:
            assert plan is not None  # loaded above: CloudWatch has nothing to read without a plan
            report = _cloudwatch_from_args(plan, args.days, end, refresh, err)
    except BacktestError as exc:
        print(exc, file=err)
        return EXIT_BAD_INPUT
    except _AwsFailure as exc:
        print(f"error: cannot read CloudWatch history: {exc}", file=err)
        return EXIT_FAILURE
    print(render_report(write_backtest(report, Path(args.out))), file=out)
    return EXIT_OK


class _AwsFailure(Exception):
    pass


def retention_days(period: int) -> int:
    """How long CloudWatch keeps datapoints of this period (1-minute 15 d, 5-minute 63 d, 1-hour 455 d)."""
    if period < 300:
        return 15
    if period < 3600:
        return 63
    return 455


def _cloudwatch_from_args(
    plan: Plan, days: float | None, end: int | None, refresh: int, err: TextIO
) -> BacktestReport:
    from botocore.exceptions import BotoCoreError, ClientError
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.cloudwatch import CloudWatchMetricReader, MetricReadError
    from iotwatch.plan.expand import expand_series
    from iotwatch.service.backtest import cloudwatch_backtest

    from iotwatch_cli.errors import aws_failure

    series = expand_series(plan)
    periods = {s.period for s in series}
    coarsest = max(periods)
    if end is None:
        end = int(time.time()) - plan.frequency.settle_seconds
    window_end = (end // coarsest) * coarsest
    window_start = int(window_end - (days or DEFAULT_CLOUDWATCH_DAYS) * DAY)
    window_start -= window_start % coarsest
    oldest_days = (time.time() - (window_start - plan.frequency.history_days * DAY)) / DAY
    for period in sorted(periods):
        keep = retention_days(period)
        if oldest_days > keep:
            print(
                f"warning: CloudWatch keeps {period}-second data for {keep} days; with its warm-up the backtest "
                f"reaches back {oldest_days:.0f} days, so its oldest periods may come back empty (less history to learn from)",
                file=err,
            )
    try:
        reader = CloudWatchMetricReader(client("cloudwatch"))
        return cloudwatch_backtest(
            plan, series, reader, window_start=window_start, window_end=window_end, refresh_seconds=refresh
        )
    except BotoCoreError as exc:
        raise _AwsFailure(str(aws_failure(exc)).removeprefix("error: ")) from exc
    except (ClientError, MetricReadError) as exc:
        raise _AwsFailure(str(exc)) from exc


def register(commands: Any) -> None:
    """Registers `backtest` on the top-level subparsers."""
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
