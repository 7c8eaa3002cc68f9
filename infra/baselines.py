"""Capability: learn what normal looks like. The baseline builder reads CloudWatch history
and writes per-series baselines, on the plan's refresh schedule and right after each deploy."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from constructs import Construct
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.fanout import may_fan_out
from iotwatch.plan.runtime import runtime_plan
from iotwatch.telemetry import BASELINE_BUILDER_SERVICE

from infra.capability import Capability, FunctionSpec, Shards, StackParts
from infra.storage import BUILDER_TABLE_ACTIONS

BASELINE_BUILDER_HANDLER = "iotwatch.handlers.baseline_builder.handler"
CLOUDFORMATION_SOURCE = "aws.cloudformation"
STACK_STATUS_CHANGE = "CloudFormation Stack Status Change"
BOOTSTRAP_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
BUILD_SHARD_CONCURRENCY = 5


class BaselineRefresh(Capability):
    def __init__(self, scope: Construct, construct_id: str, *, parts: StackParts) -> None:
        plan = parts.plan
        # Sizing, from `make bench` (bench/fanout_scale.py: the real handler on canned AWS, one
        # core). One build shard of 1,000 series x 14 days of 5-minute history (4,032 points
        # each, 25 series per GetMetricData call; the default frequency.build_shard_size) takes
        # ~6 s of CPU, 40 GetMetricData calls and ~1,000 DynamoDB writes, and grows memory by
        # under 10 MB over a container at rest of 70-235 MB (the plan loaded; history is read
        # and learnt 100 series at a time). 1024 MB (~0.58 vCPU): ~33 s with the calls'
        # latency, against the 240 s duration alarm. Longer histories get smaller shards (the
        # same datapoints per shard), so the shard, not the plan, sets the duration.
        shard_size = runtime_plan(plan).frequency.build_shard_size
        fans_out = may_fan_out(expand_series(plan), expand_templates(plan), shard_size)
        super().__init__(
            scope,
            construct_id,
            parts,
            FunctionSpec(
                "BaselineBuilder",
                handler=BASELINE_BUILDER_HANDLER,
                service_name=BASELINE_BUILDER_SERVICE,
                purpose="learns baselines from CloudWatch history",
                memory_size=1024,
                timeout=Duration.seconds(300),
                table_actions=BUILDER_TABLE_ACTIONS,
                reads_metrics=True,
                # A build that still fails after Lambda's 2 retries is parked with the dead
                # letters (the dead-letters alarm); replaying it rebuilds the baselines
                # (docs/runbook.md). One build at a time (a deploy-time build and the daily one
                # never race to write a generation); a plan that fans out runs its dispatch, a
                # retry and its shards.
                #
                # More series than that (or "*" metrics, which may discover them) fan out: the
                # scheduled or deploy-time run queues one message per shard and this same
                # function builds each, at most 5 at once (each reads ~1 GetMetricData call a
                # second: 5 leave the account's quota to the evaluator). 100,000 series: 100
                # shards, 20 rounds of ~35 s: ~12 minutes, once a day. Messages are kept a day; a
                # shard that fails 3 times is parked with the dead letters (the dead-letters
                # alarm), and its build writes no new generation.
                shards=Shards(fans_out, in_flight=BUILD_SHARD_CONCURRENCY, retention=Duration.days(1)),
            ),
        )
        self.schedule = self.on_schedule(
            expression=plan.frequency.baseline_refresh,
            purpose="rebuild baselines from CloudWatch history",
            max_event_age=Duration.hours(6),
        )

        # Bootstrap without a custom resource: when this stack finishes a create or an update
        # (possibly with new metrics in the plan), CloudFormation emits a status-change event
        # and the builder learns from the history CloudWatch already holds (15 days of 1-minute,
        # 63 days of 5-minute data) instead of waiting for the first scheduled refresh.
        self.on_deploy = events.Rule(
            self,
            "OnDeploy",
            description=self.describe("build baselines after each successful deploy"),
            event_pattern=events.EventPattern(
                source=[CLOUDFORMATION_SOURCE],
                detail_type=[STACK_STATUS_CHANGE],
                detail={
                    "stack-id": [Stack.of(self).stack_id],
                    "status-details": {"status": list(BOOTSTRAP_STATUSES)},
                },
            ),
        )
        self.invoke_from(self.on_deploy, max_event_age=Duration.hours(6))
