"""Capability: learn what normal looks like. The baseline builder reads CloudWatch history
and writes per-series baselines, on the plan's refresh schedule and right after each deploy."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from constructs import Construct
from iotwatch.plan.model import Plan

from infra.functions import FunctionFactory, grant_read_metrics
from infra.naming import BASELINE_BUILDER_SERVICE
from infra.scheduling import DeadLetters, schedule_rule
from infra.storage import BaselineStore

BASELINE_BUILDER_HANDLER = "iotwatch.handlers.baseline_builder.handler"
CLOUDFORMATION_SOURCE = "aws.cloudformation"
STACK_STATUS_CHANGE = "CloudFormation Stack Status Change"
BOOTSTRAP_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE")


class BaselineRefresh(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        factory: FunctionFactory,
        store: BaselineStore,
        dead_letters: DeadLetters,
    ) -> None:
        super().__init__(scope, construct_id)
        # Sizing, from `make bench` (canned AWS, one core): 1,000 series x 14 days of 5-minute
        # history (4,032 points each, 25 series per GetMetricData call) take ~12 s of CPU and
        # ~45 MB, history being read and learnt from 100 series at a time. CPU-bound, so 1024 MB
        # (~0.6 vCPU): ~20 s of CPU plus 40 GetMetricData calls per 1,000 series, so 300 s
        # covers about 5,000 series; beyond that the build would need to fan out as the
        # evaluator does (not built yet; the duration alarm warns at 80 %).
        self.function = factory.create(
            "BaselineBuilder",
            handler=BASELINE_BUILDER_HANDLER,
            service_name=BASELINE_BUILDER_SERVICE,
            description=f"iotwatch {plan.name}: learns baselines from CloudWatch history",
            memory_size=1024,
            timeout=Duration.seconds(300),
        )
        grant_read_metrics(self.function)
        store.grant_read_write(self.function)

        self.schedule = schedule_rule(
            self,
            "Schedule",
            expression=plan.frequency.baseline_refresh,
            description=f"iotwatch {plan.name}: rebuild baselines from CloudWatch history",
        )
        self.schedule.add_target(
            dead_letters.invoke(self.function, retry_attempts=2, max_event_age=Duration.hours(6))
        )

        # Bootstrap without a custom resource: when this stack finishes a create or an update
        # (possibly with new metrics in the plan), CloudFormation emits a status-change event
        # and the builder learns from the history CloudWatch already holds (15 days of 1-minute,
        # 63 days of 5-minute data) instead of waiting for the first scheduled refresh.
        self.on_deploy = events.Rule(
            self,
            "OnDeploy",
            description=f"iotwatch {plan.name}: build baselines after each successful deploy",
            event_pattern=events.EventPattern(
                source=[CLOUDFORMATION_SOURCE],
                detail_type=[STACK_STATUS_CHANGE],
                detail={
                    "stack-id": [Stack.of(self).stack_id],
                    "status-details": {"status": list(BOOTSTRAP_STATUSES)},
                },
            ),
        )
        self.on_deploy.add_target(
            dead_letters.invoke(self.function, retry_attempts=2, max_event_age=Duration.hours(6))
        )

    @property
    def function_name(self) -> str:
        return self.function.function_name
