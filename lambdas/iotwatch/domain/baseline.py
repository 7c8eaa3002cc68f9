"""Learning "normal" for one series from its own history.

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

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import itemgetter, sub, truediv
from typing import NamedTuple

HOURS_PER_WEEK = 168
METHOD = "seasonal-level-v2"
SECONDS_PER_HOUR = 3600
SECONDS_PER_WEEK = HOURS_PER_WEEK * SECONDS_PER_HOUR
# Unix epoch (1970-01-01) was a Thursday; shift so hour-of-week 0 is Monday 00:00 UTC.
_EPOCH_WEEKDAY_OFFSET = 3 * 24 * SECONDS_PER_HOUR

MIN_SAMPLES_HOUR_OF_WEEK = 2  # distinct days seen for this hour of week
MIN_DAYS_HOUR_OF_DAY = 3
MIN_DAYS_DAYTYPE = 2  # weekdays (or weekend days) seen at this hour
RELATIVE_SCALE_FLOOR = 0.05
ABSOLUTE_SCALE_FLOOR = 1.0
GAUGE_MIN_SCALE_FRACTION = 0.01  # a gauge's smallest spread: 1 % of its typical size
LEVEL_MIN_EXPECTED = 10.0  # periods with less expected traffic are too noisy to measure level
LEVEL_MIN_HOURS = 6  # hours a week-over-week comparison needs
LEVEL_SMOOTHNESS = 0.05  # pull of neighbouring days, relative to a week-over-week ratio
LEVEL_SWEEPS = 200
LEVEL_TOLERANCE = 1e-7  # log-level change that ends the solve
LEVEL_TREND_DAMPING = 1.0


def hour_of_week(ts: float) -> int:
    return int(((ts + _EPOCH_WEEKDAY_OFFSET) % SECONDS_PER_WEEK) // SECONDS_PER_HOUR)


def fractional_hour_of_week(ts: float) -> float:
    return ((ts + _EPOCH_WEEKDAY_OFFSET) % SECONDS_PER_WEEK) / SECONDS_PER_HOUR


def median(values: Iterable[float]) -> float:
    return _middle(sorted(values))


def _middle(ordered: Sequence[float]) -> float:
    """The median of values already in ascending order."""
    n = len(ordered)
    if n == 0:
        return 0.0
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def robust_scale(values: Iterable[float]) -> float:
    return _robust_scale_of_sorted(sorted(values))


def _robust_scale_of_sorted(ordered: Sequence[float]) -> float:
    """robust_scale of values already in ascending order. Their deviations from the median
    then fall and rise again: two runs, which sorted() merges in about linear time."""
    if not ordered:
        return 0.0
    center = _middle(ordered)
    return 1.4826 * median(map(abs, map(sub, ordered, repeat(center))))


class Expectation(NamedTuple):
    """What a period is expected to be (a tuple: one is looked up for every period judged)."""

    expected: float
    scale: float
    source: str  # "hour-of-week" | "weekday-hour" | "hour-of-day" | "global" | "none"
    counts: bool = True  # counters (volume gate applies) rather than gauges


class Bucket(NamedTuple):
    """One hour of the week (a tuple: the replay's forked builder sends 168 per baseline)."""

    expected: float  # at level 1.0
    spread: float  # robust scale of residuals at level 1.0, before the noise floors
    samples: int
    source: str


def noise_floor(expected: float, *, counts: bool = True, minimum: float = ABSOLUTE_SCALE_FLOOR) -> float:
    """Counts carry at least Poisson noise (sqrt of the count); any series at least a small
    relative noise, and a floor in its own units (1 count, or a sliver of a gauge's size)."""
    if counts:
        return max(math.sqrt(max(expected, 0.0)), RELATIVE_SCALE_FLOOR * expected, minimum)
    return max(RELATIVE_SCALE_FLOOR * abs(expected), minimum)


def share_noise_floor(share: float, attempts: float) -> float:
    """The least a share of `attempts` varies by chance: binomial noise, sqrt(p(1-p)/n), and at
    least one attempt's worth (1/n). The counters' Poisson and one-count floors, as a share: a
    quiet hour's few attempts need a bigger change in the share to page than a busy hour's."""
    if attempts <= 0:
        return 0.0
    p = min(max(share, 0.0), 1.0)
    return max(math.sqrt(p * (1.0 - p) * attempts), ABSOLUTE_SCALE_FLOOR) / attempts


def share_expectation(expectation: Expectation, attempts: float | None) -> Expectation:
    """`expectation` for a share of `attempts`, its spread at least the sampling noise."""
    if not attempts:
        return expectation
    floor = share_noise_floor(expectation.expected, attempts)
    if floor <= expectation.scale:
        return expectation
    return Expectation(expectation.expected, floor, expectation.source, expectation.counts)


@dataclass(frozen=True)
class Baseline:
    series_id: str
    version: int
    method: str
    period: int
    trained_from: int  # epoch seconds, inclusive
    trained_to: int  # epoch seconds, exclusive
    built_at: int
    datapoints: int  # periods with a datapoint in the training window
    buckets: tuple[Bucket, ...]  # 168, Monday 00:00 UTC first
    level: float = 1.0  # the most recent day's fleet level relative to the shape
    # Counters (non-negative whole numbers, like every AWS/IoT Sum) get Poisson noise floors
    # and the volume gate; anything else (a CPU %, a latency) is a gauge and gets neither.
    counts: bool = True
    min_scale: float = ABSOLUTE_SCALE_FLOOR
    _memo: dict[float, Expectation] = field(default_factory=dict, compare=False, repr=False)

    def expectation_at(self, ts: float) -> Expectation:
        """Expected value at the middle of the period starting at `ts` (the same for every
        week, so it is computed once per position in the week)."""
        key = (ts + _EPOCH_WEEKDAY_OFFSET) % SECONDS_PER_WEEK
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._expectation(ts)
        return found

    def _expectation(self, ts: float) -> Expectation:
        position = fractional_hour_of_week(ts + self.period / 2.0) - 0.5
        lower = math.floor(position)
        weight = position - lower
        a = self.buckets[lower % HOURS_PER_WEEK]
        b = self.buckets[(lower + 1) % HOURS_PER_WEEK]
        nearest = a if weight < 0.5 else b
        expected = (a.expected * (1.0 - weight) + b.expected * weight) * self.level
        spread = (a.spread * (1.0 - weight) + b.spread * weight) * self.level
        floor = noise_floor(expected, counts=self.counts, minimum=self.min_scale)
        return Expectation(expected, max(spread, floor), nearest.source, self.counts)  # positional: hot

    @property
    def usable(self) -> bool:
        return self.datapoints > 0

    def to_record(self) -> dict[str, object]:
        return {
            "series_id": self.series_id,
            "version": self.version,
            "method": self.method,
            "period": self.period,
            "trained_from": self.trained_from,
            "trained_to": self.trained_to,
            "built_at": self.built_at,
            "datapoints": self.datapoints,
            "level": round(self.level, 5),
            "counts": self.counts,
            "min_scale": self.min_scale,
            "buckets": json.dumps(
                [[round(b.expected, 4), round(b.spread, 4), b.samples, b.source] for b in self.buckets],
                separators=(",", ":"),
            ),
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> Baseline:
        raw = record["buckets"]
        rows = json.loads(raw) if isinstance(raw, str) else raw
        assert isinstance(rows, list)
        return cls(
            series_id=str(record["series_id"]),
            version=int(record["version"]),  # type: ignore[call-overload]
            method=str(record["method"]),
            period=int(record["period"]),  # type: ignore[call-overload]
            trained_from=int(record["trained_from"]),  # type: ignore[call-overload]
            trained_to=int(record["trained_to"]),  # type: ignore[call-overload]
            built_at=int(record["built_at"]),  # type: ignore[call-overload]
            datapoints=int(record["datapoints"]),  # type: ignore[call-overload]
            buckets=tuple(Bucket(float(e), float(s), int(n), str(src)) for e, s, n, src in rows),
            level=float(record.get("level", 1.0)),  # type: ignore[arg-type]
            counts=bool(record.get("counts", True)),
            min_scale=float(record.get("min_scale", ABSOLUTE_SCALE_FLOOR)),  # type: ignore[arg-type]
        )


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


def _first_training_slot(by_ts: dict[int, float], *, start: int, end: int, period: int) -> int:
    """Training skips the slots before the series' first datapoint (see fill_periods)."""
    if not by_ts:
        return end
    first = min(by_ts)
    return start + -(-(first - start) // period) * period if (first - start) % period else first


def _is_excluded(ts: float, excluded: Sequence[tuple[int, int]]) -> bool:
    return any(a <= ts < b for a, b in excluded)


_Gather = Callable[[Sequence[float]], Sequence[float]]


def _gather(indices: Sequence[int]) -> _Gather:
    """`values -> [values[i] for i in indices]` (as a tuple) in one C call: every build picks
    each hour's slots out of 4,032 values and again out of the residuals."""
    if not indices:
        return lambda values: ()
    if len(indices) == 1:  # itemgetter of one index returns the item, not a 1-tuple
        only = indices[0]
        return lambda values: (values[only],)
    return itemgetter(*indices)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Everything a build needs to know about where its training slots sit: each slot's hour
    of week, day, fleet-level hour and interpolation weights. None of it depends on the
    values, only on the slots' place in the week, so the daily rebuilds of a replay (and the
    series of one refresh) share it instead of recomputing it for every one of 4,032 slots."""

    count: int
    keep: _Gather | None  # drops excluded slots from the full run of slots; None keeps all
    how_take: list[_Gather]  # the slots of each hour of week
    how_samples: list[int]
    hod_take: list[_Gather]  # the slots of each hour of day
    hod_samples: list[int]
    days_how: list[int]  # distinct days seen per hour of week
    days_hod: list[int]
    daytype_take: list[_Gather]  # the slots of each (weekday | weekend) x hour of day
    daytype_samples: list[int]
    days_daytype: list[int]
    hours: dict[int, _Gather]  # the slots of each hour, keyed as in fleet_levels
    day_of: list[int]  # per slot (0 = the 24 hours before `end`)
    position: list[int]  # per slot: index into `weights`
    weights: list[tuple[int, int, float, float]]  # per position in the week: buckets and weights

    @classmethod
    def of(cls, times: Sequence[int], kept: Sequence[int] | None, *, end: int, period: int) -> _Layout:
        by_how: list[list[int]] = [[] for _ in range(HOURS_PER_WEEK)]
        day_sets_how: list[set[int]] = [set() for _ in range(HOURS_PER_WEEK)]
        for i, ts in enumerate(times):
            how = int(((ts + _EPOCH_WEEKDAY_OFFSET) % SECONDS_PER_WEEK) // SECONDS_PER_HOUR)
            by_how[how].append(i)
            day_sets_how[how].add(ts // 86400)
        by_hod = [[i for how in range(hod, HOURS_PER_WEEK, 24) for i in by_how[how]] for hod in range(24)]
        days_how = [len(d) for d in day_sets_how]
        days_hod = [sum(days_how[how] for how in range(hod, HOURS_PER_WEEK, 24)) for hod in range(24)]
        by_daytype = [[i for how in _daytype_hours(group) for i in by_how[how]] for group in range(48)]
        days_daytype = [sum(days_how[how] for how in _daytype_hours(group)) for group in range(48)]
        position_of: dict[int, int] = {}  # 2,016 positions at 5-minute periods
        weights: list[tuple[int, int, float, float]] = []
        position: list[int] = []
        for ts in times:
            at = ts % SECONDS_PER_WEEK
            if at not in position_of:
                position_of[at] = len(weights)
                point = fractional_hour_of_week(ts + period / 2.0) - 0.5
                lower = math.floor(point)
                weight = point - lower
                weights.append((lower % HOURS_PER_WEEK, (lower + 1) % HOURS_PER_WEEK, 1.0 - weight, weight))
            position.append(position_of[at])
        return cls(
            count=len(times),
            keep=None if kept is None else _gather(kept),
            how_take=[_gather(idx) for idx in by_how],
            how_samples=[len(idx) for idx in by_how],
            hod_take=[_gather(idx) for idx in by_hod],
            hod_samples=[len(idx) for idx in by_hod],
            days_how=days_how,
            days_hod=days_hod,
            daytype_take=[_gather(idx) for idx in by_daytype],
            daytype_samples=[len(idx) for idx in by_daytype],
            days_daytype=days_daytype,
            hours=_hours(times, end=end),
            day_of=[(end - 1 - ts) // 86400 for ts in times],
            position=position,
            weights=weights,
        )


def daytype_group(how: int) -> int:
    """0-23: the hour on a weekday (Mon-Fri UTC); 24-47: on a weekend day."""
    return (24 if how >= 5 * 24 else 0) + how % 24


def _daytype_hours(group: int) -> range:
    hod = group % 24
    return range(5 * 24 + hod, HOURS_PER_WEEK, 24) if group >= 24 else range(hod, 5 * 24, 24)


_LAYOUTS: dict[tuple[int, int, int, tuple[int, ...]], _Layout] = {}
_LAYOUTS_KEPT = 32  # a replay cycles through 7 (one per weekday)


def _layout(
    first_slot: int,
    *,
    end: int,
    period: int,
    excluded: Sequence[tuple[int, int]],
    gaps: Sequence[int] = (),
) -> _Layout:
    """`gaps`: indices of slots that are not measured (a share without enough attempts)."""
    slots = range(first_slot, end, period)
    dropped = tuple(i for i, ts in enumerate(slots) if _is_excluded(ts, excluded)) if excluded else ()
    if gaps:
        dropped = tuple(sorted({*dropped, *gaps}))
    # The slots are first_slot + i * period for i < count, less `dropped`: shifting them by
    # whole weeks changes no hour of week, position or day offset from `end`.
    key = (first_slot % SECONDS_PER_WEEK, end - first_slot, period, dropped)
    found = _LAYOUTS.get(key)
    if found is None:
        kept: list[int] | None = None
        times: Sequence[int] = slots
        if dropped:
            skip = set(dropped)
            kept = [i for i in range(len(slots)) if i not in skip]
            times = [slots[i] for i in kept]
        if len(_LAYOUTS) >= _LAYOUTS_KEPT:
            del _LAYOUTS[next(iter(_LAYOUTS))]  # the oldest
        found = _LAYOUTS[key] = _Layout.of(times, kept, end=end, period=period)
    return found


def _shape(layout: _Layout, values: Sequence[float]) -> list[tuple[float, str, int]]:
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


def fleet_levels(times: Sequence[int], values: Sequence[float], *, end: int, period: int) -> dict[int, float]:
    """Each day's fleet level (day 0 = the 24 hours before `end`), relative to the others.

    Day levels and an hour-of-week shape cannot be told apart from one another (every day
    belongs to one weekday), so levels come from what the shape cancels out of: the ratio
    of the same hours one week apart (median over hours, so a short incident does not
    move it), tied together by a weak pull towards neighbouring days. Solved as least
    squares in log space. Empty when there is less than a week to compare.
    """
    if len(times) != len(values):
        raise ValueError("fleet_levels needs one value per time")
    return _fleet_levels(_hours(times, end=end), values, period=period)


def _hours(times: Sequence[int], *, end: int) -> dict[int, _Gather]:
    """Which of `times` fall in each hour; key: day * 24 + hour (day 0 = the 24 h before `end`)."""
    by_hour: dict[int, list[int]] = {}
    for i, ts in enumerate(times):
        by_hour.setdefault(((end - 1 - ts) // 86400) * 24 + (ts % 86400) // 3600, []).append(i)
    return {key: _gather(idx) for key, idx in by_hour.items()}


def _fleet_levels(hours: dict[int, _Gather], values: Sequence[float], *, period: int) -> dict[int, float]:
    """fleet_levels with the times grouped by hour already (build_baseline has them cached)."""
    # sum() adds in time order like the loop it replaces (3.12+ compensates rounding: no less exact)
    hourly = {key: sum(take(values)) for key, take in hours.items()}
    get = hourly.get
    days = sorted({k // 24 for k in hourly})
    if not days or days[-1] < 7:
        return {}
    min_hourly = LEVEL_MIN_EXPECTED * 3600 / period
    week_ratios: dict[int, float] = {}
    for day in days:
        now, before = day * 24, (day + 7) * 24
        ratios = [
            math.log(hourly[now + h] / hourly[before + h])
            for h in range(24)
            if get(now + h, 0.0) >= min_hourly and get(before + h, 0.0) >= min_hourly
        ]
        if len(ratios) >= LEVEL_MIN_HOURS:
            week_ratios[day] = median(ratios)
    if 0 not in week_ratios:
        return {}
    return _solve_levels(days[-1] + 1, week_ratios)


def _solve_levels(n_days: int, week_ratios: dict[int, float]) -> dict[int, float]:
    """Gauss-Seidel over the days, day 0 first, as ever; each day's terms are worked out once
    rather than looked up in dicts on each of ~100 sweeps."""
    equations: list[tuple[int, float | None, float | None, bool, bool, float]] = []
    for day in range(n_days):
        ahead = week_ratios.get(day) if day + 7 < n_days else None  # vs the same day a week before
        behind = week_ratios.get(day - 7)  # the day a week later, vs this one
        left, right = day > 0, day < n_days - 1
        weight = 0.0
        if ahead is not None:
            weight += 1.0
        if behind is not None:
            weight += 1.0
        if left:
            weight += LEVEL_SMOOTHNESS
        if right:
            weight += LEVEL_SMOOTHNESS
        equations.append((day, ahead, behind, left, right, weight))
    log_level = [0.0] * n_days
    smoothness = LEVEL_SMOOTHNESS
    for _ in range(LEVEL_SWEEPS):
        largest_step = 0.0
        for day, ahead, behind, left, right, weight in equations:
            total = 0.0
            if ahead is not None:
                total += log_level[day + 7] + ahead
            if behind is not None:
                total += log_level[day - 7] - behind
            if left:
                total += smoothness * log_level[day - 1]
            if right:
                total += smoothness * log_level[day + 1]
            new = total / weight
            step = abs(new - log_level[day])
            if step > largest_step:
                largest_step = step
            log_level[day] = new
        if largest_step < LEVEL_TOLERANCE:
            break
    anchor = log_level[-1]
    return {day: math.exp(value - anchor) for day, value in enumerate(log_level)}


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
) -> Baseline:
    """Learns a baseline from datapoints in [start, end). `excluded` windows are skipped.

    `share`: the series is a ratio's share of attempts (domain.ratios), a gauge in [0, 1]: a
    period without a share had too few attempts to measure one and is skipped, not taken as
    zero, and there is no fleet level (a share does not grow with the fleet). Its band is
    widened per period by the sampling noise of that period's attempts when it is judged
    (`share_noise_floor`), which a baseline cannot know in advance."""
    inside = [p for p in points if start <= p[0] < end]
    by_ts = dict(inside)
    if set(map(type, by_ts)) - {int}:  # slots are ints; int() each only when some are not
        by_ts = {int(ts): value for ts, value in inside}
    first_slot = _first_training_slot(by_ts, start=start, end=end, period=period)
    gaps: Sequence[int] = ()
    if share:
        gaps = [i for i, ts in enumerate(range(first_slot, end, period)) if ts not in by_ts]
    layout = _layout(first_slot, end=end, period=period, excluded=excluded, gaps=gaps)
    # one value per slot from the first datapoint on: a missing datapoint is zero traffic
    counts = not share and all(v >= 0 and float(v).is_integer() for v in by_ts.values())
    values: list[float] = list(map(by_ts.get, range(first_slot, end, period), repeat(0.0)))
    if layout.keep is not None:
        values = list(layout.keep(values))

    level = 1.0
    day_levels = {} if share else _fleet_levels(layout.hours, values, period=period)
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
        _robust_scale_of_sorted(sorted(chain.from_iterable(how_sorted[hod::24]))) for hod in range(24)
    ]
    global_spread: float | None = None  # only when a bucket falls back to it
    daytype_spread: dict[int, float] = {}

    buckets: list[Bucket] = []
    for how, (expected, source, samples) in enumerate(shape):
        if source == "hour-of-week":
            # a handful of samples underestimates spread; keep at least half the day-level figure
            spread = max(_robust_scale_of_sorted(how_sorted[how]), 0.5 * hod_spread[how % 24])
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
        datapoints = sum(1 for ts, _ in inside if not _is_excluded(ts, excluded))
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
    )
