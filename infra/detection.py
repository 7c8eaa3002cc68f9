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
from infra.scheduling import DeadLetters, schedule_rule
from infra.storage import BaselineStore

EVALUATOR_HANDLER = "iotwatch.handlers.evaluator.handler"


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
        # Sizing: one run is ceil(N/500) GetMetricData calls, one read and at most a few writes
        # per series, and a handful of SNS publishes: seconds of I/O. 512 MB buys the CPU share
        # that keeps the cold start (boto3 clients + Powertools, about 1 s) short; 60 s leaves
        # ample room for throttling retries while staying no longer than the shortest
        # evaluation interval, so two runs never overlap (no reserved concurrency needed).
        self.function = factory.create(
            "Evaluator",
            handler=EVALUATOR_HANDLER,
            service_name=EVALUATOR_SERVICE,
            description=f"iotwatch {plan.name}: compares AWS/IoT metrics with baselines and alerts",
            memory_size=512,
            timeout=Duration.seconds(60),
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
