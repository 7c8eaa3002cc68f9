"""The deployed iotwatch stack on the local endpoint, with its handlers called in-process.

What the demo does (``iotwatch_local.demo``), packaged for tests: a cloud assembly
synthesized from the real CDK app is deployed into moto's CloudFormation; the evaluator
and the baseline builder are the real handler functions, called with exactly the
environment the stack gives them (``DeployedStack.handler_environ``: the functions'
variables plus LAMBDA_TASK_ROOT at the staged asset with plan.json) and EventBridge
events as the schedule and CloudFormation would send them. What the functions publish is
caught by SQS queues subscribed to the deployed topics.

The handlers cache their settings, discovered series and boto3 clients for the life of the process
(``functools.cache``, as a warm Lambda container would): ``clear_handler_caches()`` is the
cold start, and every test that deploys a stack needs one (``handler_caches`` fixture).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from iotwatch.adapters.store.runs import RunRepository
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.adapters.store.table import DynamoTable
from iotwatch.domain.series import Series
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan
from iotwatch.plan.model.plan import Plan
from iotwatch.stack_outputs import (
    OUTPUT_AUDIT_FUNCTION,
    OUTPUT_BASELINE_BUILDER_FUNCTION,
    OUTPUT_EVALUATOR_FUNCTION,
    OUTPUT_TABLE_NAME,
    topic_output_name,
)

from infra.notifications import route_filter_policy, without_updates
from iotwatch_local import fast_metrics
from iotwatch_local.deploy import deploy_stack
from iotwatch_local.deployed_stack import DeployedStack
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.events import scheduled_event, stack_status_event
from iotwatch_local.inbox import read_inbox, subscribe_inbox
from iotwatch_local.lambda_runtime import LocalLambdaContext, function_environment
from iotwatch_local.traffic import Incident, put_traffic

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PLAN_FILE = REPO / "monitoring-plan.yaml"
DAY = 86400
HOUR = 3600
SERIES_PREFIX = "SERIES#"


def synthesize(plan_path: Path, outdir: Path) -> Path:
    """The cloud assembly of the real CDK app for `plan_path`, as the demo synthesizes it."""
    from infra.app import build_app  # aws-cdk-lib starts a node process: only when needed

    build_app(plan_path, outdir=str(outdir), context={"data_removal_policy": "destroy"}).synth()
    return outdir


EVALUATOR_MODULE = "iotwatch.handlers.evaluator"
BUILDER_MODULE = "iotwatch.handlers.baseline_builder"
AUDIT_MODULE = "iotwatch.handlers.audit"
BAND_WIDGET_MODULE = "iotwatch.handlers.band_widget"
BAND_WIDGET_CONSTRUCT = "BandWidget"  # infra.band_widget.BandWidget, created with tools.dashboard
HANDLER_MODULES = (EVALUATOR_MODULE, BUILDER_MODULE, AUDIT_MODULE, BAND_WIDGET_MODULE)


def handler_module(name: str, environ: dict[str, str]) -> Any:
    """The handler module, imported (once per process) inside the function's environment.

    As in a Lambda init: Powertools reads POWERTOOLS_SERVICE_NAME and
    POWERTOOLS_METRICS_NAMESPACE when the module creates its Logger and Metrics.
    """
    with function_environment(environ):
        return importlib.import_module(name)


def clear_handler_caches() -> None:
    """A cold start: the next invocation reads its environment and builds its clients again."""
    for module_name in HANDLER_MODULES:
        module = sys.modules.get(module_name)
        if module is not None:
            module.setup.reset()  # the band widget's draws re-used by a warm container too


def alert_document(envelope: dict[str, Any]) -> dict[str, Any]:
    """The JSON alert document an SQS subscriber gets (the `sqs` body of the publish)."""
    document: dict[str, Any] = json.loads(envelope["Message"])
    return document


@dataclass
class Received:
    """One notification as an SQS subscriber of a topic received it."""

    tick: int  # scheduled time of the evaluator run that published it
    topic: str  # plan topic name
    envelope: dict[str, Any]

    @property
    def document(self) -> dict[str, Any]:
        return alert_document(self.envelope)

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def metrics(self) -> list[str]:
        return [a["metric"] for a in self.document["alerts"]]


@dataclass
class IotWatch:
    """One deployed iotwatch stack and the means to drive and observe it."""

    stack: DeployedStack
    plan: Plan
    series: list[Series]
    topics: dict[str, str]  # plan topic name -> ARN (stack outputs)
    table: str
    evaluator_name: str
    builder_name: str
    evaluator_env: dict[str, str]
    builder_env: dict[str, str]
    evaluator_rule_arn: str  # the evaluation schedule
    builder_rule_arn: str  # the baseline refresh schedule
    audit_name: str | None = None  # when the plan turns the audit on
    audit_env: dict[str, str] | None = None

    @classmethod
    def deploy(cls, assembly: Path, plan_path: Path, **kwargs: Any) -> IotWatch:
        plan = load_plan(plan_path)
        stack = deploy_stack(assembly, plan.stack_name, **kwargs)
        evaluator_name = stack.outputs[OUTPUT_EVALUATOR_FUNCTION]
        builder_name = stack.outputs[OUTPUT_BASELINE_BUILDER_FUNCTION]
        return cls(
            stack=stack,
            plan=plan,
            series=expand_series(plan),
            topics={t.name: stack.outputs[topic_output_name(t.name)] for t in plan.notify.topics},
            table=stack.outputs[OUTPUT_TABLE_NAME],
            evaluator_name=evaluator_name,
            builder_name=builder_name,
            evaluator_env=stack.handler_environ(evaluator_name),
            builder_env=stack.handler_environ(builder_name),
            evaluator_rule_arn=_schedule_rule_arn(stack, evaluator_name),
            builder_rule_arn=_schedule_rule_arn(stack, builder_name),
            audit_name=stack.outputs.get(OUTPUT_AUDIT_FUNCTION),
            audit_env=(
                stack.handler_environ(stack.outputs[OUTPUT_AUDIT_FUNCTION])
                if OUTPUT_AUDIT_FUNCTION in stack.outputs
                else None
            ),
        )

    # -- series and traffic --------------------------------------------------------------
    def series_of(self, *metrics: str) -> list[Series]:
        found = [s for s in self.series if s.metric in metrics]
        assert {s.metric for s in found} == set(metrics), f"plan lacks some of {metrics}"
        return found

    def put_traffic(self, points: Iterable[tuple[Series, int, int]]) -> int:
        return put_traffic(boto3.client("cloudwatch"), iter(points))

    # -- invocations ---------------------------------------------------------------------
    def tick_event(self, ts: int) -> dict[str, Any]:
        return scheduled_event(ts, self.evaluator_rule_arn, self.stack.region)

    def evaluate(self, ts: int | dict[str, Any], dependencies: Any = None) -> dict[str, Any]:
        """One evaluator invocation for the schedule tick at `ts` (or the given event)."""
        event = self.tick_event(ts) if isinstance(ts, int) else ts
        request_id = event.get("id") or next(iter(event.get("Records", [])), {}).get("messageId", "local")
        context = LocalLambdaContext(function_name=self.evaluator_name, aws_request_id=str(request_id))
        module = handler_module(EVALUATOR_MODULE, self.evaluator_env)
        with function_environment(self.evaluator_env):
            result: dict[str, Any] = module.handler(event, context, dependencies)
        return result

    def build_baselines(self, ts: int, *, scheduled: bool = False) -> dict[str, Any]:
        """The baseline builder as the stack's CREATE_COMPLETE (default) or its refresh schedule runs it."""
        if scheduled:
            event = scheduled_event(ts, self.builder_rule_arn, self.stack.region)
        else:
            event = stack_status_event(ts, self.stack.stack_id, self.stack.region)
        context = LocalLambdaContext(function_name=self.builder_name, aws_request_id=event["id"])
        module = handler_module(BUILDER_MODULE, self.builder_env)
        with function_environment(self.builder_env):
            result: dict[str, Any] = module.handler(event, context)
        return result

    def build(self, event: dict[str, Any]) -> dict[str, Any]:
        """One baseline-builder invocation with `event` (e.g. a batch of shards from its work queue)."""
        request_id = event.get("id") or next(iter(event.get("Records", [])), {}).get("messageId", "local")
        context = LocalLambdaContext(function_name=self.builder_name, aws_request_id=str(request_id))
        module = handler_module(BUILDER_MODULE, self.builder_env)
        with function_environment(self.builder_env):
            result: dict[str, Any] = module.handler(event, context)
        return result

    def draw(self, event: dict[str, Any]) -> str:
        """The dashboard's band widget, as the CloudWatch console calls it with `event`."""
        environ = self.stack.handler_environ(BAND_WIDGET_CONSTRUCT)
        context = LocalLambdaContext(function_name=environ["AWS_LAMBDA_FUNCTION_NAME"], aws_request_id="draw")
        module = handler_module(BAND_WIDGET_MODULE, environ)
        with function_environment(environ):
            page: str = module.handler(event, context)
        return page

    def audit(self, event: Any, dependencies: Any = None) -> dict[str, Any]:
        """One audit invocation, as the CloudTrail rule delivers `event`."""
        assert self.audit_name is not None and self.audit_env is not None, "the plan has no audit"
        request_id = event.get("id", "malformed") if isinstance(event, dict) else "malformed"
        context = LocalLambdaContext(function_name=self.audit_name, aws_request_id=str(request_id))
        module = handler_module(AUDIT_MODULE, self.audit_env)
        with function_environment(self.audit_env):
            result: dict[str, Any] = module.handler(event, context, dependencies)
        return result

    # -- what the table holds ------------------------------------------------------------
    def all_items(self) -> list[dict[str, Any]]:
        db = boto3.client("dynamodb")
        pages = db.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True)
        return [item for page in pages for item in page["Items"]]

    def items(self, sk: str) -> dict[str, dict[str, Any]]:
        """Per-series items with this sort key (BASELINE, STATE), by series id."""
        return {
            item["pk"]["S"].removeprefix(SERIES_PREFIX): item
            for item in self.all_items()
            if item["pk"]["S"].startswith(SERIES_PREFIX) and item["sk"]["S"] == sk
        }

    def forget_everything_but_baselines(self) -> None:
        """Delete alert state and run claims: the evaluator starts as right after the builder ran."""
        db = boto3.client("dynamodb")
        for item in self.all_items():
            if item["sk"]["S"] != "BASELINE":
                db.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})


@contextlib.contextmanager
def deployed(local_aws: LocalAws, assembly: Path, plan_path: Path) -> Iterator[IotWatch]:
    """A test module's stack: moto emptied, the indexed GetMetricData on (a nested endpoint
    may have stopped it), a cold start; moto emptied again afterwards."""
    local_aws.reset()
    fast_metrics.install()
    with local_aws.env():
        clear_handler_caches()
        yield IotWatch.deploy(assembly, plan_path)
        clear_handler_caches()
    local_aws.reset()


@contextlib.contextmanager
def fresh(iotwatch: IotWatch, local_aws: LocalAws) -> Iterator[IotWatch]:
    """One test from the state right after the bootstrap: baselines kept, alert state, claims
    and incidents deleted, a cold evaluator."""
    with local_aws.env():
        iotwatch.forget_everything_but_baselines()
        clear_handler_caches()
        yield iotwatch
        clear_handler_caches()


def _schedule_rule_arn(stack: DeployedStack, function_name: str) -> str:
    """The ARN of the rule with a schedule expression that targets the function."""
    function_id = stack.function(function_name).logical_id
    for logical_id, rule in stack.of_type("AWS::Events::Rule").items():
        properties = stack.template["Resources"][logical_id]["Properties"]
        targets = json.dumps(properties.get("Targets", []))
        if "ScheduleExpression" in properties and f'"{function_id}"' in targets:
            # moto reports the rule's name as its physical id; events carry its ARN
            return f"arn:aws:events:{stack.region}:{stack.account_id}:rule/{rule.physical_id}"
    raise LookupError(f"no schedule rule targets {function_name}")


class Inboxes:
    """An SQS queue subscribed to each deployed topic; what arrived, per evaluator tick."""

    def __init__(self, topics: dict[str, str]) -> None:
        self._topics = topics
        self._sns = boto3.client("sns")
        self.queues: dict[str, str] = {}
        self._subscriptions: dict[str, str] = {}
        self.received: list[Received] = []
        for name in topics:
            self.subscribe(name)

    def subscribe(self, name: str) -> None:
        """(Re)subscribe a fresh queue to the topic `name`."""
        arn = self._topics[name]
        before = {s["SubscriptionArn"] for s in self._list(arn)}
        self.queues[name] = subscribe_inbox(arn)
        [new] = [s["SubscriptionArn"] for s in self._list(arn) if s["SubscriptionArn"] not in before]
        self._subscriptions[name] = new

    def _list(self, arn: str) -> list[dict[str, Any]]:
        return list(self._sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"])

    def collect(self, tick: int) -> list[Received]:
        """Drain every queue; what arrived is recorded as published by the run at `tick`."""
        new = [
            Received(tick, name, envelope)
            for name, url in self.queues.items()
            for envelope in read_inbox(url)
        ]
        self.received.extend(new)
        return new

    def of(self, topic: str, kind: str | None = None) -> list[Received]:
        return [r for r in self.received if r.topic == topic and (kind is None or r.kind == kind)]

    def close(self) -> None:
        for arn in self._subscriptions.values():
            # gone already when the test deleted (and recreated) the topic
            with contextlib.suppress(self._sns.exceptions.NotFoundException):
                self._sns.unsubscribe(SubscriptionArn=arn)


class Phone:
    """An SMS subscriber's view of the SMS topic: a queue behind the filter policy the stack
    gives the topic's SMS subscriptions (moto applies filter policies to SQS deliveries)."""

    def __init__(self, fleet: IotWatch) -> None:
        routes = [r for r in fleet.plan.notify.routes if r.topic == "oncall-sms"]
        self.policy = without_updates(route_filter_policy(routes))
        self.queue = subscribe_inbox(fleet.topics["oncall-sms"], filter_policy=self.policy)
        self.received: list[tuple[int, str, str]] = []

    def collect(self, tick: int) -> None:
        for envelope in read_inbox(self.queue):
            document = json.loads(envelope["Message"])
            self.received.append((tick, document["kind"], document["sms"]))


def ticks(first: int, last: int, *, period: int, settle: int) -> Iterator[int]:
    """Evaluator schedule times (settle seconds after each period boundary) in [first, last]."""
    start = -(-(first - settle) // period) * period + settle
    yield from range(start, last + 1, period)


class OverlappingRuns(RunRepository):
    """The real runs; claiming the run waits until the other invocation reaches it too,
    the worst interleaving of two concurrent invocations of one event."""

    def __init__(self, table: DynamoTable, barrier: threading.Barrier) -> None:
        super().__init__(table)
        self._barrier = barrier

    def claim_run(self, window_end: int) -> bool:
        self._barrier.wait(timeout=30)
        return super().claim_run(window_end)


def overlapping_store(dynamodb: Any, table: str, barrier: threading.Barrier) -> DynamoStateStore:
    """The real store, its runs repository an `OverlappingRuns`."""
    store = DynamoStateStore(dynamodb, table)
    store.runs = OverlappingRuns(store.table, barrier)
    return store


def evaluate_concurrently(iotwatch: IotWatch, tick: int) -> list[dict[str, Any]]:
    """Two containers invoked with the same scheduled event at once; their results."""
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.notifier import SnsNotifier

    module = handler_module(EVALUATOR_MODULE, iotwatch.evaluator_env)
    barrier = threading.Barrier(2)
    with function_environment(iotwatch.evaluator_env):
        warm = module.setup.dependencies()  # what the function builds at cold start, from its environment
        # two containers: each its own clients, all on the deployed table and topics
        containers = [
            dataclasses.replace(
                warm,
                store=overlapping_store(client("dynamodb"), module.setup.settings().table_name, barrier),
                notifier=SnsNotifier(client("sns"), module.setup.settings().topic_arns),
            )
            for _ in range(2)
        ]
    event = iotwatch.tick_event(tick)
    outcomes: list[Any] = [None, None]

    def invoke(i: int) -> None:
        try:
            outcomes[i] = iotwatch.evaluate(event, dependencies=containers[i])
        except BaseException as exc:  # reported below, on the caller's thread
            outcomes[i] = exc

    threads = [threading.Thread(target=invoke, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failed, failed
    return outcomes


def spreading_problem(start: int, end: int) -> list[Incident]:
    """A connectivity problem that spreads (issue 12): Connect.Success falls 85 % at `start`,
    PublishIn.Success 15 minutes later, Ping.Success and PublishOut.Success 30 minutes later;
    all are back at `end`."""
    return [
        Incident(start, end, ("Connect.Success",), factor=0.15, reconnect_burst=False),
        Incident(start + 15 * 60, end, ("PublishIn.Success",), factor=0.15, reconnect_burst=False),
        Incident(
            start + 30 * 60, end, ("Ping.Success", "PublishOut.Success"), factor=0.15, reconnect_burst=False
        ),
    ]


def ticks_between(iotwatch: IotWatch, first: int, last: int) -> list[int]:
    """The stack's evaluator ticks in [first, last], as its schedule sends them."""
    f = iotwatch.plan.frequency
    return list(ticks(first, last, period=f.period_seconds, settle=f.settle_seconds))


def run_ticks(iotwatch: IotWatch, inboxes: Inboxes, times: Sequence[int]) -> list[dict[str, Any]]:
    results = []
    for ts in times:
        results.append(iotwatch.evaluate(ts))
        inboxes.collect(ts)
    return results


# -- iotwatch's EventBridge events, read back from a rule on the default bus --
INCIDENT_EVENT_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "incident-event.schema.json").read_text(encoding="utf-8")
)
BUS_INBOX_RULE = "iotwatch-events-to-inbox"


@contextlib.contextmanager
def bus_inbox_queue(local_aws: LocalAws) -> Iterator[str]:
    """An SQS queue behind a rule on the default bus matching every iotwatch event (its url)."""
    with local_aws.env():
        sqs, events = boto3.client("sqs"), boto3.client("events")
        url = sqs.create_queue(QueueName="iotwatch-events-inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=BUS_INBOX_RULE, EventPattern=json.dumps({"source": ["iotwatch"]}))
        events.put_targets(Rule=BUS_INBOX_RULE, Targets=[{"Id": "inbox", "Arn": arn}])
        yield url
        events.remove_targets(Rule=BUS_INBOX_RULE, Ids=["inbox"])
        events.delete_rule(Name=BUS_INBOX_RULE)
        sqs.delete_queue(QueueUrl=url)


def bus_events_received(local_aws: LocalAws, url: str) -> list[dict[str, Any]]:
    """Every event the bus inbox holds, deleted from it as read."""
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


# -- a bare iotwatch table (pk/sk strings), for tests that need the store but not the stack --
STATE_TABLE_KEYS: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "BillingMode": "PAY_PER_REQUEST",
}
# The same table as a one-resource stack whose `TableName` output the CLI looks up.
STATE_TABLE_TEMPLATE: dict[str, Any] = {
    "Resources": {"Table": {"Type": "AWS::DynamoDB::Table", "Properties": STATE_TABLE_KEYS}},
    "Outputs": {"TableName": {"Value": {"Ref": "Table"}}},
}


def create_state_table(name: str) -> str:
    boto3.client("dynamodb").create_table(TableName=name, **STATE_TABLE_KEYS)
    return name


# -- what Lambda does with an asynchronous invocation (EventBridge's) that keeps failing --------
ASYNC_ATTEMPTS = 3  # the event, then Lambda's two retries (the default MaximumRetryAttempts)


def dead_letter_queue_of(stack: DeployedStack, function_name: str) -> str:
    """The URL of the queue the deployed function's DeadLetterConfig names: read from the
    template CloudFormation applied (moto creates the function but drops the property, so
    GetFunctionConfiguration cannot tell), resolved to the queue moto created for it."""
    logical_id = stack.function(function_name).logical_id
    target = stack.template["Resources"][logical_id]["Properties"]["DeadLetterConfig"]["TargetArn"]
    queue_id, attribute = target["Fn::GetAtt"]
    assert attribute == "Arn", target
    physical = stack.physical_id(queue_id)
    if physical.startswith("http"):
        return physical
    return str(boto3.client("sqs").get_queue_url(QueueName=physical)["QueueUrl"])


def invoke_asynchronously(
    stack: DeployedStack,
    function_name: str,
    invoke: Any,
    event: dict[str, Any],
    *,
    request_id: str = "async-1",
) -> dict[str, Any] | None:
    """`invoke(event)` the way Lambda runs an asynchronous invocation: up to ASYNC_ATTEMPTS
    tries; when every one raised, the event goes to the queue of the function's
    DeadLetterConfig (as deployed: `dead_letter_queue_of`) with the attributes Lambda adds
    (RequestID, ErrorCode, ErrorMessage). Lambda itself cannot run here (moto needs Docker):
    the handler, its failure, the configured target and the message are real, the retry loop
    and the SendMessage are Lambda's documented behaviour, done here."""
    error: Exception | None = None
    for _attempt in range(ASYNC_ATTEMPTS):
        try:
            result: dict[str, Any] = invoke(event)
            return result
        except Exception as exc:  # what Lambda sees as a function error
            error = exc
    assert error is not None
    boto3.client("sqs").send_message(
        QueueUrl=dead_letter_queue_of(stack, function_name),
        MessageBody=json.dumps(event),
        MessageAttributes={
            "RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": f"{type(error).__name__}: {error}"[:1000]},
        },
    )
    return None


def receive_dead_letters(queue_url: str) -> list[dict[str, Any]]:
    """Every message in the dead-letter queue, as the runbook's receive-message lists them
    (deleted here: the test replays what it needs)."""
    sqs = boto3.client("sqs")
    found = []
    while True:
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return found
        for message in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            found.append(message)


def failing_metrics(iotwatch: IotWatch, message: str = "GetMetricData is unavailable") -> Any:
    """Evaluator dependencies whose GetMetricData calls fail on the service side (InternalFailure),
    everything else as the function builds it."""
    from botocore.exceptions import ClientError
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.cloudwatch import CloudWatchMetricReader

    module = handler_module(EVALUATOR_MODULE, iotwatch.evaluator_env)
    with function_environment(iotwatch.evaluator_env):
        warm = module.setup.dependencies()
        cloudwatch = client("cloudwatch")

    def unavailable(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalFailure", "Message": message}}, "GetMetricData")

    cloudwatch.meta.events.register("before-call.cloudwatch.GetMetricData", unavailable)
    return dataclasses.replace(warm, reader=CloudWatchMetricReader(cloudwatch))
