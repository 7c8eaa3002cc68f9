"""The fleet's wall clock: epoch seconds as the local time a plan's `detection.timezone` names.

A consumer fleet follows local time: its weekend starts at local midnight and its day shifts
by an hour against UTC twice a year. Hour-of-week (domain.baseline.model.week_position) reads
local time through `local_seconds`, so a DST change moves the buckets with the fleet instead
of paging or blurring the band. "UTC" is the default and costs nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

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
