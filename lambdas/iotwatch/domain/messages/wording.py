"""How numbers, times and spans read in every message: counts, shares, clocks, durations, fitting."""

from __future__ import annotations

from datetime import UTC, datetime

from iotwatch.domain.deviation import PeriodScore
from iotwatch.domain.ratios import percent, percent_range
from iotwatch.domain.series import Series
from iotwatch.domain.times import duration_text, utc_minute

SUBJECT_LIMIT = 99


def clock(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def stamp(ts: int) -> str:
    return f"{utc_minute(ts)} UTC"


def count_text(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def change_percent(relative: float) -> str:
    if relative == float("inf"):
        return "new traffic"
    return f"{relative * 100:+.0f}%"


def value_text(series: Series, value: float) -> str:
    """A count as a count, a share of attempts as a percentage."""
    return percent(value) if series.ratio is not None else count_text(value)


def range_text(series: Series, lower: float, upper: float) -> str:
    if series.ratio is not None:
        return percent_range(lower, upper)
    return f"{count_text(lower)}-{count_text(upper)}"


def change_text(series: Series, score: PeriodScore) -> str:
    """How far from normal: '+25%' for a count, '+30.8 pts' for a share of attempts (a share
    from 0.2 % to 31 % is no '+15400%')."""
    if series.ratio is None:
        return change_percent(score.relative_change)
    points = (score.actual - score.expected) * 100
    return f"{points:+.1f} pts" if abs(points) < 10 else f"{points:+.0f} pts"


def fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def shorten(label: str, room: int) -> str:
    if len(label) <= room:
        return label
    return label[: max(room - 3, 1)].rstrip() + "..."


def relative_time(seconds: int) -> str:
    minutes = abs(seconds) // 60
    when = "before" if seconds >= 0 else "after"
    if minutes == 0:
        return "as it began" if seconds >= 0 else "right after it began"
    return f"{duration_text(abs(seconds))} {when}"
