"""Incidents as events in the synthesized stack: only the evaluator and the audit function may
put events, only on the plan's bus, and a plan that turns events off grants nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import FULL_PLAN, Synth, cfn_lint_problems, join_to_text, nag_problems, synthesize_text

pytestmark = pytest.mark.infrastructure

EVALUATOR = "iotwatch.handlers.evaluator.handler"
AUDIT = "iotwatch.handlers.audit.handler"
FULL_TOOLS = "tools:\n  dashboard: true\n"
NOTIFY = "notify:\n"
assert FULL_TOOLS in FULL_PLAN and FULL_PLAN.count(NOTIFY) == 1
AUDITED = FULL_PLAN.replace(FULL_TOOLS, "tools:\n  dashboard: true\n  audit: true\n")
OWN_BUS = AUDITED.replace(NOTIFY, "notify:\n  events: {bus: fleet-incidents}\n")
OTHER_ACCOUNT_BUS = "arn:aws:events:eu-west-1:111122223333:event-bus/central-oncall"
ARN_BUS = AUDITED.replace(NOTIFY, f"notify:\n  events: {{bus: '{OTHER_ACCOUNT_BUS}'}}\n")
OFF = AUDITED.replace(NOTIFY, "notify:\n  events: {enabled: false}\n")


@pytest.fixture(scope="module")
def own_bus(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize_text(tmp_path_factory.mktemp("own-bus"), OWN_BUS)


def _put_events(s: Synth) -> dict[str, list[Any]]:
    """Role logical id -> the resources of each statement that allows events:PutEvents."""
    found: dict[str, list[Any]] = {}
    for policy in s.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("events:") for a in actions):
                assert actions == ["events:PutEvents"], actions
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(role["Ref"], []).append(statement["Resource"])
    return found


def _role(s: Synth, handler: str) -> str:
    _, function = s.function(handler)
    role: str = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def test_only_the_evaluator_and_the_audit_may_put_events_on_the_plans_bus(own_bus: Synth) -> None:
    granted = _put_events(own_bus)
    assert set(granted) == {_role(own_bus, EVALUATOR), _role(own_bus, AUDIT)}
    for resources in granted.values():
        assert [join_to_text(r) for r in resources] == [
            "arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/fleet-incidents"
        ]


def test_a_bus_given_by_arn_is_granted_as_written(tmp_path_factory: pytest.TempPathFactory) -> None:
    s = synthesize_text(tmp_path_factory.mktemp("arn-bus"), ARN_BUS)
    granted = _put_events(s)
    assert len(granted) == 2
    assert all(resources == [OTHER_ACCOUNT_BUS] for resources in granted.values())


def test_events_turned_off_grant_nothing_and_the_functions_are_told(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    s = synthesize_text(tmp_path_factory.mktemp("off"), OFF)
    assert _put_events(s) == {}
    compiled = json.loads(_compiled_plan(s))
    assert compiled["notify"]["events"] == {"enabled": False, "bus": "default"}


def _compiled_plan(s: Synth) -> str:
    """The plan.json staged into the functions' code asset."""
    staged = list(s.outdir.rglob("plan.json"))
    assert staged, "no compiled plan in the assembly"
    return staged[0].read_text(encoding="utf-8")


def test_the_grant_is_nag_and_lint_clean(own_bus: Synth) -> None:
    assert nag_problems(own_bus) == []
    errors, _ = cfn_lint_problems(own_bus)
    assert errors == []
