"""A sensitive control-plane call as a message: who, what, when, from where, and what to check first."""

from __future__ import annotations

from iotwatch.domain.audit.event import AuditEvent
from iotwatch.domain.audit.policy import AuditVerdict
from iotwatch.domain.messages.console import cloudtrail_event_url, dashboard_url
from iotwatch.domain.messages.gsm7 import SMS_LIMIT, gsm7_length, to_gsm7, trim_to_sms
from iotwatch.domain.messages.model import MessageContext, RenderedMessage
from iotwatch.domain.messages.wording import SUBJECT_LIMIT, clock, fit, stamp
from iotwatch.domain.times import iso_z

# The first thing to check, by what the call touched: what breaks, and how to see it.
_FIRST_CHECKS = (
    (
        "Policy",
        "Devices whose certificates use this policy may lose permission to connect, publish or "
        "subscribe: watch Connect.Success and PublishIn.Success, and compare the policy with version control.",
    ),
    (
        "Certificate",
        "Devices presenting an inactive or revoked certificate are refused at connect: watch "
        "Connect.AuthError and Connect.Success, and confirm the change was planned.",
    ),
    (
        "TopicRule",
        "Messages matching this rule stop reaching (or newly reach) their destination: watch "
        "RulesExecuted and the rule's action metrics.",
    ),
    (
        "Logging",
        "IoT logging changed: errors may now go unrecorded. Check the log level and role with "
        "`aws iot get-v2-logging-options`.",
    ),
    (
        "Audit",
        "Device Defender audit settings changed: check what is still audited with "
        "`aws iot describe-account-audit-configuration`.",
    ),
    (
        "SecurityProfile",
        "Device Defender detection changed for the devices of this profile: confirm the change was planned.",
    ),
    (
        "Authorizer",
        "Custom authentication changed: devices using this authorizer may be refused or let in; "
        "watch Connect.AuthError and Connect.Success.",
    ),
    (
        "DomainConfiguration",
        "The endpoint devices connect to changed: watch Connect.Success and the domain's certificate.",
    ),
    ("Thing", "A thing or group was deleted: check it was not still in service."),
)


def first_check(action: str) -> str | None:
    for marker, text in _FIRST_CHECKS:
        if marker in action:
            return text
    return None


def _target_phrase(event: AuditEvent) -> str:
    """What the call touched, short: 'fleet-policy -> cert/4f0ba725787a'."""
    values = list(event.key_parameters.values())
    if not values:
        return ""
    first = _short_resource(values[0])
    return f"{first} -> {_short_resource(values[1])}" if len(values) > 1 else first


def _short_resource(value: str) -> str:
    """An ARN's resource part with long ids cut: 'arn:aws:iot:...:cert/4f0b...' -> 'cert/4f0ba725787a'."""
    if value.startswith("arn:"):
        value = value.split(":", 5)[-1]
    kind, _, name = value.rpartition("/")
    if len(name) > 24:
        name = name[:12]
    return f"{kind}/{name}" if kind else name


def _short_who(event: AuditEvent) -> str:
    """'role deploy-bot' (no session): enough for a subject line or an SMS."""
    return event.credentials if event.is_root else f"{event.credentials} {event.principal or '?'}"


def audit_subject(event: AuditEvent, verdict: AuditVerdict, ctx: MessageContext) -> str:
    """The subject line: severity, plan, the call and what it touched, by whom (one line)."""
    failed = f" FAILED ({event.error})" if event.failed else ""
    head = f"[{(verdict.severity or 'warning').upper()}] {ctx.plan_name}: {event.action}{failed}"
    target = _target_phrase(event)
    what = f" {target}" if target else ""
    subject = next(
        (
            candidate
            for candidate in (
                f"{head}{what} by {event.who}",
                f"{head}{what} by {_short_who(event)}",
                f"{head} by {_short_who(event)}{what}",
            )
            if len(candidate) <= SUBJECT_LIMIT
        ),
        None,
    ) or fit(f"{head} by {_short_who(event)}{what}", SUBJECT_LIMIT)
    return subject.replace("\n", " ").replace("\r", " ")


def audit_document(event: AuditEvent, verdict: AuditVerdict, *, event_id: str) -> dict[str, object]:
    """The call as the JSON message (and an audit event's detail) carries it."""
    return {
        "event_id": event_id,
        "action": event.action,
        "credentials": event.credentials,
        "temporary": event.temporary,
        "principal": event.principal,
        "principal_arn": event.principal_arn,
        "session": event.session,
        "via_service": event.via_service,
        "source_ip": event.source_ip,
        "user_agent": event.user_agent,
        "account": event.account,
        "error": event.error,
        "parameters": event.key_parameters,
        "reasons": list(verdict.reasons),
    }


def render_audit(
    event: AuditEvent, verdict: AuditVerdict, *, topic: str, event_id: str, ctx: MessageContext
) -> RenderedMessage:
    """A sensitive control-plane call, for the topics its severity routes to: who, what,
    when, from where, the outcome, and what to check first."""
    severity = verdict.severity or "warning"
    region = event.region or ctx.region
    at = int(event.time.timestamp())
    target = _target_phrase(event)
    tag = severity.upper()
    subject = audit_subject(event, verdict, ctx)

    lines = [
        f"{tag}: {event.action} on AWS IoT{' failed' if event.failed else ''} in {region}"
        + (f" (account {event.account})" if event.account else "")
        + f" at {stamp(at)}.",
        "",
        "Why this pages: " + "; ".join(verdict.reasons) + ".",
        "",
        f"Who:      {event.credentials}"
        + (f" {event.principal}" if event.principal and not event.is_root else "")
        + (f" (session {event.session})" if event.session else "")
        + (", temporary credentials" if event.temporary else ""),
    ]
    if event.principal_arn:
        lines.append(f"          {event.principal_arn}")
    if event.via_service:
        lines.append(f"          via {event.via_service}")
    if event.mfa is False and event.is_root:
        lines.append("          without MFA")
    lines.append(f"What:     {event.action}")
    for name, value in event.key_parameters.items():
        lines.append(f"          {name}: {value}")
    lines.append(f"When:     {event.time.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    where = [f"source IP {event.source_ip}" if event.source_ip else None, f"region {region}"]
    lines.append("Where:    " + ", ".join(w for w in where if w))
    if event.user_agent:
        lines.append(f"          user agent {fit(event.user_agent, 120)}")
    if event.failed:
        detail = f": {fit(event.error_message, 200)}" if event.error_message else ""
        lines.append(f"Outcome:  FAILED, {event.error}{detail}")
    else:
        lines.append("Outcome:  succeeded")
    check = first_check(event.action)
    if check:
        lines += ["", f"First check: {check}"]
    lines += ["", "Where to look:", f"  CloudTrail: {cloudtrail_event_url(event_id, region)}"]
    if ctx.dashboard_name:
        lines.append(f"  Dashboard:  {dashboard_url(ctx.dashboard_name, ctx.region)}")
    if ctx.runbook:
        lines.append(f"  Runbook:    {ctx.runbook}")
    lines.append("")
    lines.append(f"Owner: {ctx.team}" + (f" (escalation: {ctx.escalation})" if ctx.escalation else ""))
    lines.append(f"Sent by iotwatch stack {ctx.stack_name} in {ctx.region} to topic '{topic}'.")
    email = "\n".join(lines)

    sms = _audit_sms(event, severity, ctx, target, at)
    attributes = {
        "severity": {"DataType": "String", "StringValue": severity},
        "kind": {"DataType": "String", "StringValue": "audit"},
        "category": {"DataType": "String", "StringValue": "audit"},
        "action": {"DataType": "String", "StringValue": event.action},
        "plan": {"DataType": "String", "StringValue": ctx.plan_name},
    }
    document: dict[str, object] = {
        "source": "iotwatch",
        "plan": ctx.plan_name,
        "stack": ctx.stack_name,
        "region": region,
        "topic": topic,
        "category": "audit",
        "kind": "audit",
        "severity": severity,
        "time": iso_z(at),
        "audit": audit_document(event, verdict, event_id=event_id),
        "subject": subject,
        "email": email,
        "sms": sms,
    }
    return RenderedMessage(subject=subject, email=email, sms=sms, attributes=attributes, document=document)


def _audit_sms(event: AuditEvent, severity: str, ctx: MessageContext, target: str, at: int) -> str:
    head = f"{'CRIT' if severity == 'critical' else 'WARN'} {ctx.plan_name}: {event.action}"
    failed = f" FAILED {event.error}" if event.failed else ""
    what = f" {target}" if target else ""
    when = f" at {clock(at)}Z"
    origin = f" from {event.source_ip}" if event.source_ip else ""
    for parts in (
        (head, failed, what, f" by {event.who}", when, origin, ". Details by email."),
        (head, failed, what, f" by {_short_who(event)}", when, origin, ". Details by email."),
        (head, failed, what, f" by {_short_who(event)}", when, "."),
        (head, failed, f" by {_short_who(event)}", when, "."),
    ):
        text = to_gsm7("".join(parts))
        if gsm7_length(text) <= SMS_LIMIT:
            return text
    return trim_to_sms(to_gsm7(head + failed + f" by {_short_who(event)}"))
