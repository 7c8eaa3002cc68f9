"""Incident events through the handlers, with in-memory fakes: put after the pages, never
instead of one, never failing the tick; a quiet tick builds no publisher (cold start)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
from iotwatch.domain.audit.recorded import RecordedCall
from iotwatch.domain.messages.events import BusEvent, EventsOutcome
from iotwatch.domain.messages.model import OutboxItem
from iotwatch.handlers import audit, evaluator
from iotwatch.handlers.settings import DeferredEventPublisher, event_publisher
from iotwatch.plan.loader import check_plan
from iotwatch.plan.runtime import RuntimeEvents, RuntimeNotify, compile_runtime_plan

from .fakes import FakeNotifier, FakeReader, FakeStore, flat_baseline
from .test_audit_alerts import eventbridge_record
from .test_handlers import LambdaContext, epoch, event
from .test_handlers import task_root as task_root  # the handlers' task root and environment: a fixture
from .test_lifecycle import plan_data

pytestmark = pytest.mark.usefixtures("task_root")


@dataclass
class Bus:
    """Records each publish and how many SNS pages had gone out by then; may fail or raise."""

    notifier: FakeNotifier
    refuse: bool = False
    explode: bool = False
    published: list[tuple[int, list[BusEvent]]] = field(default_factory=list)

    def publish(self, events: Any) -> EventsOutcome:
        self.published.append((self.notifier.published, list(events)))
        if self.explode:
            raise RuntimeError("the adapter broke its promise")
        if self.refuse:
            return EventsOutcome(failed=len(events), errors=["Incident Opened fleet/x: InternalFailure"])
        return EventsOutcome(sent=len(events))


def _outage(deps: evaluator.EvaluatorDependencies, default_series) -> None:
    """Every series silent for the tick's last two periods: the outage pages both topics."""
    end = epoch("2026-11-24T14:05:00Z")
    for s in default_series:
        deps.store.put_baseline(flat_baseline(s.id, expected=1000.0, scale=50.0))
        deps.reader.set(s.id, end - 900, 1000.0)


def _deps(**bus: Any) -> tuple[evaluator.EvaluatorDependencies, Bus]:
    notifier = FakeNotifier()
    events = Bus(notifier, **bus)
    deps = evaluator.EvaluatorDependencies(
        reader=FakeReader(), store=FakeStore(), notifier=notifier, events=events
    )
    return deps, events


def test_the_tick_puts_one_event_per_transition_after_every_page(default_series):
    deps, bus = _deps()
    _outage(deps, default_series)
    result = evaluator.handler(event("evaluator-schedule"), LambdaContext(), deps)
    assert deps.notifier.topics() == ["oncall-email", "oncall-sms"]
    [(pages_before, events)] = bus.published
    assert pages_before == 2, "the events go out once both pages went out"
    assert [e.detail_type for e in events] == ["Incident Opened"]
    [opened] = events
    assert opened.detail["topics"] == ["oncall-email", "oncall-sms"]
    assert opened.detail["plan"] == "fleet" and opened.detail["region"] == "eu-west-1"
    assert opened.detail["links"]["dashboard"].startswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#dashboards/dashboard/IotWatch-Fleet?start="
    )
    assert result["events"] == {"sent": 1, "failed": 0}


@pytest.mark.parametrize("failure", [{"refuse": True}, {"explode": True}])
def test_events_that_cannot_be_put_cost_no_page_and_fail_no_tick(default_series, failure):
    deps, bus = _deps(**failure)
    _outage(deps, default_series)
    result = evaluator.handler(event("evaluator-schedule"), LambdaContext(), deps)
    assert deps.notifier.topics() == ["oncall-email", "oncall-sms"]
    assert result["published"] == 2 and result["failed_topics"] == []
    assert result["events"] == {"sent": 0, "failed": 1}
    assert len(bus.published) == 1


def test_a_failed_page_still_gets_its_event_and_the_tick_still_fails_for_the_page(default_series):
    deps, bus = _deps()
    deps.notifier.failing.add("oncall-sms")
    _outage(deps, default_series)
    with pytest.raises(RuntimeError, match="oncall-sms"):
        evaluator.handler(event("evaluator-schedule"), LambdaContext(), deps)
    [(_, events)] = bus.published
    assert [e.detail_type for e in events] == ["Incident Opened"]
    # the SMS waits in the outbox as before; the retry pages it and puts no second event
    deps.notifier.failing.clear()
    evaluator.handler(event("evaluator-schedule"), LambdaContext(), deps)
    assert deps.notifier.topics() == ["oncall-email", "oncall-sms"]
    assert len(bus.published) == 1


def test_a_quiet_tick_neither_publishes_nor_builds_the_publisher():
    deferred = DeferredEventPublisher("default")
    deps = evaluator.EvaluatorDependencies(
        reader=FakeReader(), store=FakeStore(), notifier=FakeNotifier(), events=deferred
    )
    result = evaluator.handler(event("evaluator-schedule"), LambdaContext(), deps)
    assert result["events"] == {"sent": 0, "failed": 0}
    assert deferred._publisher is None


def test_the_plan_turns_events_off_or_names_the_bus():
    assert event_publisher_of(RuntimeEvents(enabled=False)) is None
    on = event_publisher_of(RuntimeEvents(bus="fleet-incidents"))
    assert isinstance(on, DeferredEventPublisher) and on.bus == "fleet-incidents"


def event_publisher_of(events: RuntimeEvents) -> DeferredEventPublisher | None:
    @dataclass
    class Plan:
        notify: RuntimeNotify

    return event_publisher(Plan(RuntimeNotify(events=events)))  # type: ignore[arg-type]


# --- the audit function -------------------------------------------------------------------------


@dataclass
class AuditTable:
    """A fresh audit table: every call is new; outbox writes are kept."""

    outbox_items: list[OutboxItem] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    @property
    def audit(self) -> AuditTable:  # both repositories the audit use case is given
        return self

    @property
    def outbox(self) -> AuditTable:
        return self

    def record_audit_call(self, call: RecordedCall, *, expires_at: int, owed=(), now: float = 0.0) -> bool:
        return True

    def resume_audit_call(self, call: RecordedCall, *, now: float, stale_after: float) -> list[str] | None:
        return None

    def audit_topic_done(self, call: RecordedCall, topic: str) -> None:
        self.done.append(topic)

    def release_audit_call(self, call: RecordedCall) -> None:
        pass

    def put_outbox(self, item: OutboxItem) -> None:
        self.outbox_items.append(item)


@pytest.fixture
def audit_caches():
    audit.setup.reset()
    yield
    audit.setup.reset()


def _cloudtrail(name: str) -> dict[str, Any]:
    return {
        "id": "eb-1",
        "source": "aws.iot",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": eventbridge_record(eventName=name, eventID="ct-1"),
    }


def test_an_audit_alert_is_one_event_after_its_pages(audit_caches):
    notifier = FakeNotifier()
    bus = Bus(notifier)
    deps = audit.AuditDependencies(store=AuditTable(), notifier=notifier, events=bus)
    audit.handler(_cloudtrail("DeletePolicy"), LambdaContext(), deps)  # critical: both topics
    assert notifier.topics() == ["oncall-email", "oncall-sms"]
    [(pages_before, events)] = bus.published
    assert pages_before == 2
    [alert] = events
    assert alert.detail_type == "Audit Alert"
    assert alert.detail["dedup_key"] == "fleet/audit/ct-1"
    assert alert.detail["audit"]["action"] == "DeletePolicy"


def test_an_ordinary_call_puts_no_event_and_a_failing_bus_costs_no_audit_page(audit_caches):
    notifier = FakeNotifier()
    quiet = Bus(notifier)
    audit.handler(
        _cloudtrail("DescribeThing"),
        LambdaContext(),
        audit.AuditDependencies(store=AuditTable(), notifier=notifier, events=quiet),
    )
    assert quiet.published == [] and notifier.topics() == []
    broken = Bus(notifier, explode=True)
    audit.handler(
        _cloudtrail("DeletePolicy"),
        LambdaContext(),
        audit.AuditDependencies(store=AuditTable(), notifier=notifier, events=broken),
    )
    assert notifier.topics() == ["oncall-email", "oncall-sms"]
    assert len(broken.published) == 1


# --- the plan -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "compiled"),
    [
        (None, {"enabled": True, "bus": "default"}),
        ({"enabled": False}, {"enabled": False, "bus": "default"}),
        ({"bus": "fleet-incidents"}, {"enabled": True, "bus": "fleet-incidents"}),
        (
            {"bus": "arn:aws:events:eu-west-1:111122223333:event-bus/central"},
            {"enabled": True, "bus": "arn:aws:events:eu-west-1:111122223333:event-bus/central"},
        ),
    ],
)
def test_notify_events_compiles_into_the_functions_plan(events, compiled):
    data = plan_data()
    if events is not None:
        data["notify"]["events"] = events
    check = check_plan(data, environ={})
    assert check.plan is not None, [str(p) for p in check.problems]
    assert compile_runtime_plan(check.plan)["notify"]["events"] == compiled


@pytest.mark.parametrize(
    ("events", "words"),
    [
        ({"bus": "arn:aws:sns:eu-west-1:111122223333:topic"}, "event bus ARN reads"),
        ({"bus": "my bus!"}, "write 'default', a bus name"),
        ({"enabled": "sometimes"}, "valid boolean"),
        ({"buss": "default"}, "buss"),
    ],
)
def test_notify_events_mistakes_name_the_field_and_the_fix(events, words):
    data = plan_data()
    data["notify"]["events"] = events
    check = check_plan(data, environ={})
    assert check.plan is None
    [problem] = [p for p in check.problems if p.level == "error"]
    assert problem.path.startswith("notify.events")
    assert words in problem.message


def test_the_handlers_cold_start_loads_nothing_of_the_events():
    code = (
        "import sys\n"
        "import iotwatch.handlers.evaluator, iotwatch.handlers.audit\n"
        "print(sorted(m for m in sys.modules if m in ('iotwatch.adapters.events',"
        " 'iotwatch.domain.messages.events', 'iotwatch.service.incident_events')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
