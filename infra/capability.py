"""The one place that wires a capability's function into the stack.

Each capability (detection, baseline refresh, audit, band widget) is one function: what
differs is said in a `FunctionSpec` (handler, sizing, table actions, what else it may do);
`Capability` builds it the same way for all: the description names the plan, an
EventBridge-invoked function dead-letters, a function that fans out gets its work queue and
the reserved concurrency for its shards, and the grants follow (metrics, table, topics).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from constructs import Construct
from iotwatch.plan.model.plan import Plan

from infra.functions import FunctionFactory, grant_read_metrics
from infra.notifications import AlertTopics
from infra.scheduling import DeadLetters, WorkQueue, run_concurrency, schedule_rule, work_queue_if
from infra.storage import BaselineStore

# Lambda's own retries of an asynchronous invocation, and what EventBridge is told to try
# before it dead-letters a schedule tick or a deploy event.
SCHEDULE_RETRY_ATTEMPTS = 2


@dataclass(frozen=True)
class StackParts:
    """What the stack makes once and every capability builds on."""

    plan: Plan
    factory: FunctionFactory
    store: BaselineStore
    topics: AlertTopics
    dead_letters: DeadLetters


@dataclass(frozen=True)
class Shards:
    """How a scheduled function fans a big run out through its work queue
    (infra.scheduling.WorkQueue): only when `fans_out`, at most `in_flight` shards at once,
    a shard kept `retention` before it is superseded."""

    fans_out: bool
    in_flight: int
    retention: Duration


@dataclass(frozen=True)
class FunctionSpec:
    """What is particular to one capability's function.

    `purpose` completes its description ("iotwatch <plan>: <purpose>"). `dead_letters`: the
    function is invoked asynchronously (EventBridge), so Lambda parks what still fails in the
    stack's dead-letter queue; a function only ever invoked synchronously says why not with a
    checkov skip. `reserved_concurrency` is ignored with `shards`: then one run, a retry and
    the shards in flight (infra.scheduling.run_concurrency)."""

    construct_id: str
    handler: str
    service_name: str
    purpose: str
    memory_size: int
    timeout: Duration
    table_actions: tuple[str, ...]
    reads_metrics: bool = False
    publishes: bool = False
    dead_letters: bool = True
    reserved_concurrency: int | None = None
    shards: Shards | None = None


class Capability(Construct):
    """A capability built around one function, made from `spec` by the stack's factory."""

    def __init__(self, scope: Construct, construct_id: str, parts: StackParts, spec: FunctionSpec) -> None:
        super().__init__(scope, construct_id)
        self.parts = parts
        reserved = spec.reserved_concurrency
        if spec.shards is not None:
            reserved = run_concurrency(spec.shards.fans_out, spec.shards.in_flight)
        self.function = parts.factory.create(
            spec.construct_id,
            handler=spec.handler,
            service_name=spec.service_name,
            description=self.describe(spec.purpose),
            memory_size=spec.memory_size,
            timeout=spec.timeout,
            dead_letter_queue=parts.dead_letters.queue if spec.dead_letters else None,
            reserved_concurrency=reserved,
        )
        self.work_queue: WorkQueue | None = None
        if spec.shards is not None:
            self.work_queue = work_queue_if(
                spec.shards.fans_out,
                self,
                function=self.function,
                function_timeout=spec.timeout,
                retention=spec.shards.retention,
                dead_letters=parts.dead_letters,
                max_concurrency=spec.shards.in_flight,
            )
        if spec.reads_metrics:
            grant_read_metrics(self.function)
        parts.store.grant(self.function, spec.table_actions)
        if spec.publishes:
            parts.topics.grant_publish(self.function)

    def describe(self, purpose: str) -> str:
        """A description of one of this capability's resources, naming the plan."""
        return f"iotwatch {self.parts.plan.name}: {purpose}"

    def invoke_from(
        self,
        rule: events.Rule,
        *,
        max_event_age: Duration,
        retry_attempts: int = SCHEDULE_RETRY_ATTEMPTS,
    ) -> None:
        """`rule` invokes the function; what still fails after `retry_attempts` or
        `max_event_age` is dead-lettered."""
        rule.add_target(
            self.parts.dead_letters.invoke(
                self.function, retry_attempts=retry_attempts, max_event_age=max_event_age
            )
        )

    def on_schedule(self, *, expression: str, purpose: str, max_event_age: Duration) -> events.Rule:
        """The rule that runs the function on the plan's schedule `expression`."""
        rule = schedule_rule(self, "Schedule", expression=expression, description=self.describe(purpose))
        self.invoke_from(rule, max_event_age=max_event_age)
        return rule

    @property
    def function_name(self) -> str:
        return self.function.function_name
