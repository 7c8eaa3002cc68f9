"""One audit delivery: a CloudTrail "AWS API Call via CloudTrail" event from EventBridge.

Every IoT control-plane call is recorded (for the dashboard and for deviation messages to
quote); the ones the plan calls sensitive page through the same routing, message rendering
and outbox as deviations. EventBridge delivers at least once: the record's eventID keys a
conditional write, so a second delivery pages nobody.

Nothing is dropped: the record lists the topics its page is owed to and each is taken off once
its page was published or kept in the outbox. When something fails on the way (the outbox
write itself, DynamoDB, a timeout) the invocation raises; Lambda retries it twice and then
parks the event in the dead-letter queue, and the retry (or a replay of the dead letter, see
docs/runbook.md) pages exactly the topics still owed, never one that already got it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iotwatch.domain.audit.event import IOT_SOURCE, AuditEvent, AuditRecordError
from iotwatch.domain.audit.policy import AuditVerdict, judge
from iotwatch.domain.audit.reading import normalize, records_from_document
from iotwatch.domain.audit.recorded import RecordedCall, recorded_call
from iotwatch.domain.messages.audit import render_audit
from iotwatch.domain.messages.model import MessageContext, OutboxItem
from iotwatch.plan.runtime import RuntimePlan
from iotwatch.service.ports import AuditStore, Notifier

DAY = 86400
# An invocation that claimed a call's pages this long ago is dead (the audit function's timeout
# is 30 s): a retry or a replay takes over what it still owed.
CLAIM_STALE_SECONDS = 45


@dataclass(frozen=True)
class AuditAlert:
    topic: str
    severity: str
    subject: str
    message_id: str | None  # None: kept in the outbox


@dataclass(frozen=True)
class PagedCall:
    """A call that paged (or is owed pages) this invocation: what its audit event is built from."""

    event: AuditEvent
    verdict: AuditVerdict
    event_id: str


@dataclass
class AuditReport:
    recorded: list[RecordedCall] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # event ids already handled
    resumed: list[str] = field(default_factory=list)  # event ids whose owed pages a retry sent
    ignored: int = 0  # not IoT calls
    rejected: list[str] = field(default_factory=list)  # why a record could not be read
    alerts: list[AuditAlert] = field(default_factory=list)
    verdicts: dict[str, AuditVerdict] = field(default_factory=dict)  # event id -> verdict
    paged: list[PagedCall] = field(default_factory=list)  # sensitive calls whose pages went out


def handle_audit_event(
    event: Any,
    *,
    plan: RuntimePlan,
    store: AuditStore,
    notifier: Notifier,
    context: MessageContext,
    on_publish_error: type[Exception] | tuple[type[Exception], ...] = Exception,
    now: float | None = None,
) -> AuditReport:
    """Records and judges each call in `event` (an EventBridge event, or a CloudTrail log
    file's object); a record that cannot be read is reported, never raised. `now`: the wall
    clock (claims on a call's pages go stale after CLAIM_STALE_SECONDS)."""
    now = time.time() if now is None else now
    report = AuditReport()
    if not isinstance(event, Mapping):  # EventBridge hands a function one JSON object
        report.rejected.append(f"not an EventBridge event but a {type(event).__name__}")
        return report
    fallback_id = str(event.get("id") or "")
    try:
        records = list(records_from_document(event))
    except AuditRecordError as exc:
        report.rejected.append(str(exc))
        return report
    for index, record in enumerate(records):
        try:
            call_event = normalize(record)
        except AuditRecordError as exc:
            report.rejected.append(f"record {index + 1}: {exc}")
            continue
        if call_event.source not in (None, IOT_SOURCE):
            report.ignored += 1
            continue
        _handle_call(
            call_event,
            fallback_id=f"{fallback_id}#{index}" if len(records) > 1 else fallback_id or "no-id",
            plan=plan,
            store=store,
            notifier=notifier,
            context=context,
            report=report,
            on_publish_error=on_publish_error,
            now=now,
        )
    return report


def _handle_call(
    event: AuditEvent,
    *,
    fallback_id: str,
    plan: RuntimePlan,
    store: AuditStore,
    notifier: Notifier,
    context: MessageContext,
    report: AuditReport,
    on_publish_error: type[Exception] | tuple[type[Exception], ...],
    now: float,
) -> None:
    verdict = judge(event, plan.audit.policy)
    call = recorded_call(event, verdict, fallback_id=fallback_id)
    expires_at = call.at + plan.audit.retention_days * DAY
    topics = plan.audit_topics_for(verdict.severity) if verdict.severity is not None else []
    if store.audit.record_audit_call(call, expires_at=expires_at, owed=topics, now=now):
        report.recorded.append(call)
    else:
        # recorded before: paged already, being paged by a live invocation, or owed by one
        # that failed (this is Lambda's retry, or a replay of the dead letter)
        owed = store.audit.resume_audit_call(call, now=now, stale_after=CLAIM_STALE_SECONDS)
        if not owed:
            report.duplicates.append(call.event_id)
            return
        topics = [t for t in topics if t in owed]
        report.resumed.append(call.event_id)
    report.verdicts[call.event_id] = verdict
    if verdict.severity is None:
        return
    try:
        for topic in topics:
            message = render_audit(event, verdict, topic=topic, event_id=call.event_id, ctx=context)
            try:
                message_id: str | None = notifier.publish(topic, message)
            except on_publish_error:
                # the evaluator's next run delivers it; the other topics are not paged twice
                store.outbox.put_outbox(
                    OutboxItem(
                        key=f"{call.at}#audit#{call.event_id}#{topic}",
                        topic=topic,
                        subject=message.subject,
                        message=message.sns_message(),
                        attributes=message.attributes,
                        first_attempt=call.at,
                    )
                )
                message_id = None
            store.audit.audit_topic_done(call, topic)
            report.alerts.append(AuditAlert(topic, verdict.severity, message.subject, message_id))
    except Exception:
        # retried by Lambda, then dead-lettered: whoever runs it next pages what is still owed
        with contextlib.suppress(Exception):
            store.audit.release_audit_call(call)
        raise
    report.paged.append(PagedCall(event, verdict, call.event_id))
