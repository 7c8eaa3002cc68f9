"""Learning "normal" for one series from its own history.

Method `seasonal-level-v2` (value = fleet level x hour-of-week shape):
- IoT counters send no datapoint when there is no traffic, so a missing period after the
  series' first datapoint counts as zero; before it, the series did not exist yet.
- Expected value per hour of week (168 buckets) is the median of that hour's periods.
  When history is too short for a bucket, it falls back to the hour of day, then to the
  whole history, and the bucket says which (`source`), so a person can see why.
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
from collections.abc import Sequence
from dataclasses import dataclass, field

HOURS_PER_WEEK = 168
METHOD = "seasonal-level-v2"
SECONDS_PER_HOUR = 3600
SECONDS_PER_WEEK = HOURS_PER_WEEK * SECONDS_PER_HOUR
# Unix epoch (1970-01-01) was a Thursday; shift so hour-of-week 0 is Monday 00:00 UTC.
_EPOCH_WEEKDAY_OFFSET = 3 * 24 * SECONDS_PER_HOUR

MIN_SAMPLES_HOUR_OF_WEEK = 2  # distinct days seen for this hour of week
MIN_DAYS_HOUR_OF_DAY = 3
RELATIVE_SCALE_FLOOR = 0.05
ABSOLUTE_SCALE_FLOOR = 1.0
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


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return 0.0
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def robust_scale(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    center = median(values)
    return 1.4826 * median([abs(v - center) for v in values])


@dataclass(frozen=True, slots=True)
class Expectation:
    expected: float
    scale: float
    source: str  # "hour-of-week" | "hour-of-day" | "global" | "none"


@dataclass(frozen=True, slots=True)
class Bucket:
    expected: float  # at level 1.0
    spread: float  # robust scale of residuals at level 1.0, before the noise floors
    samples: int
    source: str


def noise_floor(expected: float) -> float:
    return max(math.sqrt(max(expected, 0.0)), RELATIVE_SCALE_FLOOR * expected, ABSOLUTE_SCALE_FLOOR)


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
        return Expectation(expected=expected, scale=max(spread, noise_floor(expected)), source=nearest.source)

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


def _training_slots(
    points: Sequence[tuple[int, float]], *, start: int, end: int, period: int
) -> list[tuple[int, float]]:
    """fill_periods without the slots before the first datapoint (what training uses)."""
    by_ts = {int(ts): value for ts, value in points if start <= ts < end}
    if not by_ts:
        return []
    first = min(by_ts)
    first_slot = start + -(-(first - start) // period) * period if (first - start) % period else first
    get = by_ts.get
    return [(ts, get(ts, 0.0)) for ts in range(first_slot, end, period)]


def _interpolate(levels: Sequence[float], ts: float, period: int) -> float:
    position = fractional_hour_of_week(ts + period / 2.0) - 0.5
    lower = math.floor(position)
    weight = position - lower
    return levels[lower % HOURS_PER_WEEK] * (1.0 - weight) + levels[(lower + 1) % HOURS_PER_WEEK] * weight


@dataclass(frozen=True)
class _Grouping:
    """Which training slots fall in each hour of week / hour of day, computed once per build."""

    by_how: list[list[int]]
    by_hod: list[list[int]]
    days_how: list[int]  # distinct days seen per hour of week
    days_hod: list[int]
    count: int

    @classmethod
    def of(cls, hows: Sequence[int], days: Sequence[int]) -> _Grouping:
        by_how: list[list[int]] = [[] for _ in range(HOURS_PER_WEEK)]
        day_sets_how: list[set[int]] = [set() for _ in range(HOURS_PER_WEEK)]
        for i, (how, day) in enumerate(zip(hows, days, strict=True)):
            by_how[how].append(i)
            day_sets_how[how].add(day)
        by_hod = [[i for how in range(hod, HOURS_PER_WEEK, 24) for i in by_how[how]] for hod in range(24)]
        days_hod = [
            sum(len(day_sets_how[how]) for how in range(hod, HOURS_PER_WEEK, 24)) for hod in range(24)
        ]
        return cls(by_how, by_hod, [len(d) for d in day_sets_how], days_hod, len(hows))


def _shape(group: _Grouping, values: Sequence[float]) -> list[tuple[float, str, int]]:
    """Median per hour of week, falling back to hour of day, then to everything."""
    global_median = median(values)
    hod_median = [median([values[i] for i in idx]) for idx in group.by_hod]
    shape: list[tuple[float, str, int]] = []
    for how in range(HOURS_PER_WEEK):
        idx = group.by_how[how]
        if group.days_how[how] >= MIN_SAMPLES_HOUR_OF_WEEK:
            shape.append((median([values[i] for i in idx]), "hour-of-week", len(idx)))
        elif group.days_hod[how % 24] >= MIN_DAYS_HOUR_OF_DAY:
            shape.append((hod_median[how % 24], "hour-of-day", len(group.by_hod[how % 24])))
        elif values:
            shape.append((global_median, "global", group.count))
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
    hourly: dict[int, float] = {}  # key: day * 24 + hour (day 0 = the 24 h before `end`)
    for ts, value in zip(times, values, strict=True):
        key = ((end - 1 - ts) // 86400) * 24 + (ts % 86400) // 3600
        hourly[key] = hourly.get(key, 0.0) + value
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
            if hourly.get(now + h, 0.0) >= min_hourly and hourly.get(before + h, 0.0) >= min_hourly
        ]
        if len(ratios) >= LEVEL_MIN_HOURS:
            week_ratios[day] = median(ratios)
    if 0 not in week_ratios:
        return {}
    log_level = dict.fromkeys(range(days[-1] + 1), 0.0)
    for _ in range(LEVEL_SWEEPS):
        largest_step = 0.0
        for day in log_level:
            total = weight = 0.0
            if day in week_ratios and day + 7 in log_level:
                total += log_level[day + 7] + week_ratios[day]
                weight += 1.0
            if day - 7 in week_ratios:
                total += log_level[day - 7] - week_ratios[day - 7]
                weight += 1.0
            for neighbour in (day - 1, day + 1):
                if neighbour in log_level:
                    total += LEVEL_SMOOTHNESS * log_level[neighbour]
                    weight += LEVEL_SMOOTHNESS
            new = total / weight
            largest_step = max(largest_step, abs(new - log_level[day]))
            log_level[day] = new
        if largest_step < LEVEL_TOLERANCE:
            break
    anchor = log_level[max(log_level)]
    return {day: math.exp(value - anchor) for day, value in log_level.items()}


def _count_training_points(
    points: Sequence[tuple[int, float]], start: int, end: int, excluded: Sequence[tuple[int, int]]
) -> int:
    inside = [ts for ts, _ in points if start <= ts < end]
    if excluded:
        inside = [ts for ts in inside if not any(a <= ts < b for a, b in excluded)]
    return len(inside)


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
) -> Baseline:
    """Learns a baseline from datapoints in [start, end). `excluded` windows are skipped."""
    slots = _training_slots(points, start=start, end=end, period=period)
    if excluded:
        slots = [(ts, v) for ts, v in slots if not any(a <= ts < b for a, b in excluded)]
    times = [ts for ts, _ in slots]
    values = [v for _, v in slots]
    hows = [int(((ts + _EPOCH_WEEKDAY_OFFSET) % SECONDS_PER_WEEK) // SECONDS_PER_HOUR) for ts in times]
    group = _Grouping.of(hows, [ts // 86400 for ts in times])
    shape = _shape(group, values)

    level = 1.0
    day_levels = fleet_levels(times, values, end=end, period=period)
    if day_levels:
        day_of = [(end - 1 - ts) // 86400 for ts in times]
        values = [v / day_levels.get(day, 1.0) for day, v in zip(day_of, values, strict=True)]
        shape = _shape(group, values)
        # Day 0's level is centred ~12 h before `end` and used for the ~24 h after it: carry
        # the recent trend forward (damped, so a finished rollout overshoots only a little).
        trend = math.log(day_levels[0] / day_levels[1]) if 1 in day_levels else 0.0
        level = day_levels[0] * math.exp(LEVEL_TREND_DAMPING * trend)

    curve = [e for e, _, _ in shape]
    residuals_how: list[list[float]] = [[] for _ in range(HOURS_PER_WEEK)]
    residuals_hod: list[list[float]] = [[] for _ in range(24)]
    all_residuals: list[float] = []
    interpolated: dict[int, float] = {}  # per position in the week: 2,016 at 5-minute periods
    for ts, how, value in zip(times, hows, values, strict=True):
        position = ts % SECONDS_PER_WEEK
        expected = interpolated.get(position)
        if expected is None:
            expected = interpolated[position] = _interpolate(curve, ts, period)
        residual = value - expected
        residuals_how[how].append(residual)
        residuals_hod[how % 24].append(residual)
        all_residuals.append(residual)
    global_spread = robust_scale(all_residuals)
    hod_spread = [robust_scale(r) for r in residuals_hod]

    buckets: list[Bucket] = []
    for how, (expected, source, samples) in enumerate(shape):
        if source == "hour-of-week":
            # a handful of samples underestimates spread; keep at least half the day-level figure
            spread = max(robust_scale(residuals_how[how]), 0.5 * hod_spread[how % 24])
        elif source == "hour-of-day":
            spread = hod_spread[how % 24]
        else:
            spread = global_spread
        buckets.append(Bucket(expected, spread, samples, source))
    return Baseline(
        series_id=series_id,
        version=version,
        method=METHOD,
        period=period,
        trained_from=start,
        trained_to=end,
        built_at=built_at,
        datapoints=_count_training_points(points, start, end, excluded),
        buckets=tuple(buckets),
        level=level,
    )
