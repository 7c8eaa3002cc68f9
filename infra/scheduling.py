"""EventBridge plumbing shared by the capabilities: retries and a dead-letter queue for
events that could not be delivered to a function."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge


class DeadLetters(Construct):
    """The queue where EventBridge parks events it could not hand to a function.

    SQS-managed encryption rather than a KMS key: EventBridge writes here as a service, and
    SSE-SQS needs no key policy for it. Messages are kept 14 days, the SQS maximum, so an
    operator back from a weekend still finds what failed.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
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
