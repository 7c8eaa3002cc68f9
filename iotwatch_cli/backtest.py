"""`iotwatch backtest`: what would iotwatch have said about the last N days?

Every series of a plan (read from CloudWatch) or every given CSV file is replayed through
`iotwatch.service.replay.replay`, the same causal evaluator `iotwatch score` uses: the
plan's `history_days` before the scored window are fed first as warm-up, so the window's
first rows already have the baseline the deployed stack would have had. For each series a
PNG shows the actual value, the expected value, the warning band and the alerting
periods, and `summary.json` counts the alerts that would have fired.

Layers: `backtest_series` (pure replay + counting), `plot_backtest` (pure matplotlib,
Agg, no pyplot state), `write_backtest` (files), `cmd_backtest` (arguments, CloudWatch, CSV).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from iotwatch.domain.ratios import attempts_of
from iotwatch.domain.series import Series
from iotwatch.domain.times import iso_z
from iotwatch.service.replay import ReplayPoint, ReplayResult, replay

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
DAY = 86400
DEFAULT_CLOUDWATCH_DAYS = 7.0


class BacktestError(Exception):
    """Bad input the user can fix; the message says what."""


# --- replay and counting (pure) -------------------------------------------------------------


@dataclass(frozen=True)
class AlertEpisode:
    """One run of consecutive alerting rows."""

    start: int  # first alerting row
    last: int  # last alerting row
    periods: int
    peak_score: float  # signed robust z-score furthest from 0 during the episode
    started_before: bool = False  # already firing when the scored window began
    ongoing: bool = False  # still firing at the window's last row


@dataclass(frozen=True)
class SeriesBacktest:
    series: Series
    source: str  # "CloudWatch" or the CSV file
    results: list[ReplayResult]  # the scored window only
    episodes: list[AlertEpisode]
    # the input value of each row of `results` (None: no datapoint)
    values: list[float | None] = field(default_factory=list)
    plot: Path | None = None

    @property
    def rows(self) -> int:
        return len(self.results)

    @property
    def datapoints(self) -> int:
        """Rows of the window with a datapoint (the others are no traffic, or no data yet)."""
        return sum(1 for v in self.values if v is not None)

    @property
    def alerts_fired(self) -> int:
        """Alert onsets inside the window (an alert already firing when it began is not counted)."""
        return sum(1 for e in self.episodes if not e.started_before)

    @property
    def alerting_periods(self) -> int:
        return sum(e.periods for e in self.episodes)

    @property
    def first_alert(self) -> int | None:
        return next((e.start for e in self.episodes if not e.started_before), None)

    @property
    def last_alert(self) -> int | None:
        onsets = [e.start for e in self.episodes if not e.started_before]
        return onsets[-1] if onsets else None

    def to_summary(self) -> dict[str, Any]:
        return {
            "series_id": self.series.id,
            "label": self.series.label,
            "source": self.source,
            "period": self.series.period,
            "rows": self.rows,
            "first_row": iso(self.results[0].ts) if self.results else None,
            "last_row": iso(self.results[-1].ts) if self.results else None,
            "datapoints": self.datapoints,
            "learning_rows": sum(1 for r in self.results if r.score is None),
            "alerts_fired": self.alerts_fired,
            "alerting_periods": self.alerting_periods,
            "first_alert": iso(self.first_alert),
            "last_alert": iso(self.last_alert),
            "alerts": [
                {
                    "start": iso(e.start),
                    "last_alerting_period": iso(e.last),
                    "periods": e.periods,
                    "peak_score": round(e.peak_score, 2),
                    "started_before_window": e.started_before,
                    "ongoing_at_end": e.ongoing,
                }
                for e in self.episodes
            ],
            "plot": str(self.plot) if self.plot else None,
        }


def iso(ts: float | None) -> str | None:
    return None if ts is None else iso_z(ts)


def alert_episodes(results: Sequence[ReplayResult], *, alerting_before: bool = False) -> list[AlertEpisode]:
    """Runs of consecutive alerting rows. `alerting_before`: the row before the first was alerting."""
    episodes: list[AlertEpisode] = []
    run: list[ReplayResult] = []
    first_run_started_before = alerting_before

    def close(ongoing: bool) -> None:
        nonlocal first_run_started_before
        peak = max((r.score.score for r in run if r.score is not None), key=abs, default=0.0)
        episodes.append(
            AlertEpisode(
                start=run[0].ts,
                last=run[-1].ts,
                periods=len(run),
                peak_score=peak,
                started_before=first_run_started_before and run[0] is results[0],
                ongoing=ongoing,
            )
        )
        first_run_started_before = False

    for result in results:
        if result.alert:
            run.append(result)
        elif run:
            close(False)
            run = []
    if run:
        close(True)
    return episodes


def backtest_series(
    series: Series,
    points: Iterable[ReplayPoint],
    *,
    history_days: int,
    refresh_seconds: int,
    window_start: int | None = None,
    window_end: int | None = None,
    source: str = "",
    excluded: Sequence[tuple[int, int]] = (),
) -> SeriesBacktest:
    """Replays every point (warm-up included) and keeps the rows in [window_start, window_end).
    `excluded`: the plan's training-exclusion windows, left out of every baseline as deployed."""
    lo = -math.inf if window_start is None else window_start
    hi = math.inf if window_end is None else window_end
    points = list(points)
    kept: list[ReplayResult] = []
    raw: list[float | None] = []
    alerting_before = False
    replayed = replay(
        points, series=series, history_days=history_days, refresh_seconds=refresh_seconds, excluded=excluded
    )
    for point, result in zip(points, replayed, strict=True):
        if result.ts < lo:
            alerting_before = result.alert
        elif result.ts < hi:
            kept.append(result)
            raw.append(point.value)
    return SeriesBacktest(
        series,
        source,
        kept,
        alert_episodes(kept, alerting_before=alerting_before),
        values=raw,
    )


def grid_points(
    datapoints: Sequence[tuple[int, float]],
    *,
    start: int,
    end: int,
    period: int,
    attempts: Mapping[int, float] | None = None,
) -> list[ReplayPoint]:
    """One ReplayPoint per period in [start, end); None where CloudWatch had no datapoint. A
    share's points carry their `attempts` (domain.ratios.attempts_of)."""
    values = dict(datapoints)
    tried = attempts or {}
    first = start - start % period
    return [ReplayPoint(ts, values.get(ts), tried.get(ts)) for ts in range(first, end, period) if ts >= start]


# --- plotting (pure: a Backtest in, a PNG out) ----------------------------------------------


def plot_backtest(result: SeriesBacktest, path: Path, *, title: str | None = None) -> Path:
    """Actual (line), expected (dashed), warning band (shaded), alerting periods (red spans, onsets
    marked). Learning rows show the actual value only. Uses the Agg canvas, never pyplot."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure

    period = result.series.period
    rows = result.results
    times = np.array([r.ts for r in rows], dtype="datetime64[s]")
    nan = float("nan")
    values = result.values if len(result.values) == len(rows) else [None] * len(rows)
    actual = np.array(
        [r.score.actual if r.score else (nan if v is None else v) for r, v in zip(rows, values, strict=True)],
        dtype=float,
    )
    expected = np.array([r.score.expected if r.score else nan for r in rows], dtype=float)
    lower = np.array([r.score.lower if r.score else nan for r in rows], dtype=float)
    upper = np.array([r.score.upper if r.score else nan for r in rows], dtype=float)

    figure = Figure(figsize=(12, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if len(rows):
        axes.fill_between(
            times, lower, upper, color="tab:blue", alpha=0.15, linewidth=0, label="expected band (warning)"
        )
        axes.plot(times, actual, color="tab:blue", linewidth=1.2, label="actual")
        axes.plot(times, expected, color="black", linestyle="--", linewidth=0.8, alpha=0.7, label="expected")
        for i, episode in enumerate(result.episodes):
            axes.axvspan(
                float(date2num(np.datetime64(episode.start, "s"))),
                float(date2num(np.datetime64(episode.last + period, "s"))),
                color="tab:red",
                alpha=0.18,
                linewidth=0,
                label="alerting" if i == 0 else None,
            )
        onsets = [e.start for e in result.episodes if not e.started_before]
        if onsets:
            index = {r.ts: i for i, r in enumerate(rows)}
            ys = [actual[index[ts]] for ts in onsets]
            axes.plot(
                np.array(onsets, dtype="datetime64[s]"),
                ys,
                linestyle="none",
                marker="v",
                color="tab:red",
                markersize=8,
                label="alert fired",
            )
        learning = int(np.isnan(expected).sum())
        if learning == len(rows):
            axes.text(
                0.5, 0.5, "learning: no baseline yet", transform=axes.transAxes, ha="center", color="gray"
            )
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        axes.legend(loc="upper left", fontsize="small", ncols=5, frameon=False)
    else:
        axes.text(0.5, 0.5, "no rows in the window", transform=axes.transAxes, ha="center", color="gray")
    top = np.nanmax(np.concatenate([actual, upper])) if len(rows) and not np.isnan(actual).all() else 1.0
    axes.set_ylim(0, max(float(top), 1.0) * 1.18)  # headroom for the legend
    axes.set_ylabel(f"{result.series.statistic} per {period} s")
    axes.grid(True, alpha=0.3)
    heading = title or result.series.label
    axes.set_title(
        f"{heading} - {result.alerts_fired} alert(s), {result.alerting_periods} alerting period(s) (UTC)",
        fontsize="medium",
        loc="left",
    )
    figure.subplots_adjust(left=0.07, right=0.985, top=0.92, bottom=0.12)  # fixed: tight_layout costs a draw
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def plot_name(series: Series, taken: set[str]) -> str:
    """A file name from the series id: 'AWS/IoT|Connect.Success|Protocol=MQTT' -> 'Connect.Success_Protocol-MQTT.png'."""
    parts = [series.metric, *(f"{k}-{v}" for k, v in series.dimensions)]
    if series.namespace not in ("AWS/IoT", "csv"):
        parts.insert(0, series.namespace)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts)).strip("-") or "series"
    name, n = f"{stem}.png", 2
    while name in taken:
        name, n = f"{stem}-{n}.png", n + 1
    taken.add(name)
    return name


# --- files and report -----------------------------------------------------------------------


@dataclass
class BacktestReport:
    plan: str
    source: str  # "cloudwatch" | "csv"
    window_start: int | None
    window_end: int | None
    warmup_days: int
    series: list[SeriesBacktest] = field(default_factory=list)
    summary_path: Path | None = None

    @property
    def alerts_fired(self) -> int:
        return sum(s.alerts_fired for s in self.series)

    @property
    def alerting_periods(self) -> int:
        return sum(s.alerting_periods for s in self.series)

    @property
    def plots(self) -> list[Path]:
        return [s.plot for s in self.series if s.plot is not None]

    def to_summary(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "source": self.source,
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "warmup_days": self.warmup_days,
            "totals": {
                "series": len(self.series),
                "series_with_alerts": sum(1 for s in self.series if s.alerts_fired),
                "alerts_fired": self.alerts_fired,
                "alerting_periods": self.alerting_periods,
            },
            "series": [s.to_summary() for s in self.series],
        }


def write_backtest(report: BacktestReport, out_dir: Path) -> BacktestReport:
    """One PNG per series and summary.json in `out_dir`; the report, with the paths filled in."""
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    plotted = []
    for result in report.series:
        path = plot_backtest(result, out_dir / plot_name(result.series, taken))
        plotted.append(replace(result, plot=path))
    report.series = plotted
    report.summary_path = out_dir / "summary.json"
    report.summary_path.write_text(json.dumps(report.to_summary(), indent=2) + "\n", encoding="utf-8")
    return report


def render_report(report: BacktestReport) -> str:
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
    for s in report.series:
        first = (iso(s.first_alert) or "-").replace("T", " ")[:16]
        last = (iso(s.last_alert) or "-").replace("T", " ")[:16]
        lines.append(
            f"{s.series.label[:36]:<36} {s.rows:>6} {s.alerts_fired:>6} {s.alerting_periods:>8}  "
            f"{first:<17}  {last:<17}  {s.plot or '-'}"
        )
    with_alerts = sum(1 for s in report.series if s.alerts_fired)
    lines.append(
        f"{report.alerts_fired} alert(s) would have fired on {with_alerts} of {len(report.series)} series "
        f"({report.alerting_periods} alerting period(s))."
        + (f" Wrote {report.summary_path}" if report.summary_path else "")
    )
    return "\n".join(lines)


# --- inputs ---------------------------------------------------------------------------------


def cloudwatch_backtest(
    plan: Any,
    series: Sequence[Series],
    reader: Any,
    *,
    window_start: int,
    window_end: int,
    refresh_seconds: int,
) -> BacktestReport:
    """Reads [window_start - history_days, window_end) for every series in one `reader.read`
    (GetMetricData, batched) and replays each series."""
    history_days = plan.frequency.history_days
    read_start = window_start - history_days * DAY
    history = reader.read(series, start=read_start, end=window_end)
    report = BacktestReport(plan.name, "cloudwatch", window_start, window_end, history_days)
    for s in series:
        points = grid_points(
            history.get(s.id, []),
            start=read_start,
            end=window_end,
            period=s.period,
            attempts=attempts_of(s, history),
        )
        report.series.append(
            backtest_series(
                s,
                points,
                history_days=history_days,
                refresh_seconds=refresh_seconds,
                window_start=window_start,
                window_end=window_end,
                source="CloudWatch",
                excluded=plan.detection.excluded_windows,
            )
        )
    return report


def parse_csv_spec(spec: str) -> tuple[str, str]:
    metric, sep, path = spec.partition("=")
    if not sep or not metric.strip() or not path.strip():
        raise BacktestError(f"--csv {spec!r}: use METRIC=FILE, e.g. --csv PublishIn.Success=publish.csv")
    return metric.strip(), path.strip()


def csv_series(plan: Any, name: str, period: int) -> Series:
    """The plan series `name` names (id, label or metric, when exactly one), at the CSV's period;
    otherwise a series with the plan's default detection."""
    from iotwatch.plan.expand import expand_series, merged_detection

    plan_series = expand_series(plan)
    matches = [s for s in plan_series if name in (s.id, s.label)]
    if not matches:
        matches = [s for s in plan_series if s.metric == name]
    if len(matches) == 1:
        return replace(matches[0], period=period)
    return Series(
        namespace="csv",
        metric=name,
        dimensions=(),
        statistic="Sum",
        period=period,
        detection=merged_detection(plan, None, name),  # "errors.csv" pages when errors rise
    )


def csv_backtest(
    plan: Any,
    specs: Sequence[str],
    *,
    days: float | None,
    end: int | None,
    refresh_seconds: int,
) -> BacktestReport:
    from iotwatch.service.replay import median_spacing, snap_to_grid

    from iotwatch_cli.series_csv import CsvInputError, read_series_csv

    history_days = plan.frequency.history_days
    report = BacktestReport(plan.name, "csv", None, None, history_days)
    for spec in specs:
        name, path = parse_csv_spec(spec)
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                rows = read_series_csv(handle, source=path)
        except OSError as exc:
            raise BacktestError(f"{path}: cannot read: {exc.strerror}") from None
        except CsvInputError as exc:
            raise BacktestError(f"error: {exc}") from None
        if not rows:
            raise BacktestError(f"{path}: no rows after the header")
        period = median_spacing([r.ts for r in rows])
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
                excluded=plan.detection.excluded_windows,
            )
        )
        if days is not None:
            report.window_start, report.window_end = window_start, window_end
    return report


def cmd_backtest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch.plan.loader import PlanError, load_plan

    from iotwatch_cli.main import refresh_interval
    from iotwatch_cli.series_csv import parse_timestamp

    try:
        plan = load_plan(args.plan)
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
    refresh = refresh_interval(plan)
    try:
        if args.csv:
            report = csv_backtest(plan, args.csv, days=args.days, end=end, refresh_seconds=refresh)
        else:
            report = _cloudwatch_from_args(plan, args.days, end, refresh, err)
    except BacktestError as exc:
        print(exc, file=err)
        return EXIT_BAD_INPUT
    except _AwsFailure as exc:
        print(f"error: cannot read CloudWatch history: {exc}", file=err)
        return EXIT_FAILURE
    write_backtest(report, Path(args.out))
    print(render_report(report), file=out)
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
    plan: Any, days: float | None, end: int | None, refresh: int, err: TextIO
) -> BacktestReport:
    from botocore.exceptions import BotoCoreError, ClientError
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.cloudwatch import CloudWatchMetricReader, MetricReadError
    from iotwatch.plan.expand import expand_series

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
    except (BotoCoreError, ClientError, MetricReadError) as exc:
        raise _AwsFailure(str(exc)) from exc
