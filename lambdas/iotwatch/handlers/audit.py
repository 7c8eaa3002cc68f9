"""Audit Lambda: one EventBridge "AWS API Call via CloudTrail" event from AWS IoT per invocation.

Sensitive calls page; every call is recorded, counted and logged with its action (the
dashboard's calls-by-action table is a Logs Insights query of that line). A malformed event is logged
(why, and the EventBridge id; never the payload) and counted, not raised: no retry could
make it readable, and failing would only bury the next events behind retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from iotwatch.adapters.notifier import SnsNotifier
from iotwatch.handlers.log_queries import AUDIT_RECORDED
from iotwatch.handlers.settings import FunctionSettings, event_publisher, log_events_outcome
from iotwatch.handlers.setup import FunctionSetup, state_store
from iotwatch.service.audit import handle_audit_event
from iotwatch.service.ports import AuditStore, EventPublisher, Notifier
from iotwatch.telemetry import AUDIT_ALERTS, AUDIT_EVENTS, AUDIT_EVENTS_REJECTED

logger = Logger()
metrics = Metrics()


@dataclass
class AuditDependencies:
    store: AuditStore
    notifier: Notifier
    events: EventPublisher | None = None  # audit alerts as events, put after the pages; None: none


def _wire(settings: FunctionSettings) -> AuditDependencies:
    from iotwatch.adapters.aws import client

    return AuditDependencies(
        store=state_store(settings),
        notifier=SnsNotifier(client("sns"), settings.topic_arns),
        events=event_publisher(settings.plan),
    )


setup = FunctionSetup(_wire, logger=logger)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(
    event: dict[str, Any], context: LambdaContext, dependencies: AuditDependencies | None = None
) -> dict[str, Any]:
    settings = setup.settings()
    deps = dependencies or setup.dependencies()
    event_id = event.get("id") if isinstance(event, dict) else None
    messages = setup.messages()
    report = handle_audit_event(
        event, plan=settings.plan, store=deps.store, notifier=deps.notifier, context=messages
    )
    if deps.events is not None and report.paged:  # after the pages; never raises
        from iotwatch.service.incident_events import publish_audit_events

        log_events_outcome(logger, publish_audit_events(report, messages, deps.events))
    for reason in report.rejected:
        logger.error(
            "audit event rejected: not a readable CloudTrail record", reason=reason, event_id=event_id
        )
    for call in report.recorded:
        verdict = report.verdicts[call.event_id]
        logger.info(
            AUDIT_RECORDED,
            action=call.action,
            who=call.who,
            event_id=call.event_id,
            error=call.error,
            severity=verdict.severity,
            reasons=list(verdict.reasons),
        )
    for duplicate in report.duplicates:
        logger.info("control-plane call already handled; not paged again", event_id=duplicate)
    for resumed in report.resumed:
        # a retry (or a replay from the dead-letter queue) of an invocation that failed midway
        logger.warning(
            "control-plane call: paging the topics an earlier attempt still owed", event_id=resumed
        )
    for alert in report.alerts:
        if alert.message_id is None:
            logger.error("audit alert kept in the outbox; the next evaluator run sends it", topic=alert.topic)
        else:
            logger.info(
                "audit alert sent", topic=alert.topic, severity=alert.severity, message_id=alert.message_id
            )
    metrics.add_metric(**AUDIT_EVENTS.datapoint(len(report.recorded)))
    # only when they count something: a metric costs for each hour it has data (the dashboard
    # fills the gaps with 0); calls by action are counted from the log line above, when viewed
    if report.alerts:
        metrics.add_metric(**AUDIT_ALERTS.datapoint(len(report.alerts)))
    if report.rejected:
        metrics.add_metric(**AUDIT_EVENTS_REJECTED.datapoint(len(report.rejected)))
    return {
        "recorded": len(report.recorded),
        "duplicates": len(report.duplicates),
        "resumed": len(report.resumed),
        "ignored": report.ignored,
        "rejected": report.rejected,
        "alerts": [
            {"topic": a.topic, "severity": a.severity, "sent": a.message_id is not None}
            for a in report.alerts
        ],
    }
