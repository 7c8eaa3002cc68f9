"""Silences and subscription filter policies against the local AWS endpoint.

- `DynamoStateStore` silence items in a real (moto) DynamoDB table: round trip, the TTL
  attribute, the `ends > now` filter, pagination of the one Query the evaluator makes.
- `iotwatch silence add | list | remove` end to end, the table found through a stack output.
- The filter policies the stack derives from the plan's routes, applied by SNS (moto) to
  messages rendered and published exactly as the evaluator does (`SnsNotifier`)."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import boto3
from iotwatch.adapters.notifier import SnsNotifier
from iotwatch.adapters.store.silences import SILENCE_PK, SILENCE_TTL_SECONDS
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.baseline.model import Expectation
from iotwatch.domain.deviation import Transition, score_period
from iotwatch.domain.messages.deviation import render
from iotwatch.domain.messages.model import Alert, MessageContext, Notification
from iotwatch.domain.silences import Silence
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan
from iotwatch.plan.model.notify import Route
from iotwatch_harness import STATE_TABLE_TEMPLATE, create_state_table

from infra.notifications import route_filter_policy
from iotwatch_cli import silence as silence_cli
from iotwatch_cli.main import main
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.inbox import message_attribute, read_inbox, subscribe_inbox

REPO = Path(__file__).resolve().parents[2]
PLAN_FILE = REPO / "monitoring-plan.yaml"
NOW = int(datetime(2026, 11, 16, 14, 10, tzinfo=UTC).timestamp())
HOUR = 3600
TABLE = "iotwatch-silences"
STACK = "IotWatch-Fleet"  # the default plan's stack name
TEMPLATE = STATE_TABLE_TEMPLATE


def create_table(name: str = TABLE) -> None:
    create_state_table(name)


# --- the store ----------------------------------------------------------------------------------


def test_store_silences_on_dynamodb(aws_env: LocalAws) -> None:
    create_table()
    dynamodb = boto3.client("dynamodb")
    store = DynamoStateStore(dynamodb, TABLE)
    active = Silence(
        id="s-0000000b",
        starts=NOW - HOUR,
        ends=NOW + HOUR,
        reason="broker upgrade",
        metrics=("Connect.*",),
        dimensions={"Protocol": "MQTT"},
        created_by="alice",
        created_at=NOW - HOUR,
    )
    expired = Silence(id="s-0000000a", starts=NOW - 3 * HOUR, ends=NOW - HOUR, reason="old")
    future = Silence(id="s-0000000c", starts=NOW + HOUR, ends=NOW + 2 * HOUR, reason="later")
    for s in (future, active, expired):
        store.silences.put_silence(s)
    # unrelated items in the same table are not read as silences
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "OUTBOX"}, "sk": {"S": "x"}})

    assert store.silences.list_silences(now=NOW) == [active, future]
    assert store.silences.list_silences(now=NOW, include_expired=True) == [expired, active, future]
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": SILENCE_PK}, "sk": {"S": active.id}})["Item"]
    assert int(item["expires_at"]["N"]) == active.ends + SILENCE_TTL_SECONDS

    assert store.silences.delete_silence(active.id) is True
    assert store.silences.delete_silence(active.id) is False
    assert store.silences.list_silences(now=NOW) == [future]


def test_list_silences_follows_pages(aws_env: LocalAws) -> None:
    create_table()
    store = DynamoStateStore(boto3.client("dynamodb"), TABLE)
    reason = "r" * 4000  # about 4 KB per item: 300 items are more than one 1 MB page
    silences = [Silence(id=f"s-{i:08x}", starts=NOW, ends=NOW + HOUR + i, reason=reason) for i in range(300)]
    for s in silences:
        store.silences.put_silence(s)
    store.table.requests = 0
    assert store.silences.list_silences(now=NOW) == silences
    assert store.requests >= 2


# --- the command -------------------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--plan", str(PLAN_FILE)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_add_list_remove_through_the_stack_output(aws_env: LocalAws, monkeypatch) -> None:
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
    table = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"][0][
        "OutputValue"
    ]
    monkeypatch.setattr(silence_cli, "clock", lambda: NOW)

    code, out, err = run(
        "silence", "add", "--metric", "Connect.*", "--dimension", "Protocol=MQTT", "--for", "2h",
        "--reason", "broker upgrade CHG-1234", "--by", "alice",
    )  # fmt: skip
    assert (code, err) == (0, "")
    silence_id = re.search(r"Added silence (s-[0-9a-f]{8}) in (\S+)", out)
    assert silence_id is not None and silence_id.group(2) == table
    code, out, err = run(
        "silence", "add", "--metric", "RulesExecuted", "--starts", "2026-11-16T18:00Z",
        "--until", "2026-11-16T20:00Z", "--reason", "rules deploy", "--stack", STACK,
    )  # fmt: skip
    assert code == 0

    code, out, _ = run("silence", "list", "--table", table)
    assert code == 0
    _header, first, second = out.splitlines()
    assert first.startswith(f"{silence_id.group(1)}  active  Connect.*")
    assert "in 2 h (16:10)" in first and "future  RulesExecuted" in second

    # what the evaluator will read
    stored = DynamoStateStore(boto3.client("dynamodb"), table).silences.list_silences(now=NOW)
    assert [s.metrics for s in stored] == [("Connect.*",), ("RulesExecuted",)]
    assert stored[0].dimensions == {"Protocol": "MQTT"} and stored[0].created_by == "alice"

    assert run("silence", "remove", silence_id.group(1))[0] == 0
    code, out, _ = run("silence", "list")
    assert silence_id.group(1) not in out and "RulesExecuted" in out


# --- filter policies, applied by SNS ----------------------------------------------------------------

CTX = MessageContext(
    plan_name="fleet",
    stack_name=STACK,
    region="us-east-1",
    team="iot-platform",
    runbook=None,
    escalation=None,
    dashboard_name=None,
)


def rendered(metric: str, severity: str, kind: str = "firing"):
    series = next(s for s in expand_series(load_plan(PLAN_FILE, environ={})) if s.metric == metric)
    at = NOW
    latest = score_period(
        at - series.period, 100.0, Expectation(1000.0, 50.0, "hour-of-week"), series.detection
    )
    transition = Transition(kind, series.id, severity, at - 2 * series.period, at, latest.score, latest)  # type: ignore[arg-type]
    notification = Notification(
        topic="oncall", kind=kind, severity=severity, at=at, alerts=(Alert(series, transition),)
    )
    return render(notification, CTX)


def test_moto_applies_the_derived_filter_policies(aws_env: LocalAws) -> None:
    sns = boto3.client("sns")
    arn = sns.create_topic(Name="iotwatch-fleet-oncall")["TopicArn"]
    sms_policy = route_filter_policy([Route(topic="oncall", severities=["critical"])])
    narrowed_policy = route_filter_policy(
        [
            Route(topic="oncall", severities=["critical"]),
            # an exact name: moto applies prefix/suffix only to String attributes, not to
            # String.Array ones such as `metric` (real SNS matches any element); the
            # prefix/suffix policies are checked on the template instead
            Route(topic="oncall", severities=["warning"], metrics=["Connect.Success"]),
        ]
    )
    assert sms_policy == {"severity": ["critical"]}
    sms_like = subscribe_inbox(arn, filter_policy=sms_policy)
    narrowed = subscribe_inbox(arn, filter_policy=narrowed_policy)
    everything = subscribe_inbox(arn)

    notifier = SnsNotifier(sns, {"oncall": arn})
    notifier.publish("oncall", rendered("PublishIn.Success", "warning"))
    notifier.publish("oncall", rendered("Connect.Success", "warning"))
    notifier.publish("oncall", rendered("Ping.Success", "critical"))
    notifier.publish("oncall", rendered("Ping.Success", "critical", kind="resolved"))

    def got(queue: str) -> list[tuple[str | None, str | None, str | None]]:
        return sorted(
            (message_attribute(e, "kind"), message_attribute(e, "severity"), message_attribute(e, "metric"))
            for e in read_inbox(queue)
        )

    critical = [("firing", "critical", '["Ping.Success"]'), ("resolved", "critical", '["Ping.Success"]')]
    assert got(sms_like) == critical  # the resolved message follows its firing
    assert got(narrowed) == sorted([("firing", "warning", '["Connect.Success"]'), *critical])
    assert len(got(everything)) == 4
