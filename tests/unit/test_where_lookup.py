"""Where and why: the pure assembly (domain.breakdown), the AWS look-ups against botocore's
Stubber (adapters.where) and the service that must never raise nor hold a page (service.where)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.stub import ANY, Stubber
from iotwatch.adapters.where import (
    LOOKUP_CONFIG,
    TURN_ON_INDEX,
    FleetIndexReader,
    InsightReader,
    aws_where_lookup,
    report_period,
)
from iotwatch.domain.breakdown import (
    field_breakdown,
    reason_mix,
    top_clients,
    usual_reason_shares,
    wants_fleet_index,
)
from iotwatch.domain.where import ContributorRule, DeviceWatch, LookupFailed, WatchedGroup
from iotwatch.service.where import ALL_THINGS, REASON_FIELD, FleetWhereLookup, disconnected_since

from .fakes import MONDAY, flat_baseline

SINCE = MONDAY + 13 * 3600
NOW = SINCE + 900


def aws(service):
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=LOOKUP_CONFIG,
    )


# --- pure assembly ------------------------------------------------------------------------------


def test_a_field_breakdown_gives_each_value_its_share_of_the_disconnected_and_of_its_group():
    fb = field_breakdown(
        "thingGroupNames",
        {"eu-gateways": 940, "us-sensors": 40, "lab": 20},
        1000,
        {"eu-gateways": 980, "us-sensors": 4000},
    )
    assert [v.value for v in fb.values] == ["eu-gateways", "us-sensors", "lab"]
    eu = fb.values[0]
    assert eu.count == 940 and eu.share == pytest.approx(0.94)
    assert eu.of_value == pytest.approx(940 / 980)
    assert fb.values[1].of_value == pytest.approx(0.01)
    assert fb.values[2].of_value is None  # its size was not looked up


def test_the_usual_reason_mix_is_each_reason_series_expectation_over_all_of_them():
    baselines = {
        "r-lost": flat_baseline("r-lost", expected=2.0, scale=1.0),
        "r-keepalive": flat_baseline("r-keepalive", expected=6.0, scale=1.0),
    }
    series = (
        ("CONNECTION_LOST", "r-lost"),
        ("MQTT_KEEP_ALIVE_TIMEOUT", "r-keepalive"),
        ("THROTTLED", "r-none"),
    )
    usual = usual_reason_shares(series, baselines, since=SINCE, now=NOW)
    assert usual == {"CONNECTION_LOST": pytest.approx(0.25), "MQTT_KEEP_ALIVE_TIMEOUT": pytest.approx(0.75)}


def test_the_reason_mix_names_the_reasons_now_against_usual_and_a_usual_one_gone_missing():
    mix = reason_mix(
        {"CONNECTION_LOST": 880, "AUTH_ERROR": 120}, {"CONNECTION_LOST": 0.2, "MQTT_KEEP_ALIVE_TIMEOUT": 0.7}
    )
    assert [(r.reason, r.count) for r in mix] == [
        ("CONNECTION_LOST", 880),
        ("AUTH_ERROR", 120),
        ("MQTT_KEEP_ALIVE_TIMEOUT", 0),
    ]
    assert mix[0].share == pytest.approx(0.88) and mix[0].usual_share == pytest.approx(0.2)
    assert mix[1].usual_share is None  # no series watches it: unknown, not zero
    assert mix[2].usual_share == pytest.approx(0.7)


def test_top_clients_share_the_rules_total_and_keep_the_distinct_count():
    tc = top_clients(
        "Connect.AuthError", total=100.0, distinct=3, contributors=[("b", 30.0), ("a", 61.0), ("c", 9.0)]
    )
    assert [(c.client_id, c.share) for c in tc.clients] == [("a", 0.61), ("b", 0.3), ("c", 0.09)]
    assert tc.distinct_clients == 3 and tc.total == 100.0


def test_the_fleet_index_is_asked_for_connectivity_and_traffic_not_for_the_rules_engine():
    watch = DeviceWatch(groups=(WatchedGroup("eu", "thingGroupNames:eu", "fleet-eu"),))
    assert wants_fleet_index(watch, ["Connect.Success"])
    assert wants_fleet_index(watch, ["Disconnect.CONNECTION_LOST"])
    assert wants_fleet_index(watch, ["fleet-eu"])
    assert not wants_fleet_index(watch, ["RulesExecuted", "RuleMessageThrottled"])


# --- adapters against the Stubber -----------------------------------------------------------------


def test_buckets_asks_the_thing_index_and_reads_total_and_counts():
    iot = aws("iot")
    reader = FleetIndexReader(iot)
    with Stubber(iot) as stub:
        stub.add_response(
            "get_buckets_aggregation",
            {"totalCount": 12, "buckets": [{"keyValue": "eu", "count": 10}, {"keyValue": "us", "count": 2}]},
            {
                "indexName": "AWS_Things",
                "queryString": "connectivity.connected:false",
                "aggregationField": "thingGroupNames",
                "bucketsAggregationType": {"termsAggregation": {"maxBuckets": 100}},
            },
        )
        found = reader.buckets("connectivity.connected:false", "thingGroupNames", what="groups")
    assert found.total == 12 and found.counts == {"eu": 10, "us": 2}


@pytest.mark.parametrize(
    ("code", "status", "why", "fix"),
    [
        ("ResourceNotFoundException", 404, "fleet indexing (with connectivity) is off", TURN_ON_INDEX),
        ("IndexNotReadyException", 400, "still being built", "describe-index"),
        ("ThrottlingException", 429, "throttled", "next page"),
        ("UnauthorizedException", 401, "denied", "iot:GetBucketsAggregation"),
        ("AccessDeniedException", 403, "denied", "iot:GetBucketsAggregation"),
        ("InvalidQueryException", 400, "refused the query", "thingConnectivityIndexingMode=STATUS"),
        ("InternalFailureException", 500, "InternalFailureException", "next page"),
    ],
)
def test_each_fleet_index_failure_is_a_gap_that_says_why_and_how_to_fix_it(code, status, why, fix):
    iot = aws("iot")
    reader = FleetIndexReader(iot)
    with Stubber(iot) as stub:
        stub.add_client_error(
            "get_buckets_aggregation", service_error_code=code, service_message="no", http_status_code=status
        )
        with pytest.raises(LookupFailed) as failed:
            reader.buckets("q", "thingGroupNames", what="groups")
    assert failed.value.gap.what == "groups"
    assert why in failed.value.gap.why and fix in failed.value.gap.fix


def test_a_server_error_page_is_quoted_as_one_short_line():
    """A 5xx from a proxy is an HTML page: the gap quotes its text on one line, never the markup."""
    iot = aws("iot")
    reader = FleetIndexReader(iot)
    html = (
        "<!doctype html>\n<html>\n<title>500 Internal Server Error</title>\n<p>" + "overloaded " * 40 + "</p>"
    )
    with Stubber(iot) as stub:
        stub.add_client_error(
            "get_buckets_aggregation", service_error_code="500", service_message=html, http_status_code=500
        )
        with pytest.raises(LookupFailed) as failed:
            reader.buckets("q", "thingGroupNames", what="groups")
    why = failed.value.gap.why
    assert "\n" not in why and "<" not in why and "500 Internal Server Error" in why
    assert len(why) < 200


class _Silent:
    """A client whose endpoint never answers within the timeout."""

    def __init__(self, error):
        self.error = error

    def get_buckets_aggregation(self, **_):
        raise self.error

    def get_insight_rule_report(self, **_):
        raise self.error


@pytest.mark.parametrize(
    "error", [ReadTimeoutError(endpoint_url="https://iot"), ConnectTimeoutError(endpoint_url="https://iot")]
)
def test_a_timeout_is_a_gap_naming_the_time_waited(error):
    with pytest.raises(LookupFailed) as failed:
        FleetIndexReader(_Silent(error)).buckets("q", "f", what="groups")
    assert "no answer within 3 s" in failed.value.gap.why


def test_the_lookup_clients_try_once_with_short_timeouts():
    assert LOOKUP_CONFIG.retries["total_max_attempts"] == 1
    assert LOOKUP_CONFIG.connect_timeout + LOOKUP_CONFIG.read_timeout <= 3


def utc(ts):
    return datetime.fromtimestamp(ts, UTC)


def test_an_insight_report_gives_the_top_clients_their_values_and_the_distinct_count():
    cloudwatch = aws("cloudwatch")
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "get_insight_rule_report",
            {
                "KeyLabels": ["clientId"],
                "AggregationStatistic": "Sum",
                "AggregateValue": 100.0,
                "ApproximateUniqueCount": 3,
                "Contributors": [
                    {"Keys": ["dev-1"], "ApproximateAggregateValue": 80.0, "Datapoints": []},
                    {"Keys": ["dev-2"], "ApproximateAggregateValue": 15.0, "Datapoints": []},
                ],
            },
            {
                "RuleName": "auth-rule",
                "StartTime": utc(SINCE),
                "EndTime": utc(NOW),
                "Period": 60,
                "MaxContributorCount": ANY,
                "OrderBy": "Sum",
            },
        )
        report = InsightReader(cloudwatch).report("auth-rule", start=SINCE, end=NOW, what="clients")
    assert report.total == 100.0 and report.distinct == 3
    assert report.contributors == [("dev-1", 80.0), ("dev-2", 15.0)]


def test_a_missing_rule_and_a_rule_that_saw_nothing_are_gaps_with_their_fix():
    cloudwatch = aws("cloudwatch")
    reader = InsightReader(cloudwatch)
    with Stubber(cloudwatch) as stub:
        stub.add_client_error("get_insight_rule_report", service_error_code="ResourceNotFoundException")
        stub.add_response("get_insight_rule_report", {"AggregateValue": 0.0, "Contributors": []})
        with pytest.raises(LookupFailed) as missing:
            reader.report("gone", start=SINCE, end=NOW, what="clients")
        with pytest.raises(LookupFailed) as empty:
            reader.report("quiet", start=SINCE, end=NOW, what="clients")
    assert "gone does not exist" in missing.value.gap.why and "deploy the stack" in missing.value.gap.fix
    assert "matched no log events" in empty.value.gap.why and "set-v2-logging-options" in empty.value.gap.fix


def test_the_report_period_keeps_a_long_window_under_the_datapoint_limit():
    assert report_period(0, 3600) == 60
    assert (86400 * 3) / report_period(0, 86400 * 3) <= 1440


# --- the service with in-memory readers -------------------------------------------------------------


class FakeIndex:
    """Things as (groups, connected, timestamp s, reason); answers the two queries the service makes."""

    def __init__(self, things, fail=None):
        self.things = things
        self.fail = fail or {}
        self.calls = 0
        self.queries = []

    def buckets(self, query, field, *, what, max_buckets=100):
        from iotwatch.adapters.where import gap_for

        self.calls += 1
        self.queries.append((query, field))
        if field in self.fail:
            raise LookupFailed(gap_for(self.fail[field], what=what, action="iot:GetBucketsAggregation"))
        if query.startswith("connectivity.connected:false"):
            since_ms = int(query.rpartition(">")[2]) + 1
            chosen = [t for t in self.things if not t[1] and t[2] * 1000 >= since_ms]
        else:
            assert query == ALL_THINGS
            chosen = list(self.things)
        counts = {}
        for groups, _, _, reason in chosen:
            for value in groups if field == "thingGroupNames" else [reason]:
                counts[value] = counts.get(value, 0) + 1
        from iotwatch.adapters.where import Buckets

        return Buckets(len(chosen), dict(sorted(counts.items(), key=lambda kv: -kv[1])))


class FakeInsights:
    def __init__(self, reports=None, error=None):
        self.reports = reports or {}
        self.error = error
        self.calls = 0
        self.asked = []

    def report(self, rule_name, *, start, end, what):
        from iotwatch.adapters.where import InsightReport, gap_for

        self.calls += 1
        self.asked.append(rule_name)
        if self.error is not None:
            raise LookupFailed(gap_for(self.error, what=what, action="cloudwatch:GetInsightRuleReport"))
        total, contributors = self.reports[rule_name]
        return InsightReport(total, len(contributors), contributors)


class FakeBaselines:
    def __init__(self, baselines):
        self.baselines = baselines

    def get_baselines(self, series_ids):
        return {s: self.baselines[s] for s in series_ids if s in self.baselines}


WATCH = DeviceWatch(
    index_fields=("thingGroupNames",),
    groups=(WatchedGroup("eu-gateways", "thingGroupNames:eu-gateways", "fleet-eu"),),
    reason_series=(("CONNECTION_LOST", "r-lost"), ("MQTT_KEEP_ALIVE_TIMEOUT", "r-keepalive")),
    contributor_rules=(ContributorRule("Connect.AuthError", "auth-rule"),),
    fleet_indexing=True,
)


def outage_fleet():
    """100 eu gateways, 96 of them lost at 13:05; 50 us sensors, 2 of them lost the same way."""
    eu = [(["eu-gateways"], i >= 96, SINCE + 300, "CONNECTION_LOST") for i in range(100)]
    us = [(["us-sensors"], i >= 2, SINCE + 300, "CONNECTION_LOST") for i in range(50)]
    old = [(["us-sensors"], False, SINCE - 7200, "MQTT_KEEP_ALIVE_TIMEOUT")]
    return eu + us + old


def baselines():
    return FakeBaselines(
        {
            "r-lost": flat_baseline("r-lost", expected=2.0, scale=1.0),
            "r-keepalive": flat_baseline("r-keepalive", expected=8.0, scale=1.0),
        }
    )


def test_the_lookup_says_where_the_disconnected_devices_are_and_why():
    index = FakeIndex(outage_fleet())
    lookup = FleetWhereLookup(WATCH, index=index, insights=FakeInsights(), baselines=baselines())
    found = lookup.look_up(metrics=["Connect.Success"], since=SINCE, now=NOW)
    assert found.gaps == ()
    assert found.disconnected == 98
    eu = found.fields[0].values[0]
    assert (eu.value, eu.count, round(eu.share, 2), round(eu.of_value, 2)) == ("eu-gateways", 96, 0.98, 0.96)
    lost = found.reasons[0]
    assert (lost.reason, lost.share, lost.usual_share) == ("CONNECTION_LOST", 1.0, pytest.approx(0.2))
    assert found.top_clients == ()  # no auth metric deviated: Contributor Insights not asked
    assert (disconnected_since(SINCE), "thingGroupNames") in index.queries
    assert (ALL_THINGS, "thingGroupNames") in index.queries


def test_top_clients_are_asked_only_for_the_incidents_metrics_with_a_rule():
    insights = FakeInsights({"auth-rule": (100.0, [("dev-7", 91.0), ("dev-8", 9.0)])})
    index = FakeIndex(outage_fleet())
    lookup = FleetWhereLookup(WATCH, index=index, insights=insights, baselines=baselines())
    found = lookup.look_up(metrics=["Connect.AuthError"], since=SINCE, now=NOW)
    assert insights.asked == ["auth-rule"]
    assert found.top_clients[0].clients[0].client_id == "dev-7"
    assert found.top_clients[0].clients[0].share == pytest.approx(0.91)
    lookup.look_up(metrics=["RulesExecuted"], since=SINCE, now=NOW)
    assert insights.asked == ["auth-rule"] and index.calls == 3  # the second look-up asked nothing


def test_an_index_that_is_off_and_a_denied_report_are_gaps_not_errors():
    from botocore.exceptions import ClientError

    def error(code):
        return ClientError({"Error": {"Code": code, "Message": "no"}}, "Op")

    index = FakeIndex(outage_fleet(), fail={"thingGroupNames": error("ResourceNotFoundException")})
    insights = FakeInsights(error=error("AccessDeniedException"))
    lookup = FleetWhereLookup(WATCH, index=index, insights=insights, baselines=baselines())
    found = lookup.look_up(metrics=["Connect.Success", "Connect.AuthError"], since=SINCE, now=NOW)
    fixes = {g.fix for g in found.gaps}
    assert TURN_ON_INDEX in fixes
    assert "grant the evaluator's role cloudwatch:GetInsightRuleReport" in fixes
    assert found.fields == () and found.disconnected == 98  # the reasons' call still answered


def test_a_reader_that_hangs_past_its_timeout_is_left_behind():
    import threading
    import time

    release = threading.Event()

    class Hanging(FakeIndex):
        def buckets(self, query, field, *, what, max_buckets=100):
            if field == REASON_FIELD:
                release.wait(10)  # a client whose timeouts do not hold
            return super().buckets(query, field, what=what)

    lookup = FleetWhereLookup(
        WATCH, index=Hanging(outage_fleet()), insights=FakeInsights(), baselines=baselines(), call_seconds=0.1
    )
    started = time.monotonic()
    found = lookup.look_up(metrics=["Connect.Success"], since=SINCE, now=NOW)
    release.set()
    assert time.monotonic() - started < 2.0
    assert [(g.what, g.why) for g in found.gaps] == [
        ("disconnect reasons of the devices disconnected since the deviation began", "no answer in time")
    ]
    assert found.fields[0].values[0].of_value == pytest.approx(0.96)


def test_the_first_round_asks_everything_at_once():
    import threading

    started = threading.Barrier(3, timeout=5)  # groups, reasons and the report meet: in parallel

    class Meeting(FakeIndex):
        def buckets(self, query, field, *, what, max_buckets=100):
            if query.startswith("connectivity"):
                started.wait()
            return super().buckets(query, field, what=what)

    class MeetingInsights(FakeInsights):
        def report(self, rule_name, *, start, end, what):
            started.wait()
            return super().report(rule_name, start=start, end=end, what=what)

    insights = MeetingInsights({"auth-rule": (10.0, [("dev-7", 10.0)])})
    lookup = FleetWhereLookup(WATCH, index=Meeting(outage_fleet()), insights=insights, baselines=baselines())
    found = lookup.look_up(metrics=["Connect.Success", "Connect.AuthError"], since=SINCE, now=NOW)
    assert found.gaps == () and found.top_clients and found.fields


def test_it_never_raises_whatever_a_reader_does():
    class Broken:
        calls = 0

        def buckets(self, *a, **k):
            raise RuntimeError("bug")

        def report(self, *a, **k):
            raise KeyError("bug")

        def get_baselines(self, ids):
            raise OSError("bug")

    lookup = FleetWhereLookup(WATCH, index=Broken(), insights=Broken(), baselines=Broken())
    found = lookup.look_up(metrics=["Connect.Success", "Connect.AuthError"], since=SINCE, now=NOW)
    assert found.empty and len(found.gaps) == 4  # groups, their sizes, reasons, clients; no baselines asked
    assert all("RuntimeError" in g.why or "KeyError" in g.why for g in found.gaps)
    missing = FleetWhereLookup(WATCH, index=None, insights=None, baselines=None)
    assert len(missing.look_up(metrics=["Connect.AuthError"], since=SINCE, now=NOW).gaps) == 2


def test_reasons_without_baselines_have_no_usual_share():
    lookup = FleetWhereLookup(
        WATCH, index=FakeIndex(outage_fleet()), insights=None, baselines=FakeBaselines({})
    )
    found = lookup.look_up(metrics=["Ping.Success"], since=SINCE, now=NOW)
    assert found.reasons[0].usual_share is None
    assert REASON_FIELD == "connectivity.disconnectReason"


def test_the_index_is_asked_whatever_the_plan_says_of_it_and_disabled_logs_are_not():
    from dataclasses import replace

    from botocore.exceptions import ClientError

    watch = replace(WATCH, fleet_indexing=False, log_level="DISABLED")
    insights = FakeInsights()
    found = FleetWhereLookup(
        watch, index=FakeIndex(outage_fleet()), insights=insights, baselines=baselines()
    ).look_up(metrics=["Connect.Success", "Connect.AuthError"], since=SINCE, now=NOW)
    assert found.fields  # the account has indexing on though the plan has no fleet metrics yet
    assert insights.calls == 0
    assert [g.fix for g in found.gaps] == [
        "set devices.logging.level: ERROR in the plan (failed connects and publishes are logged at ERROR)"
    ]
    off = ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "no index"}}, "GetBucketsAggregation"
    )
    index = FakeIndex(outage_fleet(), fail={"thingGroupNames": off, REASON_FIELD: off})
    found = FleetWhereLookup(watch, index=index, insights=insights, baselines=baselines()).look_up(
        metrics=["Connect.Success"], since=SINCE, now=NOW
    )
    assert {g.fix for g in found.gaps} == {TURN_ON_INDEX}


def test_a_groups_fleet_metric_name_calls_for_the_fleet_index():
    watch = DeviceWatch(
        groups=(
            WatchedGroup(
                "eu", "thingGroupNames:eu", "IoTFleetMetrics|iotwatch-fleet-eu|AggregationType=count"
            ),
        )
    )
    assert wants_fleet_index(watch, ["iotwatch-fleet-eu"])
    assert not wants_fleet_index(watch, ["iotwatch-fleet-us"])


def test_the_deployed_lookup_makes_no_client_until_a_page_looks_up(monkeypatch):
    from iotwatch.adapters import where as adapters

    made = []
    monkeypatch.setattr(
        adapters,
        "lookup_client",
        lambda service: made.append(service) or _Silent(ReadTimeoutError(endpoint_url="x")),
    )
    lookup = aws_where_lookup(WATCH, baselines())
    assert made == []
    found = lookup.look_up(metrics=["Connect.Success", "Connect.AuthError"], since=SINCE, now=NOW)
    assert made == ["iot", "cloudwatch"] and found.gaps
