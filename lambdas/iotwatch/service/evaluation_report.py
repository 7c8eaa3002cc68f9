"""What one evaluator run did: the report its log lines and the handler's answer are made of,
and those log lines (the dashboard's Logs Insights queries read them: handlers/log_queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from iotwatch.domain.evaluation import Gap, SeriesOutcome
from iotwatch.domain.incidents.tick import TickIncidents
from iotwatch.domain.messages.model import Notification, RenderedMessage
from iotwatch.domain.times import iso_z
from iotwatch.service.ports import StructuredLogger

EVALUATION_COMPLETE = "evaluation complete"  # one per evaluator invocation that evaluated
INCIDENT_LINE = "incident"  # one per incident a tick changed

# Series listed in one log line of a tick (about 150 bytes each): a line stays far below the
# 256 KB CloudWatch Logs takes per event however many series move at once.
SERIES_PER_LOG_LINE = 100


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


def log_evaluation_report(
    logger: StructuredLogger, report: EvaluationReport, *, event_time: object, get_metric_data_calls: int
) -> None:
    """What a run (or a shard of one) logs: each page, each incident changed, each deviation a
    silence held, what could not be read, then the `evaluation complete` summary."""
    for sent in report.sent:
        logger.info(
            "notification sent",
            topic=sent.notification.topic,
            kind=sent.notification.kind,
            severity=sent.notification.severity,
            metrics=sent.notification.metrics,
            incident=sent.notification.incident.id if sent.notification.incident else None,
            message_id=sent.message_id,
        )
    if report.incidents is not None:
        _log_incidents(logger, report.incidents)
    for outcome in report.silenced:
        held, silence = outcome.transition, outcome.silence
        logger.info(
            "deviation silenced: recorded, not paged",
            series=outcome.series.id,
            kind=held.kind if held else None,
            severity=held.severity if held else None,
            silence=silence.id if silence else None,
            reason=silence.reason if silence else None,
            silenced_until=silence.ends if silence else None,
        )
    if report.silences_error:
        logger.warning(
            "ad-hoc silences could not be read; this run paged as if there were none",
            error=report.silences_error,
        )
    if report.where_errors:
        logger.warning(
            "where a deviation is concentrated could not be looked up; its pages went out without it",
            errors=report.where_errors,
        )
    if report.failed_topics:
        logger.error(
            "notifications kept in the outbox; the retry or the next run sends them",
            topics=report.failed_topics,
        )
    # a summary, plus the series that changed or deviate: the log grows with those, not the plan
    changed = report.changed_series()
    logger.info(
        EVALUATION_COMPLETE,
        extra={
            "event_time": event_time,
            **report.as_log_fields(),
            "get_metric_data_calls": get_metric_data_calls,
            "changed": len(changed),
            "series_changed": changed[:SERIES_PER_LOG_LINE],
        },
    )
    for first in range(SERIES_PER_LOG_LINE, len(changed), SERIES_PER_LOG_LINE):
        logger.info(
            "evaluation complete: more series changed",
            event_time=event_time,
            series_changed=changed[first : first + SERIES_PER_LOG_LINE],
        )


def _log_incidents(logger: StructuredLogger, tick: TickIncidents) -> None:
    """One line per incident the tick changed (the dashboard's incident table reads them)."""
    for incident in tick.changed:
        at = max((e.at for e in incident.events), default=incident.opened_at)
        logger.info(
            INCIDENT_LINE,
            incident=incident.id,
            status=incident.status,
            severity=incident.severity,
            group=incident.group_label,
            failure_kind=incident.failure.kind if incident.failure is not None else None,
            members=len(incident.members),
            deviating=len(incident.firing),
            opened=iso_z(incident.opened_at),
            since=iso_z(incident.since),
            changes=[f"{e.kind}: {e.text}" for e in incident.events if e.at == at],
        )
