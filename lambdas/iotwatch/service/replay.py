"""Replaying one series through the deployed evaluator's logic, causally.

Row i sees only rows <= i. The baseline is rebuilt on the deployed refresh cadence
(aligned to the epoch, e.g. every UTC midnight for rate(1 day)) from the `history_days`
before that instant, and each row is evaluated the way an evaluator tick right after the
row's period would: the same `evaluate_series` over the same lookback window.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.baseline.model import Baseline
from iotwatch.domain.deviation import AlertState, PeriodScore
from iotwatch.domain.evaluation import Window, evaluate_series
from iotwatch.domain.likelihood import LEVEL_PERIODS, WARMUP_PERIODS, TrackerState
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.domain.slow_change import COMPARE_SECONDS, wants_extra_week

DAY = 86400


class ReplayPoint(NamedTuple):
    """One period to replay (a tuple: a year of 5-minute periods is 105,120 of them)."""

    ts: int
    value: float | None  # None: no datapoint in this period
    attempts: float | None = None  # a share's denominator in the period (domain.ratios)


class ReplayResult(NamedTuple):
    """What the evaluator would have said at one row (a tuple: one per replayed row)."""

    ts: int
    anomaly_score: float
    alert: bool
    score: PeriodScore | None  # None while the series is still learning
    baseline: Baseline | None


def anomaly_score(score: PeriodScore | None, detection: DetectionSettings) -> float:
    """|z| folded into [0, 1): 0.5 at the warning threshold, ~0.94 at twice it. A period the
    volume or relative-change gates keep from paging stays below 0.5."""
    if score is None or score.score == 0:
        return 0.0
    value = 1.0 - 2.0 ** (-((abs(score.score) / detection.warning) ** 2))
    if score.severity is None:
        value = min(value, 0.49)
    return round(value, 4)


def replay(
    points: Iterable[ReplayPoint],
    *,
    series: Series,
    history_days: int,
    refresh_seconds: int,
    excluded: Sequence[tuple[int, int]] = (),
    prebuilt: Iterator[Baseline | None] | None = None,
) -> Iterator[ReplayResult]:
    """`prebuilt`: the baselines of each refresh the points reach, in order (see
    `prebuilt_baselines`); without it each is built when the replay reaches it."""
    period = series.period
    detection = series.detection
    lookback = max(detection.pending_periods, detection.recovery_periods) + 1
    history: deque[tuple[int, float]] = deque()
    baseline: Baseline | None = None
    baseline_epoch: int | None = None
    state = AlertState(series_id=series.id)
    tracker = TrackerState()
    recent: deque[tuple[int, float]] = deque()
    # a share's attempts per period of the window (None: not a share)
    attempts: dict[int, float] | None = {} if series.ratio is not None else None
    memo: dict[tuple[int, float], PeriodScore] = {}
    # a week more history than training takes, for slow change's two-week comparison
    share = series.ratio is not None
    extra = (
        COMPARE_SECONDS
        if wants_extra_week(detection, share=share, period=period, history_days=history_days)
        else 0
    )
    for point in points:
        ts = point.ts
        refresh_at = (ts // refresh_seconds) * refresh_seconds
        if refresh_at != baseline_epoch:
            start = refresh_at - history_days * DAY - extra
            while history and history[0][0] < start:
                history.popleft()
            # the history is every datapoint in [start, refresh_at): the rows before this one
            baseline = (
                next(prebuilt)
                if prebuilt is not None
                else training_baseline(
                    series, history, refresh_at=refresh_at, history_days=history_days, excluded=excluded
                )
            )
            baseline_epoch = refresh_at
            memo = {}
        if point.value is not None:
            datapoint = (ts, point.value)
            history.append(datapoint)
            recent.append(datapoint)
        oldest = ts - lookback * period
        while recent and recent[0][0] <= oldest:
            recent.popleft()
        if attempts is not None:
            if point.attempts is not None:
                attempts[ts] = point.attempts
            for old in [t for t in attempts if t <= oldest]:
                del attempts[old]
        window = Window(ts - (lookback - 1) * period, ts + period, period)
        # `recent` as it is, not a copy: evaluate_series only reads it into a dict
        outcome = evaluate_series(
            series,
            datapoints=recent,
            baseline=baseline,
            state=state,
            window=window,
            score_memo=memo,
            tracker=tracker,
            attempts=attempts,
        )
        if len(memo) > 4 * lookback:
            memo = {key: value for key, value in memo.items() if key[0] >= window.start}
        state = outcome.state
        latest = outcome.scores[-1] if outcome.scores else None
        # positional (ts, anomaly_score, alert, score, baseline): keywords cost on every row
        # the tracker's graded score once it is warm (novelty: an incident's first period ranks
        # highest); before that, and for a period without a datapoint (the tracker never sees
        # it: the band judges it, as missing_data says), the band's
        graded = (
            tracker.latest_score
            if tracker.seen > WARMUP_PERIODS and point.value is not None
            else anomaly_score(latest, detection)
        )
        yield ReplayResult(ts, graded, state.status == "firing", latest, baseline)


def training_baseline(
    series: Series,
    training: Sequence[tuple[int, float]],
    *,
    refresh_at: int,
    history_days: int,
    excluded: Sequence[tuple[int, int]] = (),
) -> Baseline | None:
    """The baseline the stack builds at `refresh_at` from `training`, the datapoints of the
    `history_days` before it (and the week before those, for slow change: build_baseline); None
    without any (the series is learning)."""
    if not training or training[-1][0] < refresh_at - history_days * DAY:
        return None
    period = series.period
    start = refresh_at - history_days * DAY
    return build_baseline(
        series_id=series.id,
        points=training,
        start=(start // period) * period,
        end=(refresh_at // period) * period,
        period=period,
        built_at=refresh_at,
        excluded=excluded,
        share=series.ratio is not None,
        timezone=series.detection.timezone,
        holidays=series.detection.holidays,
    )


PREBUILD_MIN_ROWS = 20_000  # below this a second process costs more than it saves


@contextmanager
def prebuilt_baselines(
    points: Sequence[ReplayPoint],
    *,
    series: Series,
    history_days: int,
    refresh_seconds: int,
    excluded: Sequence[tuple[int, int]] = (),
) -> Iterator[Iterator[Baseline | None] | None]:
    """The baselines a replay of `points` (in time order) reaches, built by a second process
    while the replay judges rows: each from only the datapoints before its refresh, as the
    replay would build it, so the rows come out the same. None (build as you go) for short
    replays or where processes cannot be forked."""
    if len(points) < PREBUILD_MIN_ROWS or "fork" not in multiprocessing.get_all_start_methods():
        yield None
        return
    global _PREBUILD
    datapoints = [(p.ts, p.value) for p in points if p.value is not None]
    epochs = list(dict.fromkeys((p.ts // refresh_seconds) * refresh_seconds for p in points))
    _PREBUILD = _Prebuild(
        series, datapoints, [ts for ts, _ in datapoints], history_days, refresh_seconds, tuple(excluded)
    )
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            # two at a time: the replay waits less for its first baselines than with bigger chunks
            yield pool.map(_prebuild_at, epochs, chunksize=2)
    finally:
        _PREBUILD = None


@dataclass(frozen=True)
class _Prebuild:
    """What the forked builder inherits (rather than receives pickled)."""

    series: Series
    datapoints: list[tuple[int, float]]
    times: list[int]
    history_days: int
    refresh_seconds: int
    excluded: tuple[tuple[int, int], ...]


_PREBUILD: _Prebuild | None = None


def _prebuild_at(refresh_at: int) -> Baseline | None:
    job = _PREBUILD
    assert job is not None
    series = job.series
    wanted = wants_extra_week(
        series.detection, share=series.ratio is not None, period=series.period, history_days=job.history_days
    )
    extra = COMPARE_SECONDS if wanted else 0
    first = bisect_left(job.times, refresh_at - job.history_days * DAY - extra)
    end = bisect_left(job.times, refresh_at)
    baseline = training_baseline(
        job.series,
        job.datapoints[first:end],
        refresh_at=refresh_at,
        history_days=job.history_days,
        excluded=job.excluded,
    )
    if baseline is not None:
        # what the replay will ask of it, worked out here too: the periods it judges until the
        # next refresh, their windows and the tracker's remembered periods before them
        period = job.series.period
        earliest = (refresh_at // period - LEVEL_PERIODS - EXPECTATIONS_BEFORE) * period
        for ts in range(earliest, refresh_at + job.refresh_seconds, period):
            baseline.expectation_at(ts)
    return baseline


EXPECTATIONS_BEFORE = 16  # periods a window reaches back before its refresh, and more


def median_spacing(timestamps: list[int]) -> int:
    gaps = sorted(b - a for a, b in itertools.pairwise(timestamps) if b > a)
    if not gaps:
        return 300
    mid = len(gaps) // 2
    return int(gaps[mid] if len(gaps) % 2 else (gaps[mid - 1] + gaps[mid]) // 2)


def snap_to_grid(timestamps: list[int], period: int) -> tuple[list[int], int]:
    """Aligns irregular timestamps to a period grid anchored at the first one. Returns the
    snapped times (shifted so the grid is epoch-aligned) and the shift applied."""
    if not timestamps:
        return [], 0
    offset = timestamps[0] % period
    return [math.floor((t - offset) / period + 0.5) * period for t in timestamps], offset
