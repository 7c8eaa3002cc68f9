"""What each topic is owed about an incident this tick: pages, updates, reminders, resolves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from iotwatch.domain.deviation import SEVERITY_RANK, PeriodScore, Severity, Transition
from iotwatch.domain.evaluation import Gap
from iotwatch.domain.incidents.membership import series_of
from iotwatch.domain.incidents.model import (
    Incident,
    IncidentSettings,
    Member,
    Route,
    TopicLog,
    higher_severity,
)
from iotwatch.domain.messages.model import Alert, Notification
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence
from iotwatch.domain.times import utc_minute


def hold_for_silence(incident: Incident, silence: Silence | None, at: int) -> bool:
    """Notes a silence on the incident starting or ending; True when that changed."""
    now = silence.id if silence is not None else None
    if now == incident.held_by:
        return False
    if silence is not None:
        until = f"{utc_minute(silence.ends)} UTC"
        incident.note(at, "silenced", f"pages held by silence {silence.id} ({silence.reason}) until {until}")
    else:
        incident.note(at, "silenced", f"silence {incident.held_by} over: pages resume")
    incident.held_by = now
    return True


OwedMessage = tuple[str, str, list[tuple[Member, str]], int | None]  # kind, topic, (member, status), previous


def owed_messages(
    incident: Incident,
    *,
    at: int,
    settings: IncidentSettings,
    route: Route,
    silenced: set[str],
    late: Gap | None = None,
) -> list[OwedMessage]:
    """What each topic is owed this tick; updates the incident's topic log and timeline."""
    every = [(m, "recovered" if m.status == "recovered" else "deviating") for m in incident.members]
    if not incident.firing:
        return _resolve(incident, every, at=at, route=route, silenced=silenced)
    if incident.held_by is not None or late is not None:
        return []  # held (a silence, or history being caught up on): what is due stays due
    out = _open_messages(incident, every, at=at, settings=settings, route=route, silenced=silenced)
    _note_sent(incident, out, at)
    ack = incident.acknowledged
    if ack is not None and any(kind == "escalated" for kind, _, _, _ in out):
        # it got worse than what was acknowledged: on-call is paged again, reminders resume
        incident.acknowledged = None
        incident.note(at, "acknowledged", f"acknowledgement by {ack.by} cleared: it escalated")
    return out


def _resolve(
    incident: Incident, every: list[tuple[Member, str]], *, at: int, route: Route, silenced: set[str]
) -> list[OwedMessage]:
    """Every member is back: RESOLVED to each topic that was told, and for an incident found
    late, its `late` page to each topic that never was."""
    incident.status, incident.resolved_at = "resolved", at
    topics = list(incident.topics)
    out: list[OwedMessage] = [("resolved", topic, every, incident.topics[topic].notified) for topic in topics]
    if topics:
        incident.note(at, "resolved", f"every member back to normal; RESOLVED to {', '.join(topics)}", topics)
    if incident.found_late is not None:
        # over before the catch-up reached the present: each topic its members reach is told
        # once what it was (a topic already told got its RESOLVED above)
        owed = _late_topics(incident, route, silenced)
        for topic in owed:
            incident.topics[topic] = TopicLog(at, at, at)
        out += [("late", topic, every, None) for topic in owed]
        if owed:
            severity = incident.severity
            incident.note(
                at, "paged", f"late ({severity}) to {', '.join(owed)}: over before it was found", owed
            )
            incident.paged_severity = higher_severity(incident.paged_severity, severity)
    if not out:
        incident.note(at, "resolved", "every member back to normal; nobody was paged (silenced)")
    return out


def _open_messages(
    incident: Incident,
    every: list[tuple[Member, str]],
    *,
    at: int,
    settings: IncidentSettings,
    route: Route,
    silenced: set[str],
) -> list[OwedMessage]:
    """An open incident's first pages, escalations, updates and reminders, by topic."""
    shown = [m for m in incident.firing if m.series_id not in silenced and m.shown_at is not None]
    routed_by_topic: dict[str, list[Member]] = {}
    for member in shown:
        for topic in route(member.severity, member.metric):
            routed_by_topic.setdefault(topic, []).append(member)
    now: Severity | None = max((m.severity for m in shown), key=SEVERITY_RANK.__getitem__, default=None)
    escalating = (
        incident.paged_severity is not None and SEVERITY_RANK[now] > SEVERITY_RANK[incident.paged_severity]
    )

    out: list[OwedMessage] = []
    for topic in dict.fromkeys([*incident.topics, *routed_by_topic]):
        routed = routed_by_topic.get(topic, [])
        log = incident.topics.get(topic)
        if log is None:
            if not routed:
                continue
            # its first page, whatever the others were told before (a higher severity reaching
            # it says so: `escalated_from`)
            incident.topics[topic] = TopicLog(at, at, at)
            out.append(("firing", topic, [(m, "deviating") for m in routed], None))
            continue
        if escalating and any(m.severity == now for m in routed):
            out.append(("escalated", topic, [(m, "deviating") for m in routed], log.notified))
            log.paged = log.notified = at
            continue
        joined = [
            m
            for m in incident.members
            if m.shown_at is not None and m.shown_at > log.notified and topic in route(m.severity, m.metric)
        ]
        if joined and at - log.notified >= settings.group_interval:
            new = {m.series_id for m in joined}
            listed = [(m, "new") for m in joined] + [(m, s) for m, s in every if m.series_id not in new]
            out.append(("update", topic, listed, log.notified))
            log.notified = at
            continue
        if (
            routed
            and incident.acknowledged is None  # someone is on it: no reminders
            and settings.repeat_interval > 0
            and at - log.paged >= settings.repeat_interval
        ):
            out.append(("reminder", topic, [(m, "deviating") for m in routed], log.notified))
            log.paged = log.notified = at
    return out


def _note_sent(incident: Incident, out: list[OwedMessage], at: int) -> None:
    """One timeline line per kind of message sent, and the highest severity paged."""
    for kind in ("firing", "escalated", "reminder", "update"):
        topics = [topic for k, topic, _, _ in out if k == kind]
        if not topics:
            continue
        severity = max(
            (m.severity for k, _, listed, _ in out if k == kind for m, _ in listed),
            key=SEVERITY_RANK.__getitem__,
        )
        if kind == "update":
            joined_labels = sorted(
                {m.label for k, _, listed, _ in out if k == kind for m, s in listed if s == "new"}
            )
            incident.note(at, "updated", f"update: {', '.join(joined_labels)} joined", topics)
        else:
            incident.note(at, "paged", f"{kind} ({severity}) to {', '.join(topics)}", topics)
        if kind != "update":
            incident.paged_severity = higher_severity(incident.paged_severity, severity)


def _late_topics(incident: Incident, route: Route, silenced: set[str]) -> list[str]:
    """Topics the incident's shown members route to that were never told about it."""
    topics: dict[str, None] = {}
    for member in incident.members:
        if member.shown_at is None or member.series_id in silenced:
            continue
        for topic in route(member.severity, member.metric):
            if topic not in incident.topics:
                topics[topic] = None
    return list(topics)


def notification_for(
    incident: Incident,
    kind: str,
    topic: str,
    listed: Sequence[tuple[Member, str]],
    *,
    at: int,
    previous: int | None,
    series_by_id: Mapping[str, Series],
    latest: Mapping[str, PeriodScore],
    escalated_from: Severity | None = None,
    late: Gap | None = None,
) -> Notification:
    alerts = []
    over = kind in ("resolved", "late")
    for member, status in listed:
        series = series_by_id.get(member.series_id) or series_of(member)
        if kind == "late":
            score = member.worst or member.latest  # what it was, at its worst
        elif status == "recovered" or kind == "resolved":
            score = member.latest
        else:
            score = latest.get(member.series_id, member.latest)
        transition = Transition(
            "resolved" if over else "firing",
            member.series_id,
            member.severity,
            member.since,
            at,
            member.peak_score,
            score,
            ended=member.ended or 0,
        )
        alerts.append(Alert(series, transition, status))
    severity = max((a.transition.severity for a in alerts), key=SEVERITY_RANK.__getitem__)
    if over:
        severity = incident.severity
    was = escalated_from if kind == "firing" else None
    if was is not None and SEVERITY_RANK[was] >= SEVERITY_RANK[severity]:
        was = None
    return Notification(
        topic=topic,
        kind=kind,
        severity=severity,
        at=at,
        alerts=tuple(alerts),
        incident=incident.ref(previous=previous, escalated_from=was, late=late),
    )
