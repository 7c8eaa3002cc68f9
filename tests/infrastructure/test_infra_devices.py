"""Device signals in the synthesized stack (the plan's `devices` section): the lifecycle topic
rules and their least-privilege role, the fleet metrics once fleet indexing is on, the
Contributor Insights rules, the AWS IoT log level, and what the evaluator may look up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match
from infra_support import FULL_PLAN, REPO_ROOT, Synth, cfn_lint_problems, nag_problems, synthesize_text

pytestmark = pytest.mark.infrastructure

NAMESPACE = "IotWatch/test-fleet/Devices"
DEVICES = """
devices:
  fleet_indexing: enabled
  groups:
    - thing_group: eu-gateways
    - name: fw-2-1
      query: "attributes.firmware:2.1"
  disconnect_reasons: [CONNECTION_LOST, DUPLICATE_CLIENTID]
  top_clients: [Connect.AuthError, PublishIn.Throttle]
  logging: {level: ERROR}
"""
EVALUATOR = "iotwatch.handlers.evaluator.handler"


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize_text(tmp_path_factory.mktemp("devices"), FULL_PLAN + DEVICES)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The example plan as it ships: fleet indexing not yet on, deployable into a fresh account."""
    text = (REPO_ROOT / "monitoring-plan.yaml").read_text(encoding="utf-8")
    return synthesize_text(tmp_path_factory.mktemp("example"), text, environ={})


def _statements(synth: Synth, policy_id: str) -> list[dict[str, Any]]:
    return synth.template_json["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]


def test_a_topic_rule_counts_the_watched_disconnect_reasons_into_the_device_namespace(watched: Synth) -> None:
    role = Capture()
    errors = Capture()
    watched.template.has_resource_properties(
        "AWS::IoT::TopicRule",
        {
            "RuleName": "iotwatch_test_fleet_disconnects",
            "TopicRulePayload": {
                "Sql": "SELECT disconnectReason FROM '$aws/events/presence/disconnected/+' WHERE "
                "disconnectReason = 'CONNECTION_LOST' OR disconnectReason = 'DUPLICATE_CLIENTID'",
                "AwsIotSqlVersion": "2016-03-23",
                "RuleDisabled": False,
                "Actions": [
                    {
                        "CloudwatchMetric": {
                            "MetricNamespace": NAMESPACE,
                            "MetricName": "Disconnect.${disconnectReason}",
                            "MetricUnit": "Count",
                            "MetricValue": "1",
                            "RoleArn": {"Fn::GetAtt": [role, "Arn"]},
                        }
                    }
                ],
                "ErrorAction": {
                    "CloudwatchLogs": {"LogGroupName": {"Ref": errors}, "RoleArn": Match.any_value()}
                },
            },
        },
    )
    watched.template.has_resource_properties(
        "AWS::IoT::TopicRule",
        {
            "RuleName": "iotwatch_test_fleet_connect_failures",
            "TopicRulePayload": Match.object_like(
                {
                    "Sql": "SELECT connectFailureReason FROM '$aws/events/presence/connect_failed/+'",
                    "Actions": [
                        {
                            "CloudwatchMetric": Match.object_like(
                                {
                                    "MetricNamespace": NAMESPACE,
                                    "MetricName": "ConnectFailure.${connectFailureReason}",
                                }
                            )
                        }
                    ],
                }
            ),
        },
    )
    # the rule errors' log group expires; the role is AWS IoT's, for this account only
    resources = watched.template_json["Resources"]
    assert resources[errors.as_string()]["Properties"]["RetentionInDays"] == 14
    trust = resources[role.as_string()]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "iot.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]


def test_the_rule_role_may_put_metrics_only_into_the_device_namespace(watched: Synth) -> None:
    puts = [
        statement
        for policy_id in watched.resources("AWS::IAM::Policy")
        for statement in _statements(watched, policy_id)
        if "cloudwatch:PutMetricData" in json.dumps(statement["Action"])
    ]
    # the evaluator's and the builder's own metrics are the Powertools namespace's, not these
    device_puts = [s for s in puts if "Condition" in s and NAMESPACE in json.dumps(s["Condition"])]
    assert device_puts == [
        {
            "Action": "cloudwatch:PutMetricData",
            "Effect": "Allow",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
        }
    ]


def test_each_group_is_a_fleet_metric_of_its_connected_things(watched: Synth) -> None:
    for name, query in (
        ("iotwatch-test-fleet-eu-gateways", "(thingGroupNames:eu-gateways) AND connectivity.connected:true"),
        ("iotwatch-test-fleet-fw-2-1", "(attributes.firmware:2.1) AND connectivity.connected:true"),
    ):
        watched.template.has_resource_properties(
            "AWS::IoT::FleetMetric",
            {
                "MetricName": name,
                "QueryString": query,
                "IndexName": "AWS_Things",
                "QueryVersion": "2017-09-30",
                "AggregationType": {"Name": "Statistics", "Values": ["count"]},
                "AggregationField": "registry.version",
                "Period": 300,  # one emission per evaluation period
                "Unit": "Count",
            },
        )


def test_top_clients_are_insight_rules_over_the_iot_log_by_client_id(watched: Synth) -> None:
    bodies = {
        r["Properties"]["RuleName"]: json.loads(r["Properties"]["RuleBody"])
        for r in watched.resources("AWS::CloudWatch::InsightRule").values()
    }
    assert sorted(bodies) == [
        "iotwatch-test-fleet-Connect.AuthError",
        "iotwatch-test-fleet-PublishIn.Throttle",
    ]
    auth = bodies["iotwatch-test-fleet-Connect.AuthError"]
    assert auth["LogGroupNames"] == ["AWSIotLogsV2"] and auth["Contribution"]["Keys"] == ["$.clientId"]
    assert {"Match": "$.reason", "In": ["AUTHORIZATION_FAILURE"]} in auth["Contribution"]["Filters"]
    watched.template.has_resource_properties(
        "AWS::CloudWatch::InsightRule",
        {"RuleName": "iotwatch-test-fleet-Connect.AuthError", "RuleState": "ENABLED"},
    )


def test_the_plan_sets_the_iot_log_level_with_a_role_that_writes_only_the_iot_log(watched: Synth) -> None:
    role = Capture()
    watched.template.has_resource_properties(
        "AWS::IoT::Logging",
        {
            "AccountId": {"Ref": "AWS::AccountId"},
            "DefaultLogLevel": "ERROR",
            "RoleArn": {"Fn::GetAtt": [role, "Arn"]},
        },
    )
    (policy,) = watched.template_json["Resources"][role.as_string()]["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    assert "log-group:AWSIotLogsV2:*" in json.dumps(statement["Resource"])


def test_the_evaluator_may_aggregate_the_index_and_read_the_rules_reports(watched: Synth) -> None:
    _, evaluator = watched.function(EVALUATOR)
    role_ref = evaluator["Properties"]["Role"]["Fn::GetAtt"][0]
    lookups = [
        statement
        for policy_id, policy in watched.resources("AWS::IAM::Policy").items()
        if {"Ref": role_ref} in policy["Properties"]["Roles"]
        for statement in _statements(watched, policy_id)
        if "iot:GetBucketsAggregation" in json.dumps(statement["Action"])
        or "cloudwatch:GetInsightRuleReport" in json.dumps(statement["Action"])
    ]
    index, reports = lookups
    assert sorted(index["Action"]) == ["iot:GetBucketsAggregation", "iot:GetCardinality", "iot:GetStatistics"]
    assert "index/AWS_Things" in json.dumps(index["Resource"])
    assert reports["Action"] == "cloudwatch:GetInsightRuleReport"
    assert [
        "insight-rule/iotwatch-test-fleet-Connect.AuthError" in json.dumps(r) for r in reports["Resource"]
    ].count(True) == 1
    assert "*" not in json.dumps(index["Resource"]) + json.dumps(reports["Resource"])


def test_the_example_plan_deploys_without_fleet_metrics_until_indexing_is_on(example: Synth) -> None:
    example.template.resource_properties_count_is("AWS::IoT::FleetMetric", Match.any_value(), 0)
    example.template.has_resource_properties(
        "AWS::IoT::TopicRule",
        {"RuleName": "iotwatch_fleet_disconnects", "TopicRulePayload": Match.any_value()},
    )
    example.template.has_resource_properties(
        "AWS::CloudWatch::InsightRule", {"RuleName": "iotwatch-fleet-Connect.AuthError"}
    )
    # the account's logging is left alone: one setting per account, which one stack may own
    example.template.resource_properties_count_is("AWS::IoT::Logging", Match.any_value(), 0)


def test_a_plan_without_devices_creates_none_of_it(full: Synth) -> None:
    for resource_type in (
        "AWS::IoT::TopicRule",
        "AWS::IoT::FleetMetric",
        "AWS::CloudWatch::InsightRule",
        "AWS::IoT::Logging",
    ):
        assert full.resources(resource_type) == {}, resource_type


def test_cdk_nag_and_cfn_lint_pass_with_every_device_part(watched: Synth, example: Synth) -> None:
    for synth in (watched, example):
        assert nag_problems(synth) == []
        errors, warnings = cfn_lint_problems(synth)
        assert errors == [] and warnings == set(), (errors, warnings)
