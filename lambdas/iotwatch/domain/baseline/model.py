"""A learnt baseline and what it expects: the Baseline, its 168 hour-of-week Buckets, Expectation, noise floors."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from iotwatch.domain.local_time import NO_HOLIDAYS, UTC_NAME, Holidays, holiday_position, local_seconds
from iotwatch.domain.slow_change import SlowChange

HOURS_PER_WEEK = 168
METHOD = "seasonal-level-v2"
SECONDS_PER_HOUR = 3600
SECONDS_PER_WEEK = HOURS_PER_WEEK * SECONDS_PER_HOUR
# Unix epoch (1970-01-01) was a Thursday; shift so hour-of-week 0 is Monday 00:00 UTC.
EPOCH_WEEKDAY_OFFSET = 3 * 24 * SECONDS_PER_HOUR
RELATIVE_SCALE_FLOOR = 0.05
ABSOLUTE_SCALE_FLOOR = 1.0


def week_position(ts: float, timezone: str = UTC_NAME, holidays: Holidays = NO_HOLIDAYS) -> float:
    """Seconds since Monday 00:00 on the fleet's clock (`timezone`, an IANA name): the one
    place that says where in the week an instant falls (buckets, weekday/weekend, reports). A
    holiday of the fleet's calendar (`holidays`) falls on Sunday."""
    local = local_seconds(ts, timezone)
    on_holiday = holiday_position(local, holidays)
    if on_holiday is not None:
        return on_holiday
    return (local + EPOCH_WEEKDAY_OFFSET) % SECONDS_PER_WEEK


def hour_of_week(ts: float, timezone: str = UTC_NAME, holidays: Holidays = NO_HOLIDAYS) -> int:
    return int(week_position(ts, timezone, holidays) // SECONDS_PER_HOUR)


def fractional_hour_of_week(ts: float, timezone: str = UTC_NAME, holidays: Holidays = NO_HOLIDAYS) -> float:
    return week_position(ts, timezone, holidays) / SECONDS_PER_HOUR


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
    buckets: tuple[Bucket, ...]  # 168, Monday 00:00 first (in `timezone`)
    level: float = 1.0  # the most recent day's fleet level relative to the shape
    # Counters (non-negative whole numbers, like every AWS/IoT Sum) get Poisson noise floors
    # and the volume gate; anything else (a CPU %, a latency) is a gauge and gets neither.
    counts: bool = True
    min_scale: float = ABSOLUTE_SCALE_FLOOR
    timezone: str = UTC_NAME  # the fleet's clock the hours of week follow (domain.local_time)
    slow_change: SlowChange | None = None  # how the level moved over the weeks (domain.slow_change)
    holidays: Holidays = NO_HOLIDAYS  # the fleet's holidays, judged as Sundays (domain.local_time)
    _memo: dict[float, Expectation] = field(default_factory=dict, compare=False, repr=False)

    def expectation_at(self, ts: float) -> Expectation:
        """Expected value at the middle of the period starting at `ts` (the same for every
        week, so it is computed once per position in the week)."""
        if self.timezone == UTC_NAME and not self.holidays.days:
            key = (ts + EPOCH_WEEKDAY_OFFSET) % SECONDS_PER_WEEK
        else:
            key = week_position(ts, self.timezone, self.holidays)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._expectation(ts)
        return found

    def _expectation(self, ts: float) -> Expectation:
        position = fractional_hour_of_week(ts + self.period / 2.0, self.timezone, self.holidays) - 0.5
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
            # only when set: a UTC counter's record stays as it was
            **({"timezone": self.timezone} if self.timezone != UTC_NAME else {}),
            **({"slow_change": json.dumps(self.slow_change.to_record())} if self.slow_change else {}),
            **({"holidays": json.dumps(self.holidays_record())} if self.holidays.days else {}),
        }

    def on_holiday(self, ts: float) -> bool:
        """Whether the period starting at `ts` is on one of the fleet's holidays."""
        return self.holidays.covers(ts, self.timezone)

    def holidays_record(self) -> dict[str, object]:
        return {"dates": self.holidays.dates, "treat_as": "exclude" if self.holidays.exclude else "sunday"}

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
            timezone=str(record.get("timezone", UTC_NAME)),
            slow_change=_slow_change_of(record.get("slow_change")),
            holidays=_holidays_of(record.get("holidays")),
        )


def _slow_change_of(raw: object) -> SlowChange | None:
    if raw is None:
        return None
    figures = json.loads(raw) if isinstance(raw, str) else raw
    assert isinstance(figures, list)
    return SlowChange.from_record(figures)


def _holidays_of(raw: object) -> Holidays:
    if raw is None:
        return NO_HOLIDAYS
    found = json.loads(raw) if isinstance(raw, str) else raw
    assert isinstance(found, dict)
    return Holidays.of(
        (date.fromisoformat(str(d)) for d in found.get("dates", [])),
        exclude=found.get("treat_as") == "exclude",
    )
