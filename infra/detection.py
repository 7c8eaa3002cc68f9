"""Capability: detect deviations. The evaluator runs on the plan's evaluation schedule, reads
the latest AWS/IoT datapoints, compares them with the baselines and publishes alerts."""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.fanout import may_fan_out
from iotwatch.plan.schedule import parse_schedule
from iotwatch.telemetry import EVALUATOR_SERVICE

from infra.capability import Capability, FunctionSpec, Shards, StackParts
from infra.storage import EVALUATOR_TABLE_ACTIONS

EVALUATOR_HANDLER = "iotwatch.handlers.evaluator.handler"
EVALUATOR_SHARD_CONCURRENCY = 10


class DeviationDetection(Capability):
    def __init__(self, scope: Construct, construct_id: str, *, parts: StackParts) -> None:
        plan = parts.plan
        # Sizing, from `make bench` (bench/fanout_scale.py: the real handler on canned AWS, one
        # core). One shard of 2,000 series (the default frequency.shard_size) in a container of
        # its own: ~0.8-1.1 s of CPU (baselines, states and trackers read and decoded), 4
        # GetMetricData calls, ~150 DynamoDB requests, 85-105 MB of memory growth over a
        # container at rest of 70 MB (a 10,000-series plan loaded) to 233 MB (100,000): at most
        # ~300 MB of 512. 512 MB is ~0.29 vCPU: ~5-8 s with the calls' latency, against the
        # 48 s duration alarm. Bigger plans add shards, not work per invocation. 60 s leaves
        # room for throttling retries while staying no longer than the shortest evaluation
        # interval, so two ticks never overlap.
        fans_out = may_fan_out(expand_series(plan), expand_templates(plan), plan.frequency.shard_size)
        super().__init__(
            scope,
            construct_id,
            parts,
            FunctionSpec(
                "Evaluator",
                handler=EVALUATOR_HANDLER,
                service_name=EVALUATOR_SERVICE,
                purpose="compares AWS/IoT metrics with baselines and alerts",
                memory_size=512,
                timeout=Duration.seconds(60),
                table_actions=EVALUATOR_TABLE_ACTIONS,
                reads_metrics=True,
                publishes=True,
                # A tick that still fails after Lambda's 2 retries is parked with the dead
                # letters (the dead-letters alarm); the next tick that completes catches up on
                # its window. One tick at a time: a run catching up after an outage must finish
                # before the next tick reads where it left off (a tick that arrives meanwhile
                # waits in Lambda's queue and is retried). A plan that fans out runs its
                # dispatch, a retry and up to EVALUATOR_SHARD_CONCURRENCY shards at once.
                #
                # A plan above frequency.shard_size series (or one that may discover that many)
                # is evaluated shard by shard: the scheduled run queues the shards, this same
                # function evaluates each as an SQS batch of one, at most 10 at once (each
                # shard's 4 GetMetricData calls come in its first second: 10 shards stay under
                # the account's 50 calls a second). 100,000 series: 50 shards, 5 rounds of ~6-8 s
                # each, well inside a 5-minute tick. A shard not evaluated within a few ticks is
                # superseded (kept 4 h); after 3 tries it is parked with the dead letters.
                shards=Shards(fans_out, in_flight=EVALUATOR_SHARD_CONCURRENCY, retention=Duration.hours(4)),
            ),
        )
        interval = parse_schedule(plan.frequency.evaluation).interval_seconds or 900
        # An evaluation older than one interval is caught up on by the next tick: stop retrying it.
        self.schedule = self.on_schedule(
            expression=plan.frequency.evaluation,
            purpose="evaluate the fleet metrics",
            max_event_age=Duration.seconds(max(60, min(interval, 3600))),
        )


__all__ = ["EVALUATOR_HANDLER", "DeviationDetection"]
