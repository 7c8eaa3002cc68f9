"""The alert lifecycle over in-memory adapters: incidents' reminders, silences and maintenance
windows, missing-data policies, grouping by dimension set, and the plan fields behind them."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import yaml
from iotwatch.domain.deviation import AlertState
from iotwatch.domain.evaluation import Window, evaluate_series
from iotwatch.domain.messages.gsm7 import gsm7_length
from iotwatch.domain.series import DetectionSettings
from iotwatch.domain.silences import Silence
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import check_plan
from iotwatch.plan.runtime import read_runtime_plan, runtime_plan, write_runtime_plan
from iotwatch.service.context import message_context
from iotwatch.service.evaluation import run_evaluation

from .conftest import DEFAULT_PLAN_FILE
from .fakes import DETECTION, MONDAY, PERIOD, FakeNotifier, FakeReader, FakeStore, flat_baseline, make_series

HOUR = 3600
SETTLE = 60
START = MONDAY + 6 * HOUR
END_OF_DATA = MONDAY + 24 * HOUR
E = MONDAY + 12 * HOUR  # window end of the first tick of each scenario
BROKER = ("Connect.Success", "Ping.Success", "PublishIn.Success")


def plan_data() -> dict:
    return yaml.safe_load(DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))


def make_plan(*, notify=None, detection=None, metrics=None):
    data = plan_data()
    data["notify"].update(notify or {})
    data["detection"].update(detection or {})
    if metrics is not None:
        data["resources"]["metrics"] = metrics
    check = check_plan(data, environ={})
    assert check.plan is not None, [str(p) for p in check.problems]
    return check.plan


class World:
    """A plan's series at a steady 1,000 per period against flat baselines."""

    def __init__(self, plan):
        self.plan = plan
        self.series = list(plan.series) if hasattr(plan, "series") else expand_series(plan)
        self.reader = FakeReader()
        for s in self.series:
            for ts in range(START, END_OF_DATA, PERIOD):
                self.reader.set(s.id, ts, 1000.0)
        self.store = FakeStore([flat_baseline(s.id, expected=1000.0, scale=50.0) for s in self.series])
        self.notifier = FakeNotifier()
        self.context = message_context(plan, region="eu-west-1", dashboard_name="IotWatch-Fleet")
        self.reports = []

    def one(self, metric, protocol="MQTT"):
        [series] = [
            s
            for s in self.series
            if s.metric == metric and s.dimension_map.get("Protocol", "MQTT") == protocol
        ]
        return series

    def set_from(self, metric, start, value, end=END_OF_DATA, protocol="MQTT"):
        series = self.one(metric, protocol)
        for ts in range(start, end, PERIOD):
            if value is None:
                self.reader.points[series.id].pop(ts, None)
            else:
                self.reader.set(series.id, ts, value)

    def tick(self, window_end):
        report = run_evaluation(
            event_time=window_end + SETTLE + 30,
            plan=self.plan,
            series=self.series,
            reader=self.reader,
            store=self.store,
            notifier=self.notifier,
            context=self.context,
        )
        self.reports.append(report)
        return report

    def run(self, first, last):
        for end in range(first, last + 1, PERIOD):
            self.tick(end)

    def pages(self, topic="oncall-sms"):
        return [
            (s.notification.kind, s.notification.at)
            for r in self.reports
            for s in r.sent
            if s.notification.topic == topic
        ]

    def state(self, metric):
        return self.store.states.get(self.one(metric).id)

    def incidents(self):
        return self.store.all_incidents()


# --- reminders ------------------------------------------------------------------------------------


def test_a_five_hour_incident_reminds_at_the_repeat_interval_between_firing_and_resolved():
    interval = HOUR
    world = World(make_plan(notify={"repeat_interval": "1h"}))
    incident_start, incident_end = E - 2 * PERIOD, E - 2 * PERIOD + 5 * HOUR
    world.set_from("Connect.Success", incident_start, 0.0, end=incident_end)
    world.run(E, incident_end + 4 * PERIOD)

    fired_at = incident_start + DETECTION.pending_periods * PERIOD
    resolved_at = incident_end + DETECTION.recovery_periods * PERIOD
    reminders = [fired_at + k * interval for k in range(1, 100) if fired_at + k * interval < resolved_at]
    assert len(reminders) == 4
    expected = [("firing", fired_at), *(("reminder", at) for at in reminders), ("resolved", resolved_at)]
    assert world.pages("oncall-sms") == expected
    assert world.pages("oncall-email") == expected

    reminder = next(s for r in world.reports for s in r.sent if s.notification.kind == "reminder")
    message = reminder.message
    [incident] = world.incidents()
    assert incident.id == "251124-1200"
    assert (
        message.subject
        == f"[REMINDER CRITICAL] fleet {incident.id}: Connect.Success (MQTT) still down 100% after 1 h 10 min"
    )
    assert message.attributes["kind"]["StringValue"] == "reminder"
    assert message.attributes["incident"]["StringValue"] == incident.id
    assert "still" in message.sms and gsm7_length(message.sms) <= 160
    # the series' state is written when it fires and when it resolves; the incident once per
    # page (its topic log), the ticks in between write nothing
    assert [s.status for s in world.store.saved] == ["firing", "ok"]
    assert world.store.incident_writes == [incident.id] * (2 + len(reminders))
    assert [e.kind for e in incident.events] == [
        "opened",
        "joined",
        "paged",
        *["paged"] * 4,
        "recovered",
        "resolved",
    ]


def test_no_reminders_when_the_repeat_interval_is_zero():
    world = World(make_plan(notify={"repeat_interval": 0}))
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0, end=E + 5 * HOUR)
    world.run(E, E + 5 * HOUR + 4 * PERIOD)
    assert [kind for kind, _ in world.pages()] == ["firing", "resolved"]


def test_the_default_plan_reminds_every_four_hours(default_plan):
    assert default_plan.notify.repeat_interval == 4 * HOUR
    world = World(default_plan)
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0, end=E + 9 * HOUR)
    world.run(E, E + 9 * HOUR + 4 * PERIOD)
    assert [(kind, at - E) for kind, at in world.pages()] == [
        ("firing", 0),
        ("reminder", 4 * HOUR),
        ("reminder", 8 * HOUR),
        ("resolved", 9 * HOUR + DETECTION.recovery_periods * PERIOD),
    ]


# --- silences and maintenance windows ---------------------------------------------------------------


def silence(starts, ends, metrics=("Connect.Success",), dimensions=None):
    return Silence(
        id="s-1",
        starts=starts,
        ends=ends,
        reason="broker upgrade",
        metrics=metrics,
        dimensions=dimensions or {},
        created_by="alice",
    )


def test_an_incident_entirely_inside_a_silence_is_recorded_and_never_paged(default_plan):
    world = World(default_plan)
    incident_start, incident_end = E - 2 * PERIOD, E + HOUR
    world.store.stored_silences = [silence(E - HOUR, E + 2 * HOUR)]
    world.set_from("Connect.Success", incident_start, 0.0, end=incident_end)
    world.run(E, incident_end + 4 * PERIOD)

    assert world.notifier.attempts == []
    held = [(o.transition.kind, o.silence.id) for r in world.reports for o in r.silenced]
    assert held == [("firing", "s-1"), ("resolved", "s-1")]
    first = world.reports[0]
    assert first.as_log_fields()["silenced"] == [
        {
            "series": world.one("Connect.Success").id,
            "kind": "firing",
            "silence": "s-1",
            "reason": "broker upgrade",
        }
    ]
    # shown: the series is firing in the report and the state, just not paged
    assert first.firing == 1
    assert world.state("Connect.Success").status == "ok"
    # and kept: an incident nobody was paged for, with the silence in its timeline
    [incident] = world.incidents()
    assert incident.status == "resolved" and incident.topics == {}
    assert [e.kind for e in incident.events] == ["opened", "silenced", "recovered", "resolved"]
    assert "s-1 (broker upgrade)" in incident.events[1].text


def test_a_silence_holds_only_the_series_it_matches(default_plan):
    world = World(default_plan)
    world.store.stored_silences = [silence(E - HOUR, E + 2 * HOUR, dimensions={"Protocol": "MQTT"})]
    for metric in ("Connect.Success", "RulesExecuted"):
        world.set_from(metric, E - 2 * PERIOD, 0.0)
    report = world.tick(E)
    assert [o.series.metric for o in report.silenced] == ["Connect.Success"]
    assert {a.series.metric for s in report.sent for a in s.notification.alerts} == {"RulesExecuted"}


def test_an_incident_still_firing_when_its_silence_ends_pages_then_once(default_plan):
    world = World(default_plan)
    incident_start, incident_end = E - 2 * PERIOD, E + 2 * HOUR
    silence_end = E + HOUR + 120  # not on a tick: the first tick at or after it pages
    world.store.stored_silences = [silence(E - HOUR, silence_end)]
    world.set_from("Connect.Success", incident_start, 0.0, end=incident_end)
    first_tick_after = E + HOUR + PERIOD
    world.run(E, first_tick_after)
    [incident] = world.incidents()
    # reminders count from the late page, updates too
    assert {t: (log.paged, log.notified) for t, log in incident.topics.items()} == {
        "oncall-email": (first_tick_after, first_tick_after),
        "oncall-sms": (first_tick_after, first_tick_after),
    }
    world.run(first_tick_after + PERIOD, incident_end + 4 * PERIOD)

    resolved_at = incident_end + DETECTION.recovery_periods * PERIOD
    assert world.pages() == [("firing", first_tick_after), ("resolved", resolved_at)]
    late = next(s for r in world.reports for s in r.sent if s.notification.kind == "firing")
    [alert] = late.message.document["alerts"]
    assert alert["since"] == datetime.fromtimestamp(incident_start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert late.message.subject.startswith("[CRITICAL] fleet 251124-1200: Connect.Success (MQTT) down 100%")


def test_a_paged_incident_stays_quiet_inside_a_silence_and_its_resolve_is_still_sent():
    world = World(make_plan(notify={"repeat_interval": "1h"}))
    world.store.stored_silences = [silence(E + 10 * 60, E + 3 * HOUR)]
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0, end=E + 2 * HOUR)
    world.run(E, E + 2 * HOUR + 4 * PERIOD)
    resolved_at = E + 2 * HOUR + DETECTION.recovery_periods * PERIOD
    assert world.pages() == [("firing", E), ("resolved", resolved_at)]


def test_a_maintenance_window_in_local_time_silences_and_pages_at_its_end():
    # Monday 12:30-14:00 in Berlin; MONDAY is in November, so UTC+1: 11:30-13:00 UTC
    window = {
        "name": "broker-patching",
        "days": ["mon"],
        "start": "12:30",
        "end": "14:00",
        "timezone": "Europe/Berlin",
        "metrics": ["Connect.*"],
    }
    world = World(make_plan(notify={"maintenance_windows": [window]}))
    berlin = ZoneInfo("Europe/Berlin")
    day = datetime.fromtimestamp(MONDAY, berlin).date()
    window_end = int(datetime(day.year, day.month, day.day, 14, 0, tzinfo=berlin).timestamp())
    assert window_end - 2 * HOUR < E - 2 * PERIOD  # the incident begins inside the window
    for metric in ("Connect.Success", "Ping.Success"):
        world.set_from(metric, E - 2 * PERIOD, 0.0, end=window_end + HOUR)
    world.run(E, window_end + HOUR + 4 * PERIOD)

    held = {(o.series.metric, o.transition.kind, o.silence.id) for r in world.reports for o in r.silenced}
    assert held == {("Connect.Success", "firing", f"window:broker-patching:{day.isoformat()}")}
    pages = [
        (
            s.notification.kind,
            s.notification.at,
            tuple(sorted(a.series.metric for a in s.notification.alerts)),
        )
        for r in world.reports
        for s in r.sent
        if s.notification.topic == "oncall-sms"
    ]
    resolved_at = window_end + HOUR + DETECTION.recovery_periods * PERIOD
    # one incident: Ping pages; Connect, silenced when it joined, is news when the window ends
    # (an update, not a second page); one RESOLVED for both
    assert pages == [
        ("firing", E, ("Ping.Success",)),
        ("update", window_end, ("Connect.Success", "Ping.Success")),
        ("resolved", resolved_at, ("Connect.Success", "Ping.Success")),
    ]
    [incident] = world.incidents()
    assert [(m.label, m.joined_at, m.shown_at) for m in incident.members] == [
        ("Connect.Success (MQTT)", E, window_end),
        ("Ping.Success (MQTT)", E, E),
    ]


def test_a_runtime_plan_applies_the_same_windows(tmp_path):
    window = {"name": "all-day", "days": ["mon"], "start": "00:00", "end": "23:59", "timezone": "UTC"}
    plan = make_plan(notify={"maintenance_windows": [window]})
    world = World(read_runtime_plan(write_runtime_plan(plan, tmp_path)))
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0)
    report = world.tick(E)
    assert report.sent == [] and [o.series.metric for o in report.silenced] == ["Connect.Success"]


class NoSilenceStore(FakeStore):
    list_silences = None  # a store from before silences existed


class BrokenSilenceStore(FakeStore):
    def list_silences(self, **_):
        raise RuntimeError("throttled")


@pytest.mark.parametrize("store_type", [NoSilenceStore, BrokenSilenceStore])
def test_without_readable_silences_everything_pages(default_plan, store_type):
    world = World(default_plan)
    world.store = store_type([flat_baseline(s.id, expected=1000.0, scale=50.0) for s in world.series])
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0)
    report = world.tick(E)
    assert [kind for kind, _ in world.pages()] == ["firing"]
    if store_type is BrokenSilenceStore:
        assert report.silences_error == "RuntimeError: throttled"
        assert report.as_log_fields()["silences_error"] == "RuntimeError: throttled"
    else:
        assert report.silences_error is None


# --- missing data ---------------------------------------------------------------------------------


def evaluate(policy, values, *, state=None, scale=50.0, expected=1000.0):
    """Evaluates one series over three periods ending at E; `values` maps period index -> value."""
    detection = DetectionSettings(
        **{**{f: getattr(DETECTION, f) for f in DETECTION.__slots__}, "missing_data": policy}
    )
    series = make_series(detection=detection)
    window = Window(E - 3 * PERIOD, E, PERIOD)
    points = [(window.start + i * PERIOD, v) for i, v in values.items()]
    baseline = flat_baseline(series.id, expected=expected, scale=scale)
    return evaluate_series(series, datapoints=points, baseline=baseline, state=state, window=window)


def test_missing_data_zero_is_zero_traffic():
    assert evaluate("zero", {0: 1000.0}).state.status == "firing"  # two silent periods: an outage
    assert evaluate("zero", {0: 1000.0}).scores[-1].actual == 0.0


def test_missing_data_ignore_neither_deviates_nor_recovers():
    assert evaluate("ignore", {0: 1000.0}).state.status == "ok"
    assert evaluate("ignore", {}).state.status == "ok"
    # deviating, missing, deviating: the missing period does not break the run
    fired = evaluate("ignore", {0: 0.0, 2: 0.0})
    assert (fired.state.status, fired.state.since, fired.state.last_evaluated) == (
        "firing",
        E - 3 * PERIOD,
        E,
    )
    # a firing series whose data stops does not resolve on silence
    firing = AlertState(make_series().id, "firing", "critical", E - HOUR, -20.0, E - PERIOD)
    outcome = evaluate("ignore", {0: 0.0}, state=firing)
    assert outcome.transition is None and outcome.state.status == "firing"
    assert evaluate("ignore", {1: 1000.0, 2: 1000.0}, state=firing).transition.kind == "resolved"


def test_missing_data_breaching_deviates_when_traffic_was_expected():
    # with a wide band, zero traffic is only -2 robust sd: not a deviation as a value...
    assert evaluate("zero", {0: 1000.0}, scale=500.0).state.status == "ok"
    # ...but a missing datapoint where 1,000 were expected breaches
    outcome = evaluate("breaching", {0: 1000.0}, scale=500.0)
    assert (outcome.state.status, outcome.state.severity) == ("firing", "warning")
    assert outcome.transition.latest.direction == "drop"
    # the true score wins when it is worse
    assert evaluate("breaching", {0: 1000.0}).state.severity == "critical"
    # below min_volume nothing was expected: missing is no news
    assert evaluate("breaching", {0: 10.0}, expected=10.0, scale=1.0).state.status == "ok"


def test_missing_data_is_set_per_metric_and_reaches_the_runtime_plan(tmp_path):
    metrics = copy.deepcopy(plan_data()["resources"]["metrics"])
    metrics[0]["detection"] = {"missing_data": "breaching"}
    plan = make_plan(detection={"missing_data": "ignore"}, metrics=metrics)
    # the device counts are zero without an event, whatever the plan says (test_plan_devices)
    policies = {s.metric: s.detection.missing_data for s in expand_series(plan) if s.namespace == "AWS/IoT"}
    assert policies["Connect.Success"] == "breaching"
    assert set(policies.values()) == {"breaching", "ignore"}
    runtime = read_runtime_plan(write_runtime_plan(plan, tmp_path))
    assert {
        s.metric: s.detection.missing_data for s in runtime.series if s.namespace == "AWS/IoT"
    } == policies


# --- grouping -------------------------------------------------------------------------------------

TWO_PROTOCOLS = [
    {"metric": "Connect.Success", "dimensions": {"Protocol": ["MQTT", "HTTP"]}},
    {"metric": "Ping.Success", "dimensions": {"Protocol": "MQTT"}},
    {"metric": "PublishIn.Success", "dimensions": {"Protocol": ["MQTT", "HTTP"]}},
    {"metric": "RulesExecuted"},
]


def grouped_pages(group_by, drops):
    world = World(make_plan(notify={"group_by": group_by}, metrics=TWO_PROTOCOLS))
    for metric, protocol in drops:
        world.set_from(metric, E - 2 * PERIOD, 0.0, protocol=protocol)
    report = world.tick(E)
    return sorted(
        tuple(sorted(a.series.label for a in s.notification.alerts))
        for s in report.sent
        if s.notification.topic == "oncall-sms"
    )


MQTT_DROPS = [(m, "MQTT") for m in BROKER]


def test_a_broker_outage_over_mqtt_and_http_pages_once_per_topic():
    pages = grouped_pages(
        "dimensions", [*MQTT_DROPS, ("PublishIn.Success", "HTTP"), ("Connect.Success", "HTTP")]
    )
    assert pages == [
        (
            "Connect.Success (HTTP)",
            "Connect.Success (MQTT)",
            "Ping.Success (MQTT)",
            "PublishIn.Success (HTTP)",
            "PublishIn.Success (MQTT)",
        )
    ]


def test_group_by_protocol_splits_protocols_and_keeps_correlated_metrics_together():
    pages = grouped_pages(["Protocol"], [*MQTT_DROPS, ("PublishIn.Success", "HTTP")])
    assert pages == [
        ("Connect.Success (MQTT)", "Ping.Success (MQTT)", "PublishIn.Success (MQTT)"),
        ("PublishIn.Success (HTTP)",),
    ]


def test_an_account_wide_metric_joins_the_oldest_open_incident():
    pages = grouped_pages(
        ["Protocol"], [*MQTT_DROPS, ("PublishIn.Success", "HTTP"), ("RulesExecuted", "MQTT")]
    )
    # MQTT comes first in the plan: its incident is the oldest of the tick
    assert pages == [
        ("Connect.Success (MQTT)", "Ping.Success (MQTT)", "PublishIn.Success (MQTT)", "RulesExecuted"),
        ("PublishIn.Success (HTTP)",),
    ]
    assert grouped_pages("dimensions", [("RulesExecuted", "MQTT")]) == [("RulesExecuted",)]


def test_group_by_tick_is_one_incident_for_the_whole_plan():
    pages = grouped_pages("tick", [*MQTT_DROPS, ("PublishIn.Success", "HTTP")])
    assert len(pages) == 1 and len(pages[0]) == 4


# --- the plan ---------------------------------------------------------------------------------------


def test_plan_lifecycle_fields_have_defaults_and_parse_durations(default_plan):
    assert (default_plan.notify.group_by, default_plan.notify.maintenance_windows) == ("dimensions", [])
    assert default_plan.detection.missing_data == "zero"
    assert (default_plan.notify.group_interval, default_plan.notify.history_days) == (15 * 60, 400)
    for raw, seconds in [("4h", 4 * HOUR), ("30m", 1800), ("1h30m", 5400), (90, 5400), (0, 0), (None, 0)]:
        assert make_plan(notify={"repeat_interval": raw}).notify.repeat_interval == seconds
        assert make_plan(notify={"group_interval": raw}).notify.group_interval == seconds


def test_plan_lists_every_lifecycle_problem_with_its_path():
    data = plan_data()
    data["notify"].update(
        {
            "repeat_interval": "soon",
            "group_interval": "later",
            "history_days": 0,
            "group_by": "metric",
            "maintenance_windows": [
                {
                    "name": "a",
                    "days": ["sun", "someday"],
                    "start": "2:00",
                    "end": "25:00",
                    "timezone": "Europe/Berln",
                },
                {"name": "b", "days": ["sat"], "start": "02:00", "end": "02:00", "timezone": "UTC"},
                {
                    "name": "a",
                    "days": ["mon"],
                    "start": "01:00",
                    "end": "02:00",
                    "metrics": ["Nope*"],
                    "when": 1,
                },
                {"name": "d", "days": [], "start": "01:00", "end": "02:00"},
            ],
        }
    )
    data["detection"]["missing_data"] = "skip"
    check = check_plan(data, environ={})
    assert check.plan is None
    paths = {p.path for p in check.errors}
    assert {
        "notify.repeat_interval",
        "notify.group_interval",
        "notify.history_days",
        "notify.group_by",
        "notify.maintenance_windows[0].days[1]",
        "notify.maintenance_windows[0].start",
        "notify.maintenance_windows[0].end",
        "notify.maintenance_windows[0].timezone",
        "notify.maintenance_windows[1]",  # start == end
        "notify.maintenance_windows[3].days",
        "notify.maintenance_windows[2].name",  # duplicate
        "notify.maintenance_windows[2].when",
        "detection.missing_data",
    } <= paths
    messages = {p.path: p.message for p in check.problems}
    assert "Europe/Berln" in messages["notify.maintenance_windows[0].timezone"]
    assert "HH:MM" in messages["notify.maintenance_windows[0].start"]
    assert {p.path for p in check.warnings} >= {"notify.maintenance_windows[2].metrics[0]"}


def test_a_reminder_interval_shorter_than_the_period_is_a_warning():
    data = plan_data()
    data["notify"]["repeat_interval"] = "2m"
    check = check_plan(data, environ={})
    assert check.plan is not None
    assert [p.path for p in check.warnings if "remind" in p.message] == ["notify.repeat_interval"]


def test_a_group_interval_shorter_than_the_period_is_a_warning_and_zero_is_not():
    data = plan_data()
    data["notify"]["group_interval"] = "2m"
    check = check_plan(data, environ={})
    assert check.plan is not None
    assert [p.path for p in check.warnings if "update" in p.message] == ["notify.group_interval"]
    data["notify"]["group_interval"] = 0
    assert [p for p in check_plan(data, environ={}).warnings if p.path == "notify.group_interval"] == []


def test_runtime_plan_round_trip_carries_the_lifecycle_fields(tmp_path):
    window = {
        "name": "patching",
        "days": ["sat", "sun"],
        "start": "23:00",
        "end": "01:30",
        "timezone": "America/New_York",
        "metrics": ["Publish*"],
        "dimensions": {"Protocol": "MQTT"},
    }
    plan = make_plan(
        notify={
            "repeat_interval": "2h",
            "group_by": ["Protocol"],
            "maintenance_windows": [window],
            "group_interval": "30m",
            "history_days": 90,
        }
    )
    runtime = read_runtime_plan(write_runtime_plan(plan, tmp_path))
    assert runtime == runtime_plan(plan)
    assert runtime.notify.repeat_interval == 2 * HOUR
    assert (runtime.notify.group_interval, runtime.notify.history_days) == (30 * 60, 90)
    assert runtime.notify.group_by == ("Protocol",)
    [compiled] = runtime.notify.windows
    assert compiled == plan.notify.windows[0]
    assert (compiled.days, compiled.start, compiled.end, compiled.timezone) == (
        ("sat", "sun"),
        "23:00",
        "01:30",
        "America/New_York",
    )
    assert dict(compiled.dimensions) == {"Protocol": "MQTT"}


def test_a_plan_compiled_before_incidents_loads_with_their_defaults(tmp_path):
    path = write_runtime_plan(make_plan(), tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("group_interval", "history_days"):
        del data["notify"][key]
    path.write_text(json.dumps(data), encoding="utf-8")
    notify = read_runtime_plan(path).notify
    assert (notify.group_interval, notify.history_days) == (15 * 60, 400)


def test_the_run_that_advanced_the_incidents_logs_how_many_are_open_and_which_changed(default_plan):
    from iotwatch.service.evaluation_report import EvaluationReport

    world = World(default_plan)
    world.set_from("Connect.Success", E - 2 * PERIOD, 0.0, end=E + HOUR)
    world.run(E, E + PERIOD)
    opened, quiet = (r.as_log_fields() for r in world.reports)
    assert (opened["incidents_open"], opened["incidents_opened"]) == (1, ["251124-1200"])
    assert (quiet["incidents_open"], quiet["incidents_opened"], quiet["incidents_resolved"]) == (1, [], [])
    # a shard that did not publish its tick says nothing of incidents (the dashboard reads the publisher's)
    assert "incidents_open" not in EvaluationReport(window_start=E - PERIOD, window_end=E).as_log_fields()
