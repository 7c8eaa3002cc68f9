"""`iotwatch baseline show` against the local AWS endpoint: baselines written by the real
DynamoDB store (and learnt from CloudWatch by the real builder service), the table found
through a CloudFormation stack's `TableName` output, and the real Scan behind "which
series do exist" when one is missing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.baseline.model import Baseline
from iotwatch.domain.deviation import AlertState
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan
from iotwatch.service.baselines import rebuild_baselines
from iotwatch_harness import STATE_TABLE_TEMPLATE, create_state_table

from iotwatch_cli import baseline_show
from iotwatch_cli.baseline_report import BaselineView, render_text
from iotwatch_cli.baseline_show import LISTED_SERIES
from iotwatch_cli.main import main
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.traffic import Fleet, generate, put_traffic

REPO = Path(__file__).resolve().parents[2]
PLAN_FILE = REPO / "monitoring-plan.yaml"
DAY = 86400
PERIOD = 300
MONDAY = int(datetime(2026, 11, 16, tzinfo=UTC).timestamp())
NOW = MONDAY + 14 * 3600 + 600  # Monday 14:10 UTC
TABLE = "iotwatch-cli-baselines"
STACK = "IotWatch-Fleet"  # the default plan's stack name

TEMPLATE = STATE_TABLE_TEMPLATE


@pytest.fixture
def plan_series():
    return expand_series(load_plan(PLAN_FILE, environ={}))


@pytest.fixture
def table(aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch) -> str:
    create_state_table(TABLE)
    monkeypatch.setattr(baseline_show, "clock", lambda: NOW)
    return TABLE


def learnt(series, days: int = 10, version: int = 1) -> Baseline:
    end = MONDAY
    start = end - days * DAY
    points = [(ts, float(c)) for _, ts, c in generate(Fleet(), [series], start=start, end=end)]
    return build_baseline(
        series_id=series.id,
        points=points,
        start=start,
        end=end,
        period=PERIOD,
        built_at=end + 60,
        version=version,
    )


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["baseline", "show", *argv, "--plan", str(PLAN_FILE)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_show_prints_what_the_store_wrote(table: str, plan_series):
    series = next(s for s in plan_series if s.metric == "PublishIn.Success")
    store = DynamoStateStore(boto3.client("dynamodb"), table)
    store.baselines.put_baseline(learnt(series, version=4))
    code, out, err = run("PublishIn.Success", "--dimension", "Protocol=MQTT", "--table", table)
    assert (code, err) == (0, "")
    stored = store.baselines.get_baselines([series.id])[series.id]
    expected = render_text(
        BaselineView(stored, series, in_plan=True, plan_name="fleet", table=table, stack=None), now=NOW
    )
    assert out == expected + "\n"
    assert "seasonal-level-v2, version 4" in out
    assert "2026-11-06 00:00 to 2026-11-16 00:00 UTC (10.0 days)" in out
    assert "* now (Mon 14:10 UTC)" in out
    assert max(len(line) for line in out.splitlines()) <= 120

    code, out, err = run("PublishIn.Success", "--dimension", "Protocol=MQTT", "--table", table, "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["version"] == 4 and len(document["hours"]) == 168
    assert document["trained_from"] == "2026-11-06T00:00:00Z"
    monday_14 = document["hours"][14]
    expectation = stored.expectation_at(MONDAY + 14 * 3600 + 1800 - PERIOD / 2)
    assert monday_14["expected"] == expectation.expected
    assert monday_14["upper"] == expectation.expected + 4 * expectation.scale


def test_show_prints_what_the_series_tracker_has_learnt(table: str, plan_series):
    from iotwatch.domain.evaluation import Window, evaluate_series
    from iotwatch.domain.likelihood import TrackerState

    series = next(s for s in plan_series if s.metric == "PublishIn.Success")
    store = DynamoStateStore(boto3.client("dynamodb"), table)
    baseline = learnt(series, version=4)
    store.baselines.put_baseline(baseline)
    code, out, _ = run("PublishIn.Success", "--dimension", "Protocol=MQTT", "--table", table)
    assert code == 0 and "tracker      none stored yet" in out
    # as the evaluator leaves it: the day before now, judged period by period
    start = MONDAY + 14 * 3600 - 288 * PERIOD
    points = [(ts, float(c)) for _, ts, c in generate(Fleet(), [series], start=start, end=MONDAY + 14 * 3600)]
    tracker = TrackerState()
    window = Window(start, MONDAY + 14 * 3600, PERIOD)
    evaluate_series(series, datapoints=points, baseline=baseline, state=None, window=window, tracker=tracker)
    store.series_state.save_trackers({series.id: tracker})
    code, out, err = run("PublishIn.Success", "--dimension", "Protocol=MQTT", "--table", table)
    assert (code, err) == (0, "")
    assert f"tracker      {len(points)} periods seen, the last at 2026-11-16T13:55:00Z" in out
    assert "running " in out and "vs the expected curve, normal ± " in out
    assert "largest excursions lately +" in out
    assert max(len(line) for line in out.splitlines()) <= 120
    code, out, err = run("PublishIn.Success", "--dimension", "Protocol=MQTT", "--table", table, "--json")
    facts = json.loads(out)["tracker"]
    assert facts["periods_seen"] == len(points) and facts["spread"] > 0
    assert facts["lowest_seen"] <= facts["highest_seen"]
    assert facts["largest_rise"] > 0 and facts["largest_fall"] > 0


def test_show_explains_a_baseline_the_builder_learnt_from_cloudwatch(table: str, plan_series):
    """Traffic in CloudWatch -> the builder service, twice (a deploy, then the daily refresh)
    -> the item shows version 2 and the second training window."""
    series = [s for s in plan_series if s.metric in ("Connect.Success", "RulesExecuted")]
    put_traffic(boto3.client("cloudwatch"), generate(Fleet(), series, start=MONDAY - 15 * DAY, end=MONDAY))
    reader = CloudWatchMetricReader(boto3.client("cloudwatch"))
    store = DynamoStateStore(boto3.client("dynamodb"), table)
    for now in (MONDAY - DAY + 8 * 3600, MONDAY + 8 * 3600):
        rebuild_baselines(now=now, series=series, history_days=14, reader=reader, store=store.baselines)
    code, out, err = run("RulesExecuted", "--table", table)
    assert (code, err) == (0, "")
    assert "Baseline of AWS/IoT|RulesExecuted|" in out
    assert "seasonal-level-v2, version 2" in out
    assert "trained on   2026-11-02 08:00 to 2026-11-16 08:00 UTC (14.0 days)" in out
    assert "built at     2026-11-16 08:00 UTC" in out
    # the last 8 hours of the window have no traffic in CloudWatch: counted as no traffic
    assert "3,936 of 4,032 periods (98%)" in out
    assert "168 hour-of-week" in out


def test_show_finds_the_table_through_the_plans_stack(aws_env: LocalAws, plan_series, monkeypatch):
    monkeypatch.setattr(baseline_show, "clock", lambda: NOW)
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
    cloudformation.create_stack(
        StackName="Unrelated", TemplateBody=json.dumps({"Resources": TEMPLATE["Resources"]})
    )
    (output,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    table = output["OutputValue"]
    series = next(s for s in plan_series if s.metric == "Ping.Success")
    DynamoStateStore(boto3.client("dynamodb"), table).baselines.put_baseline(learnt(series))

    code, out, err = run("Ping.Success", "--dimension", "Protocol=MQTT")  # the plan's stack, by default
    assert (code, err) == (0, "")
    assert f"table        {table} (stack {STACK})" in out
    assert run("Ping.Success", "--dimension", "Protocol=MQTT", "--stack", STACK)[1] == out

    code, out, err = run("Ping.Success", "--dimension", "Protocol=MQTT", "--stack", "Missing")
    assert (code, out) == (2, "")
    assert "stack Missing not found" in err
    code, out, err = run("Ping.Success", "--dimension", "Protocol=MQTT", "--stack", "Unrelated")
    assert (code, out) == (2, "")
    assert "has no TableName output" in err


def test_a_missing_baseline_names_the_series_and_lists_what_exists(table: str, plan_series):
    dynamodb = boto3.client("dynamodb")
    store = DynamoStateStore(dynamodb, table)
    for series in plan_series:
        store.baselines.put_baseline(learnt(series, days=2))
        assert store.series_state.save_state(AlertState(series_id=series.id, last_evaluated=NOW))
    code, out, err = run("Connect.Success", "--table", table)  # the plan watches it with Protocol=MQTT
    assert (code, out) == (2, "")
    assert f"error: no baseline for series AWS/IoT|Connect.Success| in table {table}." in err
    assert "Did you mean:\n  iotwatch baseline show Connect.Success --dimension Protocol=MQTT" in err
    namespaces = {s.namespace for s in plan_series}
    listed = [line.strip() for line in err.splitlines() if line.strip().split("|")[0] in namespaces]
    # baselines only, never the STATE items; the first LISTED_SERIES of them, and says so
    assert listed == sorted(s.id for s in plan_series)[:LISTED_SERIES]
    assert len(plan_series) <= LISTED_SERIES or "Series with a baseline in the table (first ones):" in err


def test_an_empty_or_missing_table_is_explained(table: str):
    code, out, err = run("RulesExecuted", "--table", table)
    assert (code, out) == (2, "")
    assert "holds no baselines yet" in err
    code, out, err = run("RulesExecuted", "--table", "no-such-table")
    assert (code, out) == (2, "")
    assert "table no-such-table does not exist" in err
