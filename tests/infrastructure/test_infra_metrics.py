"""iotwatch's own metrics, built once (infra.metrics) for the alarms and the dashboard: each
function found by its construct, at the period its consumer states."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from iotwatch.plan.loader import check_plan
from iotwatch.telemetry import AUDIT_ALERTS, HEARTBEAT

from infra.metrics import DRAWN_PERIOD, HOUR, IotWatchMetrics

pytestmark = pytest.mark.infrastructure

PLAN = {
    "version": 1,
    "name": "fleet",
    "goals": ["know when devices stop publishing"],
    "owners": {"team": "iot-platform"},
    "resources": {"metrics": [{"metric": "PublishIn.Success", "dimensions": {"Protocol": "MQTT"}}]},
    "notify": {
        "topics": [{"name": "oncall", "subscribers": [{"email": "oncall@example.com"}]}],
        "routes": [{"topic": "oncall"}],
    },
}


def _metrics(evaluation: str, *, audit: bool) -> tuple[IotWatchMetrics, dict[str, lambda_.IFunction]]:
    check = check_plan({**PLAN, "frequency": {"evaluation": evaluation}}, environ={})
    assert check.plan is not None, check.problems
    stack = cdk.Stack(cdk.App(), "Metrics")
    functions = {
        name: lambda_.Function.from_function_arn(
            stack, name, f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
        )
        for name in ("evaluator", "builder", "audit", "widget")
    }
    metrics = IotWatchMetrics(
        check.plan,
        evaluator=functions["evaluator"],
        baseline_builder=functions["builder"],
        audit=functions["audit"] if audit else None,
        dead_letter_queue=sqs.Queue(stack, "Dlq"),
    )
    return metrics, functions


@pytest.mark.parametrize(("evaluation", "seconds"), [("rate(5 minutes)", 300), ("rate(6 hours)", 3600)])
def test_the_evaluator_runs_in_one_cadence_at_most_an_hour(evaluation: str, seconds: int) -> None:
    metrics, _ = _metrics(evaluation, audit=False)
    assert metrics.evaluator.run_period.to_seconds() == seconds
    assert metrics.baseline_builder.run_period.to_seconds() == HOUR.to_seconds()


def test_functions_are_their_constructs_with_the_band_widget_last_and_unalarmed() -> None:
    metrics, functions = _metrics("rate(5 minutes)", audit=True)
    listed = metrics.functions(functions["widget"])
    assert [(f.name, f.function, f.alarmed) for f in listed] == [
        ("evaluator", functions["evaluator"], True),
        ("baseline builder", functions["builder"], True),
        ("audit", functions["audit"], True),
        ("band widget", functions["widget"], False),
    ]
    assert [f.name for f in _metrics("rate(5 minutes)", audit=False)[0].functions()] == [
        "evaluator",
        "baseline builder",
    ]


def test_each_metric_carries_the_period_and_statistic_its_consumer_asks_for() -> None:
    metrics, _ = _metrics("rate(10 minutes)", audit=False)
    evaluator = metrics.evaluator
    alarmed = evaluator.errors(period=evaluator.run_period)
    drawn = evaluator.errors(period=DRAWN_PERIOD, label="evaluator errors")
    assert (alarmed.metric_name, alarmed.namespace, alarmed.statistic) == ("Errors", "AWS/Lambda", "Sum")
    assert (alarmed.period.to_seconds(), drawn.period.to_seconds()) == (600, 300)
    assert evaluator.longest_run(period=DRAWN_PERIOD).statistic == "Maximum"
    assert metrics.dead_letters(period=DRAWN_PERIOD).statistic == "Maximum"
    own = metrics.own(AUDIT_ALERTS, statistic="Sum", period=HOUR)
    assert (own.namespace, own.metric_name, own.dimensions) == (
        "IotWatch/fleet",
        "AuditAlerts",
        {"service": "iotwatch-audit"},
    )


def test_the_heartbeat_fills_completed_evaluations_at_the_heartbeat_period() -> None:
    metrics, _ = _metrics("rate(10 minutes)", audit=False)
    heartbeat = metrics.completed_evaluations()
    assert heartbeat.expression == "FILL(completed, 0)"
    completed = heartbeat.using_metrics["completed"]
    assert isinstance(completed, cdk.aws_cloudwatch.Metric)
    assert completed.metric_name == HEARTBEAT.name
    assert completed.period.to_seconds() == heartbeat.period.to_seconds() == 600
    assert metrics.heartbeat_periods == 2
