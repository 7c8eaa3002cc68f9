"""Topic names outside the plan: the SNS name, and two topics that would become one stack output
('on-call' and 'on_call' are both TopicOnCallArn), refused by `plan validate` and again by synth."""

from __future__ import annotations

import io
import textwrap

import pytest
from iotwatch.plan.loader import PlanError, check_plan
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.topic_names import topic_name_collisions, topic_physical_name

from infra.naming import check_output_names
from iotwatch_cli.main import main

from .test_plan import minimal_plan

TWO_ON_CALLS = textwrap.dedent(
    """\
    version: 1
    name: fleet
    goals: [know when devices stop publishing]
    owners: {team: iot-platform}
    resources:
      metrics:
        - metric: PublishIn.Success
          dimensions: {Protocol: MQTT}
    notify:
      topics:
        - name: on-call
          subscribers: [{email: oncall@example.com}]
        - name: ops
          subscribers: [{email: ops@example.com}]
        - name: on_call
          subscribers: [{email: oncall@example.com}]
      routes:
        - topic: on-call
    """
)


def with_topics(*names: str) -> dict:
    return minimal_plan(
        notify={
            "topics": [{"name": n, "subscribers": [{"email": "oncall@example.com"}]} for n in names],
            "routes": [{"topic": names[0]}],
        }
    )


def test_plan_validate_refuses_topics_that_become_one_stack_output_naming_both_at_their_lines(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(TWO_ON_CALLS, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["plan", "validate", str(path)], out, err) == 2
    [line] = [x for x in err.getvalue().splitlines() if "TopicOnCallArn" in x]
    # on_call's name is at line 15, on-call's at line 11, both in column 7
    assert line.strip().startswith(f"{path}:15:7: error: notify.topics[2].name: 'on_call' and 'on-call'")
    assert f"(see {path}:11:7)" in line
    assert "rename one" in line


def test_each_later_topic_is_named_against_the_first_that_took_the_output():
    check = check_plan(with_topics("on-call", "On_Call", "on_call", "oncall"), environ={})
    collisions = [p for p in check.errors if "stack output" in p.message]
    assert [(p.path, p.related) for p in collisions] == [
        ("notify.topics[1].name", "notify.topics[0].name"),
        ("notify.topics[2].name", "notify.topics[0].name"),
    ]
    # 'oncall' is TopicOncallArn: only case and separators fold together
    assert check.plan is None


def test_an_exact_repeat_is_a_duplicate_not_a_collision():
    check = check_plan(with_topics("oncall", "oncall"), environ={})
    assert [p.message for p in check.errors] == ["duplicate topic 'oncall' (also notify.topics[0])"]


def test_names_another_check_refuses_are_not_compared():
    assert topic_name_collisions(["on-call", "on call", ["on_call"], None]) == []


@pytest.mark.parametrize("names", [("on-call", "oncall"), ("ops", "ops-2", "ops_3")])
def test_distinct_outputs_pass(names):
    assert check_plan(with_topics(*names), environ={}).errors == []


def test_synth_refuses_the_collision_even_on_a_plan_that_skipped_validate():
    # the model alone accepts both names; the CDK app's own guard runs the same plan-layer rule
    plan = Plan.model_validate(with_topics("on-call", "on_call"))
    with pytest.raises(PlanError) as raised:
        check_output_names(plan, "plan.yaml")
    assert "'on_call' and 'on-call'" in str(raised.value)
    assert "notify.topics[1].name" in str(raised.value)


def test_the_sns_name_is_built_once_for_model_and_checks():
    plan = Plan.model_validate(with_topics("on-call"))
    assert (
        plan.topic_physical_name("on-call")
        == topic_physical_name("fleet", "on-call")
        == "iotwatch-fleet-on-call"
    )
