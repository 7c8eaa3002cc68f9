"""The fleet's wall clock: epoch seconds as the local time a plan's `detection.timezone` names.

A consumer fleet follows local time: its weekend starts at local midnight and its day shifts
by an hour against UTC twice a year. Hour-of-week (domain.baseline.model.week_position) reads
local time through `local_seconds`, so a DST change moves the buckets with the fleet instead
of paging or blurring the band. "UTC" is the default and costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

UTC_NAME = "UTC"
_STEP = 900  # offsets are looked up once per quarter hour: every zone changes on one


@cache
def zone(name: str) -> ZoneInfo:
    """The zone named `name`; ValueError naming it when the tz database does not know it."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only a fleet on local time needs it

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'America/New_York'"
        ) from error


@cache
def _offsets(name: str) -> dict[int, int]:
    return {}


def utc_offset(ts: float, name: str) -> int:
    """Seconds local time in `name` is ahead of UTC at `ts` (3600 for Berlin in winter)."""
    if name == UTC_NAME:
        return 0
    memo = _offsets(name)
    step = int(ts // _STEP)
    found = memo.get(step)
    if found is None:
        offset = datetime.fromtimestamp(step * _STEP, UTC).astimezone(zone(name)).utcoffset()
        found = memo[step] = int(offset.total_seconds()) if offset is not None else 0
        if len(memo) > 200_000:  # years of quarter hours: a replay of a long file
            memo.clear()
    return found


def local_seconds(ts: float, name: str) -> float:
    """`ts` shifted so that UTC arithmetic on it reads the wall clock in `name`."""
    return ts if name == UTC_NAME else ts + utc_offset(ts, name)


DAY = 86400
SUNDAY = 6  # days after Monday


class Holidays(NamedTuple):
    """A fleet's holiday calendar (the plan's `detection.holidays`): local dates that are
    Sundays in the fleet's week. `days`: the dates as days since 1970-01-01 on the local
    clock; `exclude`: not learnt from at all (else learnt as Sundays). Either way a holiday is
    judged as a Sunday and gives slow change no day ratio (domain.baseline.levels)."""

    days: frozenset[int] = frozenset()
    exclude: bool = False

    @classmethod
    def of(cls, dates: Iterable[date], *, exclude: bool = False) -> Holidays:
        return cls(frozenset(d.toordinal() - _EPOCH_ORDINAL for d in dates), exclude)

    @property
    def dates(self) -> list[str]:
        """The ISO dates, in order (a baseline record, `baseline show`)."""
        return [date.fromordinal(d + _EPOCH_ORDINAL).isoformat() for d in sorted(self.days)]

    def covers(self, ts: float, timezone: str) -> bool:
        return bool(self.days) and int(local_seconds(ts, timezone) // DAY) in self.days

    def windows(self, timezone: str) -> list[tuple[int, int]]:
        """Each holiday as [start, end) in epoch seconds: local midnight to local midnight."""
        return [
            (_utc_of_local(d * DAY, timezone), _utc_of_local((d + 1) * DAY, timezone))
            for d in sorted(self.days)
        ]


NO_HOLIDAYS = Holidays()
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _utc_of_local(local: int, timezone: str) -> int:
    """The instant the wall clock in `timezone` reads `local` (seconds as local_seconds gives
    them); at a DST gap, the first instant after it."""
    guess = local - utc_offset(local, timezone)
    return local - utc_offset(guess, timezone)


def holiday_position(local: float, holidays: Holidays) -> float | None:
    """Seconds since Monday 00:00 for a period on a holiday (`local`: seconds on the fleet's
    clock, as local_seconds gives them): the same local hour on Sunday (None on any other day).
    The one place a holiday becomes a Sunday: learning, expectation and the weekday/weekend
    split all read week positions (domain.baseline.model)."""
    if not holidays.days or int(local // DAY) not in holidays.days:
        return None
    return SUNDAY * DAY + local % DAY
