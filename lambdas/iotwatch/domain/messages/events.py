"""Incidents and audit alerts as EventBridge events (docs/events.md): one event per incident
transition, whatever the number of topics it paged, and one per audit alert.

The events carry what the pages carry, built from the same notifications: the ids, the plan,
the severity, the members and what each did, the failure kind and where it was concentrated,
and links a phone can open. Pure: the adapter (adapters/events.py) sends them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iotwatch.domain.deviation import SEVERITY_RANK
from iotwatch.domain.messages.console import cloudtrail_event_url, dashboard_url
from iotwatch.domain.messages.model import Alert, MessageContext, Notification
from iotwatch.domain.times import iso_z

if TYPE_CHECKING:
    from iotwatch.domain.audit.event import AuditEvent
    from iotwatch.domain.audit.policy import AuditVerdict
    from iotwatch.domain.incidents.model import Incident, Member
    from iotwatch.domain.incidents.tick import TickIncidents

SOURCE = "iotwatch"
SCHEMA_VERSION = "1"
# notification kind -> (transition, detail-type)
TRANSITIONS: dict[str, tuple[str, str]] = {
    "firing": ("opened", "Incident Opened"),
    "update": ("updated", "Incident Updated"),
    "escalated": ("escalated", "Incident Escalated"),
    "reminder": ("reminder", "Incident Reminder"),
    "resolved": ("resolved", "Incident Resolved"),
    "late": ("late", "Incident Found Late"),
}
AUDIT_DETAIL_TYPE = "Audit Alert"
DETAIL_TYPES = (*(t for _, t in TRANSITIONS.values()), AUDIT_DETAIL_TYPE)
# PutEvents takes entries of at most 256 KB (and requests of at most that much in all)
MAX_ENTRY_BYTES = 256 * 1024
SUMMARY_LIMIT = 1000
# the dashboard link opens this long before the incident began (and after it ended): the
# normal traffic around it is what shows the change
LINK_MARGIN = 3600


@dataclass(frozen=True)
class BusEvent:
    """One PutEvents entry, before it names its bus."""

    detail_type: str
    detail: dict[str, Any]
    at: int

    @property
    def detail_json(self) -> str:
        return json.dumps(self.detail, ensure_ascii=False, separators=(",", ":"))

    @property
    def size(self) -> int:
        return entry_size(self.detail_type, self.detail_json)

    def entry(self, bus: str) -> dict[str, Any]:
        return {
            "Source": SOURCE,
            "DetailType": self.detail_type,
            "Detail": self.detail_json,
            "Time": datetime.fromtimestamp(self.at, UTC),
            "EventBusName": bus,
        }


@dataclass
class EventsOutcome:
    """What a publish did: events put, events lost (after one retry) and why."""

    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: EventsOutcome) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.errors += other.errors


def entry_size(detail_type: str, detail_json: str) -> int:
    """An entry's size as EventBridge counts it: 14 bytes for Time, and the UTF-8 bytes of
    Source, DetailType and Detail."""
    return 14 + len(SOURCE.encode()) + len(detail_type.encode()) + len(detail_json.encode())


# --- incidents ----------------------------------------------------------------------------------


def incident_events(tick: TickIncidents, ctx: MessageContext) -> list[BusEvent]:
    """One event per incident transition the tick's notifications page, whatever the number of
    topics they go to (listed in it), in the order they page."""
    groups: dict[tuple[str, int], list[Notification]] = {}
    for n in tick.notifications:
        if n.incident is not None and n.kind in TRANSITIONS:
            groups.setdefault((n.incident.id, n.at), []).append(n)
    by_id = {i.id: i for i in tick.changed}
    return [
        incident_event(by_id[incident_id], notifications, ctx)
        for (incident_id, _), notifications in groups.items()
        if incident_id in by_id
    ]


def transition_of(incident: Incident, notifications: Sequence[Notification]) -> str:
    """The notification kind that names what happened to the incident, when its topics hear of
    it differently in one tick: a topic the escalation reaches first gets a first page, the
    others the escalation; a topic a new member reaches first gets a first page, the others an
    update; a late incident's RESOLVED goes to the topics told, its late page to the rest."""
    kinds = {n.kind for n in notifications}
    for kind in ("resolved", "late", "escalated"):
        if kind in kinds:
            return kind
    if any(
        n.kind == "firing" and n.incident is not None and n.incident.escalated_from for n in notifications
    ):
        return "escalated"
    if "firing" in kinds:
        at = notifications[0].at
        # opened: every topic it ever paged hears of it for the first time now
        return "firing" if all(log.opened == at for log in incident.topics.values()) else "update"
    return "update" if "update" in kinds else "reminder"


def incident_event(
    incident: Incident, notifications: Sequence[Notification], ctx: MessageContext
) -> BusEvent:
    """The event of one transition of `incident`: `notifications` are its messages to each
    topic in one tick."""
    from iotwatch.domain.messages.deviation import subject_line

    kind, at = transition_of(incident, notifications), notifications[0].at
    transition, detail_type = TRANSITIONS[kind]
    resolved = incident.status == "resolved"
    severity = (
        incident.severity
        if kind in ("resolved", "late")
        else max((n.severity for n in notifications), key=SEVERITY_RANK.__getitem__)
    )
    until = incident.ended if resolved else None
    # the subject of the message of that kind that lists the most members (the widest topic)
    worded = [n for n in notifications if n.kind == kind] or list(notifications)
    summary = _one_line(subject_line(max(worded, key=lambda n: len(n.alerts)), ctx))
    detail: dict[str, Any] = {
        **_head(ctx, ctx.region, transition, f"{ctx.plan_name}/{incident.id}", at, severity, summary),
        "topics": list(dict.fromkeys(n.topic for n in notifications)),
        "incident": {
            "id": incident.id,
            "severity": severity,
            "status": "resolved" if resolved else "firing",
            "since": iso_z(incident.since),
            "until": iso_z(until) if until is not None else None,
            "summary": summary,
            "group": incident.group_label,
            "members": _members(incident, notifications, kind, at),
            "failure": _failure(incident),
            "where": _where(incident),
        },
        "links": {
            "dashboard": _dashboard_link(ctx, start=incident.since, end=until),
            "incident": f"iotwatch incidents show {incident.id}",
        },
    }
    return fit_event(BusEvent(detail_type, detail, at))


def _head(
    ctx: MessageContext, region: str, transition: str, dedup_key: str, at: int, severity: str, summary: str
) -> dict[str, Any]:
    """What every event's detail starts with (severity and summary also at the top, so one
    input transformer reads incidents and audit alerts alike)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "plan": ctx.plan_name,
        "stack": ctx.stack_name,
        "region": region,
        "transition": transition,
        "dedup_key": dedup_key,
        "time": iso_z(at),
        "severity": severity,
        "summary": summary,
    }


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 3] + "..."


def _members(
    incident: Incident, notifications: Sequence[Notification], kind: str, at: int
) -> list[dict[str, Any]]:
    """Every member, worst first, with what it did as the page words it. A member no message
    listed this time (silenced, routed nowhere, already recovered) is worded from its record."""
    from iotwatch.domain.incidents.owed import notification_for

    told: dict[str, tuple[Alert, str]] = {}
    for n in notifications:
        for a in n.alerts:
            told.setdefault(a.series.id, (a, n.kind))
    untold = [m for m in incident.members if m.series_id not in told]
    if untold:
        listed = [(m, "recovered" if m.status == "recovered" else "deviating") for m in untold]
        own = notification_for(incident, kind, "", listed, at=at, previous=None, series_by_id={}, latest={})
        told |= {a.series.id: (a, kind) for a in own.alerts}
    members = sorted(incident.members, key=lambda m: -abs(m.peak_score))
    return [_member(m, *told[m.series_id]) for m in members]


def _member(member: Member, alert: Alert, kind: str) -> dict[str, Any]:
    from iotwatch.domain.messages.phrases import headline_parts

    recovered = member.status == "recovered" or alert.status == "recovered"
    if kind in ("resolved", "late"):
        worded = kind
    elif recovered:
        worded = "resolved"
    else:
        worded = "update" if alert.status == "new" else ("reminder" if kind == "reminder" else "firing")
    return {
        "metric": member.metric,
        "dimensions": dict(member.dimensions),
        "severity": member.severity,
        "status": "recovered" if recovered else "firing",
        "since": iso_z(member.since),
        "change": headline_parts(alert, worded)[1],
    }


def _failure(incident: Incident) -> dict[str, Any] | None:
    if incident.failure is None:
        return None
    from iotwatch.domain.messages.where import failure_document

    return failure_document(incident.failure)


def _where(incident: Incident) -> dict[str, Any] | None:
    if not incident.breakdowns:
        return None
    from iotwatch.domain.messages.where import where_document

    return where_document(incident.breakdowns[-1])


def _dashboard_link(ctx: MessageContext, *, start: int, end: int | None) -> str | None:
    """The dashboard from an hour before `start`; to an hour after `end`, or to now when open."""
    if ctx.dashboard_name is None:
        return None
    return dashboard_url(
        ctx.dashboard_name,
        ctx.region,
        start=start - LINK_MARGIN,
        end=end + LINK_MARGIN if end is not None else None,
    )


# --- audit alerts -------------------------------------------------------------------------------


def audit_alert_event(
    event: AuditEvent, verdict: AuditVerdict, *, event_id: str, ctx: MessageContext
) -> BusEvent:
    """The event of a sensitive control-plane call: its audit document, as the JSON message has it."""
    from iotwatch.domain.messages.audit import audit_document, audit_subject

    at = int(event.time.timestamp())
    region = event.region or ctx.region
    summary = _one_line(audit_subject(event, verdict, ctx))
    detail = {
        **_head(
            ctx,
            region,
            "audit",
            f"{ctx.plan_name}/audit/{event_id}",
            at,
            verdict.severity or "warning",
            summary,
        ),
        "audit": audit_document(event, verdict, event_id=event_id),
        "links": {
            "dashboard": _dashboard_link(ctx, start=at, end=at),
            "cloudtrail": cloudtrail_event_url(event_id, region),
        },
    }
    return fit_event(BusEvent(AUDIT_DETAIL_TYPE, detail, at))


# --- size ---------------------------------------------------------------------------------------


def fit_event(event: BusEvent, limit: int = MAX_ENTRY_BYTES) -> BusEvent:
    """The event within `limit` bytes: first the members beyond the worst are cut (the count
    stays in `members_total`), then the breakdown; `trimmed` names what was cut."""
    if event.size <= limit:
        return event
    incident = event.detail.get("incident")
    if not isinstance(incident, Mapping):
        return _without(event, "audit", limit)
    members = list(incident["members"])
    keep = len(members)
    while keep > 1 and event.size > limit:
        keep = max(1, keep // 2)
        event = _with_incident(event, members=members[:keep], members_total=len(members), trimmed=["members"])
    if event.size > limit and incident.get("where") is not None:
        event = _with_incident(event, where=None, trimmed=[*event.detail.get("trimmed", []), "where"])
    return event


def _with_incident(event: BusEvent, *, trimmed: list[str], **changes: Any) -> BusEvent:
    detail = {**event.detail, "incident": {**event.detail["incident"], **changes}, "trimmed": trimmed}
    return replace(event, detail=detail)


def _without(event: BusEvent, key: str, limit: int) -> BusEvent:
    """An audit event over the limit (a call with huge parameters): its parameters go."""
    document = event.detail.get(key)
    if not isinstance(document, Mapping) or event.size <= limit:
        return event
    detail = {**event.detail, key: {**document, "parameters": {}}, "trimmed": ["parameters"]}
    return replace(event, detail=detail)
