"""The cost estimate: every figure of a small plan worked out by hand, how items scale with
the series, cron schedules, the free-tier and tier arithmetic, and the constants that must
stay in step with the handlers and the stored items."""

from __future__ import annotations

import json
import math
import re
import sys

import pytest
from iotwatch import telemetry
from iotwatch.adapters.store.series_items import BASELINE_SK, TRACKER_SK
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.evaluation import Window, evaluate_series
from iotwatch.domain.likelihood import TrackerState
from iotwatch.plan.cost.assumptions import Assumptions
from iotwatch.plan.cost.deployment import AUDIT, BASELINE_BUILDER, EVALUATOR
from iotwatch.plan.cost.estimate import estimate_cost
from iotwatch.plan.cost.items import per_added_metric, usd
from iotwatch.plan.cost.prices import Prices
from iotwatch.plan.cost.workload import expected_discovered, runs_per_month
from iotwatch.plan.expand import expand_templates
from iotwatch.plan.loader import load_plan
from iotwatch.plan.model.plan import Plan

from .conftest import DEFAULT_PLAN_FILE, REPO_ROOT
from .fakes import make_series

if str(REPO_ROOT) not in sys.path:  # the canned DynamoDB client lives in bench/, beside the package
    sys.path.insert(0, str(REPO_ROOT))

from bench.canned_dynamodb import CannedDynamoDB

ARM_GB_SECOND = 0.0000133334


def small_plan(*, protocols=("MQTT", "HTTP"), tools=None, audit=None, extra_metrics=(), **frequency) -> Plan:
    """PublishIn.Success per protocol: 2 series by default; dashboard and audit off."""
    data = {
        "version": 1,
        "name": "small",
        "goals": ["know when devices stop publishing"],
        "owners": {"team": "iot-platform"},
        "resources": {
            "metrics": [
                {"metric": "PublishIn.Success", "dimensions": {"Protocol": list(protocols)}},
                *extra_metrics,
            ]
        },
        "frequency": {"evaluation": "rate(5 minutes)", "baseline_refresh": "rate(1 day)", **frequency},
        "tools": tools or {"dashboard": False, "audit": False},
        "notify": {
            "topics": [{"name": "oncall", "subscribers": [{"email": "oncall@example.com"}]}],
            "routes": [{"topic": "oncall"}],
        },
    }
    if audit is not None:
        data["audit"] = audit
    return Plan.model_validate(data)


# --- a small plan, by hand ------------------------------------------------------------------------
# 2 series; rate(5 minutes) in a 30-day month: 12 an hour x 24 x 30 = 8,640 evaluations;
# rate(1 day): 30 refreshes + 4 builds after deploys = 34 builds.
EVALUATIONS = 12 * 24 * 30
BUILDS = 30 + 4


def test_evaluations_in_a_30_day_month():
    assert EVALUATIONS == 8_640
    estimate = estimate_cost(small_plan())
    assert estimate.series == 2
    assert estimate.evaluations_per_month == EVALUATIONS
    assert estimate.baseline_builds_per_month == BUILDS


def test_get_metric_data_is_series_times_evaluations_plus_builds():
    item = estimate_cost(small_plan()).item("CloudWatch GetMetricData")
    assert item.quantity == 2 * 8_640 + 2 * 34 == 17_348
    assert item.monthly_usd == pytest.approx(17_348 / 1000 * 0.01)  # $0.17


def test_lambda_by_hand():
    estimate = estimate_cost(small_plan())
    assert estimate.item("Lambda requests").quantity == 8_640 + 34
    assert estimate.item("Lambda requests").monthly_usd == pytest.approx(8_674 * 0.20 / 1e6)
    # evaluator: (1.5 s + 2 x 4 ms) x 0.5 GB per run
    evaluator = estimate.item("Lambda evaluator compute")
    assert evaluator.quantity == pytest.approx(8_640 * 1.508 * 0.5)
    assert evaluator.monthly_usd == pytest.approx(8_640 * 1.508 * 0.5 * ARM_GB_SECOND)
    # builder: 2 s + 1 call (2 x 4,032 points fit in one 100,800-point call) + 2 x 50 ms, at 1 GB
    builder = estimate.item("Lambda baseline builder compute")
    assert builder.quantity == pytest.approx(34 * 3.1 * 1.0)
    assert [i.item for i in estimate.items if i.item.startswith("Lambda audit")] == []


def test_dynamodb_by_hand():
    estimate = estimate_cost(small_plan())
    # per tick: the baseline generation, silences, outbox, the open incidents' ids and the
    # completed mark (1 each) + 2 states x 1 RRU + 2 trackers x 1 (0.8 KB); baselines (2 x 2 RRU)
    # again on 24 cold starts a day and after each of the 34 builds; each build reads the 2
    # previous versions (2 RRU each: full items); 10 incidents open 2 h each, their ~5 KB item
    # read every tick
    reads = estimate.item("DynamoDB reads")
    open_reads = 10 * 24 * 2
    assert reads.quantity == 8_640 * (5 + 2 * 1 + 2 * 1) + (24 * 30 + 34) * 2 * 2 + 34 * 2 * 2 + open_reads
    assert reads.quantity == 81_392
    assert reads.monthly_usd == pytest.approx(81_392 * 0.125 / 1e6)
    # per tick: 1 claim + the completed mark + 2 trackers x 1 WRU; per build 2 baselines x 8 WRU
    # + the generation; 10 incidents x (4 state writes + 8 writes of the 5 KB incident item + 2
    # of the open set)
    writes = estimate.item("DynamoDB writes")
    assert writes.quantity == 8_640 * (2 + 2) + 34 * (2 * 8 + 1) + 10 * (4 + 8 * 5 + 2) == 35_598
    assert writes.monthly_usd == pytest.approx(35_598 * 0.625 / 1e6)


# the evaluator's event counters, in the hours they have something to count: 10 incidents x
# 2 h firing and 2 h paging, 8 h silenced, 1 h of failed publishes
EVENT_METRIC_MONTHS = (20 + 20 + 8 + 1) / 720


def test_custom_metrics_alarms_and_the_rest_by_hand():
    estimate = estimate_cost(small_plan())
    # the evaluator's heartbeat every hour (its counts are log fields), its 4 event counters in
    # their hours, the builder's 2 only in 34 of 720 hours; nothing per series
    metrics = estimate.item("CloudWatch custom metrics")
    assert metrics.quantity == pytest.approx(1 + EVENT_METRIC_MONTHS + 2 * 34 / 720)
    assert metrics.monthly_usd == pytest.approx(metrics.quantity * 0.30)
    alarms = estimate.item("CloudWatch alarms")
    assert (alarms.quantity, alarms.monthly_usd) == (3 * 2 + 2, pytest.approx(0.80))
    assert estimate.item("CloudWatch dashboard").monthly_usd == 0  # tools.dashboard off
    assert [i.item for i in estimate.items if "band widget" in i.item] == []  # and no widget to draw it
    assert estimate.item("SNS e-mail deliveries").quantity == 100  # 100 x 1 e-mail subscriber
    assert estimate.item("SNS SMS deliveries").monthly_usd == 0  # no SMS subscriber
    assert estimate.item("X-Ray traces").quantity == 8_674
    assert estimate.item("KMS key (alert topics)").monthly_usd == 1.0
    assert not any(i.item.startswith("SQS") for i in estimate.items)  # 2 series never fan out
    assert estimate.total_usd == pytest.approx(sum(i.monthly_usd for i in estimate.items))


def test_doubling_the_series_doubles_get_metric_data():
    one = estimate_cost(small_plan(protocols=("MQTT",))).item("CloudWatch GetMetricData")
    two = estimate_cost(small_plan(protocols=("MQTT", "HTTP"))).item("CloudWatch GetMetricData")
    assert two.quantity == 2 * one.quantity
    assert two.monthly_usd == pytest.approx(2 * one.monthly_usd)
    doubled = estimate_cost(small_plan(protocols=("MQTT",)), series_factor=2)
    assert doubled.item("CloudWatch GetMetricData").quantity == two.quantity


def test_ten_times_the_series():
    base = estimate_cost(small_plan())
    scaled = estimate_cost(small_plan(), series_factor=10)
    assert scaled.series == 20
    assert (
        scaled.item("CloudWatch GetMetricData").quantity
        == 10 * base.item("CloudWatch GetMetricData").quantity
    )
    # nothing is published per series and a tick logs only what changed: neither grows
    for item in ("CloudWatch custom metrics", "CloudWatch alarms", "CloudWatch Logs ingestion"):
        assert scaled.item(item).quantity == pytest.approx(base.item(item).quantity), item


def test_history_days_change_calls_and_duration_not_get_metric_data():
    short = estimate_cost(small_plan(history_days=7))
    long = estimate_cost(small_plan(history_days=63))
    assert short.item("CloudWatch GetMetricData").quantity == long.item("CloudWatch GetMetricData").quantity
    assert (
        long.item("Lambda baseline builder compute").quantity
        > short.item("Lambda baseline builder compute").quantity
    )


def test_slower_evaluation_costs_less_and_bills_metrics_by_the_hour():
    hourly = estimate_cost(small_plan(evaluation="rate(1 hour)", period_seconds=3600))
    assert hourly.evaluations_per_month == 720
    assert hourly.item("CloudWatch GetMetricData").quantity == 2 * 720 + 2 * 34
    two_hourly = estimate_cost(small_plan(evaluation="rate(2 hours)", period_seconds=3600))
    # published in half the hours: half the metric-months for the evaluator's heartbeat
    assert two_hourly.item("CloudWatch custom metrics").quantity == pytest.approx(
        1 / 2 + EVENT_METRIC_MONTHS + 2 * 34 / 720
    )


# --- options that change the items -------------------------------------------------------------


def test_sms_volume_and_price_are_assumptions():
    estimate = estimate_cost(small_plan(), Assumptions(sms_per_month=200, sms_price_usd=0.05))
    sms = estimate.item("SNS SMS deliveries")
    assert (sms.quantity, sms.monthly_usd) == (200, pytest.approx(10.0))
    assert "assumed 200 per month" in sms.assumption


def test_audit_adds_its_function_alarms_metrics_and_writes():
    plain = estimate_cost(small_plan())
    audited = estimate_cost(
        small_plan(tools={"dashboard": False, "audit": True}), Assumptions(audit_events_per_month=5_000)
    )
    audit = audited.item("Lambda audit compute")
    assert audit.quantity == pytest.approx(5_000 * 2.0 * 0.25)
    assert audited.item("Lambda requests").quantity == plain.item("Lambda requests").quantity + 5_000
    assert audited.item("CloudWatch alarms").quantity == 3 * 3 + 2
    assert audited.item("DynamoDB writes").quantity == plain.item("DynamoDB writes").quantity + 5_000
    # and each of the 10 assumed incidents reads the control-plane calls of its window once
    assert audited.item("DynamoDB reads").quantity == plain.item("DynamoDB reads").quantity + 10
    # AuditEvents in the hours with a call (5,000 at random over 720 h), AuditAlerts in those
    # with one of the 20 alerts, AuditEventsRejected in one; no metric per action
    expected = (
        plain.item("CloudWatch custom metrics").quantity
        + (1 - math.exp(-5_000 / 720))
        + (1 - math.exp(-20 / 720))
        + 1 / 720
    )
    assert audited.item("CloudWatch custom metrics").quantity == pytest.approx(expected)
    assert not any(i.item.startswith("S3") for i in audited.items)
    assert any("create_trail is false" in n for n in audited.notes)


def test_created_trail_adds_s3():
    estimate = estimate_cost(
        small_plan(tools={"dashboard": False, "audit": True}, audit={"create_trail": True})
    )
    s3 = estimate.item("S3 (audit trail)")
    assert s3.monthly_usd > 0
    assert "second trail" in s3.assumption


def test_the_dashboard_draws_bands_per_view_not_per_series_month():
    plain = estimate_cost(small_plan())
    drawn = estimate_cost(small_plan(tools={"dashboard": True, "audit": False}))
    assert drawn.item("CloudWatch dashboard").monthly_usd == 3.0
    # 300 views a month, each drawing the 2 series' band widgets once: one metric read, one
    # Lambda draw (0.3 s at 256 MB), a baseline (2 RRU) and a state (1 RRU) read each
    draws = 300 * 2
    get_metric_data = "CloudWatch GetMetricData"
    assert drawn.item(get_metric_data).quantity - plain.item(get_metric_data).quantity == draws
    assert drawn.item("Lambda band widget compute").quantity == pytest.approx(draws * 0.3 * 0.25)
    assert drawn.item("Lambda requests").quantity - plain.item("Lambda requests").quantity == draws
    assert drawn.item("DynamoDB reads").quantity - plain.item("DynamoDB reads").quantity == draws * 3
    metrics = "CloudWatch custom metrics"
    assert drawn.item(metrics).quantity == plain.item(metrics).quantity
    fewer = estimate_cost(
        small_plan(tools={"dashboard": True, "audit": False}), Assumptions(dashboard_views_per_month=30)
    )
    assert fewer.item("Lambda band widget compute").quantity == pytest.approx(30 * 2 * 0.3 * 0.25)


def test_the_dashboard_metrics_fit_the_free_tier_whatever_the_series():
    # iotwatch's own metrics only (10 + 4 per function drawn): the same at 2 or 2,000 series
    for factor in (1, 1_000):
        estimate = estimate_cost(small_plan(tools={"dashboard": True, "audit": False}), series_factor=factor)
        assert estimate.item("CloudWatch dashboard").free_tier_usd == 3.0, factor
        assert "one dashboard of 22 metrics" in estimate.item("CloudWatch dashboard").assumption


def test_free_tier_is_reported_not_subtracted():
    estimate = estimate_cost(small_plan())
    lambda_items = [i for i in estimate.items if i.item.startswith("Lambda")]
    assert all(i.free_tier_usd == pytest.approx(i.monthly_usd) for i in lambda_items)
    assert estimate.item("CloudWatch GetMetricData").free_tier_usd == 0
    metrics = estimate.item("CloudWatch custom metrics")  # under the 10 free metrics
    assert metrics.free_tier_usd == pytest.approx(metrics.monthly_usd)
    assert estimate.total_usd == pytest.approx(sum(i.monthly_usd for i in estimate.items))
    assert 0 < estimate.free_tier_usd < estimate.total_usd


def test_custom_metrics_are_tiered():
    # a first tier of 1 metric at $0.30, then $0.10
    prices = Prices(custom_metric_tiers=((1, 0.30), (math.inf, 0.10)))
    metrics = estimate_cost(small_plan(), prices=prices).item("CloudWatch custom metrics")
    assert metrics.quantity > 1
    assert metrics.monthly_usd == pytest.approx(1 * 0.30 + (metrics.quantity - 1) * 0.10)


def test_big_plans_fan_out_and_the_warning_says_when_a_shard_is_too_big():
    plan = small_plan(protocols=("MQTT",))
    # 12,000 series: 6 evaluator shards; 19 build shards of 21 days read (14 to train on, the
    # week before for slow change)
    estimate = estimate_cost(plan, series_factor=12_000)
    assert estimate.series == 12_000 and estimate.warnings == []
    requests = estimate.item("Lambda requests")
    assert requests.quantity == 8_640 * (1 + 6) + 34 * (1 + 19)
    assert "24 call(s) per evaluation (the floor, ceil(N/500), over 6 shards)" in (
        estimate.item("CloudWatch GetMetricData").assumption
    )
    assert estimate.item("SQS requests (work queues)").monthly_usd > 0
    # shards as big as the plan allows: one invocation would run past its duration alarm
    huge = small_plan(protocols=("MQTT",), shard_size=20_000, build_shard_size=20_000)
    warned = estimate_cost(huge, series_factor=12_000)
    assert [w.split(" would ")[0] for w in warned.warnings] == ["the evaluator", "the baseline builder"]
    assert estimate_cost(small_plan()).warnings == []


def test_100000_series_read_at_the_floor_and_cost_little_more_than_reading_them():
    plan = small_plan(protocols=("MQTT",))
    base, big = estimate_cost(plan), estimate_cost(plan, series_factor=100_000)
    assert "200 call(s) per evaluation" in big.item("CloudWatch GetMetricData").assumption
    each = per_added_metric(base, big)
    assert each <= 0.11 and each <= 1.3 * big.floor_per_metric_usd


def test_the_default_plan_costs_under_8_dollars_and_each_series_about_what_reading_it_costs():
    """Issue 13's bar, on the default plan as it ships (the nine metrics and issue 14's three
    shares): CloudWatch anomaly detection for the same nine series, with a dashboard and a
    customer-managed key, is about USD 6.70; iotwatch's own alarms and run metrics are counted
    on top. Each added metric costs at most 1.3x reading it at every evaluation. The shares read
    9 metrics more (the rest they share with the nine) and add about what reading those costs."""
    # the device signals (issue 23) are a part of their own, priced per device: test_plan_devices
    plan = load_plan(DEFAULT_PLAN_FILE, environ={}).model_copy(update={"devices": None})
    base = estimate_cost(plan)
    nine = estimate_cost(
        plan.model_copy(update={"resources": plan.resources.model_copy(update={"ratios": []})})
    )
    assert (nine.series, nine.queries) == (9, 9) and plan.tools.dashboard and plan.tools.audit
    assert (base.series, base.queries) == (12, 18)
    assert base.total_usd <= 8.00
    assert base.total_usd - nine.total_usd <= 1.3 * 9 * base.floor_per_metric_usd
    each = per_added_metric(base, estimate_cost(plan, series_factor=10))
    assert base.floor_per_metric_usd == pytest.approx(8_640 * 0.01 / 1000)  # $0.0864
    assert each <= 0.11 and each <= 1.3 * base.floor_per_metric_usd
    # the floor is most of it: what grows with the series is reading them
    assert each >= base.floor_per_metric_usd


def test_expected_discovered_series_spread_over_the_wildcards_up_to_what_discovery_watches():
    wild = small_plan(
        extra_metrics=[
            {"metric": "TopicMatch", "dimensions": {"RuleName": "*"}},
            {"metric": "Failure", "dimensions": {"RuleName": "*", "ActionType": "Lambda"}},
        ]
    )
    templates = expand_templates(wild)
    found = expected_discovered(templates, 7)
    assert [s.metric for s in found] == ["TopicMatch", "Failure"] * 3 + ["TopicMatch"]
    assert found[1].dimension_map == {"ActionType": "Lambda", "RuleName": "expected-000001"}
    assert len({s.id for s in found}) == 7
    assert len(expected_discovered(templates, 5_000)) == 2 * 500  # 500 values per "*" metric
    estimate = estimate_cost(wild, discovered=found)
    assert (estimate.series, estimate.discovered) == (2 + 7, 7)
    # a plan that may discover series has the work queues that fan them out, idle or not
    assert "2 work queue(s)" in estimate.item("SQS requests (work queues)").assumption


def test_dominant_items_cover_three_quarters_at_most_three():
    estimate = estimate_cost(small_plan())
    top = estimate.dominant()
    assert 1 <= len(top) <= 3
    assert top[0].monthly_usd == max(i.monthly_usd for i in estimate.items)
    assert sum(i.monthly_usd for i in top) >= 0.75 * estimate.total_usd or len(top) == 3


# --- schedules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("rate(5 minutes)", 8_640),
        ("rate(1 minute)", 43_200),
        ("rate(1 day)", 30),
        ("rate(12 hours)", 60),
        ("cron(0/5 * * * ? *)", 8_640),
        ("cron(0 3 * * ? *)", 30),
        ("cron(0,30 8-17 * * ? *)", 2 * 10 * 30),
        ("cron(0 9 ? * MON-FRI *)", 30 * 5 / 7),
        ("cron(0 9 ? * 2-6 *)", 30 * 5 / 7),
        ("cron(0 4 1 * ? *)", 1),
        ("cron(0 4 * JAN-JUN ? *)", 30 / 2),
    ],
)
def test_runs_per_month(expression, runs):
    counted, note = runs_per_month(expression, 30)
    assert counted == pytest.approx(runs)
    assert note is None


def test_a_cron_that_cannot_be_counted_is_taken_as_daily_and_said_so():
    counted, note = runs_per_month("cron(0 3 L * ? *)", 30)
    assert counted == 30
    assert note is not None and "once a day" in note


# --- constants that must follow the code ------------------------------------------------------

HANDLERS = REPO_ROOT / "lambdas" / "iotwatch" / "handlers"


@pytest.mark.parametrize(
    ("module", "size"),
    [("evaluator.py", EVALUATOR), ("baseline_builder.py", BASELINE_BUILDER), ("audit.py", AUDIT)],
)
def test_run_metrics_are_the_ones_the_handlers_emit(module, size):
    source = (HANDLERS / module).read_text(encoding="utf-8")
    emitted = [getattr(telemetry, c).name for c in re.findall(r"add_metric\(\*\*(\w+)\.datapoint\(", source)]
    assert sorted(set(emitted)) == sorted(size.powertools_metrics + size.event_metrics + size.fanout_metrics)


def test_a_stored_baseline_fits_the_assumed_item_size():
    """A busy 5-minute counter's baseline item as DynamoStateStore.baselines.put_baseline writes it."""
    end = 1_700_006_400
    start = end - 14 * 86400
    points = [
        (t, float(int(50_000 + 30_000 * math.sin(t / 86400 * 2 * math.pi) + (t % 7) * 300)))
        for t in range(start, end, 300)
    ]
    series_id = "AWS/IoT|UpdateThingShadow.Accepted|Protocol=MQTT"
    baseline = build_baseline(
        series_id=series_id, points=points, start=start, end=end, period=300, built_at=end, version=12
    )
    record = json.dumps(baseline.to_record(), separators=(",", ":"))
    attributes = {
        "pk": f"SERIES#{series_id}",
        "sk": BASELINE_SK,
        "version": "12",
        "method": baseline.method,
        "built_at": str(end),
        "record": record,
    }
    size = sum(len(k) + len(v) for k, v in attributes.items())
    assumed = Assumptions().baseline_item_kb * 1024
    assert 0.8 * assumed < size <= assumed


def test_a_stored_tracker_fits_the_assumed_item_size():
    """The likelihood tracker of a busy counter after a week of ticks, as DynamoStateStore
    writes it every tick: Assumptions.tracker_item_kb must follow it (reads are priced per
    4 KB and writes per KB of it, for every series at every tick)."""
    end = 1_700_006_400
    start = end - 14 * 86400
    points = [
        (t, float(int(50_000 + 30_000 * math.sin(t / 86400 * 2 * math.pi) + (t % 7) * 300)))
        for t in range(start, end, 300)
    ]
    series = make_series("UpdateThingShadow.Accepted")
    baseline = build_baseline(
        series_id=series.id,
        points=points[: len(points) // 2],
        start=start,
        end=end - 7 * 86400,
        period=300,
        built_at=end,
        version=1,
    )
    tracker = TrackerState()
    week = Window(end - 7 * 86400, end, 300)
    evaluate_series(series, datapoints=points, baseline=baseline, state=None, window=week, tracker=tracker)
    db = CannedDynamoDB("t")
    DynamoStateStore(db, "t").series_state.save_trackers({series.id: tracker})
    [item] = db.items(TRACKER_SK)
    size = sum(len(k) + len(next(iter(v.values()))) for k, v in item.items())
    assert tracker.seen > 2_000
    assert size <= Assumptions().tracker_item_kb * 1024, f"{size} bytes: raise Assumptions.tracker_item_kb"


def test_usd_formatting():
    assert usd(3) == "$3.00"
    assert usd(0.3) == "$0.30"
    assert usd(0.125) == "$0.125"
    assert usd(0.0000133334) == "$0.0000133334"
    assert usd(0.00645) == "$0.00645"
