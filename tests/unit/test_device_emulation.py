"""The local endpoint's device emulation without a server: the fleet-index query subset, the
simulated fleet's history, the topic rule / fleet metric / insight rule emulation over hand-made
template resources (the documented CloudFormation shapes), and the answers' validation."""

from __future__ import annotations

import json

import pytest
from iotwatch.domain.where import FLEET_METRICS_NAMESPACE

from iotwatch_local.device_apis import insight_report, validated
from iotwatch_local.device_rules import (
    EmulationError,
    apply_topic_rule,
    emulate_device_rules,
    fleet_metrics,
    topic_matches,
    topic_rules,
)
from iotwatch_local.devices import SimulatedFleet
from iotwatch_local.fleet_query import QueryError, compile_query

T0 = 1_763_251_200  # a Monday, 00:00 UTC
DOC = {
    "thingName": "eu-gateways-0001",
    "thingGroupNames": ["eu-gateways", "firmware-2"],
    "attributes.firmware": "2.1.0",
    "connectivity.connected": False,
    "connectivity.timestamp": 1_700_000_000_000,
    "connectivity.disconnectReason": "CONNECTION_LOST",
}


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ("thingGroupNames:eu-gateways", True),
        ("thingGroupNames:EU-GATEWAYS", True),  # values match case-insensitively
        ("thingGroupNames:us-sensors", False),
        ("thingGroupNames:(us-sensors OR eu\\-gateways)", True),
        ("connectivity.connected:false AND connectivity.timestamp>1699999999999", True),
        ("connectivity.connected:false AND connectivity.timestamp>1700000000000", False),
        ("connectivity.timestamp:[1600000000000 TO 1800000000000]", True),
        ("attributes.firmware:2.*", True),
        ("attributes.firmware:3.*", False),
        ("connectivity.disconnectReason:*", True),
        ("NOT connectivity.disconnectReason:AUTH_ERROR", True),
        ("-thingGroupNames:eu-gateways", False),
        ("thingName:eu* connectivity.connected:true", False),  # AND is the default operator
        ('attributes.firmware:"2.1.0"', True),
    ],
)
def test_the_query_subset_matches_as_the_fleet_index_does(query, matches):
    assert compile_query(query)(DOC) is matches


@pytest.mark.parametrize(
    "query", ["", "thingName:(a", "eu-gateways", "a:1 b:2 c:3 d:4 e:5 f:6 g:7 h:8 i:9 j:10 k:11 l:12 m:13"]
)
def test_a_query_outside_the_subset_is_refused_not_guessed(query):
    with pytest.raises(QueryError):
        compile_query(query)


def test_the_fleet_remembers_when_each_device_went(tmp_path):
    fleet = SimulatedFleet(groups={"eu-gateways": 10, "us-sensors": 10}, start=T0)
    lost = fleet.disconnect("eu-gateways", share=0.5, reason="CONNECTION_LOST", at=T0 + 3600, over=10)
    assert len(lost) == 5
    before = [d for d in fleet.documents(T0 + 3599) if not d["connectivity.connected"]]
    after = [d for d in fleet.documents(T0 + 3611) if not d["connectivity.connected"]]
    assert before == [] and {d["thingName"] for d in after} == set(lost)
    assert {d["connectivity.disconnectReason"] for d in after} == {"CONNECTION_LOST"}
    fleet.reconnect(lost, at=T0 + 7200, over=10)
    assert all(d["connectivity.connected"] for d in fleet.documents(T0 + 7211))
    topics = [e.topic for e in fleet.lifecycle_events(T0, T0 + 8000)]
    assert topics.count("$aws/events/presence/disconnected/" + lost[0]) == 1
    assert len(topics) == 10


def test_failed_auth_is_logged_and_published_per_attempt_only_when_logging_is_on():
    fleet = SimulatedFleet(groups={"us-sensors": 10}, start=T0)
    clients = fleet.fail_auth(2, group="us-sensors", start=T0, end=T0 + 600, attempts=5)
    failed = [e for e in fleet.lifecycle_events(T0, T0 + 600) if e.payload["eventType"] == "connect_failed"]
    assert len(failed) == 10 and {e.payload["connectFailureReason"] for e in failed} == {
        "AUTHORIZATION_FAILED"
    }
    assert len([line for line in fleet.log_events(T0, T0 + 600) if line["eventType"] == "Connect"]) == 10
    quiet = SimulatedFleet(groups={"us-sensors": 10}, start=T0, log_level="DISABLED")
    quiet.fail_auth(clients, start=T0, end=T0 + 600, attempts=5)
    assert quiet.log_events(T0, T0 + 600) == []


# --- the template's resources, as the CloudFormation docs shape them --------------------------------

NAMESPACE = "IotWatch/fleet/Devices"


def template():
    return {
        "Resources": {
            "DisconnectRule": {
                "Type": "AWS::IoT::TopicRule",
                "Properties": {
                    "TopicRulePayload": {
                        "Sql": "SELECT * FROM '$aws/events/presence/disconnected/+'",
                        "AwsIotSqlVersion": "2016-03-23",
                        "Actions": [
                            {
                                "CloudwatchMetric": {
                                    "MetricName": "Disconnect.${disconnectReason}",
                                    "MetricNamespace": NAMESPACE,
                                    "MetricUnit": "Count",
                                    "MetricValue": "1",
                                    "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                                }
                            }
                        ],
                    }
                },
            },
            "FailureRule": {
                "Type": "AWS::IoT::TopicRule",
                "Properties": {
                    "TopicRulePayload": {
                        "Sql": "SELECT connectFailureReason AS reason, topic(4) AS client "
                        "FROM '$aws/events/presence/+/+' WHERE eventType = 'connect_failed'",
                        "Actions": [
                            {
                                "CloudwatchMetric": {
                                    "MetricName": {"Fn::Join": ["", ["ConnectFailure.", "${reason}"]]},
                                    "MetricNamespace": NAMESPACE,
                                    "MetricUnit": "Count",
                                    "MetricValue": "1",
                                }
                            }
                        ],
                    }
                },
            },
            "EuConnected": {
                "Type": "AWS::IoT::FleetMetric",
                "Properties": {
                    "MetricName": "fleet-eu-gateways-connected",
                    "QueryString": "thingGroupNames:eu-gateways AND connectivity.connected:true",
                    "AggregationType": {"Name": "Statistics", "Values": ["count"]},
                    "AggregationField": "registry.version",
                    "Period": 300,
                    "IndexName": "AWS_Things",
                },
            },
            "AuthRule": {
                "Type": "AWS::CloudWatch::InsightRule",
                "Properties": {
                    "RuleName": "fleet-auth-failures",
                    "RuleState": "ENABLED",
                    "RuleBody": json.dumps(AUTH_RULE_BODY),
                },
            },
        }
    }


AUTH_RULE_BODY = {
    "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
    "LogGroupNames": ["AWSIotLogsV2"],
    "LogFormat": "JSON",
    "Contribution": {
        "Keys": ["$.clientId"],
        "Filters": [{"Match": "$.eventType", "In": ["Connect"]}, {"Match": "$.status", "In": ["Failure"]}],
    },
    "AggregateOn": "Count",
}


class RecordingCloudWatch:
    def __init__(self):
        self.data = []
        self.rules = {}

    def put_metric_data(self, Namespace, MetricData):
        self.data.extend((Namespace, d) for d in MetricData)

    def put_insight_rule(self, RuleName, RuleState, RuleDefinition):
        self.rules[RuleName] = (RuleState, json.loads(RuleDefinition))


def test_topic_filters_match_as_mqtt_does():
    assert topic_matches("$aws/events/presence/disconnected/+", "$aws/events/presence/disconnected/dev-1")
    assert not topic_matches("$aws/events/presence/disconnected/+", "$aws/events/presence/connected/dev-1")
    assert topic_matches("$aws/events/#", "$aws/events/presence/connected/dev-1")
    assert not topic_matches("$aws/events/presence/+", "$aws/events/presence/connected/dev-1")


def test_the_rules_are_read_from_the_template_and_a_rule_they_cannot_run_is_refused():
    rules = {r.logical_id: r for r in topic_rules(template())}
    assert rules["FailureRule"].topic_filter == "$aws/events/presence/+/+"
    assert rules["FailureRule"].actions[0].name == "ConnectFailure.${reason}"
    assert fleet_metrics(template())[0].period == 300
    broken = template()
    broken["Resources"]["DisconnectRule"]["Properties"]["TopicRulePayload"]["Sql"] = (
        "SELECT * FROM 'a' WHERE x LIKE 'y%'"
    )
    with pytest.raises(EmulationError, match="DisconnectRule"):
        topic_rules(broken)


def test_emulation_counts_each_reason_into_cloudwatch_and_the_groups_connected_devices():
    fleet = SimulatedFleet(groups={"eu-gateways": 20, "us-sensors": 10}, start=T0)
    lost = fleet.disconnect("eu-gateways", share=0.5, reason="CONNECTION_LOST", at=T0 + 600, over=30)
    fleet.disconnect("us-sensors", share=0.2, reason="MQTT_KEEP_ALIVE_TIMEOUT", at=T0 + 600, over=30)
    fleet.reconnect(lost, at=T0 + 1500, over=30)
    fleet.fail_auth(["us-sensors-0009"], start=T0 + 900, end=T0 + 1200, attempts=3)
    cloudwatch = RecordingCloudWatch()
    report = emulate_device_rules(template(), fleet, cloudwatch, start=T0, end=T0 + 1800)

    def total(namespace, name):
        return sum(d["Value"] for ns, d in cloudwatch.data if ns == namespace and d["MetricName"] == name)

    assert total(NAMESPACE, "Disconnect.CONNECTION_LOST") == 10
    assert total(NAMESPACE, "Disconnect.MQTT_KEEP_ALIVE_TIMEOUT") == 2
    assert total(NAMESPACE, "Disconnect.AUTH_ERROR") == 1
    assert total(NAMESPACE, "ConnectFailure.AUTHORIZATION_FAILED") == 3
    connected = {
        int(d["Timestamp"].timestamp()) - T0: d["Value"]
        for ns, d in cloudwatch.data
        if ns == FLEET_METRICS_NAMESPACE
        and d["MetricName"] == "fleet-eu-gateways-connected"
        and d["Dimensions"] == [{"Name": "AggregationType", "Value": "count"}]
    }
    assert connected == {0: 20, 300: 20, 600: 20, 900: 10, 1200: 10, 1500: 10}  # back at 1530 at the latest
    assert cloudwatch.rules["fleet-auth-failures"] == ("ENABLED", AUTH_RULE_BODY)
    assert report.rule_events == 10 + 2 + 1 + 3


def test_a_where_clause_picks_the_events():
    fleet = SimulatedFleet(groups={"g": 2}, start=T0)
    fleet.disconnect("g", at=T0 + 10, over=1)
    rule = next(r for r in topic_rules(template()) if r.logical_id == "FailureRule")
    assert all(apply_topic_rule(rule, e) == [] for e in fleet.lifecycle_events(T0, T0 + 100))


def test_an_insight_report_counts_the_rules_contributors_and_is_a_valid_answer():
    fleet = SimulatedFleet(groups={"us-sensors": 10}, start=T0)
    fleet.fail_auth(["a", "b"], start=T0, end=T0 + 600, attempts=4)
    fleet.fail_auth(["c"], start=T0, end=T0 + 600, attempts=12)
    fleet.flood("d", start=T0, end=T0 + 600, messages=50)  # a publish, not a connect: not counted
    answer = insight_report(json.dumps(AUTH_RULE_BODY), fleet.log_events(T0, T0 + 600), T0, 60, 2)
    assert answer["AggregateValue"] == 20 and answer["ApproximateUniqueCount"] == 3
    assert [(c["Keys"], c["ApproximateAggregateValue"]) for c in answer["Contributors"]] == [
        (["c"], 12.0),
        (["a"], 4.0),
    ]
    assert validated("cloudwatch", "GetInsightRuleReport", answer).result is answer


def test_an_answer_that_breaks_its_output_shape_is_refused():
    with pytest.raises(AssertionError, match="GetBucketsAggregation"):
        validated("iot", "GetBucketsAggregation", {"totalCount": "many", "buckets": [{"keyValue": 1}]})


def test_the_stacks_own_rule_forms_run_only_the_watched_reasons():
    """The lifecycle rules as the stack writes them: the watched reasons in a WHERE chain, the
    connect failures by their own topic, the group's query in parentheses."""
    resources = template()["Resources"]
    disconnects = resources["DisconnectRule"]["Properties"]["TopicRulePayload"]
    disconnects["Sql"] = (
        "SELECT disconnectReason FROM '$aws/events/presence/disconnected/+' "
        "WHERE disconnectReason = 'CONNECTION_LOST' OR disconnectReason = 'AUTH_ERROR'"
    )
    failures = resources["FailureRule"]["Properties"]["TopicRulePayload"]
    failures["Sql"] = "SELECT connectFailureReason FROM '$aws/events/presence/connect_failed/+'"
    failures["Actions"][0]["CloudwatchMetric"]["MetricName"] = "ConnectFailure.${connectFailureReason}"
    resources["EuConnected"]["Properties"]["QueryString"] = (
        "(thingGroupNames:eu-gateways) AND connectivity.connected:true"
    )
    fleet = SimulatedFleet(groups={"eu-gateways": 10, "us-sensors": 10}, start=T0)
    fleet.disconnect("eu-gateways", share=0.5, reason="CONNECTION_LOST", at=T0 + 60, over=10)
    fleet.disconnect("us-sensors", share=0.5, reason="MQTT_KEEP_ALIVE_TIMEOUT", at=T0 + 60, over=10)
    fleet.fail_auth(["us-sensors-0009"], start=T0 + 60, end=T0 + 120, attempts=2)
    cloudwatch = RecordingCloudWatch()
    emulate_device_rules({"Resources": resources}, fleet, cloudwatch, start=T0, end=T0 + 600)
    names = {}
    for _, datum in cloudwatch.data:
        names[datum["MetricName"]] = names.get(datum["MetricName"], 0) + datum["Value"]
    assert names["Disconnect.CONNECTION_LOST"] == 5 and names["Disconnect.AUTH_ERROR"] == 1
    assert "Disconnect.MQTT_KEEP_ALIVE_TIMEOUT" not in names
    assert names["ConnectFailure.AUTHORIZATION_FAILED"] == 2
    assert names["fleet-eu-gateways-connected"] == 10 + 5  # 10 at 00:00, 5 at 00:05


def test_the_demo_story_takes_one_group_offline_with_one_reason_and_makes_a_few_clients_fail_auth():
    from iotwatch_local.device_story import device_story

    outage = T0 + 3 * 86400
    story = device_story(
        ["eu-gateways", "us-sensors"],
        history_start=T0,
        outage_start=outage,
        outage_end=outage + 1800,
        auth_start=outage + 7200,
        auth_end=outage + 7800,
        devices_per_group=100,
        churn_per_device_per_day=2,
    )
    down = [d for d in story.fleet.documents(outage + 600) if not d["connectivity.connected"]]
    in_group = [d for d in down if "eu-gateways" in d["thingGroupNames"]]
    assert len(in_group) >= 94 and {d["connectivity.disconnectReason"] for d in in_group} == {
        "CONNECTION_LOST"
    }
    assert len(down) - len(in_group) < 10  # the usual few between reconnects
    assert sum(not d["connectivity.connected"] for d in story.fleet.documents(outage + 3600)) < 10
    failing = {line["clientId"] for line in story.fleet.log_events(outage + 7200, outage + 7800)}
    assert failing == set(story.auth_clients) and len(failing) == 3
