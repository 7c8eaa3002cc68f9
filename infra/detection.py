"""Capability: detect deviations. The evaluator runs on the plan's evaluation schedule, reads
the latest AWS/IoT datapoints, compares them with the baselines and publishes alerts."""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct
from iotwatch.plan.model import Plan
from iotwatch.plan.schedule import parse_schedule

from infra.functions import FunctionFactory, grant_read_metrics
from infra.naming import EVALUATOR_SERVICE
from infra.notifications import AlertTopics
from infra.scheduling import DeadLetters, WorkQueue, may_fan_out, schedule_rule
from infra.storage import BaselineStore

EVALUATOR_HANDLER = "iotwatch.handlers.evaluator.handler"
EVALUATOR_SHARD_CONCURRENCY = 10


class DeviationDetection(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        factory: FunctionFactory,
        store: BaselineStore,
        topics: AlertTopics,
        dead_letters: DeadLetters,
    ) -> None:
        super().__init__(scope, construct_id)
        # Sizing, from `make bench` (canned AWS, one core): a run costs ~0.5 ms of CPU per series
        # when it decodes baselines (cold container, or the day's rebuild) and ~0.2 ms warm,
        # plus ceil(N/500) GetMetricData calls and ceil(N/100) reads each of baselines, states
        # and trackers; memory peaks near 35 KB per series. 512 MB (about 0.3 vCPU) keeps a
        # 2,000-series shard (the default frequency.shard_size) near 3-5 s cold and 90 MB, and
        # the cold start (boto3 clients + Powertools) short. Bigger plans fan out through the
        # work queue instead of growing one invocation. 60 s leaves room for throttling retries
        # while staying no longer than the shortest evaluation interval, so two ticks never overlap.
        timeout = Duration.seconds(60)
        self.function = factory.create(
            "Evaluator",
            handler=EVALUATOR_HANDLER,
            service_name=EVALUATOR_SERVICE,
            description=f"iotwatch {plan.name}: compares AWS/IoT metrics with baselines and alerts",
            memory_size=512,
            timeout=timeout,
        )
        # A plan above frequency.shard_size series (or one that may discover that many) is
        # evaluated shard by shard: the scheduled run queues the shards, this same function
        # evaluates each as an SQS batch of one, at most 10 at once (each shard's ~4
        # GetMetricData calls come in its first second: 10 shards stay under the account's 50
        # calls a second). 100,000 series: 50 shards, 5 rounds of ~5 s each. A shard not
        # evaluated within a few ticks is superseded (kept 4 h); after 3 tries it is parked.
        self.work_queue: WorkQueue | None = None
        if may_fan_out(plan, plan.frequency.shard_size):
            self.work_queue = WorkQueue(
                self,
                "WorkQueue",
                function=self.function,
                function_timeout=timeout,
                retention=Duration.hours(4),
                dead_letters=dead_letters,
                max_concurrency=EVALUATOR_SHARD_CONCURRENCY,
            )
        grant_read_metrics(self.function)
        store.grant_read_write(self.function)
        topics.grant_publish(self.function)

        interval = parse_schedule(plan.frequency.evaluation).interval_seconds or 900
        self.schedule = schedule_rule(
            self,
            "Schedule",
            expression=plan.frequency.evaluation,
            description=f"iotwatch {plan.name}: evaluate the fleet metrics",
        )
        # An evaluation older than one interval is superseded by the next tick: stop retrying it.
        self.schedule.add_target(
            dead_letters.invoke(
                self.function,
                retry_attempts=2,
                max_event_age=Duration.seconds(max(60, min(interval, 3600))),
            )
        )

    @property
    def function_name(self) -> str:
        return self.function.function_name


__all__ = ["EVALUATOR_HANDLER", "DeviationDetection"]
