"""From a control-plane call to a page: the plan's audit policy, the routing of audit
alerts, what on-call reads, and the deviation message that quotes the calls before it."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iotwatch.domain.audit.policy import CRITICAL, WARNING, AuditPolicy, AuditVerdict, judge
from iotwatch.domain.audit.reading import normalize
from iotwatch.domain.audit.recorded import recorded_call
from iotwatch.domain.messages.audit import render_audit
from iotwatch.domain.messages.deviation import render
from iotwatch.domain.messages.gsm7 import SMS_LIMIT, gsm7_length
from iotwatch.domain.messages.wording import SUBJECT_LIMIT
from iotwatch.domain.routing import routed_audit_topics
from iotwatch.plan.loader import check_plan
from iotwatch.plan.model.notify import Route
from iotwatch.plan.runtime import compile_runtime_plan, read_runtime_plan, runtime_plan

from .conftest import EVENTS_DIR
from .test_messages import CTX, PUBLISH_IN, SINCE, alert, notify

CLOUDTRAIL = EVENTS_DIR / "cloudtrail"


def record(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CLOUDTRAIL / name).read_text(encoding="utf-8"))
    return data


def eventbridge_record(**changes: Any) -> dict[str, Any]:
    detail = copy.deepcopy(record("eventbridge-api-call.json")["detail"])
    detail.update(changes)
    return detail


# --- what pages --------------------------------------------------------------------------------


def test_a_sensitive_action_pages_at_its_severity_and_says_why():
    verdict = judge(normalize(eventbridge_record(eventName="DeletePolicy")), AuditPolicy())
    assert verdict == AuditVerdict(CRITICAL, ("DeletePolicy is a sensitive action (critical)",), True)


def test_an_ordinary_call_is_recorded_not_paged():
    verdict = judge(normalize(eventbridge_record(eventName="CreateThing")), AuditPolicy())
    assert verdict.severity is None and not verdict.sensitive and not verdict.pages


def test_root_raises_any_iot_call_to_the_plans_root_severity():
    root = {"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"}
    event = normalize(eventbridge_record(eventName="CreateThing", userIdentity=root))
    assert judge(event, AuditPolicy()).severity == CRITICAL
    assert judge(event, AuditPolicy.from_overrides({}, root="off")).severity is None
    warning_action = normalize(eventbridge_record(eventName="AttachPolicy", userIdentity=root))
    assert judge(warning_action, AuditPolicy()).severity == CRITICAL  # the higher applies


def test_a_denied_call_pages_even_for_an_ordinary_action_but_other_failures_do_not():
    denied = normalize(eventbridge_record(eventName="CreateThing", errorCode="AccessDenied"))
    exists = normalize(
        eventbridge_record(eventName="CreateThing", errorCode="ResourceAlreadyExistsException")
    )
    assert judge(denied, AuditPolicy()).severity == WARNING
    assert "failed with AccessDenied" in judge(denied, AuditPolicy()).reasons
    assert judge(exists, AuditPolicy()).severity is None
    assert judge(denied, AuditPolicy.from_overrides({}, failed="off")).severity is None


def test_plan_overrides_add_change_and_drop_actions():
    policy = AuditPolicy.from_overrides(
        {"CreateThing": "warning", "DeletePolicy": "off", "AttachPolicy": "critical"}
    )
    assert judge(normalize(eventbridge_record(eventName="CreateThing")), policy).severity == WARNING
    assert judge(normalize(eventbridge_record(eventName="DeletePolicy")), policy).severity is None
    assert judge(normalize(eventbridge_record(eventName="AttachPolicy")), policy).severity == CRITICAL


def test_ignored_principals_are_recorded_never_paged():
    event = normalize(eventbridge_record(eventName="DeletePolicy"))  # role DeployRole
    by_name = judge(event, AuditPolicy.from_overrides({}, ignore_principals=("Deploy*",)))
    by_arn = judge(event, AuditPolicy.from_overrides({}, ignore_principals=("arn:aws:iam::*:role/ops/*",)))
    other = judge(event, AuditPolicy.from_overrides({}, ignore_principals=("ci-*",)))
    assert by_name.severity is None and by_name.sensitive and "ignore_principals" in by_name.reasons[0]
    assert by_arn.severity is None
    assert other.severity == CRITICAL


def test_calls_to_other_services_never_page():
    iam = normalize(eventbridge_record(eventName="DeletePolicy", eventSource="iam.amazonaws.com"))
    assert judge(iam, AuditPolicy()).severity is None


# --- routing -------------------------------------------------------------------------------------

ROUTES = [
    Route(topic="email", severities=["warning", "critical"]),
    Route(topic="sms", severities=["critical"]),
    Route(topic="rules-team", severities=["warning", "critical"], metrics=["RulesExecuted"]),
]


def test_audit_alerts_route_by_severity_whatever_metrics_a_route_names():
    assert routed_audit_topics(ROUTES, severity="critical") == ["email", "sms", "rules-team"]
    assert routed_audit_topics(ROUTES, severity="warning") == ["email", "rules-team"]


def test_the_plans_audit_topics_pick_topics_and_keep_their_severity_routes():
    assert routed_audit_topics(ROUTES, severity="warning", only=["sms", "email"]) == ["email"]
    assert routed_audit_topics(ROUTES, severity="critical", only=["sms", "security"]) == ["sms", "security"]


# --- the plan ------------------------------------------------------------------------------------


def plan_data(**sections: Any) -> dict[str, Any]:
    return {
        "name": "fleet",
        "goals": ["know"],
        "owners": {"team": "iot"},
        "resources": {"metrics": [{"metric": "Connect.Success"}]},
        "notify": {
            "topics": [{"name": "email"}, {"name": "sms"}],
            "routes": [{"topic": "email"}, {"topic": "sms", "severities": ["critical"]}],
        },
        **sections,
    }


def test_plan_audit_section_compiles_into_the_functions_plan(tmp_path):
    check = check_plan(
        plan_data(
            tools={"audit": True},
            audit={
                "actions": {"CreateThing": "warning", "DeletePolicy": "off"},
                "root": "warning",
                "ignore_principals": ["role/deploy-*"],
                "topics": ["sms"],
                "correlation_window": "30m",
                "retention_days": 30,
            },
        )
    )
    assert check.plan is not None, check.problems
    compiled = tmp_path / "plan.json"
    compiled.write_text(json.dumps(compile_runtime_plan(check.plan)))
    audit = read_runtime_plan(compiled).audit
    assert audit == runtime_plan(check.plan).audit
    assert audit.enabled and audit.topics == ("sms",) and audit.correlation_window == 1800
    assert audit.policy.actions["CreateThing"] == WARNING and "DeletePolicy" not in audit.policy.actions
    assert audit.policy.root == WARNING and audit.policy.failed == WARNING
    assert audit.retention_days == 30


@pytest.mark.parametrize(
    ("audit", "where", "words"),
    [
        ({"actions": {"delete-policy": "critical"}}, "audit.actions", "DeletePolicy"),
        ({"actions": {"DeletePolicy": "high"}}, "audit.actions.DeletePolicy", "warning"),
        ({"topics": ["pager"]}, "audit.topics[0]", "undefined topic 'pager'"),
        ({"correlation_window": "2d"}, "audit.correlation_window", "24h"),
        ({"create_trails": True}, "audit", "create_trail"),
    ],
)
def test_plan_audit_mistakes_name_the_field_and_the_fix(audit, where, words):
    check = check_plan(plan_data(tools={"audit": True}, audit=audit))
    assert check.plan is None
    assert any(p.path.startswith(where) and words in p.message for p in check.problems), check.problems


def test_audit_settings_without_the_audit_switch_warn():
    check = check_plan(plan_data(audit={"root": "off"}))
    assert check.plan is not None
    assert any(
        p.level == "warning" and p.path == "audit" and "tools.audit" in p.message for p in check.problems
    )


def test_an_undefined_operations_topic_is_an_error():
    data = plan_data()
    data["notify"]["operations_topic"] = "ops"
    check = check_plan(data)
    assert any(p.path == "notify.operations_topic" and "'ops'" in p.message for p in check.problems)


# --- what on-call reads ----------------------------------------------------------------------------


def audit_message(detail: dict[str, Any], topic: str = "sms"):
    event = normalize(detail)
    verdict = judge(event, AuditPolicy())
    return event, render_audit(event, verdict, topic=topic, event_id=event.event_id or "x", ctx=CTX)


def test_audit_message_says_who_what_when_where_and_the_outcome():
    _, message = audit_message(
        eventbridge_record(eventName="DeletePolicy", requestParameters={"policyName": "fleet-policy"})
    )
    assert message.subject == "[CRITICAL] fleet: DeletePolicy fleet-policy by role DeployRole/ci-deploy-4711"
    body = message.email
    assert body.startswith(
        "CRITICAL: DeletePolicy on AWS IoT in eu-west-1 (account 123456789012) at 2026-11-16 11:00 UTC."
    )
    assert "Why this pages: DeletePolicy is a sensitive action (critical)." in body
    assert "role DeployRole (session ci-deploy-4711), temporary credentials" in body
    assert "arn:aws:iam::123456789012:role/ops/DeployRole" in body
    assert "policyName: fleet-policy" in body
    assert "source IP 203.0.113.10, region eu-west-1" in body
    assert "Outcome:  succeeded" in body
    assert "cloudtrailv2/home?region=eu-west-1#/events/evt-eb-1" in body
    assert "First check: Devices whose certificates use this policy" in body
    assert message.sms == (
        "CRIT fleet: DeletePolicy fleet-policy by role DeployRole/ci-deploy-4711 at 11:00Z from 203.0.113.10. "
        "Details by email."
    )
    assert message.attributes["kind"]["StringValue"] == "audit"
    assert message.attributes["category"]["StringValue"] == "audit"
    assert message.attributes["severity"]["StringValue"] == "critical"
    assert "metric" not in message.attributes  # the filter policies' audit branch keys on category
    document = json.loads(json.loads(message.sns_message())["sqs"])
    assert document["kind"] == "audit" and document["audit"]["action"] == "DeletePolicy"
    assert document["audit"]["parameters"] == {"policyName": "fleet-policy"}


def test_a_failed_call_says_so_in_subject_sms_and_outcome():
    _, message = audit_message(
        eventbridge_record(eventName="DetachPolicy", errorCode="AccessDenied", errorMessage="not authorized")
    )
    assert "DetachPolicy FAILED (AccessDenied)" in message.subject
    assert "FAILED AccessDenied" in message.sms
    assert "Outcome:  FAILED, AccessDenied: not authorized" in message.email


def test_the_guide_example_renders_with_the_service_behind_the_call():
    _, message = audit_message(record("guide-attach-policy.json"), topic="email")
    assert "AttachPolicy" in message.subject and "ExamplePolicyForIoT" in message.email
    assert "via AWS service account 111111111111" in message.email


@settings(settings.get_profile("slow_properties"), max_examples=60)
@given(
    action=st.text(st.characters(codec="utf-8"), min_size=1, max_size=120).filter(str.strip),
    target=st.text(st.characters(codec="utf-8"), min_size=0, max_size=300),
    user=st.text(st.characters(codec="utf-8"), min_size=1, max_size=200).filter(str.strip),
)
def test_audit_messages_fit_their_channels_whatever_the_record_says(action, target, user):
    detail = eventbridge_record(
        eventName=action,
        requestParameters={"policyName": target},
        userIdentity={"type": "IAMUser", "userName": user, "arn": f"arn:aws:iam::1:user/{user}"},
    )
    event = normalize(detail)
    message = render_audit(event, AuditVerdict(WARNING, ("test",), True), topic="t", event_id="e", ctx=CTX)
    assert len(message.subject) <= SUBJECT_LIMIT and "\n" not in message.subject
    assert gsm7_length(message.sms) <= SMS_LIMIT


# --- correlation: the deviation that follows a change -----------------------------------------------


def calls_before(*offsets_and_actions: tuple[int, str]):
    calls = []
    for offset, action in offsets_and_actions:
        event = normalize(
            eventbridge_record(
                eventName=action,
                eventTime=datetime.fromtimestamp(SINCE - offset, UTC).isoformat(),
                eventID=f"evt-{action}",
                requestParameters={"policyName": "fleet-policy"},
            )
        )
        calls.append(recorded_call(event, judge(event, AuditPolicy()), fallback_id="x"))
    return tuple(calls)


def test_a_firing_message_names_the_change_that_preceded_it():
    ctx = replace(CTX, control_plane=calls_before((40 * 60, "CreateThing"), (4 * 60, "DeletePolicy")))
    message = render(notify([alert(PUBLISH_IN)]), ctx)
    assert (
        "PublishIn.Success (MQTT) down 80% 4 min after DeletePolicy fleet-policy by role DeployRole/ci-deploy-4711."
        in message.email
    )
    assert "Control-plane changes from 1 h before it began (CloudTrail):" in message.email
    lines = message.email.splitlines()
    listed = [line for line in lines if line.startswith("  13:")]
    assert listed == [
        "  13:20 CreateThing fleet-policy by role DeployRole/ci-deploy-4711 - 40 min before",
        "  13:56 DeletePolicy fleet-policy by role DeployRole/ci-deploy-4711 (critical) - 4 min before",
    ]
    assert "After DeletePolicy 13:56Z." in message.sms and gsm7_length(message.sms) <= SMS_LIMIT
    document = json.loads(json.loads(message.sns_message())["sqs"])
    assert [c["action"] for c in document["control_plane"]] == ["CreateThing", "DeletePolicy"]


def test_changes_outside_the_window_or_on_resolve_are_not_quoted():
    ctx = replace(CTX, control_plane=calls_before((2 * 3600, "DeletePolicy")))
    assert "Control-plane" not in render(notify([alert(PUBLISH_IN)]), ctx).email
    near = replace(CTX, control_plane=calls_before((60, "DeletePolicy")))
    resolved = render(notify([alert(PUBLISH_IN, actual=1000.0, kind="resolved")], kind="resolved"), near)
    assert "Control-plane" not in resolved.email and "After" not in resolved.sms
    off = replace(near, correlation_window=0)
    assert "Control-plane" not in render(notify([alert(PUBLISH_IN)]), off).email
