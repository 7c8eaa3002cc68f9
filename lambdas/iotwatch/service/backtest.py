"""The backtest core: what would iotwatch have said about a span of a plan's series?

Each series is replayed through `iotwatch.service.replay.replay`, the causal evaluator
`iotwatch score` uses, with the plan's `history_days` before the span fed first as warm-up,
so the span's first rows already have the baseline the deployed stack would have had; the
alerts that would have fired are counted per series and in all. History comes only through
the reader it is given; plotting and files are the CLI's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iotwatch.domain.ratios import attempts_of
from iotwatch.domain.series import Series
from iotwatch.domain.times import iso_z
from iotwatch.plan.model.frequency import Frequency
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.schedule import parse_schedule
from iotwatch.service.ports import MetricReader
from iotwatch.service.replay import ReplayPoint, ReplayResult, replay

DAY = 86400


def refresh_interval(frequency: Frequency) -> int:
    """Seconds between baseline rebuilds in the deployed stack (cron schedules: daily)."""
    return parse_schedule(frequency.baseline_refresh).interval_seconds or 86400


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
    """One series replayed over the scored window: each row's result and the alert episodes."""

    series: Series
    source: str  # "CloudWatch" or the CSV file
    results: list[ReplayResult]  # the scored window only
    episodes: list[AlertEpisode]
    # the input value of each row of `results` (None: no datapoint)
    values: list[float | None] = field(default_factory=list)

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


@dataclass
class BacktestReport:
    """Every series of one backtest over the same window, and the alerts counted in all."""

    plan: str
    source: str  # "cloudwatch" | "csv"
    window_start: int | None
    window_end: int | None
    warmup_days: int
    series: list[SeriesBacktest] = field(default_factory=list)

    @property
    def alerts_fired(self) -> int:
        return sum(s.alerts_fired for s in self.series)

    @property
    def alerting_periods(self) -> int:
        return sum(s.alerting_periods for s in self.series)

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


def cloudwatch_backtest(
    plan: Plan,
    series: Sequence[Series],
    reader: MetricReader,
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
