"""What one evaluator run did: the report its log line and the handler's answer are made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from iotwatch.domain.evaluation import Gap, SeriesOutcome
from iotwatch.domain.incidents.tick import TickIncidents
from iotwatch.domain.messages.model import Notification, RenderedMessage


@dataclass(frozen=True)
class SentNotification:
    notification: Notification
    message: RenderedMessage
    message_id: str


@dataclass
class EvaluationReport:
    window_start: int
    window_end: int
    series: int = 0
    learning: int = 0
    firing: int = 0
    skipped: int = 0
    duplicate_run: bool = False
    sent: list[SentNotification] = field(default_factory=list)
    failed_topics: list[str] = field(default_factory=list)
    redelivered: list[str] = field(default_factory=list)
    outcomes: list[SeriesOutcome] = field(default_factory=list)
    silenced: list[SeriesOutcome] = field(default_factory=list)  # transitions inside a silence
    incidents: TickIncidents | None = None  # what the tick did to incidents (the paging run's)
    incidents_open: int = 0
    incident_conflicts: list[str] = field(default_factory=list)  # ids another run wrote first
    silences_error: str | None = None  # ad-hoc silences could not be read: everything pages
    control_plane_error: str | None = None  # audit records could not be read: pages lack them
    where_errors: list[str] = field(default_factory=list)  # look-ups that raised: pages lack them
    gap: Gap | None = None  # windows no run completed before this one (caught up on, within the span)
    caught_up: int = 0  # missed windows evaluated before the run's own
    superseded: bool = False  # a newer window was already completed: nothing evaluated

    def changed_series(self) -> list[dict[str, object]]:
        """The series worth a line in the tick's log: a transition (paged, joined to an incident
        or held by a silence), or a last period outside the band or anomalous for the series. A
        quiet series is only counted, so the log of a tick grows with what changed, not with the
        plan."""
        changed: list[dict[str, object]] = []
        for outcome in self.outcomes:
            latest = outcome.scores[-1] if outcome.scores else None
            moved = outcome.transition
            if moved is None and (latest is None or not (latest.severity or latest.anomaly)):
                continue
            entry: dict[str, object] = {"series": outcome.series.id, "status": outcome.status}
            if moved is not None:
                entry["transition"] = moved.kind
            if latest is not None:
                entry |= {
                    "severity": latest.severity,
                    "actual": latest.actual,
                    "expected": round(latest.expected, 1),
                    "score": round(latest.score, 2),
                }
            changed.append(entry)
        return changed

    def as_log_fields(self) -> dict[str, object]:
        return {
            "window_start": datetime.fromtimestamp(self.window_start, UTC).isoformat(),
            "window_end": datetime.fromtimestamp(self.window_end, UTC).isoformat(),
            "series": self.series,
            "learning": self.learning,
            "firing": self.firing,
            "skipped": self.skipped,
            "duplicate_run": self.duplicate_run,
            "notifications": len(self.sent),
            "failed_topics": self.failed_topics,
            "redelivered": self.redelivered,
            "silenced": [
                {
                    "series": o.series.id,
                    "kind": o.transition.kind if o.transition else None,
                    "silence": o.silence.id if o.silence else None,
                    "reason": o.silence.reason if o.silence else None,
                }
                for o in self.silenced
            ],
            # only from the run that advanced the incidents (with fan-out: the publishing shard)
            **(
                {
                    "incidents_open": self.incidents_open,
                    "incidents_opened": self.incidents.opened,
                    "incidents_resolved": self.incidents.resolved,
                }
                if self.incidents is not None
                else {}
            ),
            **({"incident_conflicts": self.incident_conflicts} if self.incident_conflicts else {}),
            **({"silences_error": self.silences_error} if self.silences_error else {}),
            **({"control_plane_error": self.control_plane_error} if self.control_plane_error else {}),
            **({"where_errors": self.where_errors} if self.where_errors else {}),
            **({"superseded": True} if self.superseded else {}),
            **(self.catch_up_fields() if self.gap is not None else {}),
        }

    def catch_up_fields(self) -> dict[str, object]:
        """The gap a run caught up on: when iotwatch could not evaluate, how many windows it
        evaluated late, and how much lay beyond the catch-up span (never evaluated)."""
        assert self.gap is not None
        return {
            "gap_start": datetime.fromtimestamp(self.gap.start, UTC).isoformat(),
            "gap_end": datetime.fromtimestamp(self.gap.end, UTC).isoformat(),
            "caught_up_from": datetime.fromtimestamp(self.gap.caught_up_from, UTC).isoformat(),
            "windows_caught_up": self.caught_up,
            "not_evaluated_seconds": self.gap.not_evaluated,
        }
