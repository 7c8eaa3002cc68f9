"""Environment the stack gives every iotwatch function, validated once at cold start.

A dataclass with explicit checks rather than a pydantic model: it reports every problem
at once like one, and keeps pydantic (tens of milliseconds) out of the cold start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from iotwatch.plan.runtime import RUNTIME_PLAN_FILE, RuntimePlan, read_runtime_plan
from iotwatch.telemetry import NAMESPACE_ROOT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_lambda_powertools import Logger

    from iotwatch.domain.messages.events import BusEvent, EventsOutcome
    from iotwatch.service.ports import EventPublisher

DEFAULT_NAMESPACE = NAMESPACE_ROOT  # the stack sets IotWatch/<plan> (POWERTOOLS_METRICS_NAMESPACE)
ENV_TABLE = "IOTWATCH_TABLE"
ENV_TOPICS = "IOTWATCH_TOPICS"
ENV_PLAN_FILE = "IOTWATCH_PLAN_FILE"
ENV_DASHBOARD = "IOTWATCH_DASHBOARD"
ENV_WORK_QUEUE = "IOTWATCH_WORK_QUEUE"  # the evaluator's shard queue (big plans fan out through it)


class SettingsError(ValueError):
    """The function's environment is not what the stack sets; lists every problem."""


@dataclass(frozen=True)
class FunctionSettings:
    table_name: str
    topic_arns: dict[str, str]
    plan_file: str = RUNTIME_PLAN_FILE
    dashboard_name: str | None = None
    work_queue_url: str | None = None
    metrics_namespace: str = DEFAULT_NAMESPACE  # the stack sets IotWatch/<plan>
    region: str = "us-east-1"
    task_root: str = "."

    @cached_property
    def plan(self) -> RuntimePlan:
        path = Path(self.plan_file)
        if not path.is_absolute():
            path = Path(self.task_root) / path
        return read_runtime_plan(path)


def load_settings(environ: Mapping[str, str] | None = None) -> FunctionSettings:
    env = os.environ if environ is None else environ
    problems: list[str] = []
    table = env.get(ENV_TABLE, "")
    if len(table) < 3:
        problems.append(f"{ENV_TABLE} must name the DynamoDB table (got {table!r})")
    topics: dict[str, str] = {}
    raw_topics = env.get(ENV_TOPICS)
    if raw_topics is None:
        problems.append(f"{ENV_TOPICS} is not set; it maps plan topic names to SNS topic ARNs")
    else:
        try:
            parsed = json.loads(raw_topics)
        except json.JSONDecodeError as exc:
            problems.append(f"{ENV_TOPICS} is not JSON: {exc.msg}")
        else:
            if isinstance(parsed, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
            ):
                topics = parsed
            else:
                problems.append(f"{ENV_TOPICS} must be a JSON object of topic name to ARN")
    if problems:
        raise SettingsError("invalid function environment: " + "; ".join(problems))
    return FunctionSettings(
        table_name=table,
        topic_arns=topics,
        plan_file=env.get(ENV_PLAN_FILE) or RUNTIME_PLAN_FILE,
        dashboard_name=env.get(ENV_DASHBOARD) or None,
        work_queue_url=env.get(ENV_WORK_QUEUE) or None,
        metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        task_root=env.get("LAMBDA_TASK_ROOT") or ".",
    )


class DeferredEventPublisher:
    """The plan's event bus, reached on the first invocation that has an event to put: a
    quiet tick imports and creates none of it (cold start)."""

    def __init__(self, bus: str) -> None:
        self.bus = bus
        self._publisher: EventPublisher | None = None

    def publish(self, events: Sequence[BusEvent]) -> EventsOutcome:
        if self._publisher is None:
            from iotwatch.adapters.aws import client
            from iotwatch.adapters.events import ATTEMPTS, EventBridgePublisher

            # few SDK retries: the publisher retries what failed once itself, and the tick's
            # time belongs to its pages
            self._publisher = EventBridgePublisher(client("events", total_attempts=ATTEMPTS), self.bus)
        return self._publisher.publish(events)


def event_publisher(plan: RuntimePlan) -> DeferredEventPublisher | None:
    """`notify.events` as a function wires it (None: the plan turned events off)."""
    events = plan.notify.events
    return DeferredEventPublisher(events.bus) if events.enabled else None


def log_events_outcome(logger: Logger, outcome: EventsOutcome) -> None:
    """One line when events were put, one error line (codes, never content) when some were lost."""
    if outcome.sent:
        logger.info("incident events put on the bus", events_sent=outcome.sent)
    if outcome.failed:
        logger.error(
            "events not put on the bus after a retry; the pages went out regardless",
            events_failed=outcome.failed,
            errors=outcome.errors[:20],
        )
