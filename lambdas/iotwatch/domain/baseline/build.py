"""Learning "normal" for one series from its own history: the hour-of-week shape and the build.

Method `seasonal-level-v2` (value = fleet level x hour-of-week shape):
- IoT counters send no datapoint when there is no traffic, so a missing period after the
  series' first datapoint counts as zero; before it, the series did not exist yet.
- Expected value per hour of week (168 buckets) is the median of that hour's periods.
  When history is too short for a bucket, it falls back to the same hour on weekdays (or
  weekend days), then to the hour of day, then to the whole history, and the bucket says
  which (`source`), so a person can see why.
- The expected value is interpolated between neighbouring hour centres, so morning ramps
  do not look like deviations at the start and end of each hour.
- Spread is the robust scale (1.4826 x MAD) of residuals against that curve, floored by
  Poisson noise (sqrt of the expected count) and a small relative floor.
- Growth and planned rollouts change the fleet's size, not its rhythm: with a week or more
  of history, each day's level (median ratio of actual to the shape) is divided out before
  the shape is learnt, and the expected value uses the most recent day's level. A rollout
  is absorbed within a day instead of paging for weeks; an incident of a few hours moves
  the median level of a day very little.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain, repeat
from operator import sub, truediv

from iotwatch.domain.baseline.layout import (
    Layout,
    daytype_group,
    first_training_slot,
    is_excluded,
    training_layout,
)
from iotwatch.domain.baseline.levels import LEVEL_TREND_DAMPING, fleet_levels_with_ratios
from iotwatch.domain.baseline.model import ABSOLUTE_SCALE_FLOOR, HOURS_PER_WEEK, METHOD, Baseline, Bucket
from iotwatch.domain.baseline.stats import median, robust_scale, robust_scale_of_sorted
from iotwatch.domain.local_time import NO_HOLIDAYS, UTC_NAME, Holidays
from iotwatch.domain.slow_change import measure as measure_slow_change

MIN_SAMPLES_HOUR_OF_WEEK = 2  # distinct days seen for this hour of week
MIN_DAYS_HOUR_OF_DAY = 3
MIN_DAYS_DAYTYPE = 2  # weekdays (or weekend days) seen at this hour
GAUGE_MIN_SCALE_FRACTION = 0.01  # a gauge's smallest spread: 1 % of its typical size


def fill_periods(
    points: Sequence[tuple[int, float]], *, start: int, end: int, period: int
) -> list[tuple[int, float | None]]:
    """One slot per period in [start, end). Before the series' first datapoint a slot is
    None (the series did not exist); after it, a missing datapoint means zero traffic."""
    by_ts = {int(ts): value for ts, value in points}
    first = min(by_ts) if by_ts else end
    slots: list[tuple[int, float | None]] = []
    for ts in range(start, end, period):
        if ts in by_ts:
            slots.append((ts, by_ts[ts]))
        else:
            slots.append((ts, 0.0 if ts >= first else None))
    return slots


def _shape(layout: Layout, values: Sequence[float]) -> list[tuple[float, str, int]]:
    """Median per hour of week, falling back to the same hour on the same kind of day
    (weekday or weekend), then to the hour of day, then to everything."""
    hod_median: dict[int, float] = {}  # fallbacks are only computed when a bucket needs them
    daytype_median: dict[int, float] = {}
    global_median: float | None = None
    shape: list[tuple[float, str, int]] = []
    for how in range(HOURS_PER_WEEK):
        hod = how % 24
        group = daytype_group(how)
        if layout.days_how[how] >= MIN_SAMPLES_HOUR_OF_WEEK:
            shape.append((median(layout.how_take[how](values)), "hour-of-week", layout.how_samples[how]))
        elif layout.days_daytype[group] >= MIN_DAYS_DAYTYPE:
            if group not in daytype_median:
                daytype_median[group] = median(layout.daytype_take[group](values))
            shape.append((daytype_median[group], "weekday-hour", layout.daytype_samples[group]))
        elif layout.days_hod[hod] >= MIN_DAYS_HOUR_OF_DAY:
            if hod not in hod_median:
                hod_median[hod] = median(layout.hod_take[hod](values))
            shape.append((hod_median[hod], "hour-of-day", layout.hod_samples[hod]))
        elif values:
            if global_median is None:
                global_median = median(values)
            shape.append((global_median, "global", layout.count))
        else:
            shape.append((0.0, "none", 0))
    return shape


def _hourly_before(points: Sequence[tuple[int, float]], start: int, end: int) -> dict[int, float]:
    """Hourly sums of the points before the training window (the week a build reads to compare
    the last week with two weeks before: domain.slow_change), keyed as levels' hours are."""
    hourly: dict[int, float] = {}
    for ts, value in points:
        if ts < start:
            key = ((end - 1 - int(ts)) // 86400) * 24 + (int(ts) % 86400) // 3600
            hourly[key] = hourly.get(key, 0.0) + value
    return hourly


def _holiday_days(holidays: Holidays, timezone: str, *, end: int) -> frozenset[int]:
    """The build's days (0 = the 24 hours before `end`, as fleet_levels keys them) that touch
    a holiday."""
    if not holidays.days:
        return frozenset()
    return frozenset(
        day
        for start, stop in holidays.windows(timezone)
        if start < end
        for day in range((end - stop) // 86400, (end - 1 - start) // 86400 + 1)
    )


def _gauge_min_scale(values: Sequence[float]) -> float:
    typical = median([abs(v) for v in values]) if values else 0.0
    return max(GAUGE_MIN_SCALE_FRACTION * typical, 1e-9)


def build_baseline(
    *,
    series_id: str,
    points: Sequence[tuple[int, float]],
    start: int,
    end: int,
    period: int,
    built_at: int,
    version: int = 1,
    excluded: Sequence[tuple[int, int]] = (),
    share: bool = False,
    timezone: str = UTC_NAME,
    holidays: Holidays = NO_HOLIDAYS,
) -> Baseline:
    """Learns a baseline from datapoints in [start, end). `excluded` windows are skipped. A
    counter's points before `start` (the week a build reads for it) only feed slow change.

    `share`: the series is a ratio's share of attempts (domain.ratios), a gauge in [0, 1]: a
    period without a share had too few attempts to measure one and is skipped, not taken as
    zero, and there is no fleet level (a share does not grow with the fleet). Its band is
    widened per period by the sampling noise of that period's attempts when it is judged
    (`share_noise_floor`), which a baseline cannot know in advance.

    `timezone`: the fleet's clock (an IANA name) its hours of week and weekends follow. A
    counter's baseline also carries how its level moved over the weeks (domain.slow_change).
    `holidays`: its calendar's holidays, learnt as Sundays or (`exclude`) not at all."""
    if holidays.exclude:
        excluded = [*excluded, *holidays.windows(timezone)]
    inside = [p for p in points if start <= p[0] < end]
    by_ts = dict(inside)
    if set(map(type, by_ts)) - {int}:  # slots are ints; int() each only when some are not
        by_ts = {int(ts): value for ts, value in inside}
    first_slot = first_training_slot(by_ts, start=start, end=end, period=period)
    gaps: Sequence[int] = ()
    if share:
        gaps = [i for i, ts in enumerate(range(first_slot, end, period)) if ts not in by_ts]
    layout = training_layout(
        first_slot, end=end, period=period, excluded=excluded, gaps=gaps, timezone=timezone, holidays=holidays
    )
    # one value per slot from the first datapoint on: a missing datapoint is zero traffic
    counts = not share and all(v >= 0 and float(v).is_integer() for v in by_ts.values())
    values: list[float] = list(map(by_ts.get, range(first_slot, end, period), repeat(0.0)))
    if layout.keep is not None:
        values = list(layout.keep(values))

    level = 1.0
    day_levels, same_hours = (
        ({}, None)
        if share
        else fleet_levels_with_ratios(
            layout.hours,
            values,
            period=period,
            earlier=_hourly_before(points, start, end) if counts else None,
            holidays=_holiday_days(holidays, timezone, end=end),
        )
    )
    if day_levels:
        divisor = [day_levels.get(day, 1.0) for day in range(max(day_levels) + 1)]
        values = list(map(truediv, values, map(divisor.__getitem__, layout.day_of)))
        # Day 0's level is centred ~12 h before `end` and used for the ~24 h after it: carry
        # the recent trend forward (damped, so a finished rollout overshoots only a little).
        trend = math.log(day_levels[0] / day_levels[1]) if 1 in day_levels else 0.0
        level = day_levels[0] * math.exp(LEVEL_TREND_DAMPING * trend)
    shape = _shape(layout, values)  # of the level-free values when there are levels

    curve = [e for e, _, _ in shape]
    # the curve interpolated at each position in the week (2,016 at 5-minute periods), then
    # each slot's residual against its position's value
    interpolated = [curve[a] * wa + curve[b] * wb for a, b, wa, wb in layout.weights]
    residuals = list(map(sub, values, map(interpolated.__getitem__, layout.position)))
    # Each hour of week's residuals in order; an hour of day's are then 7 ordered runs, which
    # sorted() merges for much less than sorting them from scratch.
    how_sorted = [sorted(take(residuals)) for take in layout.how_take]
    hod_spread = [
        robust_scale_of_sorted(sorted(chain.from_iterable(how_sorted[hod::24]))) for hod in range(24)
    ]
    global_spread: float | None = None  # only when a bucket falls back to it
    daytype_spread: dict[int, float] = {}

    buckets: list[Bucket] = []
    for how, (expected, source, samples) in enumerate(shape):
        if source == "hour-of-week":
            # a handful of samples underestimates spread; keep at least half the day-level figure
            spread = max(robust_scale_of_sorted(how_sorted[how]), 0.5 * hod_spread[how % 24])
        elif source == "weekday-hour":
            group = daytype_group(how)
            if group not in daytype_spread:
                daytype_spread[group] = robust_scale(layout.daytype_take[group](residuals))
            spread = daytype_spread[group]
        elif source == "hour-of-day":
            spread = hod_spread[how % 24]
        else:
            # A global median says nothing about the hour: its uncertainty is the spread of
            # the values themselves, not of residuals against a curve it is not on.
            if global_spread is None:
                global_spread = robust_scale(values)
            spread = global_spread
        buckets.append(Bucket(expected, spread, samples, source))
    if excluded:
        datapoints = sum(1 for ts, _ in inside if not is_excluded(ts, excluded))
    else:
        datapoints = len(inside)
    return Baseline(
        series_id=series_id,
        version=version,
        method=METHOD,
        period=period,
        trained_from=start,
        trained_to=end,
        built_at=built_at,
        datapoints=datapoints,
        buckets=tuple(buckets),
        level=level,
        counts=counts,
        min_scale=ABSOLUTE_SCALE_FLOOR if counts else _gauge_min_scale(values),
        timezone=timezone,
        holidays=holidays,
        # a counter's level is its fleet's size; a gauge's (a CPU %) is no slow leak
        slow_change=measure_slow_change(same_hours) if counts and same_hours is not None else None,
    )
