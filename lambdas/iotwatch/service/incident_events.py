"""A tick's incident transitions and an invocation's audit alerts, put on the plan's event bus.

Called after the pages went out (and the incidents were stored): an event that cannot be
built or put is reported in the outcome, never raised, so it costs no page and fails no tick.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from iotwatch.domain.incidents.tick import TickIncidents
from iotwatch.domain.messages.events import BusEvent, EventsOutcome, audit_alert_event, incident_events
from iotwatch.domain.messages.model import MessageContext
from iotwatch.service.audit import AuditReport
from iotwatch.service.ports import EventPublisher


def publish_tick_events(
    tick: TickIncidents | None, context: MessageContext, publisher: EventPublisher
) -> EventsOutcome:
    """One event per incident transition the tick paged (none for a quiet tick)."""
    if tick is None or not tick.notifications:
        return EventsOutcome()
    return _publish(lambda: incident_events(tick, context), publisher)


def publish_audit_events(
    report: AuditReport, context: MessageContext, publisher: EventPublisher
) -> EventsOutcome:
    """One event per sensitive call the invocation paged."""
    if not report.paged:
        return EventsOutcome()
    return _publish(
        lambda: [
            audit_alert_event(p.event, p.verdict, event_id=p.event_id, ctx=context) for p in report.paged
        ],
        publisher,
    )


def _publish(build: Callable[[], Sequence[BusEvent]], publisher: EventPublisher) -> EventsOutcome:
    try:
        events = build()
    except Exception as exc:  # a bug in building must not fail the tick that paged
        return EventsOutcome(failed=1, errors=[f"events not built: {type(exc).__name__}: {exc}"])
    if not events:
        return EventsOutcome()
    try:
        return publisher.publish(events)
    except Exception as exc:  # the adapter promises not to raise
        return EventsOutcome(failed=len(events), errors=[f"{type(exc).__name__}: {exc}"])
