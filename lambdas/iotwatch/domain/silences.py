"""Silences: time ranges in which deviations are recorded and shown but not paged.

Two sources, one rule: ad-hoc silences a person adds from the CLI (stored in DynamoDB),
and recurring maintenance windows from the plan (weekly, in a named time zone). A series
is silenced at an instant when any active silence matches its metric (glob) and every
dimension the silence names. An ad-hoc silence may name an incident instead: it holds that
incident's pages (updates, escalations, reminders; never its RESOLVED) and no series.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from iotwatch.domain.series import Series

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Silence:
    """One silence. `starts`/`ends` are epoch seconds; `ends` is exclusive."""

    id: str
    starts: int
    ends: int
    reason: str
    metrics: tuple[str, ...] = ("*",)  # glob patterns on the metric name
    dimensions: Mapping[str, str] = field(default_factory=dict)  # all must match
    created_by: str = "unknown"
    created_at: int = 0
    incident: str | None = None  # an incident's id: this silence holds that incident's pages

    def matches(self, series: Series) -> bool:
        if self.incident is not None:
            return False
        if not any(fnmatch.fnmatchcase(series.metric, pattern) for pattern in self.metrics):
            return False
        dims = series.dimension_map
        return all(dims.get(key) == value for key, value in self.dimensions.items())


class SilenceState(Enum):
    """Where a silence stands at an instant (Alertmanager's silence states)."""

    PENDING = "pending"  # not begun yet
    ACTIVE = "active"
    EXPIRED = "expired"  # `ends` passed (exclusive)


def silence_state(silence: Silence, now: float) -> SilenceState:
    """The one rule for whether a silence holds pages at `now`."""
    if silence.ends <= now:
        return SilenceState.EXPIRED
    return SilenceState.ACTIVE if silence.starts <= now else SilenceState.PENDING


@dataclass(frozen=True)
class MaintenanceWindow:
    """A weekly window in local time, e.g. Sundays 02:00-04:00 Europe/Berlin."""

    name: str
    days: tuple[str, ...]  # of WEEKDAYS
    start: str  # "HH:MM" local
    end: str  # "HH:MM" local; earlier than start means it ends the next day
    timezone: str = "UTC"
    metrics: tuple[str, ...] = ("*",)
    dimensions: Mapping[str, str] = field(default_factory=dict)

    def occurrence_at(self, ts: float) -> Silence | None:
        """The silence this window makes at `ts`, if `ts` falls in one of its occurrences."""
        from zoneinfo import ZoneInfo  # only plans with maintenance windows pay for the import

        zone = ZoneInfo(self.timezone)
        local = datetime.fromtimestamp(ts, zone)
        start_h, start_m = (int(x) for x in self.start.split(":"))
        end_h, end_m = (int(x) for x in self.end.split(":"))
        for days_back in (0, 1):  # an overnight window may have begun yesterday
            day = (local - timedelta(days=days_back)).date()
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            begin = datetime(day.year, day.month, day.day, start_h, start_m, tzinfo=zone)
            finish = datetime(day.year, day.month, day.day, end_h, end_m, tzinfo=zone)
            if finish <= begin:
                finish += timedelta(days=1)
            if begin.timestamp() <= ts < finish.timestamp():
                return Silence(
                    id=f"window:{self.name}:{day.isoformat()}",
                    starts=int(begin.timestamp()),
                    ends=int(finish.timestamp()),
                    reason=f"maintenance window '{self.name}'",
                    metrics=self.metrics,
                    dimensions=self.dimensions,
                    created_by="plan",
                )
        return None


def active_occurrences(windows: Iterable[MaintenanceWindow], ts: float) -> list[Silence]:
    """The silences the plan's maintenance windows make at `ts` (time-zone work once per window)."""
    return [o for o in (w.occurrence_at(ts) for w in windows) if o is not None]


def silence_for(
    series: Series, ts: float, *, silences: Iterable[Silence] = (), windows: Sequence[MaintenanceWindow] = ()
) -> Silence | None:
    """The silence covering `series` at `ts` (ad-hoc first, then maintenance windows), or None."""
    for silence in silences:
        if silence_state(silence, ts) is SilenceState.ACTIVE and silence.matches(series):
            return silence
    for window in windows:
        occurrence = window.occurrence_at(ts)
        if occurrence is not None and occurrence.matches(series):
            return occurrence
    return None
