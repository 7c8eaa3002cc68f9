"""Capability: detect deviations. The evaluator runs on the plan's evaluation schedule, reads
the latest AWS/IoT datapoints, compares them with the baselines and publishes alerts."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from iotwatch.handlers.settings import ENV_WORK_QUEUE
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
        # Sizing, from `make bench` (canned AWS, one core): a run costs ~0.5 ms of CPU per series
        # when it decodes baselines (cold container, or the day's rebuild) and ~0.08 ms warm,
        # plus ceil(N/500) GetMetricData calls and ceil(N/100) state reads of I/O; memory
        # peaks near 35 KB per series. 512 MB (about 0.3 vCPU) keeps a 2,000-series shard
        # (the default frequency.shard_size) near 3-4 s cold and 70 MB, and the cold start
        # (boto3 clients + Powertools) short. Bigger plans fan out through the work queue
        # instead of growing one invocation. 60 s leaves room for throttling retries while
        # staying no longer than the shortest evaluation interval, so two ticks never overlap.
        self.work_queue = sqs.Queue(
            self,
            "WorkQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # AWS's guidance for a Lambda event source: at least six times the function timeout
            visibility_timeout=Duration.seconds(6 * 60),
            # a shard not evaluated within a few ticks is superseded; after 3 tries it is parked
            retention_period=Duration.hours(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=3, queue=dead_letters.queue),
        )
        self.function = factory.create(
            "Evaluator",
            handler=EVALUATOR_HANDLER,
            service_name=EVALUATOR_SERVICE,
            description=f"iotwatch {plan.name}: compares AWS/IoT metrics with baselines and alerts",
            memory_size=512,
            timeout=Duration.seconds(60),
            environment={ENV_WORK_QUEUE: self.work_queue.queue_url},
        )
        # A plan above frequency.shard_size series (or one that discovers that many) is
        # evaluated shard by shard: the scheduled run queues the shards, this same function
        # evaluates each as an SQS batch of one, and Lambda's scaling runs them in parallel.
        self.work_queue.grant_send_messages(self.function)
        self.function.add_event_source(
            event_sources.SqsEventSource(self.work_queue, batch_size=1, report_batch_item_failures=True)
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
