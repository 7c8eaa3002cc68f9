"""A deviation notification for machines: the SNS message attributes and the JSON document."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iotwatch.domain.messages.model import Alert, IncidentRef, MessageContext, Notification
from iotwatch.domain.times import iso_z

if TYPE_CHECKING:
    from iotwatch.domain.audit.recorded import RecordedCall


def deviation_attributes(notification: Notification, ctx: MessageContext) -> dict[str, dict[str, str]]:
    """What SNS filter policies can match on."""
    incident = notification.incident
    attributes = {
        "severity": {"DataType": "String", "StringValue": notification.severity},
        "kind": {"DataType": "String", "StringValue": notification.kind},
        "category": {"DataType": "String", "StringValue": "deviation"},
        "metric": {"DataType": "String.Array", "StringValue": json.dumps(notification.metrics)},
        "plan": {"DataType": "String", "StringValue": ctx.plan_name},
    }
    if incident is not None:
        attributes["incident"] = {"DataType": "String", "StringValue": incident.id}
    if incident is not None and incident.gap is not None:
        # found catching up on ticks missed in this gap: filter policies can tell late news apart
        start, end, _ = incident.gap
        attributes["gap"] = {"DataType": "String", "StringValue": f"{iso_z(start)}/{iso_z(end)}"}
    return attributes


def deviation_document(
    notification: Notification,
    alerts: Sequence[Alert],
    ctx: MessageContext,
    since: int,
    changes: Sequence[RecordedCall],
) -> dict[str, object]:
    """The facts of the message for queues and functions (the rendered texts are added to it)."""
    kind, incident = notification.kind, notification.incident
    return {
        "source": "iotwatch",
        "plan": ctx.plan_name,
        "stack": ctx.stack_name,
        "region": ctx.region,
        "topic": notification.topic,
        "category": "deviation",
        "kind": kind,
        "severity": notification.severity,
        "time": iso_z(notification.at),
        "since": iso_z(since),
        **({"incident": _incident_document(incident)} if incident is not None else {}),
        "alerts": [_alert_document(a, kind) for a in alerts],
        "control_plane": [
            {
                "time": iso_z(c.at),
                "event_id": c.event_id,
                "action": c.action,
                "who": c.who,
                "parameters": dict(c.key_parameters),
                "severity": c.severity,
                "error": c.error,
            }
            for c in changes
        ],
    }


def _incident_document(incident: IncidentRef) -> dict[str, object]:
    return {
        "id": incident.id,
        "opened": iso_z(incident.opened_at),
        "since": iso_z(incident.since),
        "severity": incident.severity,
        "members": incident.members,
        "deviating": incident.deviating,
        "recovered": incident.recovered,
        **({"ended": iso_z(incident.ended)} if incident.ended is not None else {}),
        **({"previous_message": iso_z(incident.previous)} if incident.previous is not None else {}),
        **({"escalated_from": incident.escalated_from} if incident.escalated_from else {}),
        **_where_documents(incident),
        **(
            {
                "gap": {
                    "start": iso_z(incident.gap[0]),
                    "end": iso_z(incident.gap[1]),
                    "caught_up_from": iso_z(incident.gap[2]),
                    "not_evaluated_seconds": incident.gap[2] - incident.gap[0],
                }
            }
            if incident.gap is not None
            else {}
        ),
    }


def _where_documents(incident: IncidentRef) -> dict[str, object]:
    """`failure` and `where`, each with its own schema version, when the incident has them."""
    if incident.failure is None and incident.where is None:
        return {}
    from iotwatch.domain.messages.where import failure_document, where_document

    return {
        **({"failure": failure_document(incident.failure)} if incident.failure is not None else {}),
        **({"where": where_document(incident.where)} if incident.where is not None else {}),
    }


def _alert_document(a: Alert, kind: str) -> dict[str, object]:
    t = a.transition
    recovered = kind in ("resolved", "late") or a.status == "recovered"
    return {
        "metric": a.series.metric,
        "namespace": a.series.namespace,
        "dimensions": a.series.dimension_map,
        "series": a.series.id,
        "status": "recovered" if kind in ("resolved", "late") else a.status,
        "severity": t.severity,
        "period_start": iso_z(t.latest.ts),
        "actual": t.latest.actual,
        "expected": round(t.latest.expected, 3),
        "lower": round(t.latest.lower, 3),
        "upper": round(t.latest.upper, 3),
        "score": round(t.latest.score, 3),
        "peak_score": round(t.peak_score, 3),
        "since": iso_z(t.since),
        **({"ended": iso_z(t.ended)} if recovered else {}),
        **({"share": _share_document(a)} if a.series.ratio is not None else {}),
        # the slow-change model's figures when it, not the band, saw the deviation
        **({"slow_change": t.latest.slow_change._asdict()} if t.latest.slow_change is not None else {}),
    }


def _share_document(a: Alert) -> dict[str, object]:
    ratio, p = a.series.ratio, a.transition.latest
    assert ratio is not None
    return {
        "numerator": list(ratio.numerator),
        "denominator": list(ratio.denominator),
        "min_denominator": ratio.min_denominator,
        "attempts": p.attempts,
        "failed": round(p.actual * p.attempts) if p.attempts is not None else None,
    }
