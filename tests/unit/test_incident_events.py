"""Incidents and audit alerts as EventBridge events: one event per incident transition (never
one per topic), what its detail carries, the JSON Schema every event meets, the 256 KB limit,
and the PutEvents adapter (botocore's Stubber: the real request and response shapes)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jsonschema
from botocore.stub import ANY, Stubber
from iotwatch.adapters.events import EventBridgePublisher, batches
from iotwatch.domain.audit.policy import AuditPolicy, judge
from iotwatch.domain.audit.reading import normalize
from iotwatch.domain.incidents.model import IncidentSettings
from iotwatch.domain.messages.audit import render_audit
from iotwatch.domain.messages.deviation import render
from iotwatch.domain.messages.events import (
    MAX_ENTRY_BYTES,
    SOURCE,
    BusEvent,
    audit_alert_event,
    fit_event,
    incident_events,
)
from iotwatch.domain.messages.model import MessageContext
from iotwatch.domain.messages.where import failure_document

from .test_audit_alerts import eventbridge_record
from .test_incidents import CONNECT, HOUR, PING, PUBLISH_IN, T0, Fleet, spreading
from .test_where_pages import DEVICES, OUTAGE

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "incident-event.schema.json").read_text(encoding="utf-8")
)
CTX = MessageContext("fleet", "IotWatch-Fleet", "eu-west-1", "iot-platform", None, None, "IotWatch-Fleet")


def delivered(event: BusEvent) -> dict[str, Any]:
    """The event as EventBridge hands it to a rule's target (the fields the schema covers)."""
    entry = event.entry("default")
    return {
        "source": entry["Source"],
        "detail-type": entry["DetailType"],
        "detail": json.loads(entry["Detail"]),
    }


def assert_valid(events: list[BusEvent]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for event in events:
        jsonschema.validate(delivered(event), SCHEMA, cls=jsonschema.Draft202012Validator)
        assert event.size <= MAX_ENTRY_BYTES


def events_of(fleet: Fleet) -> list[BusEvent]:
    return [e for tick in fleet.ticks for e in incident_events(tick, CTX)]


# --- one event per transition -------------------------------------------------------------------


def test_a_spreading_problem_is_one_open_two_updates_and_one_resolve_whatever_the_topics():
    fleet = Fleet()
    fleet.run(T0 - HOUR, T0 + 2 * HOUR, spreading)
    events = events_of(fleet)
    assert_valid(events)

    # the SNS pages: 2 topics x (firing, resolved), plus an update to SMS and two to e-mail
    assert len([n for t in fleet.ticks for n in t.notifications]) == 7
    assert [e.detail_type for e in events] == [
        "Incident Opened",
        "Incident Updated",
        "Incident Updated",
        "Incident Resolved",
    ]
    [incident] = fleet.stored.values()
    assert {e.detail["dedup_key"] for e in events} == {f"fleet/{incident.id}"}
    opened, first_update, _, resolved = (e.detail for e in events)
    assert opened["transition"] == "opened" and opened["topics"] == ["oncall-email", "oncall-sms"]
    assert opened["incident"]["status"] == "firing" and opened["incident"]["until"] is None
    assert opened["incident"]["severity"] == opened["severity"] == "critical"
    assert [m["metric"] for m in opened["incident"]["members"]] == ["Connect.Success"]
    member = opened["incident"]["members"][0]
    assert member["dimensions"] == {"Protocol": "MQTT"} and member["change"].startswith("down ")
    # the summary is what the e-mail subject says
    [page] = fleet.notifications("firing")
    assert opened["summary"] == opened["incident"]["summary"] == render(page, CTX).subject
    assert first_update["time"] == "2025-11-24T14:20:00Z"
    joined = {m["metric"]: m["change"] for m in first_update["incident"]["members"]}
    assert joined["PublishIn.Success"].startswith("joined, down")
    assert resolved["transition"] == "resolved" and resolved["incident"]["status"] == "resolved"
    assert resolved["incident"]["until"] == "2025-11-24T15:10:00Z"
    assert {m["change"] for m in resolved["incident"]["members"]} == {"back to normal"}
    assert len(resolved["incident"]["members"]) == 4


def test_an_escalation_is_one_event_though_one_topic_hears_its_first_page():
    fleet = Fleet()

    def worsening(at: int) -> dict:
        if at <= T0 or at > T0 + HOUR:
            return {}
        return {PUBLISH_IN: "warning" if at < T0 + 20 * 60 else "critical"}

    fleet.run(T0 - HOUR, T0 + 2 * HOUR, worsening)
    events = events_of(fleet)
    assert_valid(events)
    assert [(e.detail_type, e.detail["severity"]) for e in events] == [
        ("Incident Opened", "warning"),
        ("Incident Escalated", "critical"),
        ("Incident Resolved", "critical"),
    ]
    escalated = events[1].detail
    assert escalated["topics"] == ["oncall-email", "oncall-sms"]
    assert escalated["incident"]["severity"] == "critical"
    [email] = fleet.notifications("escalated")
    assert escalated["summary"] == render(email, CTX).subject


def test_reminders_are_events_and_a_member_no_page_listed_is_still_in_the_incident():
    fleet = Fleet(IncidentSettings(repeat_interval=HOUR))

    def long(at: int) -> dict:
        if not T0 < at <= T0 + 150 * 60:
            return {}
        return {CONNECT: "critical", **({PING: "warning"} if at > T0 + 30 * 60 else {})}

    fleet.run(T0, T0 + 3 * HOUR, long)
    events = events_of(fleet)
    assert_valid(events)
    kinds = [e.detail["transition"] for e in events]
    assert kinds == ["opened", "updated", "reminder", "reminder", "resolved"]
    reminder = events[2].detail
    changes = {m["metric"]: m["change"] for m in reminder["incident"]["members"]}
    assert set(changes) == {"Connect.Success", "Ping.Success"}
    assert changes["Connect.Success"].startswith("still down")


def test_a_classified_incident_carries_its_failure_kind_and_where_and_the_dashboard_at_its_time():
    fleet = Fleet()
    tick = fleet.tick(T0 + 5 * 60, {CONNECT: "critical"})
    [incident] = tick.changed
    incident.failure, incident.breakdowns = DEVICES, [OUTAGE]
    [event] = incident_events(tick, CTX)
    assert_valid([event])
    detail = event.detail["incident"]
    assert detail["failure"] == failure_document(DEVICES)
    assert detail["failure"]["kind"] == "devices-or-network"
    assert detail["where"]["disconnected"] == 31_204
    assert detail["where"]["fields"][0]["values"][0]["value"] == "eu-gateways"
    assert event.detail["links"] == {
        "dashboard": "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#dashboards/dashboard/IotWatch-Fleet?start=2025-11-24T13:00:00Z",
        "incident": f"iotwatch incidents show {incident.id}",
    }
    # without a dashboard, no link to one
    [plain] = incident_events(tick, replace(CTX, dashboard_name=None))
    assert plain.detail["links"]["dashboard"] is None


def test_a_resolved_incidents_dashboard_link_closes_an_hour_after_it_ended():
    fleet = Fleet()
    fleet.run(T0 - HOUR, T0 + 2 * HOUR, spreading)
    resolved = events_of(fleet)[-1].detail
    assert resolved["links"]["dashboard"].endswith("?start=2025-11-24T13:00:00Z&end=2025-11-24T16:10:00Z")


def test_an_incident_over_before_iotwatch_recovered_is_one_found_late_event(default_plan):
    from .test_catch_up import BACK, DOWN_FROM, DROP, DROP_END, PERIOD, World, outage

    world = World(default_plan)
    world.run(DOWN_FROM - 2 * HOUR, DOWN_FROM - PERIOD)
    world.set_from("Connect.Success", DROP, 150.0, end=DROP_END)
    outage(world, DOWN_FROM, BACK - PERIOD)
    report = world.tick(BACK)
    assert [s.notification.kind for s in report.sent] == ["late", "late"]
    [event] = incident_events(report.incidents, world.context)
    assert_valid([event])
    assert event.detail_type == "Incident Found Late"
    incident = event.detail["incident"]
    assert (incident["status"], incident["until"]) == ("resolved", "2025-11-24T14:40:00Z")
    assert incident["members"][0]["change"] == "was down 85% 14:00-14:40Z"
    assert event.detail["summary"].startswith("[LATE CRITICAL] fleet ")


def test_a_quiet_tick_has_no_events():
    fleet = Fleet()
    assert incident_events(fleet.tick(T0, {}), CTX) == []


# --- audit alerts -------------------------------------------------------------------------------


def test_an_audit_alert_event_carries_the_audit_document_of_its_json_message():
    call = normalize(eventbridge_record(eventName="DeletePolicy"))
    verdict = judge(call, AuditPolicy())
    event = audit_alert_event(call, verdict, event_id="ev-1", ctx=CTX)
    assert_valid([event])
    message = render_audit(call, verdict, topic="oncall-sms", event_id="ev-1", ctx=CTX)
    assert event.detail_type == "Audit Alert"
    assert event.detail["audit"] == json.loads(json.dumps(message.document["audit"]))
    assert event.detail["summary"] == message.subject
    assert (event.detail["transition"], event.detail["severity"]) == ("audit", "critical")
    assert event.detail["dedup_key"] == "fleet/audit/ev-1"
    assert "incident" not in event.detail
    assert event.detail["links"]["cloudtrail"].endswith("#/events/ev-1")


# --- 256 KB -------------------------------------------------------------------------------------


def _swollen(members: int, where_bytes: int = 0) -> BusEvent:
    fleet = Fleet()
    tick = fleet.tick(T0 + 5 * 60, {CONNECT: "critical"})
    [incident] = tick.changed
    incident.failure, incident.breakdowns = DEVICES, [OUTAGE]
    [event] = incident_events(tick, CTX)
    detail = json.loads(event.detail_json)
    [member] = detail["incident"]["members"]
    detail["incident"]["members"] = [
        {**member, "dimensions": {"ThingName": f"gateway-{i:06d}"}} for i in range(members)
    ]
    detail["incident"]["where"]["gaps"] = [{"what": "x" * where_bytes, "why": "", "fix": ""}]
    return replace(event, detail=detail)


def test_an_event_over_256_kb_keeps_its_worst_members_and_says_how_many_there_are():
    big = _swollen(5000)
    assert big.size > MAX_ENTRY_BYTES
    fitted = fit_event(big)
    assert fitted.size <= MAX_ENTRY_BYTES
    incident = fitted.detail["incident"]
    assert incident["members_total"] == 5000 and 1 <= len(incident["members"]) < 5000
    assert incident["members"] == big.detail["incident"]["members"][: len(incident["members"])]
    assert fitted.detail["trimmed"] == ["members"]
    assert incident["where"] is not None
    assert_valid([fitted])


def test_an_event_whose_where_alone_is_too_big_drops_the_where_too():
    fitted = fit_event(_swollen(3, where_bytes=MAX_ENTRY_BYTES))
    assert fitted.size <= MAX_ENTRY_BYTES
    assert fitted.detail["incident"]["where"] is None
    assert fitted.detail["trimmed"] == ["members", "where"]
    assert_valid([fitted])


def test_an_audit_alert_over_256_kb_drops_its_parameters_and_keeps_who_and_what():
    call = normalize(eventbridge_record(eventName="DeletePolicy"))
    event = audit_alert_event(call, judge(call, AuditPolicy()), event_id="ev-1", ctx=CTX)
    swollen = replace(
        event,
        detail={
            **event.detail,
            "audit": {**event.detail["audit"], "parameters": {"p": "x" * MAX_ENTRY_BYTES}},
        },
    )
    fitted = fit_event(swollen)
    assert fitted.size <= MAX_ENTRY_BYTES
    assert fitted.detail["audit"]["parameters"] == {} and fitted.detail["trimmed"] == ["parameters"]
    assert fitted.detail["audit"]["action"] == "DeletePolicy"
    assert_valid([fitted])


def test_an_event_within_the_limit_is_left_whole():
    event = _swollen(3)
    assert fit_event(event) is event


# --- the adapter ------------------------------------------------------------------------------


def _events(count: int) -> list[BusEvent]:
    return [
        BusEvent("Incident Opened", {"dedup_key": f"fleet/251124-14{i:02d}", "n": i}, T0 + i)
        for i in range(count)
    ]


def _client() -> Any:
    return boto3.client(
        "events", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def _expected(events: list[BusEvent], bus: str = "fleet-incidents") -> dict[str, Any]:
    return {
        "Entries": [
            {
                "Source": SOURCE,
                "DetailType": e.detail_type,
                "Detail": e.detail_json,
                "Time": datetime.fromtimestamp(e.at, UTC),
                "EventBusName": bus,
            }
            for e in events
        ]
    }


def _ok(count: int) -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": f"id-{i}"} for i in range(count)]}


def test_publisher_puts_ten_entries_a_call_in_order_on_the_plans_bus():
    client = _client()
    events = _events(12)
    with Stubber(client) as stub:
        stub.add_response("put_events", _ok(10), _expected(events[:10]))
        stub.add_response("put_events", _ok(2), _expected(events[10:]))
        outcome = EventBridgePublisher(client, "fleet-incidents").publish(events)
        stub.assert_no_pending_responses()
    assert (outcome.sent, outcome.failed, outcome.errors) == (12, 0, [])


def test_publisher_retries_the_failed_entries_once_and_only_them():
    client = _client()
    events = _events(3)
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": "a"},
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                    {"EventId": "c"},
                ],
            },
            _expected(events),
        )
        stub.add_response("put_events", _ok(1), _expected(events[1:2]))
        outcome = EventBridgePublisher(client, "fleet-incidents").publish(events)
        stub.assert_no_pending_responses()
    assert (outcome.sent, outcome.failed) == (3, 0)


def test_publisher_counts_what_failed_twice_and_never_raises():
    client = _client()
    events = _events(2)
    refused = {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
    with Stubber(client) as stub:
        stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [{"EventId": "a"}, refused]})
        stub.add_response("put_events", {"FailedEntryCount": 1, "Entries": [refused]})
        outcome = EventBridgePublisher(client, "default").publish(events)
    assert (outcome.sent, outcome.failed) == (1, 1)
    assert outcome.errors == ["Incident Opened fleet/251124-1401: ThrottlingException"]


def test_publisher_survives_the_call_itself_failing():
    client = _client()
    events = _events(2)
    with Stubber(client) as stub:
        stub.add_client_error("put_events", "AccessDeniedException", "not allowed", 400)
        stub.add_client_error("put_events", "AccessDeniedException", "not allowed", 400)
        outcome = EventBridgePublisher(client, "default").publish(events)
    assert (outcome.sent, outcome.failed) == (0, 2)
    assert all(e.endswith("AccessDeniedException") for e in outcome.errors)


def test_a_call_carries_at_most_256_kb_in_all():
    big = [BusEvent("Incident Opened", {"pad": "x" * 100_000, "i": i}, T0) for i in range(3)]
    assert [len(b) for b in batches(big)] == [2, 1]
    assert [len(b) for b in batches(_events(25))] == [10, 10, 5]
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("put_events", _ok(2), {"Entries": ANY})
        stub.add_response("put_events", _ok(1), {"Entries": ANY})
        assert EventBridgePublisher(client, "default").publish(big).sent == 3
        stub.assert_no_pending_responses()


def test_the_documents_full_examples_meet_the_schema():
    text = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    full = [json.loads(b) for b in blocks if b.startswith('{\n  "source"')]
    assert [e["detail-type"] for e in full] == ["Incident Opened", "Audit Alert"]
    for example in full:
        jsonschema.validate(example, SCHEMA, cls=jsonschema.Draft202012Validator)
