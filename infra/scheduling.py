"""EventBridge and SQS plumbing shared by the capabilities: retries and a dead-letter queue
for events that could not be delivered to a function, and the work queue through which a
function fans a big run out to parallel invocations of itself."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from iotwatch.handlers.settings import ENV_WORK_QUEUE

from infra.nag import acknowledge, skip_checkov

# checkov's CKV_AWS_27 reads only KmsMasterKeyId; these queues use SQS-managed encryption.
SSE_SQS = (
    "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which CKV_AWS_27 does not "
    "read. EventBridge, Lambda and SQS redrive write here as services: a customer key would need "
    "a key policy for each of them, for messages (schedule ticks, shard ranges, CloudTrail "
    "events) that IAM on the queue already guards."
)


def encrypted_queue(scope: Construct, construct_id: str, **props: Any) -> sqs.Queue:
    """A queue as every iotwatch queue is: SQS-managed encryption (no key policy for the
    services that write to it) and TLS only."""
    queue = sqs.Queue(
        scope, construct_id, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True, **props
    )
    skip_checkov(queue, "CKV_AWS_27", SSE_SQS)
    return queue


class DeadLetters(Construct):
    """The queue where EventBridge parks events it could not hand to a function.

    SQS-managed encryption rather than a KMS key: EventBridge writes here as a service, and
    SSE-SQS needs no key policy for it. Messages are kept 14 days, the SQS maximum, so an
    operator back from a weekend still finds what failed.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = encrypted_queue(self, "Queue", retention_period=Duration.days(14))
        acknowledge(
            self.queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the iotwatch EventBridge targets; a "
            "dead-letter queue for a dead-letter queue would only move the same messages again.",
        )

    def invoke(
        self,
        function: lambda_.IFunction,
        *,
        retry_attempts: int,
        max_event_age: Duration,
    ) -> targets.LambdaFunction:
        """A rule target for `function` that retries, then dead-letters into this queue.

        The event is passed through unchanged so the handler can tell a schedule tick from
        a CloudFormation status change by its detail-type."""
        return targets.LambdaFunction(
            function,
            dead_letter_queue=self.queue,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
        )


def schedule_rule(scope: Construct, construct_id: str, *, expression: str, description: str) -> events.Rule:
    """A rule on an EventBridge schedule expression, as written in the plan (rate(...) / cron(...))."""
    return events.Rule(
        scope,
        construct_id,
        schedule=events.Schedule.expression(expression),
        description=description,
    )


def run_concurrency(fans_out: bool, shards_in_flight: int) -> int:
    """Reserved concurrency of a scheduled function: one run at a time (a catch-up or a build
    finishes before the next starts); when it fans out, its dispatch, a retry and the shards
    in flight."""
    return shards_in_flight + 2 if fans_out else 1


def work_queue_if(
    fans_out: bool,
    scope: Construct,
    *,
    function: lambda_.Function,
    function_timeout: Duration,
    retention: Duration,
    dead_letters: DeadLetters,
    max_concurrency: int,
) -> WorkQueue | None:
    """The function's work queue, for a plan that can fan out; None otherwise (no idle queue
    to pay for)."""
    if not fans_out:
        return None
    return WorkQueue(
        scope,
        "WorkQueue",
        function=function,
        function_timeout=function_timeout,
        retention=retention,
        dead_letters=dead_letters,
        max_concurrency=max_concurrency,
    )


class WorkQueue(Construct):
    """The queue a function fans a big run out through: the scheduled invocation queues one
    message per shard (`IOTWATCH_WORK_QUEUE` tells it where), the same function takes them one
    at a time and reports a failed one, which SQS delivers again after the visibility timeout
    and parks in the dead-letter queue after its 3rd receive (the dead-letters alarm).

    `max_concurrency` caps the shards in flight at once: Lambda would otherwise start hundreds,
    and their GetMetricData calls share the account's quota (50 per second by default) with
    everything else that reads CloudWatch.

    Only plans that can fan out get one: an idle event source mapping still long-polls its
    queue (2 to 5 pollers, ~0.3-0.6 million ReceiveMessage requests a month).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        function_timeout: Duration,
        retention: Duration,
        dead_letters: DeadLetters,
        max_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue = encrypted_queue(
            self,
            "Queue",
            # AWS's guidance for a Lambda event source: at least six times the function timeout
            visibility_timeout=Duration.seconds(6 * int(function_timeout.to_seconds())),
            retention_period=retention,
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=3, queue=dead_letters.queue),
        )
        self.queue.grant_send_messages(function)
        function.add_event_source(
            event_sources.SqsEventSource(
                self.queue, batch_size=1, report_batch_item_failures=True, max_concurrency=max_concurrency
            )
        )
        function.add_environment(ENV_WORK_QUEUE, self.queue.queue_url)
