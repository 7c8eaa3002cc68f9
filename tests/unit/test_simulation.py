"""Replaying a simulated fleet (iotwatch_local.traffic, seeded) through the real baseline
builder and evaluator: quiet on normal days, fast on a real outage."""

from __future__ import annotations

import pytest
from iotwatch.service.baselines import rebuild_baselines
from iotwatch.service.context import message_context
from iotwatch.service.evaluation import run_evaluation

from iotwatch_local.traffic import Fleet, FleetChange, Incident, generate

from .fakes import DAY, MONDAY, PERIOD, FakeNotifier, FakeReader, FakeStore

HOUR = 3600
HISTORY_DAYS = 14
T0 = MONDAY + 7 * DAY  # baselines are built here; replay starts here
OUTAGE = ("Connect.Success", "Ping.Success", "PublishIn.Success", "RulesExecuted")
# Tuesday 13:00 UTC: early afternoon in the fleet's time zone, plenty of traffic
INCIDENT = Incident(
    start=T0 + DAY + 13 * HOUR, end=T0 + DAY + 13 * HOUR + 30 * 60, metrics=OUTAGE, factor=0.2
)


def simulate(plan, series, *, incidents=(), replay_days, fleet=None):
    reader = FakeReader()
    for s, ts, count in generate(
        fleet or Fleet(),
        series,
        start=T0 - HISTORY_DAYS * DAY,
        end=T0 + replay_days * DAY,
        incidents=incidents,
    ):
        reader.set(s.id, ts, float(count))
    store = FakeStore()
    report = rebuild_baselines(now=T0, series=series, history_days=HISTORY_DAYS, reader=reader, store=store)
    assert report.built == len(series)
    assert (report.trained_from, report.trained_to) == (T0 - HISTORY_DAYS * DAY, T0)
    notifier = FakeNotifier()
    context = message_context(plan, region="eu-west-1", dashboard_name=None)
    reports = []
    for window_end in range(T0 + PERIOD, T0 + replay_days * DAY, PERIOD):
        reports.append(
            run_evaluation(
                event_time=window_end + 75,
                plan=plan,
                series=series,
                reader=reader,
                store=store,
                notifier=notifier,
                context=context,
            )
        )
    return reports, notifier, store


def test_several_normal_days_send_no_notification(default_plan, default_series):
    reports, notifier, store = simulate(default_plan, default_series, replay_days=3)
    assert len(reports) == 3 * DAY // PERIOD - 1
    assert notifier.attempts == []
    # the 4,000-device fleet publishes enough for a share, but never makes the 100 connection
    # attempts a period that a connect share needs: those two learn nothing and are never judged
    unjudged = {s.metric for s in default_series if not store.stored_baselines[s.id].usable}
    assert unjudged == {"Connect.AuthErrorRate", "Connect.ThrottleRate"}
    assert all(r.learning == 2 and r.skipped == 0 and r.firing == 0 for r in reports)
    assert store.states == {}  # nothing ever alerted, so nothing was written


@pytest.fixture(scope="module")
def outage_run():
    from iotwatch.plan.expand import expand_series
    from iotwatch.plan.loader import load_plan

    from .conftest import DEFAULT_PLAN_FILE

    plan = load_plan(DEFAULT_PLAN_FILE, environ={})
    reports, _, _ = simulate(plan, expand_series(plan), incidents=[INCIDENT], replay_days=2)
    return [sent for r in reports for sent in r.sent]


def test_an_80_percent_outage_is_detected_within_two_periods(outage_run):
    firing = [s for s in outage_run if s.notification.kind == "firing"]
    assert firing, "the outage was not detected"
    first = min(s.notification.at for s in firing)
    assert INCIDENT.start < first <= INCIDENT.start + 2 * PERIOD
    # every affected metric is in the first e-mail, and the SMS carries the critical ones
    email = next(s for s in firing if s.notification.topic == "oncall-email")
    assert sorted(email.notification.metrics) == sorted(OUTAGE)
    # each series was judged by its tracker, warmed from the week before the first tick
    assert "; judged against its own last week (likelihood)" in email.message.email
    sms = next(s for s in firing if s.notification.topic == "oncall-sms")
    assert sms.notification.severity == "critical"
    assert set(sms.notification.metrics) <= set(OUTAGE)
    assert "Ping.Success" in sms.notification.metrics and "PublishIn.Success" in sms.notification.metrics
    for alert in email.notification.alerts:
        assert alert.transition.since == INCIDENT.start
        assert alert.transition.latest.direction == "drop"
        # paged on the outage's first period: Connect.Success (~50 a period) is a noisy count there
        assert alert.transition.latest.relative_change == pytest.approx(-0.8, abs=0.15)


def test_the_outage_pages_once_and_resolves_once_per_metric(outage_run):
    per_metric = {}
    for sent in outage_run:
        if sent.notification.topic != "oncall-email":
            continue
        for alert in sent.notification.alerts:
            per_metric.setdefault(alert.series.metric, []).append(alert.transition.kind)
    assert per_metric == {metric: ["firing", "resolved"] for metric in OUTAGE}
    for sent in outage_run:
        for alert in sent.notification.alerts:
            if alert.transition.kind == "resolved":
                # Connect.Success overshoots (reconnect burst) for one period after the outage
                assert INCIDENT.end <= alert.transition.ended <= INCIDENT.end + PERIOD
                assert alert.transition.since == INCIDENT.start


def test_nothing_outside_the_outage_pages(outage_run):
    assert all(INCIDENT.start < s.notification.at <= INCIDENT.end + 6 * PERIOD for s in outage_run), [
        (s.notification.kind, s.notification.at - INCIDENT.start) for s in outage_run
    ]


def test_a_planned_rollout_before_the_baseline_refresh_does_not_page(default_plan, default_series):
    """The fleet grows by half over an hour, three days before the baselines are rebuilt. The
    baseline method promises to absorb a rollout within a day (fleet level x weekly shape),
    so the two days after the rebuild are normal days: nothing pages."""
    fleet = Fleet(changes=(FleetChange(start=T0 - 3 * DAY, ramp_seconds=HOUR, factor=1.5),))
    # the AWS/IoT metrics the rollout is about: generate() draws every series from one random
    # stream, so the plan's device counts would change these metrics' noise
    aws_iot = [s for s in default_series if s.namespace == "AWS/IoT"]
    _, notifier, _ = simulate(default_plan, aws_iot, replay_days=2, fleet=fleet)
    assert [m.subject for _, m in notifier.sent] == []
