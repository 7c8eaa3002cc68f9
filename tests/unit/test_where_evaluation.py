"""Where and why through the evaluator: the look-up is asked once per incident about to page
firing or escalated, never on a quiet tick, and never costs a page (it raises, it finds gaps)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from iotwatch.domain.where import Breakdown, FieldBreakdown, LookupGap, ReasonShare, ValueShare
from iotwatch.plan.expand import expand_series
from iotwatch.service.context import message_context
from iotwatch.service.evaluation import run_evaluation

from .fakes import MONDAY, PERIOD, FakeNotifier, FakeReader, FakeStore, flat_baseline
from .test_lifecycle import TWO_PROTOCOLS, make_plan

HOUR = 3600
START = MONDAY + 6 * HOUR
END_OF_DATA = MONDAY + 24 * HOUR
E = MONDAY + 12 * HOUR
DOWN_FROM = E - 2 * PERIOD


@dataclass
class FakeWhere:
    """Answers every look-up with `answer` (or raises `fails`), and remembers each one."""

    answer: Breakdown | None = None
    fails: Exception | None = None
    asked: list[tuple[tuple[str, ...], int, int]] = field(default_factory=list)

    def look_up(self, *, metrics: Sequence[str], since: int, now: int) -> Breakdown:
        self.asked.append((tuple(metrics), since, now))
        if self.fails is not None:
            raise self.fails
        return self.answer or Breakdown(since=since, looked_up_at=now)


ONE_GROUP = Breakdown(
    since=DOWN_FROM,
    looked_up_at=E,
    disconnected=31_204,
    fields=(FieldBreakdown("thingGroupNames", (ValueShare("eu-gateways", 29_332, 0.94, 0.96),)),),
    reasons=(ReasonShare("CONNECTION_LOST", 27_460, 0.88, 0.20),),
)
NO_INDEX = LookupGap(
    "thing groups of the disconnected devices",
    "fleet indexing is off in this account and region",
    "aws iot update-indexing-configuration --thing-indexing-configuration thingIndexingMode=REGISTRY",
)


class World:
    """The default plan's metrics over MQTT and HTTP at a steady 1,000 per period."""

    def __init__(self, where, *, notify=None):
        self.plan = make_plan(notify=notify, metrics=TWO_PROTOCOLS)
        self.series = expand_series(self.plan)
        self.reader = FakeReader()
        for s in self.series:
            for ts in range(START, END_OF_DATA, PERIOD):
                self.reader.set(s.id, ts, 1000.0)
        self.store = FakeStore([flat_baseline(s.id, expected=1000.0, scale=50.0) for s in self.series])
        self.notifier = FakeNotifier()
        self.context = message_context(self.plan, region="eu-west-1", dashboard_name="IotWatch-Fleet")
        self.where = where

    def drop(self, metric, protocol="MQTT", *, value=0.0, start=DOWN_FROM, end=END_OF_DATA):
        [series] = [
            s
            for s in self.series
            if s.metric == metric and s.dimension_map.get("Protocol", "MQTT") == protocol
        ]
        for ts in range(start, end, PERIOD):
            self.reader.set(series.id, ts, value)

    def tick(self, window_end):
        return run_evaluation(
            event_time=window_end + 90,
            plan=self.plan,
            series=self.series,
            reader=self.reader,
            store=self.store,
            notifier=self.notifier,
            context=self.context,
            where=self.where,
        )


def sent(report, topic):
    [message] = [s.message for s in report.sent if s.notification.topic == topic]
    return message


def test_a_broker_outage_over_both_protocols_is_looked_up_once_and_paged_once_per_topic():
    where = FakeWhere(ONE_GROUP)
    world = World(where)
    for metric in ("Connect.Success", "PublishIn.Success"):
        for protocol in ("MQTT", "HTTP"):
            world.drop(metric, protocol)
    report = world.tick(E)
    assert sorted(s.notification.topic for s in report.sent) == ["oncall-email", "oncall-sms"]
    assert len({s.notification.incident.id for s in report.sent}) == 1
    assert where.asked == [(("Connect.Success", "PublishIn.Success"), DOWN_FROM, E)]

    email, sms = sent(report, "oncall-email"), sent(report, "oncall-sms")
    assert email.email.startswith(
        "Likely kind: devices or their network (CONNECTION_LOST 88 % of disconnects"
    )
    assert "  eu-gateways   29,332   94 %      96 %" in email.email
    assert "Likely devices/network." in sms.sms and "Where: 94% eu-gateways" in sms.sms
    assert email.document["incident"]["where"]["disconnected"] == 31_204
    [incident] = world.store.all_incidents()
    assert incident.breakdowns == [ONE_GROUP]
    assert incident.failure is not None and incident.failure.kind == "devices-or-network"


def test_no_look_up_on_a_quiet_tick_while_it_stays_open_or_when_it_resolves():
    where = FakeWhere(ONE_GROUP)
    world = World(where)
    assert world.tick(E).sent == [] and where.asked == []
    world.drop("Connect.Success", end=E + 2 * PERIOD)
    world.tick(E + PERIOD)
    assert len(where.asked) == 1
    world.tick(E + 2 * PERIOD)  # still down: nothing to page
    for k in range(3, 7):
        report = world.tick(E + k * PERIOD)
        if report.sent:
            break
    assert [s.notification.kind for s in report.sent] == ["resolved", "resolved"]
    assert len(where.asked) == 1, "a resolve is not looked up"
    resolved = sent(report, "oncall-email").email
    assert resolved.startswith("Likely kind: devices or their network"), "the kind kept from the first page"


def test_a_look_up_that_raises_costs_the_breakdown_never_the_page():
    where = FakeWhere(fails=TimeoutError("fleet index did not answer"))
    world = World(where)
    world.drop("Connect.Success")
    report = world.tick(E)
    assert sorted(s.notification.topic for s in report.sent) == ["oncall-email", "oncall-sms"]
    assert report.failed_topics == []
    [error] = report.where_errors
    assert "TimeoutError: fleet index did not answer" in error
    assert report.as_log_fields()["where_errors"] == [error]
    email = sent(report, "oncall-email").email
    assert email.startswith("Kind unclear: "), "classified from what fires alone"
    assert "Where (looked up" not in email
    [incident] = world.store.all_incidents()
    assert incident.breakdowns == [] and incident.failure is not None


def test_what_could_not_be_looked_up_is_said_with_how_to_turn_it_on():
    where = FakeWhere(Breakdown(since=DOWN_FROM, looked_up_at=E, gaps=(NO_INDEX,)))
    world = World(where)
    world.drop("Connect.Success")
    email = sent(world.tick(E), "oncall-email").email
    assert (
        "  Not looked up: thing groups of the disconnected devices (fleet indexing is off in this "
        "account and region). To turn it on: aws iot update-indexing-configuration" in email
    )


def test_an_escalation_is_looked_up_again_and_the_incident_keeps_both():
    where = FakeWhere(ONE_GROUP)
    world = World(where)
    world.drop("Connect.Success", value=750.0, end=E + PERIOD)  # -25 %: warning
    world.drop("Connect.Success", value=0.0, start=E + PERIOD)  # then gone: critical
    first = world.tick(E)
    assert [s.notification.kind for s in first.sent] == ["firing"]
    second = world.tick(E + 2 * PERIOD)
    assert sorted(s.notification.kind for s in second.sent) == ["escalated", "firing"]
    assert [since for _, since, _ in where.asked] == [DOWN_FROM, DOWN_FROM]
    [incident] = world.store.all_incidents()
    assert len(incident.breakdowns) == 2


def test_without_a_look_up_pages_read_as_before():
    world = World(None)
    world.drop("Connect.Success")
    report = world.tick(E)
    email = sent(report, "oncall-email")
    assert email.email.startswith("CRITICAL: 1 metric(s)")
    assert "failure" not in email.document["incident"]
    [incident] = world.store.all_incidents()
    assert incident.failure is None and incident.breakdowns == []


def test_a_quiet_tick_imports_neither_the_classifier_nor_the_where_renderer():
    code = (
        "import sys\n"
        "from tests.unit.test_where_evaluation import World, FakeWhere, E\n"
        "World(FakeWhere()).tick(E)\n"
        "print(sorted(m for m in ('iotwatch.domain.failure_kind', 'iotwatch.domain.messages.where',"
        " 'iotwatch.domain.messages.deviation') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
