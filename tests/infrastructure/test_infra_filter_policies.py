"""Subscription filter policies derived from the plan's routes: the derivation, the template
(AWS::SNS::Subscription FilterPolicy / FilterPolicyScope), and cdk-nag / cfn-lint on a plan
whose routes narrow by metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match
from cfnlint.api import ManualArgs, lint
from infra_support import CLOUDWATCH_ALARM, FULL_PLAN, Synth, sns_delivers, synthesize
from iotwatch.plan.model.notify import Route

from infra.nag import nag_findings
from infra.notifications import MAX_FILTER_COMBINATIONS, metric_matcher, route_filter_policy, without_updates

pytestmark = pytest.mark.infrastructure


def test_the_documented_semantics_drop_an_alarm_at_any_filter_even_one_for_absent_keys() -> None:
    no_category = {"category": [{"exists": False}]}
    assert sns_delivers(no_category, {"severity": "critical"})  # a message with another attribute
    assert not sns_delivers(no_category, {"category": "audit"})
    assert not sns_delivers(no_category, CLOUDWATCH_ALARM)  # "An empty set of attributes ... not matching"
    assert not sns_delivers({"$or": [{"severity": ["critical"]}, no_category]}, CLOUDWATCH_ALARM)
    assert sns_delivers(None, CLOUDWATCH_ALARM)
    sms = without_updates(route_filter_policy(routes({"severities": ["critical"]})))
    assert sns_delivers(sms, {"severity": "critical", "kind": "firing", "metric": ["Connect.Success"]})
    assert not sns_delivers(sms, {"severity": "critical", "kind": "update"})
    assert not sns_delivers(sms, {"severity": "warning", "kind": "firing"})


def routes(*specs: dict[str, Any]) -> list[Route]:
    return [Route(topic="t", **spec) for spec in specs]


# --- the derivation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matcher"),
    [
        ("Connect.Success", "Connect.Success"),
        ("Connect.*", {"prefix": "Connect."}),
        ("*.Throttle", {"suffix": ".Throttle"}),
        ("*", None),
        ("Connect.?uccess", None),
        ("Publish*.Success", None),
        ("[CP]*", None),
        ("**", None),
    ],
)
def test_metric_globs_sns_can_express(pattern: str, matcher: Any) -> None:
    assert metric_matcher(pattern) == matcher


def test_no_policy_when_routes_allow_everything_or_there_are_none() -> None:
    assert route_filter_policy(routes({})) is None
    assert route_filter_policy(routes({"severities": ["warning"]}, {"severities": ["critical"]})) is None
    assert route_filter_policy(routes({"metrics": ["Connect.*"]}, {})) is None
    assert route_filter_policy([]) is None


def test_a_severity_only_route_filters_on_severity() -> None:
    assert route_filter_policy(routes({"severities": ["critical"]})) == {"severity": ["critical"]}


def test_metric_globs_narrow_their_routes_and_audit_passes_on_severity() -> None:
    policy = route_filter_policy(
        routes(
            {"severities": ["critical"]},
            {"severities": ["warning", "critical"], "metrics": ["Connect.*", "RulesExecuted", "*.Throttle"]},
        )
    )
    assert policy == {
        "$or": [
            {"severity": ["critical"]},
            {
                "severity": ["warning"],
                "metric": [{"prefix": "Connect."}, "RulesExecuted", {"suffix": ".Throttle"}],
            },
            {"severity": ["warning"], "category": ["audit"]},
        ]
    }


def test_routes_with_the_same_severities_share_a_branch() -> None:
    policy = route_filter_policy(
        routes(
            {"severities": ["warning"], "metrics": ["Connect.*"]},
            {"severities": ["warning"], "metrics": ["Ping.*"]},
        )
    )
    assert policy == {
        "$or": [
            {"severity": ["warning"], "metric": [{"prefix": "Connect."}, {"prefix": "Ping."}]},
            {"severity": ["warning"], "category": ["audit"]},
        ]
    }


def test_an_inexpressible_glob_widens_its_route_never_narrows_it() -> None:
    assert route_filter_policy(
        routes({"severities": ["critical"], "metrics": ["Connect.*", "Ping.?ucc*"]})
    ) == {"severity": ["critical"]}


def test_too_many_patterns_fall_back_to_severity_only() -> None:
    many = [f"Metric{i}" for i in range(MAX_FILTER_COMBINATIONS + 1)]
    assert route_filter_policy(routes({"severities": ["critical"], "metrics": many})) == {
        "severity": ["critical"]
    }
    assert route_filter_policy(routes({"metrics": many})) is None


# --- the template ---------------------------------------------------------------------------


def subscriptions_by_topic(synth: Synth) -> dict[str, list[dict[str, Any]]]:
    topic_ids = {v["Properties"]["TopicName"]: k for k, v in synth.resources("AWS::SNS::Topic").items()}
    found: dict[str, list[dict[str, Any]]] = {}
    for sub in synth.resources("AWS::SNS::Subscription").values():
        name = next(n for n, i in topic_ids.items() if i == sub["Properties"]["TopicArn"]["Ref"])
        found.setdefault(name, []).append(sub["Properties"])
    return found


def test_the_sms_topic_only_gets_critical_and_email_everything(full: Synth) -> None:
    # and no SMS for an incident's updates: it paged when the incident opened
    full.template.resource_properties_count_is(
        "AWS::SNS::Subscription",
        {
            "Protocol": "sms",
            "FilterPolicy": {"severity": ["critical"], "kind": [{"anything-but": ["update"]}]},
            "FilterPolicyScope": "MessageAttributes",
        },
        1,
    )
    by_topic = subscriptions_by_topic(full)
    assert [s["Protocol"] for s in by_topic["iotwatch-test-fleet-oncall_sms"]] == ["sms"]
    for email in by_topic["iotwatch-test-fleet-oncall-email"]:
        assert "FilterPolicy" not in email and "FilterPolicyScope" not in email
    full.template.resource_properties_count_is(
        "AWS::SNS::Subscription", {"Protocol": "email", "FilterPolicy": Match.any_value()}, 0
    )


ROUTED_PLAN = FULL_PLAN.replace(
    "    - topic: oncall_sms\n      severities: [critical]\n",
    "    - topic: oncall_sms\n      severities: [critical]\n      metrics: [Connect.*, RulesExecuted]\n"
    "    - topic: oncall_sms\n      severities: [warning]\n      metrics: ['*.Success']\n",
)


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from infra_support import ENV_EMAIL, ENV_EMAIL_VAR

    assert ROUTED_PLAN != FULL_PLAN
    base: Path = tmp_path_factory.mktemp("routed")
    plan_path = base / "plan.yaml"
    plan_path.write_text(ROUTED_PLAN, encoding="utf-8")
    return synthesize(plan_path, base / "cdk.out", environ={ENV_EMAIL_VAR: ENV_EMAIL})


def test_metric_routes_become_prefix_and_suffix_matches(routed: Synth) -> None:
    (sms,) = subscriptions_by_topic(routed)["iotwatch-test-fleet-oncall_sms"]
    assert sms["FilterPolicyScope"] == "MessageAttributes"
    no_updates = {"kind": [{"anything-but": ["update"]}]}
    assert sms["FilterPolicy"] == {
        "$or": [
            {"severity": ["critical"], "metric": [{"prefix": "Connect."}, "RulesExecuted"], **no_updates},
            {"severity": ["warning"], "metric": [{"suffix": ".Success"}], **no_updates},
            {"severity": ["warning", "critical"], "category": ["audit"], **no_updates},
        ]
    }


def test_an_sms_subscription_without_routes_to_narrow_still_skips_updates() -> None:
    assert without_updates(None) == {"kind": [{"anything-but": ["update"]}]}
    assert without_updates({"severity": ["critical"]}) == {
        "severity": ["critical"],
        "kind": [{"anything-but": ["update"]}],
    }


def test_routed_plan_passes_nag_and_cfn_lint(routed: Synth) -> None:
    assert nag_findings(routed.app) == []
    matches = lint(json.dumps(routed.template_json), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [m for m in matches if m.rule.id.startswith("E")] == []
    assert {m.rule.id for m in matches if not m.rule.id.startswith("E")} <= {"W3005"}
