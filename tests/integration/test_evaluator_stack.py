"""The real evaluator handler on the stack deployed from the default monitoring plan.

Once for the module: the stack is deployed, CloudWatch gets 14 days of simulated fleet
traffic with a 30-minute outage of seven metrics (the demo's incident, without the
reconnect burst, so every series recovers in the same tick) and no history at all for
Subscribe.Success, and the baseline builder runs on the stack's CREATE_COMPLETE. Each test
then starts from the state right after that bootstrap (alert state and run claims
deleted, baselines kept) with an SQS inbox subscribed to every deployed topic, and
replays evaluator ticks as the schedule would send them.

The stack also puts its incidents on the default bus as EventBridge events: the last tests
read them back from a rule on `source: iotwatch` (an SQS queue), check them against
docs/incident-event.schema.json and against the pages of the same incident. (They lived in
test_events_stack.py, which deployed and bootstrapped this same stack a second time.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import jsonschema
import pytest
from iotwatch.domain.messages.gsm7 import gsm7_length
from iotwatch.domain.times import iso_z as iso
from iotwatch_harness import (
    DAY,
    DEFAULT_PLAN_FILE,
    HOUR,
    INCIDENT_EVENT_SCHEMA,
    Inboxes,
    IotWatch,
    Received,
    bus_events_received,
    deployed,
    evaluate_concurrently,
    fresh,
    run_ticks,
    ticks_between,
)
from test_audit_stack import ATTACH_POLICY

from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import DEPLOYED_AT, INCIDENT_END, INCIDENT_METRICS, INCIDENT_START
from iotwatch_local.traffic import Fleet, Incident, generate

NO_HISTORY_METRIC = "Subscribe.Success"
QUIET_METRICS = {"Subscribe.Success", "DeleteThingShadow.Accepted"}  # not in the outage
SUBJECT_LIMIT = 100  # e-mail subjects: under 100 characters
SMS_LIMIT = 160  # one SMS part, in GSM-7 septets
ROUTED_ATTRIBUTES = ("severity", "kind", "category", "metric")


@pytest.fixture(scope="module")
def outage(local_aws: LocalAws, fleet_assembly: Any) -> Iterator[IotWatch]:
    with deployed(local_aws, fleet_assembly, DEFAULT_PLAN_FILE) as iotwatch:
        incident = Incident(INCIDENT_START, INCIDENT_END, INCIDENT_METRICS, factor=0.2, reconnect_burst=False)
        with_history = [s for s in iotwatch.series if s.metric != NO_HISTORY_METRIC]
        history_start = DEPLOYED_AT - iotwatch.plan.frequency.history_days * DAY
        iotwatch.put_traffic(
            generate(
                Fleet(), with_history, start=history_start, end=INCIDENT_END + 2 * HOUR, incidents=[incident]
            )
        )
        built = iotwatch.build_baselines(DEPLOYED_AT)
        # and the connect shares: the simulated fleet never makes the 100 attempts a period they need
        unjudged = (NO_HISTORY_METRIC, "Connect.AuthErrorRate", "Connect.ThrottleRate")
        assert built["without_history"] == [s.id for s in iotwatch.series if s.metric in unjudged]
        yield iotwatch


@pytest.fixture
def fleet(outage: IotWatch, local_aws: LocalAws) -> Iterator[IotWatch]:
    """The bootstrapped stack, every test from the same start: a cold evaluator, no alert state."""
    with fresh(outage, local_aws) as iotwatch:
        yield iotwatch


def _firing_tick(fleet: IotWatch) -> int:
    """The first tick whose window holds `pending_periods` periods of the outage."""
    frequency = fleet.plan.frequency
    return (
        INCIDENT_START
        + fleet.plan.detection.pending_periods * frequency.period_seconds
        + frequency.settle_seconds
    )


def _routed(fleet: IotWatch, severity: str) -> set[str]:
    return {t for s in fleet.series for t in fleet.plan.topics_for(severity=severity, metric=s.metric)}


def _summary(received: list[Received]) -> list[tuple[str, str, str]]:
    return [(iso(r.tick), r.topic, r.kind) for r in received]


def _kinds(inboxes: Inboxes, topic: str) -> list[str]:
    return [r.kind for r in inboxes.of(topic)]


# --------------------------------------------------------------------------------------------
# scenario: a 30-minute outage, end to end


def test_an_outage_pages_each_routed_topic_once_and_resolves_once(fleet: IotWatch, inboxes: Inboxes) -> None:
    period = fleet.plan.frequency.period_seconds
    settle = fleet.plan.frequency.settle_seconds
    schedule = ticks_between(fleet, INCIDENT_START - HOUR, INCIDENT_END + HOUR)
    results = run_ticks(fleet, inboxes, schedule)

    assert all(r["failed_topics"] == [] for r in results)
    critical_topics = _routed(fleet, "critical")
    assert critical_topics == {"oncall-email", "oncall-sms"}, "the default plan's routes"
    assert set(fleet.topics) == critical_topics

    for topic in critical_topics:
        assert _kinds(inboxes, topic) == ["firing", "resolved"], (topic, _summary(inboxes.received))
    assert all(r.tick > INCIDENT_START for r in inboxes.received), "nothing before the outage"

    [email_firing] = inboxes.of("oncall-email", "firing")
    [sms_firing] = inboxes.of("oncall-sms", "firing")
    [email_resolved] = inboxes.of("oncall-email", "resolved")
    [sms_resolved] = inboxes.of("oncall-sms", "resolved")

    # detection latency: the tick that closes the pending deviating periods pages
    first_page = min(r.tick for r in inboxes.received)
    assert first_page == email_firing.tick == sms_firing.tick == _firing_tick(fleet)
    assert first_page - INCIDENT_START <= 2 * period + settle
    pending = fleet.plan.detection.pending_periods
    assert email_firing.document["time"] == iso(INCIDENT_START + pending * period), "the window it closes"
    assert email_firing.document["since"] == iso(INCIDENT_START)
    # resolution: two normal periods after the outage, then nothing more
    recovery = fleet.plan.detection.recovery_periods
    assert email_resolved.tick == sms_resolved.tick
    assert INCIDENT_END < email_resolved.tick <= INCIDENT_END + recovery * period + settle
    assert max(r.tick for r in inboxes.received) == email_resolved.tick, "nothing after it resolved"
    for resolved in (email_resolved, sms_resolved):
        for alert in resolved.document["alerts"]:
            assert alert["since"] == iso(INCIDENT_START) and alert["ended"] == iso(INCIDENT_END)

    # grouping: one e-mail names every metric of the outage, and only those
    assert sorted(email_firing.metrics) == sorted(INCIDENT_METRICS)
    assert sorted(email_resolved.metrics) == sorted(INCIDENT_METRICS)
    for metric in INCIDENT_METRICS:
        assert metric in email_firing.document["email"]
    assert not QUIET_METRICS & {m for r in inboxes.received for m in r.metrics}

    # the SMS topic gets critical pages only, and only for the critical series
    for received in inboxes.of("oncall-sms"):
        assert received.document["severity"] == "critical"
        assert received.envelope["MessageAttributes"]["severity"]["Value"] == "critical"
    assert set(sms_firing.metrics) < set(email_firing.metrics), "a warning-level series stays off SMS"
    # the resolve closes the incident: every member, on every topic it reached
    assert sorted(sms_resolved.metrics) == sorted(INCIDENT_METRICS)
    incident = email_firing.document["incident"]["id"]
    for received in inboxes.received:
        assert received.document["incident"]["id"] == incident
        assert received.envelope["MessageAttributes"]["incident"]["Value"] == incident
    critical = {s.metric: s.detection.critical for s in fleet.series}
    for alert in sms_firing.document["alerts"]:
        assert abs(alert["score"]) >= critical[alert["metric"]], alert
    assert email_firing.document["severity"] == "critical", "the most severe of its alerts"

    for received in inboxes.received:
        _check_message(received)


def _check_message(received: Received) -> None:
    envelope, document = received.envelope, received.document
    subject = envelope["Subject"]
    assert subject == document["subject"]
    assert len(subject) < SUBJECT_LIMIT and "\n" not in subject and "\r" not in subject, subject
    assert gsm7_length(document["sms"]) <= SMS_LIMIT, document["sms"]  # raises on a non-GSM-7 character
    attributes = envelope["MessageAttributes"]
    assert set(ROUTED_ATTRIBUTES) <= set(attributes), attributes
    assert attributes["kind"]["Value"] == document["kind"] == received.kind
    assert attributes["severity"]["Value"] == document["severity"]
    assert attributes["category"]["Value"] == document["category"]
    assert sorted(json.loads(attributes["metric"]["Value"])) == sorted(set(received.metrics))
    assert document["topic"] == received.topic
    assert envelope["TopicArn"].endswith(f"-{received.topic}")


# --------------------------------------------------------------------------------------------
# scenario: at-least-once delivery of schedule events


def test_every_tick_delivered_twice_pages_as_if_delivered_once(fleet: IotWatch, inboxes: Inboxes) -> None:
    schedule = ticks_between(fleet, INCIDENT_START - 2 * 300, INCIDENT_END + HOUR // 2)
    firing = _firing_tick(fleet)
    for tick in schedule:
        first = fleet.evaluate(tick)
        arrived = inboxes.collect(tick)
        retried = fleet.evaluate(tick)  # the same event again (Lambda/EventBridge retry)
        assert inboxes.collect(tick) == [], f"the retry of {iso(tick)} sent something"
        assert retried["published"] == 0
        if tick == firing:
            assert first["published"] == len(arrived) == 2
    for topic in fleet.topics:
        assert _kinds(inboxes, topic) == ["firing", "resolved"], (topic, _summary(inboxes.received))

    # one claim per tick, expiring through the table's TTL attribute (moto's CloudFormation does
    # not apply TimeToLiveSpecification, so the deployed template says which attribute that is)
    items = fleet.all_items()
    claims = [
        item for item in items if item["pk"]["S"] == "RUN" and item["sk"]["S"].startswith("EVALUATION#")
    ]
    assert len(claims) == len(schedule)
    # and where a run after an outage would start catching up: the last tick's window
    [completed] = [item for item in items if (item["pk"]["S"], item["sk"]["S"]) == ("RUN", "COMPLETED")]
    period, settle = fleet.plan.frequency.period_seconds, fleet.plan.frequency.settle_seconds
    assert int(completed["window_end"]["N"]) == (max(schedule) - settle) // period * period
    # and one incident, stored once, resolved, no longer listed as open
    [incident] = [item for item in items if item["pk"]["S"] == "INCIDENT"]
    assert incident["status"]["S"] == "resolved"
    [open_ids] = [item for item in items if item["pk"]["S"] == "INCIDENTS"]
    assert "ids" not in open_ids
    [table] = [r for r in fleet.stack.template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    ttl = table["Properties"]["TimeToLiveSpecification"]
    assert ttl["Enabled"] is True
    for claim in claims:
        assert int(claim[ttl["AttributeName"]]["N"]) > max(schedule) // period * period


def test_two_overlapping_invocations_of_one_tick_page_once(fleet: IotWatch, inboxes: Inboxes) -> None:
    firing = _firing_tick(fleet)
    run_ticks(fleet, inboxes, ticks_between(fleet, INCIDENT_START - 2 * 300, firing - 300))
    assert inboxes.received == []

    outcomes = evaluate_concurrently(fleet, firing)

    arrived = inboxes.collect(firing)
    assert sorted((r.topic, r.kind) for r in arrived) == [
        ("oncall-email", "firing"),
        ("oncall-sms", "firing"),
    ]
    assert sorted(o["published"] for o in outcomes) == [0, 2]
    # and the overlap left one consistent state: the following ticks resolve it once
    run_ticks(fleet, inboxes, ticks_between(fleet, firing + 1, INCIDENT_END + HOUR // 2))
    for topic in fleet.topics:
        assert _kinds(inboxes, topic) == ["firing", "resolved"], (topic, _summary(inboxes.received))


# --------------------------------------------------------------------------------------------
# scenario: SNS fails on the firing tick


def _fail_topics(names: list[str], fleet: IotWatch) -> dict[str, dict[str, str]]:
    """Delete the topics (publishing to them fails with NotFound); returns their attributes."""
    sns = boto3.client("sns")
    saved = {}
    for name in names:
        saved[name] = sns.get_topic_attributes(TopicArn=fleet.topics[name])["Attributes"]
        sns.delete_topic(TopicArn=fleet.topics[name])
    return saved


def _restore_topics(saved: dict[str, dict[str, str]], fleet: IotWatch, inboxes: Inboxes) -> None:
    sns = boto3.client("sns")
    for name, attributes in saved.items():
        kept = {k: attributes[k] for k in ("KmsMasterKeyId", "DisplayName") if attributes.get(k)}
        arn = sns.create_topic(Name=fleet.topics[name].rsplit(":", 1)[-1], Attributes=kept)["TopicArn"]
        assert arn == fleet.topics[name], "the same topic again, as the functions know it"
        inboxes.subscribe(name)


def _page_fails(fleet: IotWatch, inboxes: Inboxes, failing: list[str]) -> int:
    """Ticks up to the firing one, whose publishes to `failing` topics fail; returns that tick."""
    firing = _firing_tick(fleet)
    run_ticks(fleet, inboxes, ticks_between(fleet, INCIDENT_START - 2 * 300, firing - 300))
    assert inboxes.received == []
    saved = _fail_topics(failing, fleet)
    try:
        with pytest.raises(RuntimeError, match="could not publish") as raised:
            fleet.evaluate(firing)
        for name in fleet.topics:
            assert (name in str(raised.value)) == (name in failing), str(raised.value)
        inboxes.collect(firing)
    finally:
        _restore_topics(saved, fleet, inboxes)
    return firing


def _incident_states(fleet: IotWatch) -> dict[str, str]:
    states = fleet.items("STATE")
    return {s.metric: states[s.id]["status"]["S"] for s in fleet.series if s.id in states}


def test_a_failed_publish_fails_the_run_and_the_outbox_delivers_on_the_next_tick(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    firing = _page_fails(fleet, inboxes, failing=list(fleet.topics))

    assert inboxes.received == []
    # state advanced (so no topic is paged twice later); the pages wait in the outbox
    assert set(_incident_states(fleet).values()) == {"firing"}

    next_tick = firing + fleet.plan.frequency.period_seconds
    [result] = run_ticks(fleet, inboxes, [next_tick])
    assert result["failed_topics"] == [] and sorted(result["redelivered"]) == sorted(fleet.topics)
    assert sorted((r.topic, r.kind) for r in inboxes.received) == [
        ("oncall-email", "firing"),
        ("oncall-sms", "firing"),
    ]
    [email] = inboxes.of("oncall-email", "firing")
    assert sorted(email.metrics) == sorted(INCIDENT_METRICS)
    assert set(_incident_states(fleet)) == set(INCIDENT_METRICS)

    run_ticks(fleet, inboxes, ticks_between(fleet, next_tick + 1, INCIDENT_END + HOUR // 2))
    for topic in fleet.topics:
        assert _kinds(inboxes, topic) == ["firing", "resolved"], (topic, _summary(inboxes.received))


def test_the_page_sent_after_a_failed_publish_says_when_the_outage_began(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    firing = _page_fails(fleet, inboxes, failing=list(fleet.topics))
    run_ticks(fleet, inboxes, [firing + fleet.plan.frequency.period_seconds])

    [email] = inboxes.of("oncall-email", "firing")
    # every period since 13:00 deviated, and the window of this tick still holds 13:00
    assert email.document["since"] == iso(INCIDENT_START), email.document["sms"]
    assert {a["since"] for a in email.document["alerts"]} == {iso(INCIDENT_START)}


def test_a_publish_failing_on_one_topic_does_not_page_the_other_topic_twice(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    firing = _page_fails(fleet, inboxes, failing=["oncall-sms"])
    assert _summary(inboxes.received) == [(iso(firing), "oncall-email", "firing")]

    run_ticks(fleet, inboxes, ticks_between(fleet, firing + 1, INCIDENT_END + HOUR // 2))
    assert _kinds(inboxes, "oncall-sms") == ["firing", "resolved"], _summary(inboxes.received)
    email_pages = [iso(r.tick) for r in inboxes.of("oncall-email", "firing")]
    assert email_pages == [iso(firing)], f"the e-mail topic was paged for one outage at {email_pages}"
    assert _kinds(inboxes, "oncall-email") == ["firing", "resolved"]


# --------------------------------------------------------------------------------------------
# scenario: no history, no page


def test_a_series_without_history_stays_learning_when_its_traffic_drops_to_zero(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    [subscribe] = fleet.series_of(NO_HISTORY_METRIC)
    baseline = json.loads(fleet.items("BASELINE")[subscribe.id]["record"]["S"])
    assert baseline["datapoints"] == 0, "the builder found no history for it"

    # devices start subscribing after the deploy, then stop at 11:00 (no datapoints: zero)
    dropped_at = DEPLOYED_AT + 3 * HOUR
    written = fleet.put_traffic(generate(Fleet(seed=11), [subscribe], start=DEPLOYED_AT, end=dropped_at))
    assert written == 3 * HOUR // 300, "a datapoint every period until the drop"
    cloudwatch = boto3.client("cloudwatch")
    after = cloudwatch.get_metric_statistics(
        Namespace=subscribe.namespace,
        MetricName=subscribe.metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in subscribe.dimensions],
        StartTime=dropped_at,
        EndTime=dropped_at + 2 * HOUR,
        Period=300,
        Statistics=["Sum"],
    )
    assert after["Datapoints"] == [], "no traffic after the drop"

    results = run_ticks(fleet, inboxes, ticks_between(fleet, dropped_at - HOUR // 2, dropped_at + 90 * 60))

    assert inboxes.received == [], _summary(inboxes.received)
    assert {r["learning"] for r in results} == {3}, "the one metric without history, two shares without"
    assert {r["series"] for r in results} == {len(fleet.series)}
    assert subscribe.id not in fleet.items("STATE")


# -- incidents as EventBridge events on the bus --


def test_an_outage_is_one_opened_and_one_resolved_event_on_the_bus(
    fleet: IotWatch,
    inboxes: Inboxes,
    bus_inbox: str,
    local_aws: LocalAws,
) -> None:
    results = run_ticks(fleet, inboxes, ticks_between(fleet, INCIDENT_START - HOUR, INCIDENT_END + HOUR))
    assert all(r["failed_topics"] == [] for r in results)
    assert sum(r["events"]["sent"] for r in results) == 2
    events = bus_events_received(local_aws, bus_inbox)
    for event in events:
        jsonschema.validate(event, INCIDENT_EVENT_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert [e["detail-type"] for e in events] == ["Incident Opened", "Incident Resolved"]
    assert {e["source"] for e in events} == {"iotwatch"}
    # the pages' incident, one dedup key for both
    ids = {r.document["incident"]["id"] for r in inboxes.received}
    assert len(ids) == 1
    (incident_id,) = ids
    assert {e["detail"]["dedup_key"] for e in events} == {f"{fleet.plan.name}/{incident_id}"}
    opened, resolved = (e["detail"] for e in events)
    assert opened["topics"] == sorted(fleet.topics) and opened["incident"]["severity"] == "critical"
    assert resolved["incident"]["status"] == "resolved" and resolved["incident"]["until"] is not None
    firing = next(r for r in inboxes.received if r.kind == "firing")
    assert opened["summary"] == firing.document["subject"]


def test_a_sensitive_call_is_an_audit_alert_event_on_the_bus(
    fleet: IotWatch,
    bus_inbox: str,
    local_aws: LocalAws,
) -> None:
    result = fleet.audit(ATTACH_POLICY)
    assert result["recorded"] == 1
    [event] = bus_events_received(local_aws, bus_inbox)
    jsonschema.validate(event, INCIDENT_EVENT_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert event["detail-type"] == "Audit Alert"
    assert event["detail"]["audit"]["action"] == "AttachPolicy"
    assert event["detail"]["severity"] == "warning"
