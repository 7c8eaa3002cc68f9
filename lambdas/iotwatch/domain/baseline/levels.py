"""The fleet's level day by day, so growth and rollouts are divided out before the shape is learnt."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from iotwatch.domain.baseline.layout import Gather, hours_of
from iotwatch.domain.baseline.stats import median

LEVEL_MIN_EXPECTED = 10.0  # periods with less expected traffic are too noisy to measure level
LEVEL_MIN_HOURS = 6  # hours a week-over-week comparison needs
LEVEL_SMOOTHNESS = 0.05  # pull of neighbouring days, relative to a week-over-week ratio
LEVEL_SWEEPS = 200
LEVEL_TOLERANCE = 1e-7  # log-level change that ends the solve
LEVEL_TREND_DAMPING = 1.0


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
    return fleet_levels_by_hour(hours_of(times, end=end), values, period=period)


def fleet_levels_by_hour(
    hours: dict[int, Gather], values: Sequence[float], *, period: int
) -> dict[int, float]:
    """fleet_levels with the times grouped by hour already (build_baseline has them cached)."""
    return fleet_levels_with_ratios(hours, values, period=period)[0]


class SameHours(NamedTuple):
    """Days against the same hours a week and two weeks before: the median log ratio over the
    hours with traffic enough, by day (0 = the 24 hours before the build). What the levels are
    solved from, and what domain.slow_change reads."""

    week: dict[int, float]
    two_weeks: dict[int, float]  # the last week's days only, when the history reaches back


RECENT_DAYS = 7  # the days whose two-week ratios are kept


def fleet_levels_with_ratios(
    hours: dict[int, Gather],
    values: Sequence[float],
    *,
    period: int,
    earlier: Mapping[int, float] | None = None,
    holidays: frozenset[int] = frozenset(),
) -> tuple[dict[int, float], SameHours]:
    """fleet_levels_by_hour, and the ratios it was solved from (empty ones without a level).
    `earlier`: hourly sums before the training window (keyed as `hours`), for the two-week
    ratios only. `holidays`: the days (as keyed here) that touch a holiday of the fleet's
    calendar: neither they nor the days compared with them have a ratio, so a holiday is no
    drop of the fleet's level and the week after it no recovery (their levels follow their
    neighbours')."""
    # sum() adds in time order like the loop it replaces (3.12+ compensates rounding: no less exact)
    hourly = {key: sum(take(values)) for key, take in hours.items()}
    days = sorted({k // 24 for k in hourly})
    if not days or days[-1] < 7:
        return {}, SameHours({}, {})
    min_hourly = LEVEL_MIN_EXPECTED * 3600 / period
    week_ratios = _same_hours(hourly, days, 7, min_hourly, holidays)
    if 0 not in week_ratios and not holidays.intersection((0, 7)):  # a holiday's day 0: levels still
        return {}, SameHours({}, {})
    recent = [d for d in days if d < RECENT_DAYS]
    two_weeks = _same_hours({**earlier, **hourly} if earlier else hourly, recent, 14, min_hourly, holidays)
    return _solve_levels(days[-1] + 1, week_ratios), SameHours(week_ratios, two_weeks)


def _same_hours(
    hourly: dict[int, float],
    days: Sequence[int],
    lag: int,
    min_hourly: float,
    holidays: frozenset[int] = frozenset(),
) -> dict[int, float]:
    get = hourly.get
    out: dict[int, float] = {}
    for day in days:
        if holidays and (day in holidays or day + lag in holidays):
            continue
        now, before = day * 24, (day + lag) * 24
        ratios = [
            math.log(hourly[now + h] / hourly[before + h])
            for h in range(24)
            if get(now + h, 0.0) >= min_hourly and get(before + h, 0.0) >= min_hourly
        ]
        if len(ratios) >= LEVEL_MIN_HOURS:
            out[day] = median(ratios)
    return out


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
