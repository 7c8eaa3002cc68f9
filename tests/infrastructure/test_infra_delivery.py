"""The example plans under examples/ (PagerDuty, Opsgenie, chat, webhook): each one validates,
synthesizes clean under cdk-nag, cfn-lint and checkov, keeps its key out of the template, and
its rules build request bodies that EventBridge (evaluated locally) turns into valid calls."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from infra_support import REPO_ROOT, Synth, cfn_lint_problems, nag_problems, synthesize_text
from iotwatch.plan.loader import check_plan_file
from test_infra_checkov import CHECKOV

from iotwatch_local.api_destinations import api_calls
from iotwatch_local.input_transformer import matches, pagerduty_event_problems, transform_target

pytestmark = pytest.mark.infrastructure

EXAMPLES = {p.stem: p for p in sorted((REPO_ROOT / "examples").glob("*.yaml"))}
ROUTING_KEY = "k" * 32  # what the connection adds to the body at delivery


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synth]:
    """The example's synth, once per module."""
    done: dict[str, Synth] = {}

    def get(name: str) -> Synth:
        if name not in done:
            text = EXAMPLES[name].read_text(encoding="utf-8")
            done[name] = synthesize_text(tmp_path_factory.mktemp(name), text, environ={})
        return done[name]

    return get


def _event(
    detail_type: str, severity: str, plan: str, summary: str = 'gateway "gw-1" stopped publishing'
) -> dict[str, Any]:
    """An incident event as the events contract (docs, issue 25) shapes it."""
    return {
        "version": "0",
        "id": "7f0c1b1e-0000-4000-8000-000000000001",
        "detail-type": detail_type,
        "source": "iotwatch",
        "account": "123456789012",
        "time": "2026-12-07T18:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "schema_version": "1",
            "plan": plan,
            "stack": "IotWatch-X",
            "region": "eu-west-1",
            "transition": "resolved" if detail_type == "Incident Resolved" else "opened",
            "dedup_key": f"{plan}/261207-1800",
            "incident": {
                "id": "261207-1800",
                "severity": severity,
                "status": "resolved" if detail_type == "Incident Resolved" else "firing",
                "since": "2026-12-07T18:00:00Z",
                "until": None,
                "summary": summary,
                "members": [
                    {
                        "metric": "PublishIn.Success",
                        "dimensions": {"Protocol": "MQTT"},
                        "severity": severity,
                        "change": "-80 %",
                    }
                ],
                "failure": None,
                "where": None,
            },
            "links": {
                "dashboard": "https://console.aws.amazon.com/cloudwatch/home#dashboards",
                "incident": "iotwatch incidents show 261207-1800",
            },
        },
    }


def test_every_example_is_valid_and_names_the_schema() -> None:
    assert set(EXAMPLES) >= {"pagerduty", "opsgenie", "chat", "webhook"}
    for path in EXAMPLES.values():
        assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../docs/")
        check = check_plan_file(path)
        assert check.plan is not None and not [p for p in check.problems if p.level == "error"]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_nag_and_cfn_lint_are_clean(name: str, synthesized: Callable[[str], Synth]) -> None:
    synth = synthesized(name)
    assert nag_problems(synth) == [], name
    errors, warnings = cfn_lint_problems(synth)
    assert errors == [] and warnings == set(), (name, errors, warnings)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_checkov_finds_nothing_failed(name: str, synthesized: Callable[[str], Synth], tmp_path: Path) -> None:
    synth = synthesized(name)
    template = tmp_path / f"{name}.template.json"
    template.write_text(json.dumps(synth.template_json), encoding="utf-8")
    done = subprocess.run(
        [str(CHECKOV), "-f", str(template), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert failed == [], failed


def _rules_with(synth: Synth, marker: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in synth.resources("AWS::Events::Rule").values()
        if marker in r["Properties"].get("Description", "")
        and r["Properties"].get("EventPattern", {}).get("source") == ["iotwatch"]
    ]


def test_pagerduty_trigger_and_resolve_bodies(synthesized: Callable[[str], Synth]) -> None:
    synth = synthesized("pagerduty")
    plan = synth.stack.plan.name
    raw = json.dumps(synth.template_json)
    assert "iotwatch/pagerduty" in raw and "{{resolve:secretsmanager:iotwatch/pagerduty" in raw
    (connection,) = synth.resources("AWS::Events::Connection").values()
    body = connection["Properties"]["AuthParameters"]["InvocationHttpParameters"]["BodyParameters"]
    assert body[0]["Key"] == "routing_key" and body[0]["IsValueSecret"] is True
    sent = []
    story = (
        "Incident Opened",
        "Incident Updated",  # a member joined: iotwatch's news, not a second PagerDuty trigger
        "Incident Reminder",
        "Incident Escalated",
        "Incident Resolved",
        "Incident Opened",
    )
    for detail_type in story:
        severity = "warning" if detail_type == "Incident Opened" and sent else "critical"
        event = _event(detail_type, severity, plan)
        for rule in _rules_with(synth, "PagerDuty"):
            if matches(rule["EventPattern"], event):
                (target,) = rule["Targets"]
                assert target["DeadLetterConfig"] and target["RetryPolicy"]["MaximumRetryAttempts"] > 0
                sent.append({**json.loads(transform_target(event, target)), "routing_key": ROUTING_KEY})
    # the warning incident is routed to e-mail only: PagerDuty gets trigger, re-trigger (the
    # escalation's severity), resolve
    assert [b["event_action"] for b in sent] == ["trigger", "trigger", "resolve"]
    assert {b["dedup_key"] for b in sent} == {f"{plan}/261207-1800"}
    assert sent[0]["payload"]["summary"] == 'gateway "gw-1" stopped publishing'
    assert sent[0]["payload"]["severity"] == "critical" and sent[0]["links"][0]["href"].startswith("https://")
    for b in sent:
        assert pagerduty_event_problems(b) == [], b


def test_opsgenie_create_and_close(synthesized: Callable[[str], Synth]) -> None:
    synth = synthesized("opsgenie")
    plan = synth.stack.plan.name
    opened = _event("Incident Opened", "warning", plan)
    bodies = [
        json.loads(transform_target(opened, r["Targets"][0]))
        for r in _rules_with(synth, "Opsgenie")
        if matches(r["EventPattern"], opened)
    ]
    assert [(b["alias"], b["priority"]) for b in bodies] == [("261207-1800", "P3")]
    resolved = _event("Incident Resolved", "warning", plan)
    (close,) = [
        r["Targets"][0] for r in _rules_with(synth, "Opsgenie") if matches(r["EventPattern"], resolved)
    ]
    assert close["HttpParameters"]["PathParameterValues"] == ["$.detail.incident.id"]
    assert close["HttpParameters"]["QueryStringParameters"] == {"identifierType": "alias"}
    destinations = [
        d["Properties"]["InvocationEndpoint"] for d in synth.resources("AWS::Events::ApiDestination").values()
    ]
    assert "https://api.eu.opsgenie.com/v2/alerts/*/close" in destinations
    assert "GenieKey {{resolve:secretsmanager:iotwatch/opsgenie:SecretString:api_key" in json.dumps(
        synth.template_json
    )


def test_chat_custom_notifications_one_thread_per_incident(synthesized: Callable[[str], Synth]) -> None:
    synth = synthesized("chat")
    event = _event("Incident Opened", "critical", synth.stack.plan.name)
    bodies = [
        json.loads(transform_target(event, r["Targets"][0]))
        for r in _rules_with(synth, "to chat")
        if matches(r["EventPattern"], event)
    ]
    assert len(bodies) == 2  # both channels' topics route critical
    for body in bodies:
        assert body["version"] == "1.0" and body["source"] == "custom"
        assert body["metadata"]["threadId"] == "261207-1800"
        assert body["content"]["description"] == 'gateway "gw-1" stopped publishing'
    assert synth.resources("AWS::Chatbot::SlackChannelConfiguration")
    (teams,) = synth.resources("AWS::Chatbot::MicrosoftTeamsChannelConfiguration").values()
    assert teams["Properties"]["GuardrailPolicies"] and "%3A" in teams["Properties"]["TeamsChannelId"]


def test_webhook_queue_and_function_subscriptions(synthesized: Callable[[str], Synth]) -> None:
    synth = synthesized("webhook")
    subs = {
        s["Properties"]["Protocol"]: s["Properties"]
        for s in synth.resources("AWS::SNS::Subscription").values()
    }
    assert subs["https"]["RawMessageDelivery"] is True and subs["sqs"]["RawMessageDelivery"] is True
    assert "RawMessageDelivery" not in subs["lambda"]
    (permission,) = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "sns.amazonaws.com"
    ]
    assert permission["FunctionName"].endswith(":function:open-ticket")


def test_the_calls_the_deployed_rules_make_for_an_incident(synthesized: Callable[[str], Synth]) -> None:
    """What the demo sends its PagerDuty stand-in: one trigger and one resolve per incident, the
    key from the secret, to PagerDuty's endpoint; Opsgenie's close by alias in the URL."""
    synth = synthesized("pagerduty")
    plan = synth.stack.plan.name
    calls = [
        call
        for detail_type in ("Incident Opened", "Incident Resolved")
        for call in api_calls(
            synth.template_json, _event(detail_type, "critical", plan), {"iotwatch/pagerduty": ROUTING_KEY}
        )
    ]
    assert [(c.method, c.url, c.body["event_action"]) for c in calls] == [
        ("POST", "https://events.pagerduty.com/v2/enqueue", "trigger"),
        ("POST", "https://events.pagerduty.com/v2/enqueue", "resolve"),
    ]
    for call in calls:
        assert call.body["routing_key"] == ROUTING_KEY and pagerduty_event_problems(call.body) == []
    with pytest.raises(KeyError, match="iotwatch/pagerduty"):
        api_calls(synth.template_json, _event("Incident Opened", "critical", plan), {})
    synth = synthesized("opsgenie")
    (close,) = api_calls(
        synth.template_json,
        _event("Incident Resolved", "critical", synth.stack.plan.name),
        {"iotwatch/opsgenie": "og-key"},
    )
    assert close.url == "https://api.eu.opsgenie.com/v2/alerts/261207-1800/close?identifierType=alias"
    assert close.headers == {"Authorization": "GenieKey og-key"}
