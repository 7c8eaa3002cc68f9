"""The Lambda handlers in-process: settings from the environment, plan.json from the task
root, injected in-memory dependencies, and the sample events in tests/events."""

from __future__ import annotations

import copy
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from iotwatch.domain.deviation import PeriodScore
from iotwatch.domain.incidents.feedback import mark
from iotwatch.domain.incidents.model import Incident, Member
from iotwatch.domain.series import Series
from iotwatch.handlers import baseline_builder, evaluator
from iotwatch.handlers.events import BadEventError
from iotwatch.handlers.log_queries import (
    EVALUATOR_CALLS_QUERY,
    INCIDENTS_QUERY,
    OPEN_INCIDENTS_QUERY,
    SERIES_NOW_QUERY,
)
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import check_plan, read_plan_document
from iotwatch.plan.runtime import RUNTIME_PLAN_FILE, read_runtime_plan, write_runtime_plan
from iotwatch.service.evaluation_report import EVALUATION_COMPLETE, INCIDENT_LINE

from iotwatch_local.lambda_runtime import logs_into

from .conftest import DEFAULT_PLAN_FILE, EVENTS_DIR
from .fakes import DAY, PERIOD, FakeNotifier, FakeReader, FakeStore, flat_baseline

TOPIC_ARNS = {
    "oncall-email": "arn:aws:sns:eu-west-1:123456789012:iotwatch-fleet-oncall-email",
    "oncall-sms": "arn:aws:sns:eu-west-1:123456789012:iotwatch-fleet-oncall-sms",
}


@dataclass
class LambdaContext:
    function_name: str = "IotWatch-Fleet-Evaluator"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:IotWatch-Fleet-Evaluator"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def event(name, **changes):
    data = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    data.update(changes)
    return data


def epoch(iso):
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _clear_caches():
    evaluator.setup.reset()
    baseline_builder.setup.reset()


@pytest.fixture
def task_root(tmp_path, monkeypatch, default_plan):
    """What the Lambda runtime provides: the staged asset with plan.json, and the stack's environment."""
    write_runtime_plan(default_plan, tmp_path)
    monkeypatch.setenv("IOTWATCH_TABLE", "iotwatch-fleet-state")
    monkeypatch.setenv("IOTWATCH_TOPICS", json.dumps(TOPIC_ARNS))
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("IOTWATCH_DASHBOARD", "IotWatch-Fleet")
    monkeypatch.delenv("IOTWATCH_PLAN_FILE", raising=False)
    _clear_caches()
    yield tmp_path
    _clear_caches()


@pytest.fixture
def evaluator_deps():
    return evaluator.EvaluatorDependencies(reader=FakeReader(), store=FakeStore(), notifier=FakeNotifier())


# --- evaluator ----------------------------------------------------------------------------------


def test_evaluator_window_comes_from_the_event_time(task_root, evaluator_deps, default_series):
    scheduled = event("evaluator-schedule")
    result = evaluator.handler(scheduled, LambdaContext(), evaluator_deps)
    # 14:06:00 minus 60 s settling is 14:05:00: the last complete periods end at 14:05
    end = epoch("2026-11-24T14:05:00Z")
    [(series_ids, start, stop)] = evaluator_deps.reader.requests
    assert (start, stop) == (end - 3 * PERIOD, end)
    assert series_ids == tuple(s.id for s in default_series)  # nine metrics and three shares
    assert result["window_end"] == datetime.fromtimestamp(end, UTC).isoformat()
    # 9 metrics, 3 shares, 10 device counts (the devices section)
    assert (result["series"], result["learning"], result["published"]) == (22, 22, 0)


@pytest.mark.parametrize(
    ("time", "window_end"),
    [
        ("2024-02-29T08:01:30Z", "2024-02-29T08:00:00Z"),
        ("2024-02-29T08:00:59Z", "2024-02-29T07:55:00Z"),
        ("2019-06-01T00:00:30+00:00", "2019-05-31T23:55:00Z"),  # across midnight
    ],
)
def test_evaluator_uses_the_event_time_not_the_wall_clock(task_root, evaluator_deps, time, window_end):
    evaluator.handler(event("evaluator-schedule", time=time), LambdaContext(), evaluator_deps)
    [(_, start, stop)] = evaluator_deps.reader.requests
    assert stop == epoch(window_end)
    assert start == stop - 3 * PERIOD


def test_evaluator_pages_through_its_dependencies(task_root, evaluator_deps, default_series):
    end = epoch("2026-11-24T14:05:00Z")
    for s in default_series:
        evaluator_deps.store.put_baseline(flat_baseline(s.id, expected=1000.0, scale=50.0))
        for ts in range(end - 3 * PERIOD, end - 2 * PERIOD, PERIOD):
            evaluator_deps.reader.set(s.id, ts, 1000.0)
    # every series went silent two periods ago (a broker outage): zeros against 1,000 expected
    result = evaluator.handler(event("evaluator-schedule"), LambdaContext(), evaluator_deps)
    assert result["published"] == 2
    assert evaluator_deps.notifier.topics() == ["oncall-email", "oncall-sms"]
    assert result["firing"] == 9  # the metrics; the shares have no attempts, so no share to judge
    # the same event again (a Lambda retry) changes nothing
    again = evaluator.handler(event("evaluator-schedule"), LambdaContext(), evaluator_deps)
    assert (again["published"], again["skipped"]) == (0, len(default_series))


def _metric_names(printed: str) -> set[str]:
    """The metric names of the EMF documents Powertools printed."""
    names: set[str] = set()
    for line in printed.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                names |= {m["Name"] for m in directive["Metrics"]}
    return names


def test_event_counters_are_published_only_in_the_runs_that_count_something(
    task_root, evaluator_deps, default_series, capsys
):
    end = epoch("2026-11-24T14:05:00Z")
    for s in default_series:
        evaluator_deps.store.put_baseline(flat_baseline(s.id, expected=1000.0, scale=50.0))
        for ts in range(end - 4 * PERIOD, end, PERIOD):
            evaluator_deps.reader.set(s.id, ts, 1000.0)
    capsys.readouterr()
    evaluator.handler(event("evaluator-schedule"), LambdaContext(), evaluator_deps)
    quiet = _metric_names(capsys.readouterr().out)
    assert quiet == {"EvaluationCompleted"}  # the run's counts are fields of its log line
    for s in default_series:  # the next period: every series silent, a broker outage
        evaluator_deps.reader.set(s.id, end, 0.0)
    evaluator.handler(
        event("evaluator-schedule", time="2026-11-24T14:11:00Z"), LambdaContext(), evaluator_deps
    )
    paging = _metric_names(capsys.readouterr().out)
    assert paging == quiet | {"SeriesFiring", "NotificationsSent"}


def test_evaluator_fails_the_invocation_when_a_topic_cannot_be_reached(
    task_root, evaluator_deps, default_series
):
    evaluator_deps.notifier.failing.add("oncall-sms")
    for s in default_series:
        evaluator_deps.store.put_baseline(flat_baseline(s.id, expected=1000.0, scale=50.0))
    with pytest.raises(RuntimeError, match="oncall-sms"):
        evaluator.handler(event("evaluator-schedule"), LambdaContext(), evaluator_deps)
    assert evaluator_deps.notifier.topics() == ["oncall-email"]
    # the SMS waits in the outbox for the retry of this event; nothing else will page again
    assert [item.topic for item in evaluator_deps.store.outbox_items.values()] == ["oncall-sms"]
    evaluator_deps.notifier.failing.clear()
    evaluator.handler(event("evaluator-schedule"), LambdaContext(), evaluator_deps)
    assert evaluator_deps.notifier.topics() == ["oncall-email", "oncall-sms"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("bad_time", ["yesterday", "24/11/2026 14:06", "", None, 1764000000])
def test_evaluator_rejects_a_bad_event_time_clearly(task_root, evaluator_deps, bad_time):
    with pytest.raises(BadEventError) as raised:
        evaluator.handler(event("evaluator-schedule", time=bad_time), LambdaContext(), evaluator_deps)
    assert "'time'" in str(raised.value)
    assert repr(bad_time) in str(raised.value)
    assert evaluator_deps.reader.requests == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_evaluator_rejects_an_event_without_time(task_root, evaluator_deps):
    scheduled = event("evaluator-schedule")
    del scheduled["time"]
    with pytest.raises(BadEventError, match="no 'time'"):
        evaluator.handler(scheduled, LambdaContext(), evaluator_deps)


# --- baseline builder --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["stack-create-complete", "stack-update-complete", "baseline-refresh-schedule"]
)
def test_baseline_builder_trains_on_history_before_the_event_time(task_root, name, default_series):
    reader, store = FakeReader(), FakeStore()
    trigger = event(name)
    end = epoch(trigger["time"]) // PERIOD * PERIOD
    rules = next(s for s in default_series if s.metric == "RulesExecuted")
    for ts in range(end - 14 * DAY, end, PERIOD):
        reader.set(rules.id, ts, 500.0)
    deps = baseline_builder.BuilderDependencies(reader=reader, store=store)
    result = baseline_builder.handler(trigger, LambdaContext(function_name="IotWatch-Fleet-Baselines"), deps)
    [(_, start, stop)] = reader.requests
    # 14 days to train on, and the week before them for slow change's two-week comparison
    assert (start, stop) == (end - 21 * DAY, end)
    assert {b.trained_from for b in store.stored_baselines.values()} == {end - 14 * DAY}
    assert result["built"] == len(store.stored_baselines) == len(default_series)
    assert sorted(result["without_history"]) == sorted(s.id for s in default_series if s is not rules)
    assert store.stored_baselines[rules.id].expectation_at(end + 3600).expected == 500.0
    assert {b.trained_to for b in store.stored_baselines.values()} == {end}
    assert result["get_metric_data_calls"] == 1


def test_baseline_builder_leaves_the_periods_of_marked_incidents_out(task_root, default_series):
    """A surge on-call marked (`incidents mark`) is not learnt as the normal of its hour."""
    trigger = event("baseline-refresh-schedule")
    end = epoch(trigger["time"]) // PERIOD * PERIOD
    rules = next(s for s in default_series if s.metric == "RulesExecuted")
    surge = end - 3 * DAY - end % 3600  # an hour three days back
    learnt = {}
    for marked in (False, True):
        reader, store = FakeReader(), FakeStore()
        for ts in range(end - 14 * DAY, end, PERIOD):
            reader.set(rules.id, ts, 5000.0 if surge <= ts < surge + 3600 else 500.0)
        if marked:
            store.save_incident(_surge_incident(rules, surge, surge + 3600))
        deps = baseline_builder.BuilderDependencies(reader=reader, store=store)
        baseline_builder.handler(trigger, LambdaContext(), deps)
        learnt[marked] = store.stored_baselines[rules.id].expectation_at(surge + 7 * DAY).expected
    assert learnt[False] > 1000.0, "unmarked, the surge is half of what its hour learns"
    assert learnt[True] == 500.0


def _surge_incident(series: Series, start: int, end: int) -> Incident:
    latest = PeriodScore(start, 5000.0, 500.0, 300.0, 700.0, 90.0, 9.0, "critical", "hour-of-week")
    member = Member(series.id, series.namespace, series.metric, (), "Sum", PERIOD, start, start, "critical", 90.0,
                    latest, status="recovered", ended=end)  # fmt: skip
    incident = Incident("251120-1000", (), start, [member], "critical", status="resolved", resolved_at=end)
    mark(incident, "expected", at=end + 600, note="load test")
    return incident


def test_baseline_builder_bumps_versions_on_refresh(task_root, default_series):
    store = FakeStore([flat_baseline(s.id, expected=1.0, scale=1.0) for s in default_series])
    deps = baseline_builder.BuilderDependencies(reader=FakeReader(), store=store)
    baseline_builder.handler(event("baseline-refresh-schedule"), LambdaContext(), deps)
    assert {b.version for b in store.stored_baselines.values()} == {2}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_baseline_builder_rejects_a_bad_event_time(task_root):
    deps = baseline_builder.BuilderDependencies(reader=FakeReader(), store=FakeStore())
    with pytest.raises(BadEventError):
        baseline_builder.handler(event("stack-create-complete", time="not-a-time"), LambdaContext(), deps)


# --- the compiled plan ------------------------------------------------------------------------------


def test_compiled_plan_contains_no_subscriber_contacts(tmp_path):
    data = read_plan_document(DEFAULT_PLAN_FILE)
    data = copy.deepcopy(data)
    data["notify"]["topics"][0]["subscribers"].append({"email": {"env": "ONCALL_BACKUP_EMAIL"}})
    data["notify"]["topics"][1]["subscribers"].append({"sms": "+447700900123"})
    plan = check_plan(data, environ={"ONCALL_BACKUP_EMAIL": "backup.person@example.net"}).plan
    path = write_runtime_plan(plan, tmp_path)
    assert path == tmp_path / RUNTIME_PLAN_FILE
    text = path.read_text(encoding="utf-8")
    for contact in (
        "iot-oncall@example.com",
        "/iotwatch/fleet/oncall-phone",
        "ONCALL_BACKUP_EMAIL",
        "backup.person@example.net",
        "+447700900123",
        "7700900123",
    ):
        assert contact not in text
    compiled = json.loads(text)
    assert "subscribers" not in text
    # notify is compiled only for the alert lifecycle: no topics' subscribers, no contacts
    assert set(compiled["notify"]) == {
        "repeat_interval",
        "group_by",
        "maintenance_windows",
        "group_interval",
        "history_days",
        "events",
    }
    # everything the functions need is still there, already expanded
    runtime = read_runtime_plan(path)
    assert list(runtime.topics) == ["oncall-email", "oncall-sms"]
    assert [(r.topic, list(r.severities), list(r.metrics)) for r in runtime.routes] == [
        (r.topic, r.severities, r.metrics) for r in plan.notify.routes
    ]
    assert list(runtime.series) == expand_series(plan)
    for severity in ("warning", "critical"):
        assert runtime.topics_for(severity=severity, metric="Connect.Success") == plan.topics_for(
            severity=severity, metric="Connect.Success"
        )
    assert (runtime.owners.team, runtime.owners.runbook, runtime.owners.escalation) == (
        plan.owners.team,
        plan.owners.runbook,
        plan.owners.escalation,
    )


def test_handlers_read_the_plan_from_the_task_root(task_root, default_plan):
    settings = evaluator.setup.settings()
    assert settings.plan == read_runtime_plan(task_root / RUNTIME_PLAN_FILE)
    assert settings.topic_arns == TOPIC_ARNS
    assert (settings.table_name, settings.region, settings.dashboard_name) == (
        "iotwatch-fleet-state",
        "eu-west-1",
        "IotWatch-Fleet",
    )
    assert tuple(evaluator.setup.series()) == tuple(expand_series(default_plan))


def _fields_read(query: tuple[str, ...]) -> set[str]:
    """The log fields a Logs Insights query reads: in functions, after `by`, `not`, `sort`."""
    text = " ".join(query)
    names = set(re.findall(r"\b(?:sum|latest|min|max|ispresent)\((\w+)\)", text))
    names |= set(re.findall(r"\bby (\w+)", text)) | set(re.findall(r"\bnot (\w+)", text))
    return names - {"bin"}


def test_the_dashboards_log_queries_read_fields_the_evaluator_writes(
    task_root, evaluator_deps, default_series
):
    """The dashboard's run counts and GetMetricData calls are Logs Insights queries over the
    `evaluation complete` line, not custom metrics: a renamed field would leave them empty."""
    end = epoch("2026-11-24T14:05:00Z")
    for s in default_series:
        evaluator_deps.store.put_baseline(flat_baseline(s.id, expected=1000.0, scale=50.0))
        for ts in range(end - 4 * PERIOD, end, PERIOD):
            evaluator_deps.reader.set(s.id, ts, 1000.0)
        evaluator_deps.reader.set(s.id, end, 0.0)  # a broker outage: an incident opens
    written = io.StringIO()
    with logs_into(written, evaluator):  # the logger's stream, as the demo points it at its log file
        evaluator.handler(
            event("evaluator-schedule", time="2026-11-24T14:11:00Z"), LambdaContext(), evaluator_deps
        )
    lines = [json.loads(line) for line in written.getvalue().splitlines() if line.startswith('{"level"')]
    complete = next(line for line in lines if line["message"] == EVALUATION_COMPLETE)
    incident = next(line for line in lines if line["message"] == INCIDENT_LINE)
    assert complete["series"] == len(default_series) and complete["get_metric_data_calls"] >= 1
    for query in (SERIES_NOW_QUERY, EVALUATOR_CALLS_QUERY, OPEN_INCIDENTS_QUERY):
        assert f'message = "{EVALUATION_COMPLETE}"' in query[0]
        assert _fields_read(query) <= set(complete), (query, set(complete))
    assert _fields_read(INCIDENTS_QUERY) - {"incident"} <= set(incident)
    assert incident["incident"]
