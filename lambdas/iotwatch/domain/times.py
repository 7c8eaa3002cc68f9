"""Time as iotwatch reads and writes it, one rule each: UTC everywhere (a time read without an
offset is UTC, never the host's zone), ISO 8601 in machine output, minutes for people."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")


def iso_z(ts: float) -> str:
    """1795528200 -> '2026-11-24T13:10:00Z'."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_minute(ts: float) -> str:
    """1795528200 -> '2026-11-24 13:10' (UTC; callers say so where people read it)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _parse_iso(text: str) -> datetime:
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    return datetime.fromisoformat(cleaned)


def iso_datetime(text: str) -> datetime:
    """ISO 8601 text ('Z' in either case, an offset, or none: UTC) -> an aware datetime.
    ValueError when it is not ISO 8601."""
    parsed = _parse_iso(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def iso_seconds(text: str) -> float:
    """ISO 8601 text, read as iso_datetime reads it -> epoch seconds. `score` reads millions of
    rows: this skips building the aware datetime (what .timestamp() would do, minus its cost)."""
    parsed = _parse_iso(text)
    return (parsed - (_NAIVE_EPOCH if parsed.tzinfo is None else _EPOCH)).total_seconds()


def duration_text(seconds: float, *, to_days: bool = False) -> str:
    """A span as people say it, in whole minutes: '0 min', '20 min', '1 h 20 min', '30 h'
    (a negative span reads as 0 min). `to_days`, for spans that last seconds or weeks
    (silences, incidents): its size, '45 s' under a minute and '3 d 4 h' from 48 h."""
    if to_days:
        seconds = int(abs(seconds))
        if seconds < 60:
            return f"{seconds} s"
    minutes = max(seconds, 0) // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if to_days and hours >= 48:
        days, hours = divmod(hours, 24)
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def duration_seconds(text: str) -> int:
    """A span as people write it: '4h', '90m', '1h30m', '1d', '1d 12h' (any case, blanks
    between) -> seconds. ValueError for anything else; callers say what to write."""
    match = _DURATION.match(text.lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60
