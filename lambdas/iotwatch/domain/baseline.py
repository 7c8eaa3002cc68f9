"""Learning "normal" for one series from its own history.

Method `seasonal-robust-v1`:
- IoT counters send no datapoint when there is no traffic, so a missing period after the
  series' first datapoint counts as zero; before it, the series did not exist yet.
- Expected value per hour of week (168 buckets) is the median of that hour's periods.
  When history is too short for a bucket, it falls back to the hour of day, then to the
  whole history, and the bucket says which (`source`), so a person can see why.
- The expected value is interpolated between neighbouring hour centres, so morning ramps
  do not look like deviations at the start and end of each hour.
- Spread is the robust scale (1.4826 x MAD) of residuals against that curve, floored by
  Poisson noise (sqrt of the expected count) and a small relative floor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

HOURS_PER_WEEK = 168
METHOD = "seasonal-robust-v1"
SECONDS_PER_HOUR = 3600
SECONDS_PER_WEEK = HOURS_PER_WEEK * SECONDS_PER_HOUR
# Unix epoch (1970-01-01) was a Thursday; shift so hour-of-week 0 is Monday 00:00 UTC.
_EPOCH_WEEKDAY_OFFSET = 3 * 24 * SECONDS_PER_HOUR

MIN_SAMPLES_HOUR_OF_WEEK = 2  # distinct days seen for this hour of week
MIN_DAYS_HOUR_OF_DAY = 3
RELATIVE_SCALE_FLOOR = 0.05
ABSOLUTE_SCALE_FLOOR = 1.0


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
    expected: float
    scale: float
    samples: int
    source: str


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

    def expectation_at(self, ts: float) -> Expectation:
        """Expected value at the middle of the period starting at `ts`."""
        position = fractional_hour_of_week(ts + self.period / 2.0) - 0.5
        lower = math.floor(position)
        weight = position - lower
        a = self.buckets[lower % HOURS_PER_WEEK]
        b = self.buckets[(lower + 1) % HOURS_PER_WEEK]
        nearest = a if weight < 0.5 else b
        expected = a.expected * (1.0 - weight) + b.expected * weight
        scale = a.scale * (1.0 - weight) + b.scale * weight
        return Expectation(expected=expected, scale=scale, source=nearest.source)

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
            "buckets": json.dumps(
                [[round(b.expected, 4), round(b.scale, 4), b.samples, b.source] for b in self.buckets],
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
    slots = [
        (ts, v)
        for ts, v in fill_periods(points, start=start, end=end, period=period)
        if v is not None and not any(a <= ts < b for a, b in excluded)
    ]
    by_how: list[list[float]] = [[] for _ in range(HOURS_PER_WEEK)]
    days_how: list[set[int]] = [set() for _ in range(HOURS_PER_WEEK)]
    by_hod: list[list[float]] = [[] for _ in range(24)]
    days_hod: list[set[int]] = [set() for _ in range(24)]
    for ts, value in slots:
        how = hour_of_week(ts)
        day = ts // 86400
        by_how[how].append(value)
        days_how[how].add(day)
        by_hod[how % 24].append(value)
        days_hod[how % 24].add(day)
    all_values = [v for _, v in slots]
    global_median = median(all_values)

    level: list[tuple[float, str, int]] = []
    for how in range(HOURS_PER_WEEK):
        if len(days_how[how]) >= MIN_SAMPLES_HOUR_OF_WEEK:
            level.append((median(by_how[how]), "hour-of-week", len(by_how[how])))
        elif len(days_hod[how % 24]) >= MIN_DAYS_HOUR_OF_DAY:
            level.append((median(by_hod[how % 24]), "hour-of-day", len(by_hod[how % 24])))
        elif all_values:
            level.append((global_median, "global", len(all_values)))
        else:
            level.append((0.0, "none", 0))

    provisional = Baseline(
        series_id=series_id,
        version=version,
        method=METHOD,
        period=period,
        trained_from=start,
        trained_to=end,
        built_at=built_at,
        datapoints=len(points),
        buckets=tuple(Bucket(e, 0.0, n, src) for e, src, n in level),
    )
    residuals_how: list[list[float]] = [[] for _ in range(HOURS_PER_WEEK)]
    residuals_hod: list[list[float]] = [[] for _ in range(24)]
    all_residuals: list[float] = []
    for ts, value in slots:
        residual = value - provisional.expectation_at(ts).expected
        how = hour_of_week(ts)
        residuals_how[how].append(residual)
        residuals_hod[how % 24].append(residual)
        all_residuals.append(residual)
    global_scale = robust_scale(all_residuals)

    buckets: list[Bucket] = []
    for how, (expected, source, samples) in enumerate(level):
        if source == "hour-of-week":
            spread = robust_scale(residuals_how[how])
            # a handful of samples underestimates spread; never go below the day-level figure by much
            spread = max(spread, 0.5 * robust_scale(residuals_hod[how % 24]))
        elif source == "hour-of-day":
            spread = robust_scale(residuals_hod[how % 24])
        else:
            spread = global_scale
        floor = max(math.sqrt(max(expected, 0.0)), RELATIVE_SCALE_FLOOR * expected, ABSOLUTE_SCALE_FLOOR)
        buckets.append(Bucket(expected, max(spread, floor), samples, source))
    return Baseline(
        series_id=series_id,
        version=version,
        method=METHOD,
        period=period,
        trained_from=start,
        trained_to=end,
        built_at=built_at,
        datapoints=len(points),
        buckets=tuple(buckets),
    )
