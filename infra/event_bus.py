"""Capability: incidents and audit alerts as EventBridge events (docs/events.md). The evaluator
and the audit function may put events on the plan's bus, and nothing else may."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from iotwatch.plan.model.plan import Plan


def bus_arn(scope: Stack, bus: str) -> str:
    """The ARN of `notify.events.bus`: a name is a bus of the stack's account and region."""
    if bus.startswith("arn:"):
        return bus
    return scope.format_arn(service="events", resource="event-bus", resource_name=bus)


def grant_put_events(plan: Plan, *functions: lambda_.IFunction) -> None:
    """events:PutEvents on the plan's bus alone, for the functions that publish incidents."""
    settings = plan.notify.events
    if not settings.enabled:
        return
    for function in functions:
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"], resources=[bus_arn(Stack.of(function), settings.bus)]
            )
        )


__all__ = ["bus_arn", "grant_put_events"]
