"""The audit Lambda of the stack deployed from the default plan, on the local endpoint:
CloudTrail events as the rule delivers them, pages caught by SQS inboxes on the topics,
calls read back from the deployed table."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from iotwatch.adapters.notifier import SnsNotifier
from iotwatch.adapters.store.outbox import OutboxRepository
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch_harness import (
    AUDIT_MODULE,
    DEFAULT_PLAN_FILE,
    REPO,
    Inboxes,
    IotWatch,
    clear_handler_caches,
    dead_letter_queue_of,
    deployed,
    handler_module,
    invoke_asynchronously,
    receive_dead_letters,
)

from iotwatch_local.endpoint import LocalAws

ATTACH_POLICY = json.loads(
    (REPO / "tests" / "events" / "cloudtrail" / "eventbridge-attach-policy.json").read_text(encoding="utf-8")
)
AT = 1794822137  # 2026-11-16T09:42:17Z, the recorded call's eventTime


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws, fleet_assembly: Any) -> Iterator[IotWatch]:
    with deployed(local_aws, fleet_assembly, DEFAULT_PLAN_FILE) as iotwatch:
        yield iotwatch


@pytest.fixture
def fleet(stack: IotWatch, local_aws: LocalAws) -> Iterator[IotWatch]:
    with local_aws.env():
        db = boto3.client("dynamodb")
        for item in stack.all_items():
            db.delete_item(TableName=stack.table, Key={"pk": item["pk"], "sk": item["sk"]})
        clear_handler_caches()
        yield stack


def audit_items(fleet: IotWatch) -> list[dict[str, Any]]:
    return [i for i in fleet.all_items() if i["pk"]["S"].startswith("AUDIT#")]


def attach_policy(**detail_changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(ATTACH_POLICY)
    event["detail"].update(detail_changes)
    return event


def test_a_recorded_attach_policy_becomes_one_alert_routed_by_its_severity(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    result = fleet.audit(ATTACH_POLICY)
    assert result["recorded"] == 1 and result["rejected"] == []
    arrived = inboxes.collect(AT)
    # AttachPolicy is a warning: e-mail gets it, the critical-only SMS route does not
    assert [(r.topic, r.kind) for r in arrived] == [("oncall-email", "audit")]
    [page] = arrived
    attributes = {k: v["Value"] for k, v in page.envelope["MessageAttributes"].items()}
    assert attributes == {
        "severity": "warning",
        "kind": "audit",
        "category": "audit",
        "action": "AttachPolicy",
        "plan": "fleet",
    }
    assert page.envelope["Subject"] == (
        "[WARNING] fleet: AttachPolicy fleet-device-policy -> cert/4f0ba725787a by role fleet-provisioner"
    )
    document = page.document
    assert document["audit"]["principal"] == "fleet-provisioner"
    assert document["audit"]["session"] == "provisioning-lambda"
    assert document["audit"]["via_service"] == "lambda.amazonaws.com"
    assert document["audit"]["parameters"]["policyName"] == "fleet-device-policy"
    assert document["audit"]["parameters"]["target"].endswith(
        ":cert/4f0ba725787aa94d67d2fca420eca022242532e8b3c58e7465c7778b443fd65e"
    )
    assert "via lambda.amazonaws.com" in document["email"]
    # kept, with a TTL from the plan's retention
    [item] = audit_items(fleet)
    assert item["pk"]["S"] == "AUDIT#2026-11-16"
    assert item["sk"]["S"] == "2026-11-16T09:42:17Z#a8c2e4f6-1b3d-4e5f-8a7b-9c0d1e2f3a4b"
    assert int(item["expires_at"]["N"]) == AT + fleet.plan.audit.retention_days * 86400


def test_a_second_delivery_of_the_same_call_pages_nobody(fleet: IotWatch, inboxes: Inboxes) -> None:
    fleet.audit(ATTACH_POLICY)
    again = copy.deepcopy(ATTACH_POLICY)
    again["id"] = "another-eventbridge-delivery"  # a redelivery may carry a new envelope id
    assert fleet.audit(again)["duplicates"] == 1
    assert [(r.topic, r.kind) for r in inboxes.collect(AT)] == [("oncall-email", "audit")]
    assert len(audit_items(fleet)) == 1


def test_a_critical_call_reaches_the_sms_topic_too(fleet: IotWatch, inboxes: Inboxes) -> None:
    fleet.audit(attach_policy(eventName="DeletePolicy", eventID="evt-delete"))
    assert sorted((r.topic, r.kind) for r in inboxes.collect(AT)) == [
        ("oncall-email", "audit"),
        ("oncall-sms", "audit"),
    ]


def test_an_ordinary_call_is_recorded_without_a_page(fleet: IotWatch, inboxes: Inboxes) -> None:
    result = fleet.audit(
        attach_policy(eventName="CreateThing", eventID="evt-create", requestParameters={"thingName": "t-1"})
    )
    assert result["recorded"] == 1 and result["alerts"] == []
    assert inboxes.collect(AT) == []
    [item] = audit_items(fleet)
    assert item["action"]["S"] == "CreateThing"


MALFORMED: list[Any] = [
    {},
    [],
    "AttachPolicy",
    {"detail-type": "AWS API Call via CloudTrail", "source": "aws.iot", "detail": None},
    {"detail-type": "AWS API Call via CloudTrail", "source": "aws.iot", "detail": []},
    {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
    attach_policy(eventName=None),
    attach_policy(eventTime="yesterday"),
    attach_policy(eventTime=None),
]
# readable despite an odd field: paged with what they say, under their own event ids
ODD_BUT_READABLE: list[Any] = [
    attach_policy(userIdentity="root", eventID="evt-odd-identity"),
    attach_policy(requestParameters=["policyName"], eventID="evt-odd-parameters"),
]


def test_malformed_events_are_rejected_without_failing_and_the_next_call_still_pages(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    outcomes = [fleet.audit(event) for event in MALFORMED]
    assert all(len(o["rejected"]) == 1 and o["recorded"] == 0 for o in outcomes), outcomes
    reasons = [o["rejected"][0] for o in outcomes]
    assert any("no eventName" in r for r in reasons) and any("'yesterday'" in r for r in reasons)
    assert inboxes.collect(AT) == [] and audit_items(fleet) == []
    odd = [fleet.audit(event) for event in ODD_BUT_READABLE]
    assert [o["recorded"] for o in odd] == [1, 1]
    assert fleet.audit(ATTACH_POLICY)["recorded"] == 1
    assert [(r.topic, r.kind) for r in inboxes.collect(AT)] == [("oncall-email", "audit")] * 3


class _FailingSns:
    """SNS that refuses every publish, like a topic whose KMS key was disabled."""

    def __init__(self) -> None:
        self.calls = 0

    def publish(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise boto3.client("sns").exceptions.NotFoundException(
            {"Error": {"Code": "NotFound", "Message": "Topic does not exist"}}, "Publish"
        )


def test_an_alert_that_cannot_be_published_waits_in_the_outbox_for_the_evaluator(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    assert fleet.audit_env is not None
    failing = _FailingSns()
    # the module as the function's init imports it (Powertools reads its environment then)
    dependencies = handler_module(AUDIT_MODULE, fleet.audit_env).AuditDependencies(
        store=DynamoStateStore(boto3.client("dynamodb"), fleet.table),
        notifier=SnsNotifier(failing, json.loads(fleet.audit_env["IOTWATCH_TOPICS"])),
    )
    result = fleet.audit(ATTACH_POLICY, dependencies)
    assert failing.calls == 1 and result["alerts"] == [
        {"topic": "oncall-email", "severity": "warning", "sent": False}
    ]
    assert inboxes.collect(AT) == []
    outbox = [i for i in fleet.all_items() if i["pk"]["S"] == "OUTBOX"]
    assert [i["topic"]["S"] for i in outbox] == ["oncall-email"]
    # the next evaluator run delivers it, once
    fleet.evaluate(AT + 360)
    fleet.evaluate(AT + 660)
    assert [(r.topic, r.kind) for r in inboxes.collect(AT + 660)] == [("oncall-email", "audit")]


class _OutboxDown(OutboxRepository):
    """The real outbox, whose writes fail (DynamoDB refusing them) while `down`."""

    down = True

    def put_outbox(self, item: Any) -> None:
        if self.down:
            raise boto3.client("dynamodb").exceptions.ProvisionedThroughputExceededException(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "throttled"}},
                "PutItem",
            )
        super().put_outbox(item)


class _SmsDown:
    """SNS that delivers to every topic but the SMS one."""

    def __init__(self) -> None:
        self._sns = boto3.client("sns")

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        if kwargs["TopicArn"].endswith("-oncall-sms"):
            raise self._sns.exceptions.InternalErrorException(
                {"Error": {"Code": "InternalError", "Message": "SNS is down"}}, "Publish"
            )
        return dict(self._sns.publish(**kwargs))


def test_an_outbox_write_that_fails_is_retried_then_dead_lettered_and_the_replay_pages_only_what_was_owed(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    """DeletePolicy pages e-mail and SMS. E-mail is sent; the SMS publish fails and so does the
    write that would keep it in the outbox: the invocation fails, Lambda retries it twice (the
    same again), and parks the event in the dead-letter queue. Replaying it (runbook §10) once
    DynamoDB and SNS are back pages the SMS topic only: nothing dropped, nothing twice."""
    assert fleet.audit_name is not None and fleet.audit_env is not None
    module = handler_module(AUDIT_MODULE, fleet.audit_env)
    topics = json.loads(fleet.audit_env["IOTWATCH_TOPICS"])
    store = DynamoStateStore(boto3.client("dynamodb"), fleet.table)
    store.outbox = _OutboxDown(store.table)
    broken = module.AuditDependencies(store=store, notifier=SnsNotifier(_SmsDown(), topics))
    event = attach_policy(eventName="DeletePolicy", eventID="evt-owed")
    queue = dead_letter_queue_of(fleet.stack, fleet.audit_name)
    receive_dead_letters(queue)

    assert (
        invoke_asynchronously(fleet.stack, fleet.audit_name, lambda e: fleet.audit(e, broken), event) is None
    )
    assert [(r.topic, r.kind) for r in inboxes.collect(AT)] == [("oncall-email", "audit")]
    [item] = audit_items(fleet)
    assert item["owed"]["SS"] == ["oncall-sms"]  # what the retries and the replay still owe
    [letter] = receive_dead_letters(queue)
    assert "ProvisionedThroughputExceeded" in letter["MessageAttributes"]["ErrorMessage"]["StringValue"]

    replayed = fleet.audit(json.loads(letter["Body"]))  # the runbook's replay, everything working again
    assert replayed["resumed"] == 1 and replayed["alerts"] == [
        {"topic": "oncall-sms", "severity": "critical", "sent": True}
    ]
    assert [(r.topic, r.kind) for r in inboxes.collect(AT)] == [("oncall-sms", "audit")]
    assert "owed" not in audit_items(fleet)[0]
    # and once everything owed was sent, a further delivery is a duplicate again
    assert fleet.audit(event)["duplicates"] == 1
    assert inboxes.collect(AT) == []


def test_a_second_delivery_while_the_first_still_pages_pages_nobody(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    """A record whose pages a live invocation claimed a moment ago is not taken over."""
    store = DynamoStateStore(boto3.client("dynamodb"), fleet.table)
    from iotwatch.domain.audit.policy import judge
    from iotwatch.domain.audit.reading import normalize, records_from_document
    from iotwatch.domain.audit.recorded import recorded_call

    [record] = records_from_document(attach_policy(eventName="DeletePolicy", eventID="evt-live"))
    audit_event = normalize(record)
    call = recorded_call(audit_event, judge(audit_event, fleet_plan_policy(fleet)), fallback_id="x")
    now = time.time()
    assert store.audit.record_audit_call(call, expires_at=AT + 86400, owed=["oncall-sms"], now=now)
    assert store.audit.resume_audit_call(call, now=now + 5, stale_after=45) is None  # live: not taken over
    assert store.audit.resume_audit_call(call, now=now + 60, stale_after=45) == ["oncall-sms"]  # timed out
    store.audit.release_audit_call(call)
    assert store.audit.resume_audit_call(call, now=now + 61, stale_after=45) == ["oncall-sms"]  # released


def fleet_plan_policy(fleet: IotWatch) -> Any:
    from iotwatch.plan.runtime import runtime_plan

    return runtime_plan(fleet.plan).audit.policy
