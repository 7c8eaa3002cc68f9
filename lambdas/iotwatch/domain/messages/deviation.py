"""A deviation notification rendered for every protocol: subject, e-mail, SMS and JSON document.

SNS `MessageStructure=json` lets one publish carry a full e-mail and a short SMS. Limits
that matter: e-mail subject under 100 characters with no line break; an SMS part is 160
GSM-7 characters (longer ones are split and billed per part), so the SMS is fitted into
one part and says what is wrong and how badly first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iotwatch.domain.messages.deviation_document import deviation_attributes, deviation_document
from iotwatch.domain.messages.deviation_email import deviation_email
from iotwatch.domain.messages.deviation_sms import deviation_sms
from iotwatch.domain.messages.model import Alert, MessageContext, Notification, RenderedMessage
from iotwatch.domain.messages.phrases import headline_parts
from iotwatch.domain.messages.wording import SUBJECT_LIMIT, fit, shorten

if TYPE_CHECKING:
    from iotwatch.domain.audit.recorded import RecordedCall

# messages that open a topic's story: they quote the control-plane changes before it began
OPENING_KINDS = ("firing", "escalated", "late")

_UPDATE_ORDER = {"new": 0, "deviating": 1, "recovered": 2}


def render(notification: Notification, ctx: MessageContext) -> RenderedMessage:
    alerts = _ordered(notification)
    kind, at, incident = notification.kind, notification.at, notification.incident
    since = incident.since if incident is not None else min(a.transition.since for a in alerts)
    subject, headline = _subject(notification, alerts, ctx)
    changes = correlated_changes(ctx, since=since, at=at) if kind in OPENING_KINDS else []
    suspect = _suspect(changes, since)
    email = deviation_email(notification, alerts, ctx, since, headline, changes, suspect)
    sms = deviation_sms(notification, alerts, ctx, since, suspect)
    document = deviation_document(notification, alerts, ctx, since, changes)
    document |= {"subject": subject, "email": email, "sms": sms}
    return RenderedMessage(
        subject=subject,
        email=email,
        sms=sms,
        attributes=deviation_attributes(notification, ctx),
        document=document,
    )


def _ordered(notification: Notification) -> list[Alert]:
    """Worst first; an update lists who joined, then who still deviates, then who recovered."""
    if notification.kind == "update":
        return sorted(
            notification.alerts,
            key=lambda a: (_UPDATE_ORDER.get(a.status, 1), -abs(a.transition.latest.score)),
        )
    if notification.kind in ("resolved", "late"):
        return sorted(notification.alerts, key=lambda a: -abs(a.transition.peak_score))
    return sorted(notification.alerts, key=lambda a: -abs(a.transition.latest.score))


def _subject(
    notification: Notification, alerts: Sequence[Alert], ctx: MessageContext
) -> tuple[str, tuple[str, str]]:
    """The subject line, and the (label as shortened for it, what happened) it leads with."""
    kind, incident = notification.kind, notification.incident
    tag = {"resolved": "RESOLVED", "update": "UPDATE"}.get(kind, notification.severity.upper())
    if kind in ("reminder", "late"):
        tag = f"{kind.upper()} {tag}"
    listed = sum(1 for a in alerts if a.status == "new") if kind == "update" else len(alerts)
    more = f" (+{listed - 1} more)" if listed > 1 else ""
    label, what = headline_parts(alerts[0], kind)
    named = f"{ctx.plan_name} {incident.id}" if incident is not None else ctx.plan_name
    prefix, suffix = f"[{tag}] {named}: ", f" {what}{more}"
    label = shorten(label, SUBJECT_LIMIT - len(prefix) - len(suffix))
    subject = fit(f"{prefix}{label}{suffix}", SUBJECT_LIMIT).replace("\n", " ").replace("\r", " ")
    return subject, (label, what)


def subject_line(notification: Notification, ctx: MessageContext) -> str:
    """The e-mail subject alone (what an incident event's summary says)."""
    return _subject(notification, _ordered(notification), ctx)[0]


def _suspect(changes: Sequence[RecordedCall], since: int) -> RecordedCall | None:
    """The change most likely behind an incident: the latest sensitive one before it began,
    else the latest one before it began."""
    before = [c for c in changes if c.at <= since]
    sensitive = [c for c in before if c.sensitive]
    pool = sensitive or before
    return pool[-1] if pool else None


def correlated_changes(ctx: MessageContext, *, since: int, at: int) -> list[RecordedCall]:
    """Control-plane calls from `correlation_window` before an incident began up to now."""
    if ctx.correlation_window <= 0:
        return []
    return [c for c in ctx.control_plane if since - ctx.correlation_window <= c.at <= at]
