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
from iotwatch_local.scenario import CAUSE_ACTION, CAUSE_AT, INCIDENT_END, INCIDENT_METRICS, INCIDENT_START

PLAN = load_plan(DEFAULT_PLAN_FILE)
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


def test_the_demo_notifications_page_for_the_outage_only(demo: dict[str, Any]) -> None:
    notifications = deviations(demo["summary"])
    kinds = {n["kind"] for n in notifications}
    assert {"firing", "resolved"} <= kinds
    assert {n["topic"] for n in notifications} == {t.name for t in PLAN.notify.topics}

    times = [_epoch(n["time"]) for n in notifications]
    assert times == sorted(times)
    assert min(times) > INCIDENT_START, "nothing before the outage began"
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
        assert fired <= {m["metric"] for m in resolved["metrics"]} == set(INCIDENT_METRICS), topic
    [email_firing] = [n for n in firing if n["topic"] == "oncall-email"]
    assert {m["metric"] for m in email_firing["metrics"]} == set(INCIDENT_METRICS)
    assert all(n["severity"] == "critical" for n in notifications if n["topic"] == "oncall-sms")


def test_the_demo_is_one_incident_with_one_firing_and_one_resolved_per_topic(demo: dict[str, Any]) -> None:
    summary = demo["summary"]
    [incident] = summary["incidents"]
    per_topic = summary["verdict"]["per_topic"]
    assert per_topic["one_each"] is True and per_topic["incidents"] == [incident["id"]]
    assert per_topic["kinds"] == {t.name: ["firing", "resolved"] for t in PLAN.notify.topics}
    assert {n["incident"] for n in deviations(summary)} == {incident["id"]}
    assert incident["status"] == "resolved" and incident["since"] == iso(INCIDENT_START)
    assert sorted(m["metric"] for m in incident["members"]) == sorted(INCIDENT_METRICS)
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
        assert n["metric"] in INCIDENT_METRICS
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
    # the outage's metrics alert once each; the backtest covers the fortnight up to the replay's end
    assert backtest["alerts"] == len(summary["incident"]["metrics"])
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
    firing = [n for n in summary["notifications"] if n["kind"] == "firing"]
    assert firing
    for n in firing:
        assert f"4 min after {CAUSE_ACTION} fleet-device-policy by role deploy-bot/ci-run-4711" in n["email"]
        assert f"After {CAUSE_ACTION} {iso(CAUSE_AT)[11:16]}Z." in n["sms"]
    assert summary["audit"]["quoted_by_incident"] is True


def test_every_series_is_drawn_against_its_band_and_the_outage_outside_it(demo: dict[str, Any]) -> None:
    dashboard = demo["summary"]["dashboard"]
    # the shares too, and the devices section's 10 lifecycle counts
    assert dashboard["widgets"] == dashboard["drawn"] == len(expand_series(PLAN)) == 22
    assert sorted(t.split(" (")[0] for t in dashboard["outside_band"]) == sorted(INCIDENT_METRICS)
    page = Path(dashboard["path"]).read_text(encoding="utf-8")
    assert page.count("<svg") == dashboard["drawn"]
    assert "Dashboard: 22 of 22 series drawn against their band" in demo["printed"]
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
    from iotwatch.handlers.log_queries import AUDIT_RECORDED, EVALUATION_COMPLETE

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
