"""Incidents as EventBridge events on the stack deployed from the default plan: the real
evaluator and audit handlers put them on the default bus of the local endpoint (the plan's
default), next to the stack's own schedule rules; a rule on `source: iotwatch` sends them to
an SQS queue, and they are read back from it, checked against docs/incident-event.schema.json
and against the pages of the same incident."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from iotwatch_harness import HOUR, Inboxes, IotWatch, run_ticks, ticks_between
from test_audit_stack import ATTACH_POLICY
from test_evaluator_stack import fleet, outage  # noqa: F401  (the bootstrapped stack: fixtures)

from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import INCIDENT_END, INCIDENT_START

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "incident-event.schema.json").read_text(encoding="utf-8")
)


RULE = "iotwatch-events-to-inbox"


@pytest.fixture
def bus_inbox(fleet: IotWatch, local_aws: LocalAws) -> Iterator[str]:  # noqa: F811
    """An SQS queue behind a rule on the default bus matching every iotwatch event."""
    with local_aws.env():
        sqs, events = boto3.client("sqs"), boto3.client("events")
        url = sqs.create_queue(QueueName="iotwatch-events-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=RULE, EventPattern=json.dumps({"source": ["iotwatch"]}))
        events.put_targets(Rule=RULE, Targets=[{"Id": "inbox", "Arn": arn}])
        yield url
        events.remove_targets(Rule=RULE, Ids=["inbox"])
        events.delete_rule(Name=RULE)
        sqs.delete_queue(QueueUrl=url)


def received(local_aws: LocalAws, url: str) -> list[dict[str, Any]]:
    with local_aws.env():
        sqs = boto3.client("sqs")
        found: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            found += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
            )
    return found


def test_an_outage_is_one_opened_and_one_resolved_event_on_the_bus(
    fleet: IotWatch,  # noqa: F811
    inboxes: Inboxes,
    bus_inbox: str,
    local_aws: LocalAws,
) -> None:
    results = run_ticks(fleet, inboxes, ticks_between(fleet, INCIDENT_START - HOUR, INCIDENT_END + HOUR))
    assert all(r["failed_topics"] == [] for r in results)
    assert sum(r["events"]["sent"] for r in results) == 2
    events = received(local_aws, bus_inbox)
    for event in events:
        jsonschema.validate(event, SCHEMA, cls=jsonschema.Draft202012Validator)
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
    fleet: IotWatch,  # noqa: F811
    bus_inbox: str,
    local_aws: LocalAws,
) -> None:
    result = fleet.audit(ATTACH_POLICY)
    assert result["recorded"] == 1
    [event] = received(local_aws, bus_inbox)
    jsonschema.validate(event, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert event["detail-type"] == "Audit Alert"
    assert event["detail"]["audit"]["action"] == "AttachPolicy"
    assert event["detail"]["severity"] == "warning"
