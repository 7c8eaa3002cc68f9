"""How every CLI command writes for people (Alertmanager's cli/format): times in UTC to the
minute (iotwatch.domain.times), a clock time that drops the date on the day in view, spans
from now, and tables of left-aligned columns."""

from __future__ import annotations

from collections.abc import Sequence

from iotwatch.domain.times import duration_text, utc_minute


def day_clock(ts: float, day_of: float) -> str:
    """'15:30' on the UTC day of `day_of`, else '11-18 15:30'."""
    text = utc_minute(ts)
    return text[11:] if text[:10] == utc_minute(day_of)[:10] else text[5:]


def from_now(ts: float, now: float) -> str:
    """'in 2 h' or '20 min ago'."""
    return (
        f"in {duration_text(ts - now, to_days=True)}"
        if ts > now
        else f"{duration_text(now - ts, to_days=True)} ago"
    )


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows (the header first) as left-aligned columns two spaces apart, without trailing blanks."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
