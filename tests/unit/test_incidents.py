"""Incidents, pure: who joins what, what each topic is told and when, what is kept."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from iotwatch.domain.baseline.model import Expectation
from iotwatch.domain.deviation import AlertState, Transition, score_period
from iotwatch.domain.incidents.model import (
    ID_PATTERN,
    MAX_EVENTS,
    Incident,
    IncidentSettings,
    expires_at,
    incident_id,
)
from iotwatch.domain.incidents.news import SeriesNews
from iotwatch.domain.incidents.record import decode_incident, encode_incident
from iotwatch.domain.incidents.tick import TickIncidents, advance
from iotwatch.domain.messages.deviation import render
from iotwatch.domain.messages.gsm7 import gsm7_length
from iotwatch.domain.messages.model import MessageContext
from iotwatch.domain.routing import routed_topics
from iotwatch.domain.silences import Silence, SilenceState, silence_state
from iotwatch.plan.runtime import RuntimeRoute

from .fakes import DETECTION, MONDAY, PERIOD, make_series

HOUR = 3600
T0 = MONDAY + 14 * HOUR  # 2025-11-24 14:00 UTC
ROUTES = (
    RuntimeRoute("oncall-email", ("warning", "critical"), ("*",)),
    RuntimeRoute("oncall-sms", ("critical",), ("*",)),
)
CTX = MessageContext("fleet", "IotWatch-Fleet", "eu-west-1", "iot-platform", None, None, None)

CONNECT = make_series("Connect.Success")
PUBLISH_IN = make_series("PublishIn.Success")
PING = make_series("Ping.Success")
PUBLISH_OUT = make_series("PublishOut.Success")
RULES = make_series("RulesExecuted", ())
CONNECT_HTTP = make_series("Connect.Success", (("Protocol", "HTTP"),))
CATALOG = {s.id: s for s in (CONNECT, PUBLISH_IN, PING, PUBLISH_OUT, RULES, CONNECT_HTTP)}


def route(severity: str, metric: str) -> list[str]:
    return routed_topics(ROUTES, severity=severity, metric=metric)


class Fleet:
    """Drives `advance` tick by tick as `decide` would: a series listed with a severity is
    deviating (firing, or escalated when the severity rises), one no longer listed resolves."""

    def __init__(self, settings: IncidentSettings | None = None) -> None:
        self.settings = settings or IncidentSettings()
        self.states: dict[str, AlertState] = {}
        self.stored: dict[str, Incident] = {}
        self.ticks: list[TickIncidents] = []

    def tick(
        self, at: int, deviating: dict, silenced: dict | None = None, held: Silence | None = None
    ) -> TickIncidents:
        news = []
        for series in CATALOG.values():
            before = self.states.get(series.id, AlertState(series.id))
            severity = deviating.get(series)
            latest = score_period(
                at - PERIOD,
                100.0 if severity else 1000.0,
                Expectation(1000.0, 50.0, "hour-of-week"),
                DETECTION,
            )
            transition = None
            if severity and before.status == "ok":
                state = AlertState(series.id, "firing", severity, at - PERIOD, latest.score, at)
                transition = Transition("firing", series.id, severity, at - PERIOD, at, latest.score, latest)
            elif severity:
                state = replace(
                    before, severity=max(before.severity, severity, key=("warning", "critical").index)
                )
                if state.severity != before.severity:
                    transition = Transition(
                        "escalated", series.id, state.severity, before.since, at, latest.score, latest
                    )
            elif before.status == "firing":
                state = AlertState(series.id, last_evaluated=at)
                transition = Transition(
                    "resolved",
                    series.id,
                    before.severity,
                    before.since,
                    at,
                    before.peak_score,
                    latest,
                    ended=at - PERIOD,
                )
            else:
                continue
            self.states[series.id] = state
            silence = (silenced or {}).get(series)
            news.append(SeriesNews(series, state, transition, latest, silence))
        open_now = [i for i in self.stored.values() if i.status == "open"]
        incident_silences = {
            i.id: held
            for i in open_now
            if held is not None and silence_state(held, at) is SilenceState.ACTIVE
        }
        tick = advance(
            open_now,
            news,
            at=at,
            settings=self.settings,
            route=route,
            catalog=CATALOG,
            incident_silences=incident_silences,
        )
        for incident in tick.changed:
            # stored and read back, as the table would
            text, packed = encode_incident(incident)
            self.stored[incident.id] = decode_incident(text, packed, revision=incident.revision + 1)
        self.ticks.append(tick)
        return tick

    def run(self, first: int, last: int, script) -> None:
        for at in range(first, last + 1, PERIOD):
            self.tick(at, script(at))

    def messages(self, topic: str | None = None) -> list[tuple[int, str, str]]:
        return [
            (n.at, n.topic, n.kind)
            for t in self.ticks
            for n in t.notifications
            if topic is None or n.topic == topic
        ]

    def notifications(self, kind: str, topic: str = "oncall-email"):
        return [n for t in self.ticks for n in t.notifications if n.kind == kind and n.topic == topic]


def spreading(at: int) -> dict:
    """The problem of the issue: Connect falls at 14:00, PublishIn at 14:15, Ping and
    PublishOut at 14:30, all back at 15:10."""
    if not T0 < at <= T0 + 70 * 60:
        return {}
    found = {CONNECT: "critical"}
    if at > T0 + 15 * 60:
        found[PUBLISH_IN] = "critical"
    if at > T0 + 30 * 60:
        found[PING] = found[PUBLISH_OUT] = "warning"
    return found


def test_a_spreading_problem_pages_once_updates_per_group_interval_and_resolves_once():
    fleet = Fleet()
    fleet.run(T0 - HOUR, T0 + 2 * HOUR, spreading)

    assert len({n.incident.id for t in fleet.ticks for n in t.notifications}) == 1
    assert fleet.messages("oncall-sms") == [
        (T0 + 5 * 60, "oncall-sms", "firing"),
        (T0 + 20 * 60, "oncall-sms", "update"),  # queues and functions on the SMS topic; SMS filters it
        (T0 + 75 * 60, "oncall-sms", "resolved"),
    ]
    email = fleet.messages("oncall-email")
    assert [kind for _, _, kind in email] == ["firing", "update", "update", "resolved"]
    updates = [at for at, _, kind in email if kind == "update"]
    # PublishIn joins at 14:20 (15 min after the page: due at once); Ping and PublishOut at
    # 14:35, 15 min after that update: due at once too. Never two within the interval.
    assert updates == [T0 + 20 * 60, T0 + 35 * 60]

    first, second = fleet.notifications("update")
    assert [(a.series.metric, a.status) for a in first.alerts] == [
        ("PublishIn.Success", "new"),
        ("Connect.Success", "deviating"),
    ]
    assert {a.series.metric: a.status for a in second.alerts} == {
        "Ping.Success": "new",
        "PublishOut.Success": "new",
        "Connect.Success": "deviating",
        "PublishIn.Success": "deviating",
    }
    # the warning-level joiners route to e-mail only: the SMS topic had nothing new to hear
    [resolved] = fleet.notifications("resolved")
    assert {a.series.metric for a in resolved.alerts} == {
        "Connect.Success",
        "PublishIn.Success",
        "Ping.Success",
        "PublishOut.Success",
    }
    spans = {a.series.metric: (a.transition.since, a.transition.ended) for a in resolved.alerts}
    assert spans["Connect.Success"] == (T0, T0 + 70 * 60)
    assert spans["PublishIn.Success"] == (T0 + 15 * 60, T0 + 70 * 60)
    [sms_resolved] = fleet.notifications("resolved", "oncall-sms")
    assert len(sms_resolved.alerts) == 4, "a resolve lists every member, on every topic it reached"

    [incident] = fleet.stored.values()
    assert incident.status == "resolved" and incident.resolved_at == T0 + 75 * 60
    assert incident.severity == "critical" and incident.since == T0 and incident.ended == T0 + 70 * 60
    kinds = [e.kind for e in incident.events]
    assert kinds[:3] == ["opened", "joined", "paged"]
    assert kinds.count("joined") == 4 and kinds.count("updated") == 2 and kinds[-1] == "resolved"


def _assert_one_update_of_every_joiner_at_14_45(fleet: Fleet) -> None:
    assert fleet.messages("oncall-email") == [
        (T0 + 5 * 60, "oncall-email", "firing"),
        (T0 + 45 * 60, "oncall-email", "update"),
        (T0 + 75 * 60, "oncall-email", "resolved"),
    ]
    [update] = fleet.notifications("update")
    assert sorted(a.series.metric for a in update.alerts if a.status == "new") == [
        "Ping.Success",
        "PublishIn.Success",
        "PublishOut.Success",
    ]


def test_joins_within_the_group_interval_wait_for_it_and_go_out_together():
    fleet = Fleet(IncidentSettings(group_interval=40 * 60))
    fleet.run(T0 - HOUR, T0 + 2 * HOUR, spreading)
    # PublishIn joins at 14:20, Ping and PublishOut at 14:35: one update at 14:45, 40 min after the page
    _assert_one_update_of_every_joiner_at_14_45(fleet)


def test_a_member_that_recovers_and_deviates_again_while_its_incident_is_open_pages_nobody():
    fleet = Fleet()

    def flapping(at: int) -> dict:
        found = spreading(at)
        if T0 + 40 * 60 < at <= T0 + 50 * 60:
            found.pop(CONNECT, None)
        return found

    fleet.run(T0 - HOUR, T0 + 2 * HOUR, flapping)
    assert [k for _, _, k in fleet.messages("oncall-sms")] == ["firing", "update", "resolved"]
    [incident] = fleet.stored.values()
    assert [e.text for e in incident.events if e.kind in ("recovered", "deviating")][:2] == [
        "Connect.Success (MQTT) back to normal",
        "Connect.Success (MQTT) deviating again",
    ]


def test_one_problem_over_both_protocols_is_one_incident_paged_once_per_topic():
    fleet = Fleet()
    fleet.run(
        T0, T0 + HOUR, lambda at: {CONNECT: "critical", CONNECT_HTTP: "critical"} if at < T0 + HOUR else {}
    )
    firing = fleet.notifications("firing") + fleet.notifications("firing", "oncall-sms")
    assert [n.topic for n in firing] == ["oncall-email", "oncall-sms"]
    assert {n.incident.id for n in firing} == {"251124-1400"}
    for n in firing:
        assert sorted(a.series.label for a in n.alerts) == [
            "Connect.Success (HTTP)",
            "Connect.Success (MQTT)",
        ]
    assert len(fleet.notifications("resolved", "oncall-sms")) == 1
    [incident] = fleet.stored.values()
    assert incident.group_label == "Protocol=MQTT+HTTP"


def test_two_problems_on_different_dimension_sets_are_two_incidents():
    fleet = Fleet()
    rule_a = make_series("Failure", (("RuleName", "to_s3"), ("ActionType", "S3")))
    rule_b = make_series("Failure", (("RuleName", "to_ddb"), ("ActionType", "DynamoDBv2")))
    CATALOG.update({s.id: s for s in (rule_a, rule_b)})
    try:
        fleet.tick(T0, {rule_a: "critical", rule_b: "critical"})
    finally:
        for s in (rule_a, rule_b):
            CATALOG.pop(s.id)
    firing = fleet.notifications("firing", "oncall-sms")
    assert sorted(n.incident.id for n in firing) == ["251124-1400", "251124-1400b"]


def test_an_account_wide_series_joins_the_open_incident_and_an_incident_of_its_own_takes_a_group():
    fleet = Fleet()
    fleet.tick(T0, {CONNECT: "critical"})
    fleet.tick(T0 + PERIOD, {CONNECT: "critical", RULES: "critical"})
    [incident] = fleet.stored.values()
    assert [m.metric for m in incident.members] == ["Connect.Success", "RulesExecuted"]

    later = Fleet()
    later.tick(T0, {RULES: "critical"})
    later.tick(T0 + PERIOD, {RULES: "critical", CONNECT_HTTP: "critical"})
    [alone] = later.stored.values()
    assert alone.group_label == "Protocol=HTTP"
    assert [m.metric for m in alone.members] == ["RulesExecuted", "Connect.Success"]
    later.tick(T0 + 2 * PERIOD, {RULES: "critical", CONNECT_HTTP: "critical", CONNECT: "critical"})
    assert len(later.stored) == 1, "another protocol is the same incident"
    assert [m.label for m in alone.members][-1] == "Connect.Success (HTTP)"


def test_group_by_tick_keeps_the_whole_plan_in_one_incident():
    fleet = Fleet(IncidentSettings(group_by="tick"))
    fleet.tick(T0, {CONNECT: "critical"})
    fleet.tick(T0 + PERIOD, {CONNECT: "critical", CONNECT_HTTP: "warning"})
    [incident] = fleet.stored.values()
    assert len(incident.members) == 2 and incident.group == ()


def test_an_escalation_pages_the_topics_the_new_severity_reaches_once():
    fleet = Fleet()

    def worsening(at: int) -> dict:
        if at <= T0:
            return {}
        return {PUBLISH_IN: "warning" if at < T0 + 20 * 60 else "critical"} if at <= T0 + HOUR else {}

    fleet.run(T0 - HOUR, T0 + 2 * HOUR, worsening)
    # the SMS topic's first page about it, saying it escalated; e-mail, told of the warning, hears of it
    assert [k for _, _, k in fleet.messages("oncall-sms")] == ["firing", "resolved"]
    assert [k for _, _, k in fleet.messages("oncall-email")] == ["firing", "escalated", "resolved"]
    [sms] = fleet.notifications("firing", "oncall-sms")
    assert sms.severity == "critical" and sms.at == T0 + 20 * 60
    assert sms.incident.escalated_from == "warning"
    assert render(sms, CTX).email.startswith("CRITICAL (escalated from WARNING): 1 metric(s)")
    [email] = fleet.notifications("escalated")
    assert email.incident.escalated_from is None
    assert render(email, CTX).email.startswith("escalated to CRITICAL: 1 metric(s)")
    [incident] = fleet.stored.values()
    assert incident.paged_severity == "critical"
    assert "escalated" in [e.kind for e in incident.events]


def test_reminders_follow_each_topics_last_page_and_updates_do_not_postpone_them():
    fleet = Fleet(IncidentSettings(repeat_interval=HOUR))

    def long(at: int) -> dict:
        if not T0 < at <= T0 + 150 * 60:
            return {}
        return {CONNECT: "critical", **({PING: "warning"} if at > T0 + 30 * 60 else {})}

    fleet.run(T0, T0 + 3 * HOUR, long)
    page = T0 + PERIOD
    assert fleet.messages("oncall-email") == [
        (page, "oncall-email", "firing"),
        (T0 + 35 * 60, "oncall-email", "update"),
        (page + HOUR, "oncall-email", "reminder"),
        (page + 2 * HOUR, "oncall-email", "reminder"),
        (T0 + 155 * 60, "oncall-email", "resolved"),
    ]


def test_an_incident_of_silenced_members_pages_when_the_silence_ends_with_its_real_start():
    fleet = Fleet()
    mute = Silence("s-1", T0 - HOUR, T0 + 30 * 60, "broker upgrade")
    for at in range(T0 + PERIOD, T0 + HOUR + 1, PERIOD):
        fleet.tick(at, {CONNECT: "critical"}, silenced={CONNECT: mute} if at < mute.ends else None)
    assert fleet.messages("oncall-sms") == [(T0 + 30 * 60, "oncall-sms", "firing")]
    [late] = fleet.notifications("firing", "oncall-sms")
    assert late.incident.since == T0 and late.incident.opened_at == T0 + PERIOD
    [incident] = fleet.stored.values()
    assert [e.kind for e in incident.events][:2] == ["opened", "silenced"]


def test_a_silence_on_the_incident_holds_its_updates_until_it_ends():
    fleet = Fleet()
    mute = Silence("s-2", T0, T0 + 45 * 60, "working on it", metrics=(), incident="251124-1405")
    for at in range(T0, T0 + 2 * HOUR + 1, PERIOD):
        fleet.tick(at, spreading(at), held=mute)
    # paged at 14:05 (the silence came after); PublishIn (14:20), Ping and PublishOut (14:35)
    # wait for its end at 14:45 and go out in one update
    _assert_one_update_of_every_joiner_at_14_45(fleet)
    [incident] = fleet.stored.values()
    held = [e.text for e in incident.events if e.kind == "silenced"]
    assert held == [
        "pages held by silence s-2 (working on it) until 2025-11-24 14:45 UTC",
        "silence s-2 over: pages resume",
    ]


def test_a_silence_on_the_incident_holds_the_escalation_page_to_a_new_topic():
    fleet = Fleet()
    mute = Silence("s-4", T0, T0 + HOUR, "investigating", metrics=(), incident="251124-1405")

    def worsening(at: int) -> dict:
        return (
            {}
            if not T0 < at <= T0 + 90 * 60
            else {PUBLISH_IN: "warning" if at < T0 + 20 * 60 else "critical"}
        )

    for at in range(T0, T0 + 2 * HOUR + 1, PERIOD):
        fleet.tick(at, worsening(at), held=mute)
    assert fleet.messages("oncall-sms") == [
        (T0 + HOUR, "oncall-sms", "firing"),
        (T0 + 95 * 60, "oncall-sms", "resolved"),
    ]
    assert [k for _, _, k in fleet.messages("oncall-email")] == ["firing", "escalated", "resolved"]


def test_a_resolve_is_sent_inside_a_silence_on_its_incident():
    fleet = Fleet()
    mute = Silence("s-3", T0, T0 + 3 * HOUR, "known", metrics=(), incident="251124-1405")
    for at in range(T0, T0 + 2 * HOUR + 1, PERIOD):
        fleet.tick(at, spreading(at), held=mute if at > T0 + 10 * 60 else None)
    assert [k for _, _, k in fleet.messages("oncall-email")] == ["firing", "resolved"]


def test_a_member_no_tick_reports_firing_is_closed_and_the_incident_resolves():
    fleet = Fleet()
    fleet.tick(T0, {CONNECT: "critical"})
    [incident] = fleet.stored.values()
    # the series' resolve was lost (or it left the plan): the next tick reports nothing of it
    tick = advance([incident], [], at=T0 + PERIOD, settings=IncidentSettings(), route=route, catalog=CATALOG)
    [closed] = tick.changed
    assert closed.status == "resolved" and tick.resolved == [incident.id]
    assert "closed by reconciliation" in closed.events[-2].text
    assert [n.kind for n in tick.notifications] == ["resolved", "resolved"]


def test_advance_leaves_its_inputs_alone_and_a_quiet_tick_changes_nothing():
    fleet = Fleet()
    fleet.tick(T0, {CONNECT: "critical"})
    [incident] = fleet.stored.values()
    before = json.dumps(encode_incident(incident)[0])
    news = [SeriesNews(CONNECT, fleet.states[CONNECT.id], None, None)]
    tick = advance([incident], news, at=T0 + PERIOD, settings=IncidentSettings(), route=route)
    assert tick.changed == [] and tick.notifications == [] and tick.open == [incident.id]
    assert json.dumps(encode_incident(incident)[0]) == before


def test_ids_are_the_opening_minute_and_a_letter_for_more_in_one_tick():
    assert incident_id(T0) == "251124-1400"
    assert incident_id(T0, ["251124-1400"]) == "251124-1400b"
    assert incident_id(T0, ["251124-1400", "251124-1400b"]) == "251124-1400c"
    assert sorted([incident_id(T0 + HOUR), incident_id(T0, ["251124-1400"]), incident_id(T0)]) == [
        "251124-1400",
        "251124-1400b",
        "251124-1500",
    ], "ids sort by opening time"


def test_a_minute_can_open_any_number_of_incidents_each_with_its_own_id():
    """A downstream outage fails every topic rule at once: one incident per rule, none lost."""
    taken: list[str] = []
    for _ in range(60):
        taken.append(incident_id(T0, taken))
    assert len(set(taken)) == 60
    assert taken[:3] == ["251124-1400", "251124-1400b", "251124-1400c"]
    assert taken[25:28] == ["251124-1400z", "251124-1400z27", "251124-1400z28"]
    assert all(ID_PATTERN.match(i) for i in taken)
    assert not ID_PATTERN.match("251124-1400a") and not ID_PATTERN.match("251124-1400z1")


def test_a_long_timeline_keeps_its_beginning_and_its_end():
    fleet = Fleet()
    fleet.tick(T0, {CONNECT: "critical", PING: "critical"})
    [incident] = fleet.stored.values()
    for k in range(MAX_EVENTS * 2):
        incident.note(T0 + k, "deviating", f"flap {k}")
    assert len(incident.events) == MAX_EVENTS
    assert incident.events[0].kind == "opened" and incident.events[-1].text == f"flap {2 * MAX_EVENTS - 1}"
    [marker] = [e for e in incident.events if e.kind == "omitted"]
    # every event noted is kept or counted by the marker
    noted = 4 + 2 * MAX_EVENTS  # opened, two joined, one page to both topics, then the flaps
    assert int(marker.text.split()[0]) + len(incident.events) - 1 == noted


def test_a_huge_incident_is_stored_compressed_and_read_back_whole():
    fleet = Fleet()
    fleet.tick(T0, {CONNECT: "critical"})
    [incident] = fleet.stored.values()
    member = incident.members[0]
    incident.members = [replace(member, series_id=f"{member.series_id}-{i}") for i in range(1500)]
    text, packed = encode_incident(incident)
    assert text is None and packed is not None and len(packed) < 400_000
    again = decode_incident(None, packed, revision=3)
    assert len(again.members) == 1500 and again.revision == 3


def test_a_resolved_incident_expires_after_the_history_days_and_an_open_one_never():
    fleet = Fleet()
    fleet.tick(T0, {CONNECT: "critical"})
    [incident] = fleet.stored.values()
    assert expires_at(incident, 400) is None
    fleet.tick(T0 + PERIOD, {})
    [incident] = fleet.stored.values()
    assert expires_at(incident, 400) == T0 + PERIOD + 400 * 86400


# --- what on-call reads ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spread() -> Fleet:
    """The spreading problem; its incident is 251124-1405, the window end of the tick that opened it."""
    fleet = Fleet()
    fleet.run(T0 - HOUR, T0 + 2 * HOUR, spreading)
    return fleet


def test_every_message_names_its_incident_everywhere(spread: Fleet):
    for tick in spread.ticks:
        for notification in tick.notifications:
            message = render(notification, CTX)
            assert "251124-1405" in message.subject and "251124-1405" in message.sms
            assert message.attributes["incident"]["StringValue"] == "251124-1405"
            assert message.document["incident"]["id"] == "251124-1405"
            assert "iotwatch incidents show 251124-1405" in message.email
            assert len(message.subject) < 100 and gsm7_length(message.sms) <= 160


def test_an_update_says_who_joined_who_recovered_and_that_nobody_is_paged(spread: Fleet):
    _, second = spread.notifications("update")
    message = render(second, CTX)
    assert message.subject.startswith("[UPDATE] fleet 251124-1405: ")
    assert message.subject.endswith("joined, down 90% (+1 more)")
    assert message.email.startswith(
        "UPDATE on incident 251124-1405 of plan 'fleet' (CRITICAL since 2025-11-24 14:00 UTC, 35 min): "
        "2 metric(s) joined since 14:20 UTC; 4 of 4 deviating, 0 recovered. No new page."
    )
    table = message.email.split("Details:")[0]
    assert "joined" in table and "deviating" in table
    assert message.sms.startswith("UPDATE fleet 251124-1405: joined ")
    assert message.sms.endswith("4 deviating, 0 recovered.")
    assert message.attributes["kind"]["StringValue"] == "update"
    assert [a["status"] for a in message.document["alerts"]] == ["new", "new", "deviating", "deviating"]


def test_the_resolve_lists_every_member_with_its_own_span_and_worst_deviation(spread: Fleet):
    [resolved] = spread.notifications("resolved")
    message = render(resolved, CTX)
    assert message.email.startswith(
        "RESOLVED: all 4 metric(s) of plan 'fleet' are back within their normal range after 1 h 10 min "
        "(2025-11-24 14:00 UTC to 15:10 UTC). Incident 251124-1405 is over."
    )
    table = message.email.split("Details:")[0]
    assert "14:00-15:10" in table and "14:15-15:10" in table and "14:30-15:10" in table
    assert "worst" in table
    assert message.sms.startswith("RESOLVED fleet 251124-1405: ")
    assert {a["status"] for a in message.document["alerts"]} == {"recovered"}
    assert message.document["incident"]["ended"] == "2025-11-24T15:10:00Z"
