"""Where a build's training slots sit in the week, worked out once per shape of training window."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter

from iotwatch.domain.baseline.model import (
    HOURS_PER_WEEK,
    SECONDS_PER_HOUR,
    SECONDS_PER_WEEK,
    week_position,
)
from iotwatch.domain.local_time import NO_HOLIDAYS, UTC_NAME, Holidays, local_seconds


def first_training_slot(by_ts: dict[int, float], *, start: int, end: int, period: int) -> int:
    """Training skips the slots before the series' first datapoint (see fill_periods)."""
    if not by_ts:
        return end
    first = min(by_ts)
    return start + -(-(first - start) // period) * period if (first - start) % period else first


def is_excluded(ts: float, excluded: Sequence[tuple[int, int]]) -> bool:
    return any(a <= ts < b for a, b in excluded)


Gather = Callable[[Sequence[float]], Sequence[float]]


def gather(indices: Sequence[int]) -> Gather:
    """`values -> [values[i] for i in indices]` (as a tuple) in one C call: every build picks
    each hour's slots out of 4,032 values and again out of the residuals."""
    if not indices:
        return lambda values: ()
    if len(indices) == 1:  # itemgetter of one index returns the item, not a 1-tuple
        only = indices[0]
        return lambda values: (values[only],)
    return itemgetter(*indices)


@dataclass(frozen=True, slots=True)
class Layout:
    """Everything a build needs to know about where its training slots sit: each slot's hour
    of week, day, fleet-level hour and interpolation weights. None of it depends on the
    values, only on the slots' place in the week, so the daily rebuilds of a replay (and the
    series of one refresh) share it instead of recomputing it for every one of 4,032 slots."""

    count: int
    keep: Gather | None  # drops excluded slots from the full run of slots; None keeps all
    how_take: list[Gather]  # the slots of each hour of week
    how_samples: list[int]
    hod_take: list[Gather]  # the slots of each hour of day
    hod_samples: list[int]
    days_how: list[int]  # distinct days seen per hour of week
    days_hod: list[int]
    daytype_take: list[Gather]  # the slots of each (weekday | weekend) x hour of day
    daytype_samples: list[int]
    days_daytype: list[int]
    hours: dict[int, Gather]  # the slots of each hour, keyed as in fleet_levels
    day_of: list[int]  # per slot (0 = the 24 hours before `end`)
    position: list[int]  # per slot: index into `weights`
    weights: list[tuple[int, int, float, float]]  # per position in the week: buckets and weights

    @classmethod
    def of(
        cls,
        times: Sequence[int],
        kept: Sequence[int] | None,
        *,
        end: int,
        period: int,
        timezone: str = UTC_NAME,
        holidays: Holidays = NO_HOLIDAYS,
    ) -> Layout:
        """`timezone`: the fleet's clock the hours of week and days follow (an IANA name);
        `holidays`: its days learnt as Sundays."""
        by_how: list[list[int]] = [[] for _ in range(HOURS_PER_WEEK)]
        day_sets_how: list[set[int]] = [set() for _ in range(HOURS_PER_WEEK)]
        for i, ts in enumerate(times):
            how = int(week_position(ts, timezone, holidays) // SECONDS_PER_HOUR)
            by_how[how].append(i)
            day_sets_how[how].add(int(local_seconds(ts, timezone) // 86400))
        by_hod = [[i for how in range(hod, HOURS_PER_WEEK, 24) for i in by_how[how]] for hod in range(24)]
        days_how = [len(d) for d in day_sets_how]
        days_hod = [sum(days_how[how] for how in range(hod, HOURS_PER_WEEK, 24)) for hod in range(24)]
        by_daytype = [[i for how in _daytype_hours(group) for i in by_how[how]] for group in range(48)]
        days_daytype = [sum(days_how[how] for how in _daytype_hours(group)) for group in range(48)]
        position_of: dict[float, int] = {}  # 2,016 positions at 5-minute periods
        weights: list[tuple[int, int, float, float]] = []
        position: list[int] = []
        for ts in times:
            at = week_position(ts, timezone, holidays)
            if at not in position_of:
                position_of[at] = len(weights)
                point = week_position(ts + period / 2.0, timezone, holidays) / SECONDS_PER_HOUR - 0.5
                lower = math.floor(point)
                weight = point - lower
                weights.append((lower % HOURS_PER_WEEK, (lower + 1) % HOURS_PER_WEEK, 1.0 - weight, weight))
            position.append(position_of[at])
        return cls(
            count=len(times),
            keep=None if kept is None else gather(kept),
            how_take=[gather(idx) for idx in by_how],
            how_samples=[len(idx) for idx in by_how],
            hod_take=[gather(idx) for idx in by_hod],
            hod_samples=[len(idx) for idx in by_hod],
            days_how=days_how,
            days_hod=days_hod,
            daytype_take=[gather(idx) for idx in by_daytype],
            daytype_samples=[len(idx) for idx in by_daytype],
            days_daytype=days_daytype,
            hours=hours_of(times, end=end),
            day_of=[(end - 1 - ts) // 86400 for ts in times],
            position=position,
            weights=weights,
        )


def daytype_group(how: int) -> int:
    """0-23: the hour on a weekday (Mon-Fri on the fleet's clock); 24-47: on a weekend day."""
    return (24 if how >= 5 * 24 else 0) + how % 24


def _daytype_hours(group: int) -> range:
    hod = group % 24
    return range(5 * 24 + hod, HOURS_PER_WEEK, 24) if group >= 24 else range(hod, 5 * 24, 24)


_LAYOUTS: dict[tuple[int, int, int, tuple[int, ...], str, Holidays], Layout] = {}
_LAYOUTS_KEPT = 32  # a replay cycles through 7 (one per weekday)


def training_layout(
    first_slot: int,
    *,
    end: int,
    period: int,
    excluded: Sequence[tuple[int, int]],
    gaps: Sequence[int] = (),
    timezone: str = UTC_NAME,
    holidays: Holidays = NO_HOLIDAYS,
) -> Layout:
    """`gaps`: indices of slots that are not measured (a share without enough attempts);
    `timezone`, `holidays`: the fleet's clock and calendar (see Layout.of)."""
    slots = range(first_slot, end, period)
    dropped = tuple(i for i, ts in enumerate(slots) if is_excluded(ts, excluded)) if excluded else ()
    if gaps:
        dropped = tuple(sorted({*dropped, *gaps}))
    # The slots are first_slot + i * period for i < count, less `dropped`: shifting them by
    # whole weeks changes no hour of week, position or day offset from `end`.
    # On local time a week's shift can cross a DST change: only the same slots share a layout.
    # So can a holiday.
    anchor = first_slot % SECONDS_PER_WEEK if timezone == UTC_NAME and not holidays.days else first_slot
    key = (anchor, end - first_slot, period, dropped, timezone, holidays)
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
        found = _LAYOUTS[key] = Layout.of(
            times, kept, end=end, period=period, timezone=timezone, holidays=holidays
        )
    return found


def hours_of(times: Sequence[int], *, end: int) -> dict[int, Gather]:
    """Which of `times` fall in each hour; key: day * 24 + hour (day 0 = the 24 h before `end`)."""
    by_hour: dict[int, list[int]] = {}
    for i, ts in enumerate(times):
        by_hour.setdefault(((end - 1 - ts) // 86400) * 24 + (ts % 86400) // 3600, []).append(i)
    return {key: gather(idx) for key, idx in by_hour.items()}
