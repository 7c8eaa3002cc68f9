"""One evaluation tick end to end over in-memory adapters: windows, idempotence, grouping,
routing, publish failures and learning series."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from iotwatch.domain.baseline.model import METHOD
from iotwatch.domain.evaluation import evaluation_window, lookback_periods
from iotwatch.domain.likelihood import WARMUP_READ_PERIODS
from iotwatch.domain.series import Series
from iotwatch.plan.expand import expand_series
from iotwatch.service.context import message_context
from iotwatch.service.evaluation import run_evaluation

from .fakes import DETECTION, MONDAY, PERIOD, FakeNotifier, FakeReader, FakeStore, flat_baseline, make_series

HOUR = 3600
SETTLE = 60
BROKER = ("Connect.Success", "Ping.Success", "PublishIn.Success")


# --- the window ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "settle", "end_offset"),
    [
        (5 * 60, 60, 0),  # 14:05:00 with 60 s to settle: 14:00-14:05 is not final yet
        (6 * 60, 60, 5 * 60),  # 14:06:00: it is
        (5 * 60 + 59, 60, 0),
        (5 * 60, 0, 5 * 60),  # no settling: the period that just closed counts
        (9 * 60 + 59, 300, 0),
        (10 * 60, 300, 5 * 60),
    ],
)
def test_evaluation_window_honours_settle_time_and_period_alignment(offset, settle, end_offset):
    base = MONDAY + 14 * HOUR
    window = evaluation_window(base + offset, period=PERIOD, settle_seconds=settle, periods=3)
    assert window.end == base + end_offset
    assert window.start == window.end - 3 * PERIOD
    assert window.period_starts == [window.end - 3 * PERIOD, window.end - 2 * PERIOD, window.end - PERIOD]
    assert window.end % PERIOD == 0


def test_evaluation_window_aligns_to_longer_periods():
    window = evaluation_window(MONDAY + 2 * HOUR + 7 * 60, period=3600, settle_seconds=60, periods=2)
    assert (window.start, window.end) == (MONDAY, MONDAY + 2 * HOUR)


def test_lookback_covers_the_longest_pending_or_recovery_run_plus_one():
    series = [
        make_series("A", detection=replace(DETECTION, pending_periods=2, recovery_periods=5)),
        make_series("B", detection=replace(DETECTION, pending_periods=4, recovery_periods=1)),
    ]
    assert lookback_periods(series) == 6
    assert lookback_periods([make_series()]) == 3


# --- a tick over the default plan -------------------------------------------------------------------

START = MONDAY + 10 * HOUR
END_OF_DATA = MONDAY + 16 * HOUR


class World:
    """The default plan's nine metrics at a steady 1,000 per period against flat baselines (its
    shares of attempts are judged in test_ratios.py and the stack tests)."""

    def __init__(self, plan, series, *, notifier=None, baselines=True):
        self.plan = plan
        self.series = series = [s for s in series if s.ratio is None]
        self.by_metric = {s.metric: s for s in series}
        self.reader = FakeReader()
        for s in series:
            for ts in range(START, END_OF_DATA, PERIOD):
                self.reader.set(s.id, ts, 1000.0)
        self.store = FakeStore(
            [flat_baseline(s.id, expected=1000.0, scale=50.0) for s in series] if baselines else []
        )
        self.notifier = notifier or FakeNotifier()
        self.context = message_context(plan, region="eu-west-1", dashboard_name="IotWatch-Fleet")

    def set_from(self, metric, start, value, end=END_OF_DATA):
        for ts in range(start, end, PERIOD):
            if value is None:
                self.reader.points[self.by_metric[metric].id].pop(ts, None)
            else:
                self.reader.set(self.by_metric[metric].id, ts, value)

    def tick(self, window_end, *, late=30):
        """The scheduled run that closes `window_end` (fires a little after settle time)."""
        return run_evaluation(
            event_time=window_end + SETTLE + late,
            plan=self.plan,
            series=self.series,
            reader=self.reader,
            store=self.store,
            notifier=self.notifier,
            context=self.context,
        )

    def state(self, metric):
        return self.store.states.get(self.by_metric[metric].id)


E = MONDAY + 12 * HOUR  # the window end of the tick under test


@pytest.fixture
def world(default_plan, default_series):
    return World(default_plan, default_series)


def alerts_by_topic(report):
    return {
        sent.notification.topic: sorted(a.series.metric for a in sent.notification.alerts)
        for sent in report.sent
    }


def test_steady_traffic_sends_nothing_and_writes_only_the_run_claim_and_the_trackers(world, default_series):
    report = world.tick(E)
    assert report.sent == [] and world.notifier.attempts == []
    assert (report.window_start, report.window_end) == (E - 3 * PERIOD, E)
    tick_read, warm_up_read = world.reader.requests[-2:]
    assert tick_read[1:] == (E - 3 * PERIOD, E)
    # first sight of the series: their trackers learn the week before the window, in one read
    assert warm_up_read[1:] == (E - 3 * PERIOD - WARMUP_READ_PERIODS * PERIOD, E - 3 * PERIOD)
    # a quiet fleet writes no alert state; what each series' tracker learnt is kept
    assert world.store.claimed_runs == {E}
    assert world.store.saved == [] and world.store.states == {}
    assert set(world.store.trackers) == {s.id for s in world.series}
    assert all(o.state.status == "ok" for o in report.outcomes)
    world.tick(E + PERIOD)
    assert world.reader.requests[-1][1:] == (E - 2 * PERIOD, E + PERIOD), "a known tracker needs no warm-up"


def test_a_firing_series_is_written_once_and_again_only_when_it_changes(world):
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0)
    world.tick(E)
    firing = [s for s in world.store.saved if s.status == "firing"]
    assert [s.series_id.split("|")[1] for s in firing] == ["Connect.Success"]
    world.tick(E + PERIOD)  # still down, same severity and depth: no write
    assert len(world.store.saved) == 1


def test_three_correlated_drops_page_once_per_routed_topic(world):
    for metric in BROKER:
        world.set_from(metric, E - 2 * PERIOD, 0.0)
    report = world.tick(E)
    # critical goes to both of the default plan's topics, each gets ONE message with all three
    assert alerts_by_topic(report) == {"oncall-email": sorted(BROKER), "oncall-sms": sorted(BROKER)}
    assert len(world.notifier.sent) == 2
    for sent in report.sent:
        assert (sent.notification.kind, sent.notification.severity) == ("firing", "critical")
        assert "(+2 more)" in sent.message.subject
        for metric in BROKER:
            assert metric in sent.message.email
        # in plan order, which is the order BROKER lists them
        assert json.loads(sent.message.attributes["metric"]["StringValue"]) == list(BROKER)
    assert report.firing == 3
    for metric in BROKER:
        assert world.state(metric).status == "firing"
        assert world.state(metric).since == E - 2 * PERIOD


def test_warning_routes_to_email_only(world):
    world.set_from("RulesExecuted", E - 2 * PERIOD, 750.0)  # -25 %, five robust units: warning
    report = world.tick(E)
    assert alerts_by_topic(report) == {"oncall-email": ["RulesExecuted"]}
    assert report.sent[0].notification.severity == "warning"


def test_mixed_severities_each_reach_their_topics(world):
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0)  # critical
    world.set_from("Ping.Success", E - 2 * PERIOD, 750.0)  # warning
    report = world.tick(E)
    assert alerts_by_topic(report) == {
        "oncall-email": ["Connect.Success", "Ping.Success"],
        "oncall-sms": ["Connect.Success"],
    }
    email = next(s for s in report.sent if s.notification.topic == "oncall-email")
    assert email.notification.severity == "critical"  # the worst in the message


def test_a_retried_event_is_already_evaluated_and_sends_nothing_twice(world):
    for metric in BROKER:
        world.set_from(metric, E - 2 * PERIOD, 0.0)
    first = world.tick(E, late=30)
    assert len(first.sent) == 2
    states = dict(world.store.states)
    again = world.tick(E, late=30)
    later_same_window = world.tick(E, late=200)
    for report in (again, later_same_window):
        assert report.sent == []
        assert report.skipped == 19  # the 9 metrics and the devices section's 10 counts
    assert len(world.notifier.sent) == 2
    assert world.store.states == states  # nothing rewritten


def test_an_ongoing_incident_pages_once_then_resolves_once(world):
    for metric in BROKER:
        world.set_from(metric, E - 2 * PERIOD, 0.0, end=E + 2 * PERIOD)
    kinds = []
    for k in range(0, 6):
        report = world.tick(E + k * PERIOD)
        kinds += [(s.notification.topic, s.notification.kind) for s in report.sent]
    assert kinds == [
        ("oncall-email", "firing"),
        ("oncall-sms", "firing"),
        ("oncall-email", "resolved"),
        ("oncall-sms", "resolved"),
    ]
    resolved = world.notifier.sent[-1][1]
    assert resolved.subject.startswith("[RESOLVED]")
    assert all(world.state(m).status == "ok" for m in BROKER)


def test_a_failing_topic_gets_its_message_from_the_outbox_and_nobody_is_paged_twice(
    default_plan, default_series
):
    notifier = FakeNotifier(failing={"oncall-sms"})
    world = World(default_plan, default_series, notifier=notifier)
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0)  # critical: e-mail + SMS
    world.set_from("Ping.Success", E - 2 * PERIOD, 750.0)  # warning: e-mail only
    report = world.tick(E)
    assert report.failed_topics == ["oncall-sms"]
    # the e-mail still went out, with both series; the SMS waits in the outbox, rendered
    assert alerts_by_topic(report) == {"oncall-email": ["Connect.Success", "Ping.Success"]}
    [owed] = world.store.outbox_items.values()
    assert owed.topic == "oncall-sms" and "Connect.Success" in owed.subject
    # state advanced for both, so the e-mail topic will not hear about this firing again
    assert world.state("Connect.Success").status == "firing"
    assert world.state("Ping.Success").status == "firing"
    # the failed run released its claim: Lambda's retry of the same event delivers the SMS
    assert E not in world.store.claimed_runs

    notifier.failing.clear()
    report = world.tick(E)  # the retry
    assert report.redelivered == ["oncall-sms"] and report.sent == []
    assert world.store.outbox_items == {}
    assert [t for t, _ in notifier.sent] == ["oncall-email", "oncall-sms"]
    assert "Connect.Success" in notifier.sent[-1][1].sms
    world.tick(E + PERIOD)
    assert [t for t, _ in notifier.sent] == ["oncall-email", "oncall-sms"]  # nothing more


def test_a_resolve_that_failed_to_send_reports_the_true_end_of_the_incident(default_plan, default_series):
    notifier = FakeNotifier()
    world = World(default_plan, default_series, notifier=notifier)
    incident_start, incident_end = E - 2 * PERIOD, E + PERIOD
    world.set_from("Connect.Success", incident_start, 0.0, end=incident_end)
    world.tick(E)  # fires
    world.tick(E + PERIOD)  # still down
    world.tick(E + 2 * PERIOD)  # first normal period seen
    notifier.failing.add("oncall-sms")
    failed = world.tick(E + 3 * PERIOD)  # two normal periods: resolved, but the SMS fails
    assert failed.failed_topics == ["oncall-sms"]
    [resolved_email] = [
        m for t, m in notifier.sent if t == "oncall-email" and m.document["kind"] == "resolved"
    ]
    notifier.failing.clear()
    report = world.tick(E + 4 * PERIOD)
    assert report.redelivered == ["oncall-sms"]
    topic, message = notifier.sent[-1]
    assert topic == "oncall-sms" and message.document["kind"] == "resolved"
    [alert] = message.document["alerts"]
    assert alert["since"] == resolved_email.document["alerts"][0]["since"]
    assert alert["since"] == datetime.fromtimestamp(incident_start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert alert["ended"] == datetime.fromtimestamp(incident_end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_series_without_baseline_are_learning_and_never_page(default_plan, default_series):
    world = World(default_plan, default_series, baselines=False)
    for metric in BROKER:
        world.set_from(metric, START, None)  # silent: would be a drop if anything was known
    for k in range(4):
        report = world.tick(E + k * PERIOD)
        assert report.learning == 19  # the 9 metrics and the devices section's 10 counts
        assert report.sent == []
    assert world.notifier.attempts == []
    assert world.store.states == {}


def test_one_learning_series_does_not_hold_back_the_others(world):
    learning_id = world.by_metric["Connect.Success"].id
    del world.store.stored_baselines[learning_id]
    for metric in BROKER:
        world.set_from(metric, E - 2 * PERIOD, 0.0)
    report = world.tick(E)
    assert report.learning == 1
    assert alerts_by_topic(report)["oncall-sms"] == ["Ping.Success", "PublishIn.Success"]


def test_the_changed_series_are_those_that_moved_or_deviate_and_nothing_else(default_plan, default_series):
    world = World(default_plan, default_series)
    quiet = world.tick(E - PERIOD)
    assert quiet.changed_series() == []  # nine steady series: counted, not listed
    world.set_from("Ping.Success", E - 2 * PERIOD, 0.0)
    report = world.tick(E)
    [entry] = report.changed_series()
    assert entry["series"] == world.by_metric["Ping.Success"].id
    assert (entry["transition"], entry["status"], entry["actual"]) == ("firing", "firing", 0.0)
    assert entry["severity"] == "critical" and entry["expected"] == 1000.0


def test_what_a_tick_lists_grows_with_the_series_that_changed_not_with_the_plan(default_plan):
    """The same two deviating series among 9 or 900: the same list (bounded logs)."""

    def world_of(n):
        base = [s for s in expand_series(default_plan) if s.ratio is None and s.namespace == "AWS/IoT"]
        extra = [
            Series(
                "AWS/IoT", "TopicMatch", (("RuleName", f"rule_{i:04d}"),), "Sum", PERIOD, base[0].detection
            )
            for i in range(n - len(base))
        ]
        world = World(default_plan, [*base, *extra])
        world.set_from("Ping.Success", E - 2 * PERIOD, 0.0)
        world.set_from("Connect.Success", E - 2 * PERIOD, 0.0)
        return world

    small, big = world_of(9).tick(E), world_of(900).tick(E)
    assert big.series == 900 and small.series == 9
    assert big.changed_series() == small.changed_series()
    assert len(small.changed_series()) == 2


def test_baseline_method_and_training_window_reach_the_email(world):
    world.set_from("PublishIn.Success", E - 2 * PERIOD, 0.0)
    report = world.tick(E)
    email = report.sent[0].message.email
    assert f"baseline:  {METHOD}, trained 2025-11-10 to 2025-11-24" in email
