"""Where and why on the local endpoint: a simulated fleet drives the emulated topic rule, fleet
metric and Contributor Insights rule (hand-made template resources in the documented
CloudFormation shapes); the real adapters and look-up service read the fleet index and the
insight report through boto3, and the reason series' baselines are learnt from what the topic
rule wrote. Failing, throttled and silent APIs cost the page nothing: gaps, fast, no raise."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import boto3
import pytest
from botocore.exceptions import ClientError
from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.where import (
    TURN_ON_INDEX,
    aws_where_lookup,
    lookup_client,
)
from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.domain.where import (
    DISCONNECT_PREFIX,
    FLEET_METRIC_COUNT,
    FLEET_METRIC_DIMENSION,
    FLEET_METRICS_NAMESPACE,
    ContributorRule,
    DeviceWatch,
    WatchedGroup,
    device_namespace,
)
from iotwatch.service.where import CALL_SECONDS, READ_TIMEOUT, FleetWhereLookup

from iotwatch_local.device_rules import emulate_device_rules
from iotwatch_local.devices import SimulatedFleet

# an injected AccessDeniedException is in no CloudWatch error shape: moto warns, the client still parses it
pytestmark = pytest.mark.filterwarnings("ignore:Exception\\(DeviceApiError\\):UserWarning")

DAY = 86400
T0 = 1_763_251_200  # Monday 2025-11-16 00:00 UTC, four days before the outage
OUTAGE = T0 + 4 * DAY + 13 * 3600
NOW = OUTAGE + 900
PERIOD = 300
NAMESPACE = device_namespace("fleet")
REASONS = ("CONNECTION_LOST", "MQTT_KEEP_ALIVE_TIMEOUT", "CLIENT_INITIATED_DISCONNECT")
AUTH_RULE = "fleet-connect-auth-failures"
DETECTION = DetectionSettings(
    warning=4.0, critical=7.0, pending_periods=2, recovery_periods=2, min_volume=20.0, min_relative_change=0.2
)


def reason_series(reason: str) -> Series:
    return Series(NAMESPACE, DISCONNECT_PREFIX + reason, (), "Sum", PERIOD, DETECTION)


def template():
    action = {
        "MetricName": "Disconnect.${disconnectReason}",
        "MetricNamespace": NAMESPACE,
        "MetricUnit": "Count",
        "MetricValue": "1",
        "RoleArn": {"Fn::GetAtt": ["DevicesRole", "Arn"]},
    }
    body = {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": ["AWSIotLogsV2"],
        "LogFormat": "JSON",
        "Contribution": {
            "Keys": ["$.clientId"],
            "Filters": [
                {"Match": "$.eventType", "In": ["Connect"]},
                {"Match": "$.status", "In": ["Failure"]},
            ],
        },
        "AggregateOn": "Count",
    }
    return {
        "Resources": {
            "Disconnects": {
                "Type": "AWS::IoT::TopicRule",
                "Properties": {
                    "TopicRulePayload": {
                        "Sql": "SELECT * FROM '$aws/events/presence/disconnected/+'",
                        "Actions": [{"CloudwatchMetric": action}],
                    }
                },
            },
            "EuConnected": {
                "Type": "AWS::IoT::FleetMetric",
                "Properties": {
                    "MetricName": "fleet-eu-gateways-connected",
                    "QueryString": "thingGroupNames:eu-gateways AND connectivity.connected:true",
                    "AggregationType": {"Name": "Statistics", "Values": ["count"]},
                    "Period": 300,
                },
            },
            "AuthFailures": {
                "Type": "AWS::CloudWatch::InsightRule",
                "Properties": {"RuleName": AUTH_RULE, "RuleState": "ENABLED", "RuleBody": json.dumps(body)},
            },
        }
    }


WATCH = DeviceWatch(
    index_fields=("thingGroupNames",),
    groups=(WatchedGroup("eu-gateways", "thingGroupNames:eu-gateways", "fleet-eu-gateways-connected"),),
    reason_series=tuple((r, reason_series(r).id) for r in REASONS),
    contributor_rules=(ContributorRule("Connect.AuthError", AUTH_RULE),),
    fleet_indexing=True,
    log_level="ERROR",
)


class Baselines:
    def __init__(self, baselines):
        self.baselines = baselines

    def get_baselines(self, series_ids):
        return {s: self.baselines[s] for s in series_ids if s in self.baselines}


@pytest.fixture(scope="module")
def world(local_aws):
    """Four days of usual disconnects, then 96 % of eu-gateways lost; three devices failing auth.
    Built once for the module (the emulation writes four days of counts)."""
    local_aws.reset()
    with local_aws.env():
        fleet = SimulatedFleet(groups={"eu-gateways": 100, "us-sensors": 60}, start=T0 - DAY)
        fleet.churn(T0, OUTAGE, per_device_per_day=30)
        fleet.disconnect("eu-gateways", share=0.96, reason="CONNECTION_LOST", at=OUTAGE + 300)
        fleet.fail_auth(["us-sensors-0001", "us-sensors-0002", "rogue-1"], start=OUTAGE, end=NOW, attempts=10)
        fleet.now = NOW
        local_aws.serve_fleet(fleet)
        cloudwatch = boto3.client("cloudwatch")
        report = emulate_device_rules(template(), fleet, cloudwatch, start=T0, end=NOW)
        series = [reason_series(r) for r in REASONS]
        points = CloudWatchMetricReader(cloudwatch).read(series, start=T0, end=OUTAGE)
        baselines = {
            sid: build_baseline(
                series_id=sid, points=pts, start=T0, end=OUTAGE, period=PERIOD, built_at=OUTAGE
            )
            for sid, pts in points.items()
        }
        yield fleet, report, Baselines(baselines)


@pytest.fixture
def outage(world, local_aws):
    """The module's world in this test's environment; faults a test sets are cleared after it."""
    fleet, _, _ = world
    local_aws.serve_fleet(fleet)
    with local_aws.env():
        yield world
    local_aws.clear_faults()


@pytest.fixture
def aws_faults(local_aws):
    return local_aws


def test_the_lookup_names_the_group_its_share_the_reason_mix_and_the_clients(outage):
    _, report, baselines = outage
    assert report.insight_rules == [AUTH_RULE]
    assert report.datapoints[f"{FLEET_METRICS_NAMESPACE}/fleet-eu-gateways-connected"] > 4 * 288

    found = aws_where_lookup(WATCH, baselines).look_up(
        metrics=["Connect.Success", "Connect.AuthError"], since=OUTAGE, now=NOW
    )
    assert found.gaps == ()
    eu = found.fields[0].values[0]
    assert eu.value == "eu-gateways" and eu.count == 96
    assert eu.share > 0.9 and eu.of_value == pytest.approx(0.96)
    lost = next(r for r in found.reasons if r.reason == "CONNECTION_LOST")
    assert lost.share > 0.9
    assert 0.15 < lost.usual_share < 0.35  # churn draws CONNECTION_LOST a quarter of the time
    clients = found.top_clients[0]
    assert clients.metric == "Connect.AuthError" and clients.distinct_clients == 3
    assert {c.client_id for c in clients.clients} == {"us-sensors-0001", "us-sensors-0002", "rogue-1"}


def test_the_fleet_metric_and_reason_counts_are_in_cloudwatch_as_the_stack_would_write_them(outage):
    cloudwatch = boto3.client("cloudwatch")
    dimensions = ((FLEET_METRIC_DIMENSION, FLEET_METRIC_COUNT),)  # as AWS IoT publishes a fleet metric
    connected = Series(
        FLEET_METRICS_NAMESPACE, "fleet-eu-gateways-connected", dimensions, "Average", PERIOD, DETECTION
    )
    read = CloudWatchMetricReader(cloudwatch).read(
        [connected, reason_series("CONNECTION_LOST")], start=OUTAGE - 600, end=NOW
    )
    gauge = dict(read[connected.id])
    assert gauge[OUTAGE - 600] >= 95 and gauge[OUTAGE + 600] <= 4  # a few are always between reconnects
    assert sum(v for ts, v in read[reason_series("CONNECTION_LOST").id] if ts >= OUTAGE) >= 96


@pytest.mark.parametrize(
    ("operation", "code", "fix"),
    [
        ("GetBucketsAggregation", "ThrottlingException", "next page tries again"),
        ("GetBucketsAggregation", "IndexNotReadyException", "describe-index"),
        ("GetBucketsAggregation", "InvalidQueryException", "thingConnectivityIndexingMode=STATUS"),
        ("GetInsightRuleReport", "AccessDeniedException", "cloudwatch:GetInsightRuleReport"),
        ("GetInsightRuleReport", "ResourceNotFoundException", "deploy the stack"),
    ],
)
def test_a_failing_api_is_a_gap_with_its_fix_and_the_rest_still_answers(
    outage, aws_faults, operation, code, fix
):
    _, _, baselines = outage
    aws_faults.fail(operation, code)
    started = time.monotonic()
    found = aws_where_lookup(WATCH, baselines).look_up(
        metrics=["Connect.Success", "Connect.AuthError"], since=OUTAGE, now=NOW
    )
    assert time.monotonic() - started < 2.0
    assert any(fix in g.fix for g in found.gaps), found.gaps
    if operation == "GetInsightRuleReport":
        assert found.fields and found.reasons and not found.top_clients
    else:
        assert found.top_clients and not found.fields


def test_an_account_without_fleet_indexing_gets_the_command_that_turns_it_on(outage, aws_faults):
    _, _, baselines = outage
    aws_faults.serve_fleet(None)
    found = aws_where_lookup(WATCH, baselines).look_up(metrics=["Ping.Success"], since=OUTAGE, now=NOW)
    assert {g.fix for g in found.gaps} == {TURN_ON_INDEX}
    assert found.disconnected is None and not found.fields


def test_a_silent_fleet_index_costs_one_timeout_and_the_report_still_answers(outage, aws_faults):
    _, _, baselines = outage
    aws_faults.fail("GetBucketsAggregation", "", delay_seconds=READ_TIMEOUT + 1.5)
    lookup = aws_where_lookup(WATCH, baselines)
    started = time.monotonic()
    found = lookup.look_up(metrics=["Connect.Success", "Connect.AuthError"], since=OUTAGE, now=NOW)
    elapsed = time.monotonic() - started
    assert elapsed < CALL_SECONDS + 1.0  # every call at once, each waits at most its timeouts
    assert any("no answer within" in g.why for g in found.gaps)
    assert not found.fields and found.top_clients  # the insight report answered meanwhile


def test_the_lookup_clients_do_not_retry_a_throttled_call(outage, aws_faults):
    from iotwatch_local import device_apis

    aws_faults.fail("GetBucketsAggregation", "ThrottlingException")
    before = device_apis.calls("GetBucketsAggregation")
    with pytest.raises(ClientError):
        lookup_client("iot").get_buckets_aggregation(
            indexName="AWS_Things",
            queryString="thingName:*",
            aggregationField="thingGroupNames",
            bucketsAggregationType={"termsAggregation": {"maxBuckets": 10}},
        )
    assert device_apis.calls("GetBucketsAggregation") == before + 1


def test_the_endpoint_answers_the_fleet_index_apis_with_valid_shapes(outage):
    iot = boto3.client("iot")
    disconnected = "connectivity.connected:false"
    assert iot.get_statistics(indexName="AWS_Things", queryString=disconnected)["statistics"]["count"] == 98
    cardinality = iot.get_cardinality(
        indexName="AWS_Things", queryString=disconnected, aggregationField="connectivity.disconnectReason"
    )
    assert cardinality["cardinality"] == 2  # CONNECTION_LOST and AUTH_ERROR
    page = iot.search_index(indexName="AWS_Things", queryString="connectivity.disconnectReason:AUTH_ERROR")
    assert {t["thingName"] for t in page["things"]} == {"us-sensors-0001", "us-sensors-0002"}
    assert page["things"][0]["connectivity"]["connected"] is False
    with pytest.raises(ClientError) as refused:
        iot.get_statistics(indexName="AWS_Things", queryString="thingName:(")
    assert refused.value.response["Error"]["Code"] == "InvalidQueryException"


def test_a_lookup_with_no_device_metric_asks_nothing(outage):
    from iotwatch_local import device_apis

    before = (device_apis.calls("GetBucketsAggregation"), device_apis.calls("GetInsightRuleReport"))
    watch = replace(WATCH, contributor_rules=())
    found = FleetWhereLookup(watch, index=None, insights=None, baselines=None).look_up(
        metrics=["RulesExecuted"], since=OUTAGE, now=NOW
    )
    assert found.empty and found.gaps == ()
    assert (device_apis.calls("GetBucketsAggregation"), device_apis.calls("GetInsightRuleReport")) == before
