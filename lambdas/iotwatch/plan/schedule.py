"""EventBridge schedule expressions: rate(...) and cron(...), checked the way AWS checks them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?,/\-LW#]+$")


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    expression: str
    kind: str  # "rate" | "cron"
    interval_seconds: int | None  # known for rate(), None for cron()
    rate_value: int | None = None
    rate_unit: str | None = None
    cron_fields: tuple[str, ...] | None = None


def parse_schedule(expression: str) -> Schedule:
    text = expression.strip()
    if text.startswith("rate("):
        match = _RATE.match(text)
        if not match:
            raise ScheduleError(
                f"'{expression}' is not a valid rate expression; write e.g. rate(5 minutes), rate(1 hour), rate(1 day)"
            )
        value, unit = int(match.group(1)), match.group(2)
        if value < 1:
            raise ScheduleError(f"'{expression}': the rate must be at least 1")
        singular = unit.rstrip("s")
        if (value == 1) != (unit == singular):
            fixed = f"rate({value} {singular if value == 1 else singular + 's'})"
            raise ScheduleError(f"'{expression}': EventBridge needs {fixed}")
        return Schedule(text, "rate", value * _UNIT_SECONDS[singular], value, singular)
    if text.startswith("cron(") and text.endswith(")"):
        fields = tuple(text[5:-1].split())
        if len(fields) != 6:
            raise ScheduleError(
                f"'{expression}': cron needs 6 fields (minutes hours day-of-month month day-of-week year), "
                f"e.g. cron(0 3 * * ? *); got {len(fields)}"
            )
        if not all(_CRON_FIELD.match(f) for f in fields):
            raise ScheduleError(f"'{expression}': a cron field holds characters EventBridge does not accept")
        day_of_month, day_of_week = fields[2], fields[4]
        if (day_of_month == "?") == (day_of_week == "?"):
            raise ScheduleError(
                f"'{expression}': exactly one of day-of-month and day-of-week must be '?', e.g. cron(0 3 * * ? *)"
            )
        return Schedule(text, "cron", None, cron_fields=fields)
    raise ScheduleError(
        f"'{expression}' is not a schedule expression; use rate(5 minutes) or cron(0 3 * * ? *)"
    )


_CRON_NAMES = {
    name: i
    for names in (
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
    )
    for i, name in enumerate(names, start=1)
}


def cron_field_values(text: str, low: int, high: int) -> set[int] | None:
    """The values a cron field selects in [low, high] (numbers, ranges, steps, lists, month
    and weekday names); None when it cannot be told statically (L, W, #)."""
    values: set[int] = set()
    for part in text.upper().split(","):
        base, slash, step_text = part.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) < 1):
            return None
        step = int(step_text) if slash else 1
        first, dash, last = base.partition("-")
        first_value = _CRON_NAMES.get(first, int(first) if first.isdigit() else None)
        if base in ("*", "?"):
            start, end = low, high
        elif dash:
            last_value = _CRON_NAMES.get(last, int(last) if last.isdigit() else None)
            if first_value is None or last_value is None:
                return None
            start, end = first_value, last_value
        elif first_value is not None:
            start, end = first_value, high if slash else first_value
        else:
            return None
        if not low <= start <= end <= high:
            return None
        values.update(range(start, end + 1, step))
    return values
