"""`iotwatch plan cost` prices what the stack deploys: its function sizes, alarm count,
dashboard and KMS key are checked here against the synthesized template, so a change in
infra/ that the estimate does not follow fails a test instead of mispricing silently."""

from __future__ import annotations

import json

import pytest
from infra_support import ENV_EMAIL, ENV_EMAIL_VAR, Synth, join_to_text
from iotwatch.plan.cost.deployment import (
    AUDIT,
    BAND_WIDGET,
    BASELINE_BUILDER,
    DASHBOARD_FIXED_WIDGETS,
    EVALUATOR,
)
from iotwatch.plan.cost.estimate import estimate_cost
from iotwatch.plan.loader import load_plan

pytestmark = pytest.mark.infrastructure

HANDLERS = {
    EVALUATOR.name: "iotwatch.handlers.evaluator.handler",
    BASELINE_BUILDER.name: "iotwatch.handlers.baseline_builder.handler",
    AUDIT.name: "iotwatch.handlers.audit.handler",
    BAND_WIDGET.name: "iotwatch.handlers.band_widget.handler",
}


@pytest.mark.parametrize("size", [EVALUATOR, BASELINE_BUILDER, AUDIT, BAND_WIDGET], ids=lambda s: s.name)
def test_function_memory_and_timeout_are_the_ones_priced(audited: Synth, size) -> None:
    _, function = audited.function(HANDLERS[size.name])
    properties = function["Properties"]
    assert (properties["MemorySize"], properties["Timeout"]) == (size.memory_mb, size.timeout_seconds)
    assert properties["Architectures"] == ["arm64"]  # priced at the arm64 GB-second


@pytest.mark.parametrize("fixture", ["full", "audited"])
def test_alarms_dashboard_and_key_are_the_ones_priced(fixture: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(fixture)
    estimate = estimate_cost(load_plan(synth.plan_path, environ={ENV_EMAIL_VAR: ENV_EMAIL}))
    assert estimate.item("CloudWatch alarms").quantity == len(synth.resources("AWS::CloudWatch::Alarm"))
    assert estimate.item("CloudWatch dashboard").quantity == len(
        synth.resources("AWS::CloudWatch::Dashboard")
    )
    assert estimate.item("KMS key (alert topics)").quantity == len(synth.resources("AWS::KMS::Key"))
    deployed = {f["Properties"]["Handler"] for f in synth.resources("AWS::Lambda::Function").values()}
    assert [i.item for i in estimate.items if i.item.endswith(" compute")] == [
        f"Lambda {name} compute" for name, handler in HANDLERS.items() if handler in deployed
    ]
    # no work queue in these plans (they never fan out), none priced
    assert not synth.resources("AWS::Lambda::EventSourceMapping")
    assert not [i for i in estimate.items if i.item.startswith("SQS")]


@pytest.mark.parametrize("fixture", ["full", "audited"])
def test_the_dashboards_metrics_are_the_ones_counted(fixture: str, request: pytest.FixtureRequest) -> None:
    """The free tier holds dashboards of at most 50 metrics: the estimate counts what the
    synthesized dashboard draws (metrics and expressions; band widgets and log tables none)."""
    synth: Synth = request.getfixturevalue(fixture)
    estimate = estimate_cost(load_plan(synth.plan_path, environ={ENV_EMAIL_VAR: ENV_EMAIL}))
    [dashboard] = synth.resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(join_to_text(dashboard["Properties"]["DashboardBody"]))
    drawn = sum(len(w["properties"].get("metrics", [])) for w in body["widgets"] if w["type"] == "metric")
    assumption = estimate.item("CloudWatch dashboard").assumption
    assert f"one dashboard of {drawn} metrics (iotwatch's own)" in assumption, (drawn, assumption)
    if fixture == "audited":  # every fixed widget: the header, the now and audit rows, health
        fixed = [w for w in body["widgets"] if w["type"] != "custom"]  # band widgets are custom
        assert len(fixed) == DASHBOARD_FIXED_WIDGETS
