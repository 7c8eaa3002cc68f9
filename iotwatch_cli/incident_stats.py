"""`iotwatch incidents --stats`: per metric and ISO week, pages, false alarms, expected, and the
mean times to acknowledge and to resolve (domain.incidents.stats counts them), as a table or
as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iotwatch.domain.incidents.stats import WeekStats
from iotwatch.domain.times import duration_text

from iotwatch_cli.formatting import columns


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else duration_text(seconds, to_days=True)


def render_stats(rows: Sequence[WeekStats], *, scope: str) -> str:
    """The table `incidents --stats` prints: one line per ISO week and metric. `scope`: which
    incidents ('since 2026-09-14 00:00 UTC')."""
    if not rows:
        return f"No incidents {scope}."
    table = [
        ("WEEK", "METRIC", "INCIDENTS", "PAGES", "FALSE ALARMS", "EXPECTED", "MEAN TO ACK", "MEAN TO RESOLVE")
    ]
    for r in rows:
        table.append(
            (
                r.week,
                r.metric,
                str(r.incidents),
                str(r.pages),
                str(r.false_alarms),
                str(r.expected),
                _minutes(r.mean_to_acknowledge),
                _minutes(r.mean_to_resolve),
            )
        )
    lines = columns(table)
    marked = sum(r.false_alarms + r.expected for r in rows)
    lines += [
        "",
        f"Per metric and ISO week (UTC) of opening, {scope}; {marked} marked. "
        "A metric with many pages and false alarms is where to tune.",
    ]
    return "\n".join(lines)


def stats_document(rows: Sequence[WeekStats]) -> list[dict[str, Any]]:
    def mean(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return [
        {
            "week": r.week,
            "metric": r.metric,
            "incidents": r.incidents,
            "pages": r.pages,
            "false_alarms": r.false_alarms,
            "expected": r.expected,
            "acknowledged": len(r.to_acknowledge),
            "mean_seconds_to_acknowledge": mean(r.mean_to_acknowledge),
            "resolved": len(r.to_resolve),
            "mean_seconds_to_resolve": mean(r.mean_to_resolve),
        }
        for r in rows
    ]
