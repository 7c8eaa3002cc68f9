"""Where to tune: per metric and per ISO week, how many pages went out, how many incidents
on-call marked a false alarm or expected, and how long they took to acknowledge and resolve.

An incident counts in the week it opened (UTC), once for each metric among its members. Its
pages are the pages on its timeline (firing, escalated, reminder, late), one per topic told.
Time to acknowledge runs from its opening to its first acknowledgement (a later escalation
that cleared it does not undo that one); time to resolve from its opening to its RESOLVED.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from iotwatch.domain.incidents.model import Incident


@dataclass
class WeekStats:
    week: str  # ISO week, '2026-W49'
    metric: str
    incidents: int = 0
    pages: int = 0
    false_alarms: int = 0
    expected: int = 0
    to_acknowledge: list[int] = field(default_factory=list)  # seconds, one per acknowledged incident
    to_resolve: list[int] = field(default_factory=list)  # seconds, one per resolved incident

    @property
    def mean_to_acknowledge(self) -> float | None:
        return sum(self.to_acknowledge) / len(self.to_acknowledge) if self.to_acknowledge else None

    @property
    def mean_to_resolve(self) -> float | None:
        return sum(self.to_resolve) / len(self.to_resolve) if self.to_resolve else None


def iso_week(at: int) -> str:
    year, week, _ = datetime.fromtimestamp(at, UTC).isocalendar()
    return f"{year}-W{week:02d}"


def pages_sent(incident: Incident) -> int:
    return sum(len(e.topics) for e in incident.events if e.kind == "paged")


def first_acknowledged(incident: Incident) -> int | None:
    acks = [
        e.at for e in incident.events if e.kind == "acknowledged" and e.text.startswith("acknowledged by")
    ]
    if incident.acknowledged is not None:
        acks.append(incident.acknowledged.at)
    return min(acks, default=None)


def incident_stats(incidents: Iterable[Incident]) -> list[WeekStats]:
    """One row per (ISO week, metric) with an incident, oldest week first, metrics by name."""
    rows: dict[tuple[str, str], WeekStats] = {}
    for incident in incidents:
        week = iso_week(incident.opened_at)
        acked = first_acknowledged(incident)
        for metric in dict.fromkeys(m.metric for m in incident.members):
            row = rows.setdefault((week, metric), WeekStats(week, metric))
            row.incidents += 1
            row.pages += pages_sent(incident)
            if incident.verdict is not None:
                row.false_alarms += incident.verdict.kind == "false-alarm"
                row.expected += incident.verdict.kind == "expected"
            if acked is not None:
                row.to_acknowledge.append(max(0, acked - incident.opened_at))
            if incident.status == "resolved" and incident.resolved_at is not None:
                row.to_resolve.append(incident.resolved_at - incident.opened_at)
    return [rows[k] for k in sorted(rows)]
