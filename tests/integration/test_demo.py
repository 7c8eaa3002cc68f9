"""`iotwatch demo` as a library call: the whole product on the local endpoint, once.

``run_demo`` synthesizes the default plan's stack, deploys it into moto, writes 14 days of
simulated traffic with a 30-minute outage, bootstraps the baselines and replays a day of
evaluator ticks; summary.json is what on-call would have received.

It runs its own ``LocalAws``, but moto's backends are per process, shared with this
session's endpoint: the module fixture empties them first (another module may have left
the same stack deployed) and cold-starts the handlers (another module may have left them
holding clients for its own stack).
"""

from __future__ import annotations

import calendar
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iotwatch.domain.messages.gsm7 import gsm7_length
from iotwatch.domain.times import iso_z as iso
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan
from iotwatch_harness import DEFAULT_PLAN_FILE, clear_handler_caches

from iotwatch_local import fast_metrics
from iotwatch_local.demo import run_demo
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import (
    AUTH_CLIENTS,
    AUTH_END,
    AUTH_START,
    CAUSE_ACTION,
    CAUSE_AT,
    INCIDENT_END,
    INCIDENT_METRICS,
    INCIDENT_START,
    OUTAGE_REASON,
)

PLAN = load_plan(DEFAULT_PLAN_FILE)
# what the device signals add to the outage (the reason's count, the group's connected devices)
# and what the CA change pages (the failed connects the topic rule counts)
OUTAGE_GROUP = "eu-gateways"
OUTAGE_DEVICE_METRICS = {f"Disconnect.{OUTAGE_REASON}", f"iotwatch-{PLAN.name}-{OUTAGE_GROUP}"}
OUTAGE_MEMBERS = set(INCIDENT_METRICS) | OUTAGE_DEVICE_METRICS
AUTH_METRICS = {"ConnectFailure.AUTHORIZATION_FAILED"}
PERIOD = PLAN.frequency.period_seconds
SETTLE = PLAN.frequency.settle_seconds


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.fixture(autouse=True)
def _keep_the_session_endpoint_indexed(local_aws: LocalAws) -> Iterator[None]:
    """The demo's own LocalAws uninstalls the indexed GetMetricData when it stops, also
    under this session's endpoint (see test_local_endpoint_nesting.py): put it back."""
    yield
    fast_metrics.install()


@pytest.fixture(scope="module")
def demo(local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    local_aws.reset()
    clear_handler_caches()
    out = tmp_path_factory.mktemp("demo")
    stream = io.StringIO()
    code = run_demo(plan_path=str(DEFAULT_PLAN_FILE), out_dir=str(out), stream=stream)
    fast_metrics.install()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    yield {"code": code, "summary": summary, "printed": stream.getvalue(), "out": out}
    clear_handler_caches()
    local_aws.reset()


def test_the_demo_succeeds_and_names_what_it_deployed(demo: dict[str, Any]) -> None:
    assert demo["code"] == 0, demo["printed"][-2000:]
    summary = demo["summary"]
    assert summary["stack"] == PLAN.stack_name == "IotWatch-Fleet"
    resources = summary["resources"]
    assert resources["table"].startswith(f"{PLAN.stack_name}-")
    assert resources["topics"] == {
        t.name: f"arn:aws:sns:{summary['region']}:123456789012:{PLAN.topic_physical_name(t.name)}"
        for t in PLAN.notify.topics
    }
    assert set(resources["functions"]) == {"evaluator", "baseline_builder", "audit"}
    assert all(name.startswith(f"{PLAN.stack_name}-") for name in resources["functions"].values())
    assert summary["incident"]["start"] == iso(INCIDENT_START)
    assert summary["incident"]["end"] == iso(INCIDENT_END)
    assert summary["incident"]["metrics"] == list(INCIDENT_METRICS)
    assert (Path(demo["out"]) / "cdk.out" / "manifest.json").is_file()


def deviations(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in summary["notifications"] if n["category"] == "deviation"]


def of_outage(notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in notifications if _epoch(n["time"]) > INCIDENT_START]


def test_the_demo_notifications_page_for_the_two_problems_only(demo: dict[str, Any]) -> None:
    notifications = deviations(demo["summary"])
    kinds = {n["kind"] for n in notifications}
    assert {"firing", "resolved"} <= kinds
    assert {n["topic"] for n in notifications} == {t.name for t in PLAN.notify.topics}

    times = [_epoch(n["time"]) for n in notifications]
    assert times == sorted(times)
    early = [n for n in notifications if _epoch(n["time"]) <= INCIDENT_START]
    assert all(AUTH_START < _epoch(n["time"]) <= AUTH_END + 3600 for n in early), "only the CA change before"
    assert {n["metric"] for n in early} <= AUTH_METRICS
    notifications = of_outage(notifications)
    firing = [n for n in notifications if n["kind"] == "firing"]
    assert min(_epoch(n["time"]) for n in firing) - INCIDENT_START <= 2 * PERIOD + SETTLE
    # one firing per topic; every resolved message comes after it and after the outage
    for topic in {n["topic"] for n in notifications}:
        assert next(n["kind"] for n in notifications if n["topic"] == topic) == "firing"
        assert len([n for n in firing if n["topic"] == topic]) == 1, topic
    for n in notifications:
        if n["kind"] == "resolved":
            assert _epoch(n["time"]) > INCIDENT_END
    # one RESOLVED per topic, when the last member is back, listing every member of the incident
    for topic in {n["topic"] for n in notifications}:
        fired = {m["metric"] for n in firing if n["topic"] == topic for m in n["metrics"]}
        [resolved] = [n for n in notifications if n["topic"] == topic and n["kind"] == "resolved"]
        assert fired <= {m["metric"] for m in resolved["metrics"]} == OUTAGE_MEMBERS, topic
    [email_firing] = [n for n in firing if n["topic"] == "oncall-email"]
    assert set(INCIDENT_METRICS) <= {m["metric"] for m in email_firing["metrics"]} <= OUTAGE_MEMBERS
    assert all(n["severity"] == "critical" for n in notifications if n["topic"] == "oncall-sms")


def test_the_demo_is_one_incident_per_problem_with_one_firing_and_one_resolved_per_topic(
    demo: dict[str, Any],
) -> None:
    summary = demo["summary"]
    refused, incident = sorted(summary["incidents"], key=lambda i: i["since"])
    per_topic = summary["verdict"]["per_topic"]
    assert per_topic["one_each"] is True and per_topic["incidents"] == [refused["id"], incident["id"]]
    for topic in PLAN.notify.topics:
        seen = per_topic["kinds"][incident["id"]][topic.name]
        assert seen[0] == "firing" and seen[-1] == "resolved" and seen.count("firing") == 1
        assert set(seen) <= {"firing", "update", "resolved"}  # the group's gauge joins a tick later
    assert {n["incident"] for n in deviations(summary)} == {refused["id"], incident["id"]}
    assert incident["status"] == "resolved" and incident["since"] == iso(INCIDENT_START)
    assert {m["metric"] for m in incident["members"]} == OUTAGE_MEMBERS
    assert refused["since"] == iso(AUTH_START) and {m["metric"] for m in refused["members"]} == AUTH_METRICS
    assert set(incident["topics"]) == {t.name for t in PLAN.notify.topics}
    assert [q["action"] for q in incident["control_plane"]] == [CAUSE_ACTION]
    kinds = [e["kind"] for e in incident["timeline"]]
    assert kinds[0] == "opened" and kinds.count("paged") == 1 and kinds[-1] == "resolved"
    # the history the demo prints: the list, then the timeline of its incident
    printed = demo["printed"]
    history = printed[printed.index("$ iotwatch incidents --table") :]
    assert f"{incident['id']}  2026-11-16 13:05  resolved  critical" in history
    assert f"$ iotwatch incidents show {incident['id']}" in history
    assert "firing (critical) to oncall-email, oncall-sms" in history
    assert "12:56 DeletePolicy fleet-device-policy by role deploy-bot/ci-run-4711 (critical)" in history


def test_the_pages_say_where_and_the_kind_of_failure(demo: dict[str, Any]) -> None:
    """The outage's first pages name the group with its share, the reason against its usual share
    and the kind; the CA change's name the clients that fail, as the fleet index and Contributor
    Insights (served by the local endpoint) answered in the tick that paged."""
    summary = demo["summary"]
    assert summary["verdict"]["where"]["ok"] is True, summary["verdict"]["where"]["text"]
    firing = [n for n in deviations(summary) if n["kind"] == "firing"]
    outage = of_outage(firing)
    assert outage
    for n in outage:
        assert n["email"].startswith("Likely kind: devices or their network"), n["email"][:200]
        assert f"  {OUTAGE_GROUP} " in n["email"] and "of group" in n["email"]
        assert f"{OUTAGE_REASON} 100 %, normally" in n["email"]
        assert f"Where: 100% {OUTAGE_GROUP}" in n["sms"] and "Likely devices/network." in n["sms"]
    refused = [n for n in firing if n not in outage]
    assert refused
    for n in refused:
        assert n["email"].startswith("Likely kind: credentials or policy"), n["email"][:200]
        assert f"{AUTH_CLIENTS} clients make" in n["email"] and "of Connect.AuthError" in n["email"]
        assert f"Where: {AUTH_CLIENTS} clients" in n["sms"]
    printed = demo["printed"]
    assert "Where and why: the outage's" in printed


def test_the_demo_notifications_fit_their_channels(demo: dict[str, Any]) -> None:
    notifications = deviations(demo["summary"])
    assert notifications
    for n in notifications:
        assert {
            "time",
            "topic",
            "kind",
            "severity",
            "metric",
            "dimensions",
            "subject",
            "email",
            "sms",
        } <= set(n)
        assert n["metric"] in OUTAGE_MEMBERS | AUTH_METRICS
        assert isinstance(n["dimensions"], dict)
        assert len(n["subject"]) < 100 and "\n" not in n["subject"], n["subject"]
        assert gsm7_length(n["sms"]) <= 160, n["sms"]
        assert n["email"].strip() and n["metric"] in n["email"]
        assert n["severity"] in ("warning", "critical")


def test_a_second_run_in_the_same_process_prints_the_same_notifications(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    """run_demo owns its endpoint, so running it again (a test, a notebook) must work and,
    with seeded traffic and fixed times, page exactly as before."""
    stream = io.StringIO()
    code = run_demo(plan_path=str(DEFAULT_PLAN_FILE), out_dir=str(tmp_path), stream=stream)
    again = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))

    assert code == demo["code"]

    def pages(summary: dict[str, Any]) -> list[tuple[str, ...]]:
        return [(n["time"], n["topic"], n["kind"], n["subject"], n["sms"]) for n in summary["notifications"]]

    assert pages(again) == pages(demo["summary"])


def test_the_backtest_of_the_simulated_fortnight_alerts_only_for_the_outage(demo: dict[str, Any]) -> None:
    summary = demo["summary"]
    backtest = summary["backtest"]
    assert backtest["days"] == 14
    assert backtest["outside_incident"] == [] and backtest["false_alerts"] == 0
    # the outage's and the CA change's metrics alert once each; the backtest covers the
    # fortnight up to the replay's end
    assert backtest["alerts"] == len(OUTAGE_MEMBERS) + len(AUTH_METRICS)
    assert backtest["end"] == summary["replay"]["end"]
    assert len(summary["plots"]) == len(summary["series"])


def test_the_demo_pages_the_policy_deletion_once_and_the_outage_page_quotes_it(demo: dict[str, Any]) -> None:
    summary = demo["summary"]
    audit = [n for n in summary["notifications"] if n["kind"] == "audit"]
    # DeletePolicy is critical: both topics, once each, although EventBridge delivered it twice
    assert sorted(n["topic"] for n in audit) == ["oncall-email", "oncall-sms"]
    for n in audit:
        assert n["category"] == "audit" and n["severity"] == "critical"
        assert n["attributes"]["kind"] == "audit" and n["attributes"]["action"] == CAUSE_ACTION
        assert n["audit"]["principal"] == "deploy-bot" and n["audit"]["session"] == "ci-run-4711"
        assert n["audit"]["parameters"] == {"policyName": "fleet-device-policy"}
        assert _epoch(n["time"]) < INCIDENT_START + PERIOD, "paged before the outage shows in metrics"
        assert gsm7_length(n["sms"]) <= 160 and len(n["subject"]) < 100
    assert summary["audit"]["duplicates"] == 1 and summary["audit"]["rejected"] == 1
    assert summary["audit"]["recorded"] == 2  # the routine CreateThing is kept, not paged
    firing = of_outage([n for n in summary["notifications"] if n["kind"] == "firing"])
    assert firing
    for n in firing:
        assert f"4 min after {CAUSE_ACTION} fleet-device-policy by role deploy-bot/ci-run-4711" in n["email"]
        assert f"After {CAUSE_ACTION} {iso(CAUSE_AT)[11:16]}Z." in n["sms"]
    assert summary["audit"]["quoted_by_incident"] is True


def test_every_series_is_drawn_against_its_band_and_the_outage_outside_it(demo: dict[str, Any]) -> None:
    dashboard = demo["summary"]["dashboard"]
    # the shares too, the devices section's 10 lifecycle counts and, fleet indexing on in the
    # demo's account, its 2 groups' connected devices
    assert PLAN.devices is not None
    series = len(expand_series(PLAN)) + len(PLAN.devices.groups)
    assert dashboard["widgets"] == dashboard["drawn"] == series == 24
    assert {t.split(" (")[0] for t in dashboard["outside_band"]} == OUTAGE_MEMBERS | AUTH_METRICS
    page = Path(dashboard["path"]).read_text(encoding="utf-8")
    assert page.count("<svg") == dashboard["drawn"]
    assert "Dashboard: 24 of 24 series drawn against their band" in demo["printed"]
    assert "Failures share of inbound publishes" in page  # a share, drawn in percent
    assert (
        "learning: no period of the last build's history had the 100 connection attempts a share needs"
        in page
    )


def test_the_shares_are_judged_where_the_fleet_makes_enough_attempts_and_page_nothing(
    demo: dict[str, Any],
) -> None:
    """The simulated 4,000 devices publish thousands of messages a period but connect a few dozen
    times: the publish-in failure share is judged every tick and, the outage taking the failed
    attempts with the devices, pages nothing; the connect shares are under min_denominator."""
    shares = {s["series"]: s for s in demo["summary"]["shares"]}
    assert set(shares) == {
        "Connect.AuthErrorRate (MQTT)",
        "Connect.ThrottleRate (MQTT)",
        "PublishIn.FailureRate (MQTT)",
    }
    publish = shares["PublishIn.FailureRate (MQTT)"]
    assert publish["learnt"] and publish["periods_judged"] == 96
    for name in ("Connect.AuthErrorRate (MQTT)", "Connect.ThrottleRate (MQTT)"):
        assert not shares[name]["learnt"] and "not judged" in shares[name]["text"]
        assert (
            f"Share {name}: not judged: its history never had the 100 connection attempts" in demo["printed"]
        )
    paged = {m["metric"] for n in deviations(demo["summary"]) for m in n["metrics"]}
    assert not paged & {"Connect.AuthErrorRate", "Connect.ThrottleRate", "PublishIn.FailureRate"}


def test_the_logs_list_what_changed_and_what_the_dashboard_queries(demo: dict[str, Any]) -> None:
    """A tick's log: a summary and the series that changed, never a line per series; the audit
    logs the line the dashboard's calls-by-action table counts."""
    from iotwatch.handlers.log_queries import AUDIT_RECORDED
    from iotwatch.service.evaluation_report import EVALUATION_COMPLETE

    documents = [
        json.loads(line)
        for line in (Path(demo["out"]) / "lambda.log").read_text(encoding="utf-8").splitlines()
        if line.startswith("{")
    ]
    lines = [d for d in documents if "message" in d]
    metrics = [d for d in documents if "_aws" in d]
    assert metrics and not [d for d in metrics if "Series" in d]  # run metrics, none per series
    ticks = [line for line in lines if line["message"] == EVALUATION_COMPLETE]
    assert len(ticks) == 96
    assert all(t["get_metric_data_calls"] >= 1 for t in ticks)  # what the dashboard's calls graph sums
    quiet = [t for t in ticks if t["changed"] == 0]
    assert quiet and all(t["series_changed"] == [] for t in quiet)
    busy = [t for t in ticks if t["changed"]]
    assert {e["series"].split("|")[1] for t in busy for e in t["series_changed"]} >= set(INCIDENT_METRICS)
    assert all(len(t["series_changed"]) == t["changed"] for t in busy)
    recorded = [line for line in lines if line["message"] == AUDIT_RECORDED]
    assert CAUSE_ACTION in {line["action"] for line in recorded}


def test_pagerduty_gets_one_trigger_and_one_resolve_per_incident_from_the_templates_rules(
    demo: dict[str, Any],
) -> None:
    """The incident events the functions put on the bus, run through the synthesized template's
    own rules and input transformers, reach the local Events API v2 stand-in as one alert per
    incident: the incident id as dedup key, valid bodies; every event matches the published
    schema (docs/incident-event.schema.json)."""
    import jsonschema

    from iotwatch_local.input_transformer import pagerduty_event_problems

    summary = demo["summary"]
    pagerduty = summary["pagerduty"]
    assert pagerduty["ok"] is True, pagerduty["text"]
    ids = sorted(i["id"] for i in summary["incidents"])
    assert pagerduty["actions"] == {f"{PLAN.name}/{i}": ["trigger", "resolve"] for i in ids}
    for body in pagerduty["requests"]:
        assert pagerduty_event_problems(body) == [], body
        assert body["dedup_key"].endswith(tuple(ids))
        if body["event_action"] == "trigger":  # a resolve needs the dedup key alone
            assert body["payload"]["source"] == PLAN.name
    schema = json.loads((DEFAULT_PLAN_FILE.parent / "docs" / "incident-event.schema.json").read_text())
    events = pagerduty["events"]
    assert {e["detail-type"] for e in events} >= {"Incident Opened", "Incident Resolved", "Audit Alert"}
    for event in events:
        jsonschema.validate(event, schema)
    assert "PagerDuty (local stand-in for its Events API v2): 4 request(s)" in demo["printed"]
