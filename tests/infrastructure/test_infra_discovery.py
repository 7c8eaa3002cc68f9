"""A plan with "*" dimension values (tests/plans/wildcard-rules.yaml) synthesized: one SEARCH
graph per discovered metric instead of band widgets, ListMetrics for both functions, a work
queue for each (the discovered values may be many), cdk-nag clean, and the templates
shipped in plan.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from infra_support import REPO_ROOT, Synth, join_to_text, nag_problems, synthesize
from iotwatch.plan.expand import expand_templates
from iotwatch.plan.loader import load_plan
from iotwatch.plan.runtime import RUNTIME_PLAN_FILE, read_runtime_plan

from infra.dashboard import search_expression

pytestmark = pytest.mark.infrastructure

PLAN_FILE = REPO_ROOT / "tests" / "plans" / "wildcard-rules.yaml"
EVALUATOR = "iotwatch.handlers.evaluator.handler"
BUILDER = "iotwatch.handlers.baseline_builder.handler"


@pytest.fixture(scope="module")
def wildcard(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(PLAN_FILE, tmp_path_factory.mktemp("wildcard") / "cdk.out", environ={})


def _graphs(s: Synth) -> dict[str, dict[str, Any]]:
    _, dashboard = s.only("AWS::CloudWatch::Dashboard")
    body = json.loads(join_to_text(dashboard["Properties"]["DashboardBody"], placeholder="{}"))
    return {w["properties"]["title"]: w["properties"] for w in body["widgets"] if w["type"] == "metric"}


def test_search_expressions_match_the_exact_dimension_set_and_the_fixed_values() -> None:
    topic, failures = expand_templates(load_plan(PLAN_FILE, environ={}))
    assert search_expression(topic) == "SEARCH('{AWS/IoT,RuleName} MetricName=\"TopicMatch\"', 'Sum', 300)"
    assert search_expression(failures) == (
        "SEARCH('{AWS/IoT,ActionType,RuleName} MetricName=\"Failure\" ActionType=\"Lambda\"', 'Sum', 300)"
    )


def test_a_star_metric_is_one_search_graph_and_a_named_series_keeps_its_band(wildcard: Synth) -> None:
    graphs = _graphs(wildcard)
    topic = graphs["TopicMatch (every RuleName), discovered"]
    [[search]] = topic["metrics"]
    # one line per rule, labelled by CloudWatch with its value; the period is the SEARCH's own
    assert search == {"expression": "SEARCH('{AWS/IoT,RuleName} MetricName=\"TopicMatch\"', 'Sum', 300)"}
    failures = graphs["Failure (every RuleName, Lambda), discovered"]
    assert 'ActionType=\\"Lambda\\"' in json.dumps(failures["metrics"])
    # the named series still gets its band widget; no band is drawn for a discovered value
    body = json.loads(
        join_to_text(
            wildcard.only("AWS::CloudWatch::Dashboard")[1]["Properties"]["DashboardBody"], placeholder="{}"
        )
    )
    bands = {w["properties"]["title"]: w["properties"] for w in body["widgets"] if w["type"] == "custom"}
    assert list(bands) == ["Connect.Success (MQTT)"]
    assert bands["Connect.Success (MQTT)"]["params"] == {"series": "AWS/IoT|Connect.Success|Protocol=MQTT"}
    assert not [t for t in graphs if "rule_" in t]
    _, dashboard = wildcard.only("AWS::CloudWatch::Dashboard")
    assert "is one graph of every value" in join_to_text(dashboard["Properties"]["DashboardBody"])


def test_both_functions_may_list_metrics_and_cdk_nag_stays_clean(wildcard: Synth) -> None:
    for handler in (EVALUATOR, BUILDER):
        _, function = wildcard.function(handler)
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = [
            statement
            for policy in wildcard.resources("AWS::IAM::Policy").values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        [metrics] = [s for s in statements if "cloudwatch:ListMetrics" in s["Action"]]
        assert metrics["Action"] == ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"]
        assert metrics["Resource"] == "*"
    assert nag_problems(wildcard) == []


@pytest.mark.parametrize(
    ("handler", "visibility", "retention", "concurrency"),
    [(EVALUATOR, 6 * 60, 4 * 3600, 10), (BUILDER, 6 * 300, 86400, 5)],
)
def test_both_functions_fan_out_through_a_work_queue_of_their_own(
    wildcard: Synth, handler: str, visibility: int, retention: int, concurrency: int
) -> None:
    """Discovered values may outnumber a shard: each function queues its shards on its own
    queue and takes them back one at a time, a few at once; a shard received 3 times is
    parked with the dead letters (the dead-letters alarm)."""
    function_id, function = wildcard.function(handler)
    queue_ref = function["Properties"]["Environment"]["Variables"]["IOTWATCH_WORK_QUEUE"]
    queue = wildcard.resources("AWS::SQS::Queue")[queue_ref["Ref"]]["Properties"]
    dlq_id, _ = wildcard.dead_letter_queue()
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 3,
    }
    assert (queue["VisibilityTimeout"], queue["MessageRetentionPeriod"]) == (visibility, retention)
    assert queue["SqsManagedSseEnabled"] is True
    [mapping] = [
        m["Properties"]
        for m in wildcard.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_ref["Ref"], "Arn"]}
    assert (mapping["BatchSize"], mapping["FunctionResponseTypes"]) == (1, ["ReportBatchItemFailures"])
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}


def test_the_templates_ship_in_plan_json(wildcard: Synth) -> None:
    _, function = wildcard.function(EVALUATOR)
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    shipped = read_runtime_plan(Path(wildcard.outdir) / f"asset.{asset_hash}" / RUNTIME_PLAN_FILE)
    assert [t.key for t in shipped.discover] == [
        "AWS/IoT|TopicMatch|RuleName=*",
        "AWS/IoT|Failure|ActionType=Lambda,RuleName=*",
    ]
    assert [s.metric for s in shipped.series] == ["Connect.Success"]


def test_the_cost_estimate_prices_the_work_queues_the_stack_has(wildcard: Synth) -> None:
    from iotwatch.plan.cost.estimate import estimate_cost

    estimate = estimate_cost(load_plan(PLAN_FILE, environ={}))
    mappings = wildcard.resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 2
    assert f"{len(mappings)} work queue(s)" in estimate.item("SQS requests (work queues)").assumption
