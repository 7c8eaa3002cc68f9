"""Slow change: a level that drifts far from the same hours a week and two weeks before.

The baseline follows the fleet's level day by day (domain.baseline.levels), and the
likelihood tracker adapts, so traffic leaking away a few per cent a day never leaves the
band: a fleet losing devices to a bad firmware roll-out raises nothing. The daily build
already compares each day with the same hours a week before (the median ratio over the
hours, so the weekly rhythm cancels and an incident of a few hours does not count); `measure`
keeps the last week of those ratios, the latest day against two weeks before when the history
reaches back, and the pace and duration of the move. No extra read and no state: the figures
ride on the baseline, and the evaluator pages them as a warning (`overlay`) until a rebuild no
longer sees them: the level came back, or it held still for a week and the baseline caught up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from iotwatch.domain.baseline.levels import SameHours
    from iotwatch.domain.deviation import PeriodScore
    from iotwatch.domain.series import DetectionSettings, Series

RECENT_DAYS = 7  # the last week: every weekday once
# The week before a build's training window, read with it only to compare the last week with
# two weeks before (a busy week a week ago is no leak). GetMetricData bills per metric, not
# per datapoint: the extra week costs datapoints per call, not money.
COMPARE_SECONDS = 7 * 86400
GRADUAL = 1.5  # the most, in thresholds, that consecutive days' ratios may differ by
MIN_MOVE = 0.01  # log ratio: a day less than 1 % off the week before is not moving
MODEL = "slow change"


class SlowChange(NamedTuple):
    """How a counter's level moved, as the daily build saw it. A tuple: it rides on every
    baseline record of a counter with two weeks of history."""

    week: tuple[float, ...]  # the last 7 days (newest first) against the same hours a week before: log ratios
    two_weeks: float | None  # the latest day against the same hours two weeks before (log ratio), if held
    per_day: float  # the pace over the last week, relative change per day (-0.02: falling 2 % a day)
    days: int  # for how long it has been moving at that pace

    @property
    def change_week(self) -> float:
        """The latest day against the same hours a week before, relative (-0.24: 24 % below)."""
        return math.expm1(self.week[0])

    def to_record(self) -> list[object]:
        return [
            [round(r, 4) for r in self.week],
            None if self.two_weeks is None else round(self.two_weeks, 4),
            round(self.per_day, 5),
            self.days,
        ]

    @classmethod
    def from_record(cls, raw: Sequence[Any]) -> SlowChange:
        week, two_weeks, per_day, days = raw
        return cls(
            tuple(float(r) for r in week),
            None if two_weeks is None else float(two_weeks),
            float(per_day),
            int(days),
        )


def wants_extra_week(detection: DetectionSettings, *, share: bool, period: int, history_days: int) -> bool:
    """Whether a build of this series reads COMPARE_SECONDS before its training window: a
    counter with slow change on, when CloudWatch still returns that far back at its period
    (1-minute data for 15 days, 5-minute for 63, hourly beyond; an older start at a finer
    period returns nothing, and the build must not lose its training for a comparison)."""
    if detection.slow_change <= 0 or share:
        return False
    days = history_days + COMPARE_SECONDS // 86400
    return days <= 15 or (days <= 63 and period % 300 == 0) or period % 3600 == 0


def reads_extra_week(series: Sequence[Series], history_days: int) -> bool:
    """Whether a build of `series` reads the week before its training window (slow change):
    sizes count it, so reads stay in whole GetMetricData calls."""
    return any(
        wants_extra_week(s.detection, share=s.ratio is not None, period=s.period, history_days=history_days)
        for s in series
    )


def measure(same_hours: SameHours) -> SlowChange | None:
    """The slow-change figures of a build's day ratios (domain.baseline.levels.SameHours); None
    unless each of the last 7 days has its own comparison with the week before and the latest
    with two weeks before (a gap, too little traffic or too short a history leaves it unknown)."""
    week = same_hours.week
    if any(day not in week for day in range(RECENT_DAYS)) or 0 not in same_hours.two_weeks:
        return None
    ratios = tuple(week[day] for day in range(RECENT_DAYS))
    two_weeks = same_hours.two_weeks[0]
    moving = 0  # the days in a row, newest first, off their week-before the same way
    for r in ratios:
        if abs(r) < MIN_MOVE or (r < 0) != (ratios[0] < 0):
            break
        moving += 1
    # A leak of pace p that began k days ago puts the latest day k x p below the week before
    # (7 x p once it has run a week): the pace is the latest ratio over the days it took.
    pace = ratios[0] / moving if moving else 0.0
    if pace and moving == RECENT_DAYS:  # all week: for how long, at that pace
        moving = max(moving, min(round(two_weeks / pace), 2 * RECENT_DAYS))
    return SlowChange(ratios, two_weeks, math.expm1(pace), moving)


def verdict(change: SlowChange | None, detection: DetectionSettings) -> str | None:
    """A slow "drop" (or "surge") when the latest day is at least `slow_change` (the plan's
    threshold) below the same hours a week before, and two weeks before when the history
    reaches back; each of the last `slow_change_days` days was below its week-before at least a
    quarter of that (one holiday is a day, a leak is every day) and moved gradually from the
    day before (GRADUAL); and the pace covers the
    threshold in two weeks. A counter that pages on both sides pages slow drops only: a fleet
    grows on purpose, it rarely shrinks on purpose; an `up` metric (errors) slow rises."""
    threshold = detection.slow_change
    if change is None or threshold <= 0:
        return None
    sign = 1.0 if detection.direction == "up" else -1.0
    far = -math.log1p(-threshold)  # 0.1 -> 0.105 in log ratio
    steady = -math.log1p(-threshold / 4)
    recent = change.week[: detection.slow_change_days]
    if (
        sign * change.week[0] >= far
        and (change.two_weeks is None or sign * change.two_weeks >= far)
        and len(recent) == detection.slow_change_days
        and all(sign * r >= steady for r in recent)
        # gradual: a leak moves each day by its pace, a few per cent; days that jump by more
        # than the threshold against each other are news and quiet weeks (or a step, the band's)
        and all(abs(a - b) <= GRADUAL * far for a, b in pairwise(recent))
        and sign * change.per_day >= threshold / 14
    ):
        return "surge" if sign > 0 else "drop"
    return None


def overlay(
    scores: list[PeriodScore], change: SlowChange | None, detection: DetectionSettings
) -> list[PeriodScore]:
    """The window's periods with the slow change on top: a period the band and the tracker find
    normal deviates as a warning while the latest build sees the level drift (so the series
    fires through the usual state machine and incidents, and resolves when a rebuild no longer
    sees it). A period that deviates on its own stays as it is: a real outage on top escalates."""
    direction = verdict(change, detection)
    if direction is None:
        return scores
    return [
        s if s.alerting else replace(s, severity="warning", anomaly=direction, slow_change=change)
        for s in scores
    ]


def phrase(change: SlowChange, *, short: bool = False) -> str:
    """'24% below the same hours last week, falling 2% a day for 9 days' (short: for a subject)."""
    week = change.change_week
    side = "below" if week < 0 else "above"
    moving = "falling" if change.per_day < 0 else "rising"
    pace = f"{abs(change.per_day) * 100:.1f}".removesuffix(".0")
    if short:
        return f"{abs(week) * 100:.0f}% {side} last week, {moving} {pace}%/day for {change.days} days"
    return f"{abs(week) * 100:.0f}% {side} the same hours last week, {moving} {pace}% a day for {change.days} days"


def details(change: SlowChange) -> str:
    """The model and every figure, for an e-mail's details and `baseline show`."""
    text = f"{MODEL}: {phrase(change)}"
    if change.two_weeks is not None:
        two = math.expm1(change.two_weeks)
        text += f"; {abs(two) * 100:.0f}% {'below' if two < 0 else 'above'} two weeks before"
    return text
