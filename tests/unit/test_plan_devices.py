"""The plan's `devices` section: the model and its checks, the series and the device watch it
expands to, what it compiles into plan.json, what `plan validate` says the account needs, and
what `plan cost` itemizes for it."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from iotwatch.domain.where import (
    DISCONNECT_REASONS,
    FLEET_METRICS_NAMESPACE,
    ContributorRule,
    DeviceWatch,
    WatchedGroup,
)
from iotwatch.plan.cost.assumptions import Assumptions
from iotwatch.plan.cost.estimate import estimate_cost
from iotwatch.plan.devices import (
    TOP_CLIENT_METRICS,
    connect_failure_rule_sql,
    disconnect_rule_sql,
    fleet_period,
    fleet_query,
    insight_rule_body,
    prerequisites,
)
from iotwatch.plan.expand import device_series, device_watch, expand_series
from iotwatch.plan.loader import check_plan
from iotwatch.plan.model.devices import DEFAULT_DISCONNECT_REASONS, IotLogging
from iotwatch.plan.runtime import read_runtime_plan, write_runtime_plan

from iotwatch_cli.main import main

from .conftest import DEFAULT_PLAN_FILE
from .test_plan import by_path, minimal_plan

EXAMPLE_DISCONNECT_IDS = [f"IotWatch/fleet/Devices|Disconnect.{r}|" for r in DEFAULT_DISCONNECT_REASONS]
EXAMPLE_FAILURE_ID = "IotWatch/fleet/Devices|ConnectFailure.AUTHORIZATION_FAILED|"
GROUP_IDS = [
    "IoTFleetMetrics|iotwatch-fleet-eu-gateways|AggregationType=count",
    "IoTFleetMetrics|iotwatch-fleet-us-sensors|AggregationType=count",
]


def checked(devices: object):
    return check_plan(minimal_plan(devices=devices), environ={})


def plan_with(devices: object):
    check = checked(devices)
    assert check.errors == [], check.errors
    assert check.plan is not None
    return check.plan


def with_indexing(default_plan):
    assert default_plan.devices is not None
    devices = default_plan.devices.model_copy(update={"fleet_indexing": "enabled"})
    return default_plan.model_copy(update={"devices": devices})


# --- the model --------------------------------------------------------------------------------


def test_an_empty_section_watches_the_meaningful_reasons_and_failed_connects():
    devices = plan_with({}).devices
    assert devices is not None
    assert devices.disconnect_reasons == list(DEFAULT_DISCONNECT_REASONS)
    assert "CLIENT_INITIATED_DISCONNECT" not in devices.disconnect_reasons  # a client's own goodbye
    assert set(DEFAULT_DISCONNECT_REASONS) <= set(DISCONNECT_REASONS)
    assert devices.connect_failures and devices.where == ["thingGroupNames"]
    assert devices.fleet_indexing == "disabled" and devices.logging is None


def test_a_plan_without_the_section_has_no_device_series_and_no_watch():
    plan = plan_with(None)
    assert device_series(plan) == [] and device_watch(plan) is None


@pytest.mark.parametrize(
    ("devices", "path", "words"),
    [
        ({"disconnect_reasons": ["CONECTION_LOST"]}, "devices.disconnect_reasons", "CONNECTION_LOST"),
        ({"disconnect_reasons": ["THROTTLED", "THROTTLED"]}, "devices.disconnect_reasons", "listed twice"),
        ({"top_clients": ["Connect.Success"]}, "devices.top_clients", "Connect.AuthError"),
        ({"groups": [{"query": "thingTypeName:gw"}]}, "devices.groups[0]", "needs a name"),
        ({"groups": [{"thing_group": "a", "query": "x"}]}, "devices.groups[0]", "not both"),
        ({"groups": [{}]}, "devices.groups[0]", "thing_group: NAME"),
        ({"groups": [{"thing_group": "eu"}, {"name": "eu", "query": "x:y"}]}, "devices", "listed twice"),
        ({"where": ["thing groups"]}, "devices.where", "thingGroupNames"),
        ({"fleet_indexing": "maybe"}, "devices.fleet_indexing", "enabled"),
        ({"logging": {"level": "VERBOSE"}}, "devices.logging.level", "ERROR"),
    ],
)
def test_bad_device_settings_name_the_field_and_the_fix(devices, path, words):
    check = checked(devices)
    assert check.plan is None
    problems = by_path(check)
    assert path in problems, problems
    assert any(words in p.message for p in problems[path]), problems[path]


def test_yaml_on_and_off_read_as_enabled_and_disabled():
    assert plan_with({"fleet_indexing": True}).devices.fleet_indexing == "enabled"
    assert plan_with({"fleet_indexing": False}).devices.fleet_indexing == "disabled"


@pytest.mark.parametrize(
    ("devices", "path", "words"),
    [
        (
            {"logging": {"level": "INFO"}, "top_clients": ["Connect.AuthError"]},
            "devices.logging.level",
            "gigabytes",
        ),
        (
            {"logging": {"level": "DISABLED"}, "top_clients": ["Connect.AuthError"]},
            "devices.logging.level",
            "ERROR",
        ),
        ({"logging": {"level": "ERROR"}}, "devices.logging", "top_clients"),
    ],
)
def test_logging_that_costs_for_nothing_is_a_warning(devices, path, words):
    check = checked(devices)
    assert check.plan is not None
    warnings = [w for w in check.warnings if w.path == path]
    assert warnings and words in warnings[0].message, check.warnings


def test_error_logging_for_top_clients_is_clean():
    check = checked({"logging": {"level": "ERROR"}, "top_clients": ["Connect.AuthError"]})
    assert check.problems == []


# --- expansion: the example plan --------------------------------------------------------------


def test_the_example_plan_watches_each_reason_and_failed_connects_as_counts_that_page_up(default_plan):
    series = device_series(default_plan)
    assert [s.id for s in series] == [*EXAMPLE_DISCONNECT_IDS, EXAMPLE_FAILURE_ID]
    for s in series:
        assert s.statistic == "Sum" and s.dimensions == () and s.period == 300
        assert s.detection.direction == "up" and s.detection.missing_data == "zero"
    assert {s.id for s in series} <= {s.id for s in expand_series(default_plan)}


def test_groups_wait_for_fleet_indexing_then_become_gauges_that_page_down(default_plan):
    assert not [s for s in device_series(default_plan) if s.namespace == FLEET_METRICS_NAMESPACE]
    series = [s for s in device_series(with_indexing(default_plan)) if s.namespace == FLEET_METRICS_NAMESPACE]
    assert [s.id for s in series] == GROUP_IDS
    for s in series:
        assert s.statistic == "Average"  # one emission per period: its value, never a sum of several
        assert s.detection.direction == "down" and s.detection.missing_data == "ignore"


def test_a_groups_own_detection_overrides_the_default_direction():
    plan = plan_with(
        {"fleet_indexing": "enabled", "groups": [{"thing_group": "eu", "detection": {"direction": "both"}}]}
    )
    (group,) = [s for s in device_series(plan) if s.namespace == FLEET_METRICS_NAMESPACE]
    assert group.detection.direction == "both"


def test_the_device_watch_names_groups_reasons_and_rules_by_the_series_ids(default_plan):
    watch = device_watch(default_plan)
    assert watch == DeviceWatch(
        index_fields=("thingGroupNames",),
        groups=(
            WatchedGroup("eu-gateways", "thingGroupNames:eu-gateways", GROUP_IDS[0]),
            WatchedGroup("us-sensors", "thingGroupNames:us-sensors", GROUP_IDS[1]),
        ),
        reason_series=tuple(zip(DEFAULT_DISCONNECT_REASONS, EXAMPLE_DISCONNECT_IDS, strict=True)),
        contributor_rules=(ContributorRule("Connect.AuthError", "iotwatch-fleet-Connect.AuthError"),),
        connect_failure_series=(("AUTHORIZATION_FAILED", EXAMPLE_FAILURE_ID),),
        fleet_indexing=False,
        log_level=None,  # the example leaves the account's logging alone
    )
    assert device_watch(with_indexing(default_plan)).fleet_indexing is True


def test_the_runtime_plan_carries_the_device_watch_there_and_back(default_plan, tmp_path):
    path = write_runtime_plan(default_plan, tmp_path)
    assert read_runtime_plan(path).devices == device_watch(default_plan)
    data = json.loads(path.read_text())
    del data["devices"]  # compiled before device signals: none
    path.write_text(json.dumps(data))
    assert read_runtime_plan(path).devices is None


# --- what AWS gets: rule SQL, fleet metric queries, insight rules ------------------------------


def test_the_disconnect_rule_selects_only_the_watched_reasons():
    sql = disconnect_rule_sql(["CONNECTION_LOST", "AUTH_ERROR"])
    assert sql.startswith("SELECT disconnectReason FROM '$aws/events/presence/disconnected/+' WHERE ")
    assert "disconnectReason = 'CONNECTION_LOST' OR disconnectReason = 'AUTH_ERROR'" in sql
    assert "THROTTLED" not in sql
    assert "'$aws/events/presence/connect_failed/+'" in connect_failure_rule_sql()


def test_a_fleet_metric_counts_the_groups_connected_things(default_plan):
    eu, custom = (
        default_plan.devices.groups[0],
        plan_with({"groups": [{"name": "fw21", "query": "attributes.firmware:2.1"}]}).devices.groups[0],
    )
    assert fleet_query(eu) == "(thingGroupNames:eu-gateways) AND connectivity.connected:true"
    assert fleet_query(custom) == "(attributes.firmware:2.1) AND connectivity.connected:true"
    assert [fleet_period(s) for s in (30, 300, 90, 10**6)] == [60, 300, 120, 86_400]


@pytest.mark.parametrize("metric", sorted(TOP_CLIENT_METRICS))
def test_each_insight_rule_counts_one_operations_failures_by_client_id(metric):
    body = insight_rule_body(metric)
    assert body["LogGroupNames"] == ["AWSIotLogsV2"] and body["Contribution"]["Keys"] == ["$.clientId"]
    filters = {f["Match"]: f["In"] for f in body["Contribution"]["Filters"]}
    assert filters["$.status"] == ["Failure"]
    operation = {"Connect": ["Connect"], "PublishIn": ["Publish-In"], "Subscribe": ["Subscribe"]}
    assert filters["$.eventType"] == operation[metric.split(".")[0]]
    assert (filters.get("$.reason") == ["AUTHORIZATION_FAILURE"]) == metric.endswith("AuthError")


# --- what the account must have switched on ---------------------------------------------------


def test_validate_gives_the_steps_for_what_the_account_needs(default_plan):
    waiting = "\n".join(prerequisites(default_plan))
    assert "update-indexing-configuration" in waiting and "thingConnectivityIndexingMode=STATUS" in waiting
    assert "devices.fleet_indexing: enabled" in waiting
    enabled = "\n".join(prerequisites(with_indexing(default_plan)))
    assert "update-indexing-configuration" not in enabled and "describe-index" in enabled
    unlogged = "\n".join(prerequisites(plan_with({"top_clients": ["PublishIn.Throttle"]})))
    assert "set-v2-logging-options" in unlogged and "--default-log-level ERROR" in unlogged
    assert "set-v2-logging-options" in waiting  # the example names top clients, leaves logging alone
    logged = "\n".join(
        prerequisites(plan_with({"top_clients": ["Connect.AuthError"], "logging": {"level": "ERROR"}}))
    )
    assert "set-v2-logging-options" not in logged
    assert prerequisites(plan_with(None)) == []


def test_plan_validate_prints_the_device_signals_and_the_prerequisites():
    out, err = io.StringIO(), io.StringIO()
    assert main(["plan", "validate", str(DEFAULT_PLAN_FILE)], out=out, err=err) == 0
    text = out.getvalue()
    assert (
        "Devices: connected devices per group (eu-gateways, us-sensors, waiting for fleet indexing)" in text
    )
    assert "The account must have switched on:" in text
    assert "aws iot update-indexing-configuration" in text
    assert "warning(s):" not in text


# --- plan cost ----------------------------------------------------------------------------------


def test_cost_itemizes_the_lifecycle_rules_per_event(default_plan):
    a = Assumptions(devices=1000, disconnects_per_device_per_day=3, connect_failures_per_device_per_day=0.5)
    estimate = estimate_cost(default_plan, a)
    events = 1000 * 3.5 * 30
    rules = estimate.item("IoT rules (lifecycle events)")
    assert rules.quantity == pytest.approx(events)
    assert rules.monthly_usd == pytest.approx(events / 1e6 * 0.30)
    assert estimate.item("PutMetricData (lifecycle counts)").monthly_usd == pytest.approx(
        events / 1000 * 0.01
    )
    assert estimate.item("Custom metrics (lifecycle counts)").quantity == len(DEFAULT_DISCONNECT_REASONS) + 1
    doubled = estimate_cost(default_plan, dataclasses.replace(a, devices=2000))
    assert doubled.item("IoT rules (lifecycle events)").monthly_usd == pytest.approx(2 * rules.monthly_usd)


def test_fleet_metrics_and_index_updates_are_itemized_once_indexing_is_on(default_plan):
    names = {i.item for i in estimate_cost(default_plan).items}
    assert "AWS IoT fleet metrics" not in names and "Fleet index updates (connectivity)" not in names
    assert "Fleet index queries (page look-ups)" in names
    on = estimate_cost(with_indexing(default_plan))
    fleet = on.item("AWS IoT fleet metrics")
    assert fleet.quantity == pytest.approx(2 * 30 * 86400 / 300)  # two groups, one emission per 5 min
    assert on.item("Fleet index updates (connectivity)").quantity == pytest.approx(2 * 10_000 * 2 * 30)


def test_contributor_insights_and_the_iot_log_cost_more_at_info(default_plan):
    estimate = estimate_cost(default_plan)
    assert estimate.item("Contributor Insights rules").quantity == 1
    assert estimate.item("Contributor Insights rules").free_tier_usd == pytest.approx(0.50)
    error = estimate.item("AWS IoT log ingestion (ERROR)")
    assert "the account's own level" in error.assumption  # the example leaves logging alone
    info_plan = default_plan.model_copy(
        update={"devices": default_plan.devices.model_copy(update={"logging": IotLogging(level="INFO")})}
    )
    info = estimate_cost(info_plan).item("AWS IoT log ingestion (INFO)")
    assert info.monthly_usd > 100 * error.monthly_usd
    assert f"${info.monthly_usd:,.2f}" in error.assumption  # the ERROR line says what INFO would cost
    quiet = plan_with({"top_clients": []})
    assert not [i for i in estimate_cost(quiet).items if i.item.startswith("AWS IoT log")]


def test_plan_cost_takes_the_fleet_as_options():
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "plan",
        "cost",
        "--json",
        "--devices",
        "500",
        "--disconnects-per-device-per-day",
        "4",
        str(DEFAULT_PLAN_FILE),
    ]
    assert main(argv, out=out, err=err) == 0, err.getvalue()
    items = {i["item"]: i for i in json.loads(out.getvalue())["items"]}
    assert items["IoT rules (lifecycle events)"]["quantity"] == pytest.approx(500 * (4 + 0.05) * 30)
    with pytest.raises(SystemExit) as bad:
        main(["plan", "cost", "--disconnects-per-device-per-day", "lots", str(DEFAULT_PLAN_FILE)])
    assert bad.value.code == 2
