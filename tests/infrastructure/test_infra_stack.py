"""The synthesized stack, checked property by property (logical ids are looked up, never hard-coded)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Capture, Match
from infra_support import (
    ENV_EMAIL,
    ENV_EMAIL_VAR,
    FULL_PLAN,
    LITERAL_EMAIL,
    MINIMAL_PLAN,
    SMS_PARAMETER,
    Synth,
    assert_table_access_is_what_the_code_calls,
    join_to_text,
    synthesize,
)
from iotwatch.plan.loader import load_plan

pytestmark = pytest.mark.infrastructure

EVALUATOR = "iotwatch.handlers.evaluator.handler"
BUILDER = "iotwatch.handlers.baseline_builder.handler"
# The release the Lambda package pins, read the plain way: the layer must be the same one.
PINNED_POWERTOOLS = next(
    line.split("==")[1].strip()
    for line in (Path(__file__).resolve().parents[2] / "requirements" / "lambda.txt").read_text().splitlines()
    if line.startswith("aws-lambda-powertools==")
)
TOPICS = {"oncall-email": "iotwatch-test-fleet-oncall-email", "oncall_sms": "iotwatch-test-fleet-oncall_sms"}


def _topic_ids(s: Synth) -> dict[str, str]:
    """Plan topic name -> logical id of its AWS::SNS::Topic."""
    by_physical = {v["Properties"]["TopicName"]: k for k, v in s.resources("AWS::SNS::Topic").items()}
    return {plan_name: by_physical[physical] for plan_name, physical in TOPICS.items()}


def _statements_of_role(s: Synth, role_id: str) -> list[dict[str, Any]]:
    statements = []
    for policy in s.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements, f"no policy attached to {role_id}"
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(function: dict[str, Any]) -> str:
    return function["Properties"]["Role"]["Fn::GetAtt"][0]


# --- stack and table ------------------------------------------------------------------------------


def test_stack_is_named_after_the_plan(full: Synth, minimal: Synth) -> None:
    assert full.stack.stack_name == "IotWatch-TestFleet"
    assert minimal.stack.stack_name == "IotWatch-Quiet"


def test_table_keys_ttl_pitr_encryption_on_demand_and_retained(full: Synth) -> None:
    full.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "AttributeDefinitions": Match.array_with(
                        [
                            {"AttributeName": "pk", "AttributeType": "S"},
                            {"AttributeName": "sk", "AttributeType": "S"},
                        ]
                    ),
                    "BillingMode": "PAY_PER_REQUEST",
                    "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {"SSEEnabled": True},
                }
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_destroy_context_lets_a_demo_stack_drop_its_table(minimal: Synth) -> None:
    _, table = minimal.only("AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Delete"


# --- topics and subscriptions -------------------------------------------------------------------


def test_one_encrypted_topic_per_plan_topic_named_from_the_plan(full: Synth) -> None:
    key_id, key = full.only("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    topics = full.resources("AWS::SNS::Topic")
    assert sorted(t["Properties"]["TopicName"] for t in topics.values()) == sorted(TOPICS.values())
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_every_topic_refuses_publishing_without_tls(full: Synth) -> None:
    ssl_only = {
        tuple(json.dumps(t, sort_keys=True) for t in policy["Properties"]["Topics"])
        for policy in full.resources("AWS::SNS::TopicPolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    }
    topic_refs = {(json.dumps({"Ref": tid}, sort_keys=True),) for tid in _topic_ids(full).values()}
    assert ssl_only == topic_refs


def test_topic_key_lets_cloudwatch_alarms_use_it(full: Synth) -> None:
    full.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            }
        },
    )


def test_subscriptions_take_literal_env_and_ssm_contacts(full: Synth) -> None:
    ids = _topic_ids(full)
    subs = sorted(
        (
            s["Properties"]["Protocol"],
            json.dumps(s["Properties"]["Endpoint"]),
            s["Properties"]["TopicArn"]["Ref"],
        )
        for s in full.resources("AWS::SNS::Subscription").values()
    )
    full.template.has_parameter("*", {"Type": "AWS::SSM::Parameter::Value<String>", "Default": SMS_PARAMETER})
    sms_parameter_id = next(
        k for k, v in full.template_json["Parameters"].items() if v.get("Default") == SMS_PARAMETER
    )
    assert subs == sorted(
        [
            ("email", json.dumps(LITERAL_EMAIL), ids["oncall-email"]),
            ("email", json.dumps(ENV_EMAIL), ids["oncall-email"]),  # read from the environment at synth
            ("sms", json.dumps({"Ref": sms_parameter_id}), ids["oncall_sms"]),  # resolved at deploy time
        ]
    )


def test_the_readme_stores_a_phone_number_the_way_the_stack_reads_it(full: Synth) -> None:
    """The template reads an {ssm: ...} contact through a String-typed parameter (SNS's
    Endpoint takes no ssm-secure reference): the README's put-parameter must store a String."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("aws ssm put-parameter")]
    assert "--type String " in line
    assert "SecureString" in readme  # and it says why not
    assert "ssm-secure" not in json.dumps(full.template_json)
    types = {
        v["Type"] for v in full.template_json["Parameters"].values() if v.get("Default") == SMS_PARAMETER
    }
    assert types == {"AWS::SSM::Parameter::Value<String>"}


def test_contacts_appear_only_as_subscription_endpoints(full: Synth) -> None:
    for contact in (LITERAL_EMAIL, ENV_EMAIL):
        stripped = {
            k: v for k, v in full.template_json["Resources"].items() if v["Type"] != "AWS::SNS::Subscription"
        }
        assert contact not in json.dumps(stripped)
        assert contact not in json.dumps(full.template_json.get("Outputs", {}))
        assert contact not in json.dumps(full.template_json.get("Parameters", {}))
        # logical ids show up in CloudFormation events and `cdk diff`: no address in them
        squashed = "".join(ch for ch in contact if ch.isalnum()).lower()
        assert not any(squashed in logical_id.lower() for logical_id in full.template_json["Resources"])


# --- functions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "service", "memory", "timeout"),
    [(EVALUATOR, "iotwatch-evaluator", 512, 60), (BUILDER, "iotwatch-baseline-builder", 1024, 300)],
)
def test_functions_share_the_factory_defaults(
    full: Synth, handler: str, service: str, memory: int, timeout: int
) -> None:
    layer_parameter = next(
        k
        for k, v in full.template_json["Parameters"].items()
        if v.get("Default") == f"/aws/service/powertools/python/arm64/python3.14/{PINNED_POWERTOOLS}"
    )
    assert full.template_json["Parameters"][layer_parameter]["Type"] == "AWS::SSM::Parameter::Value<String>"
    log_group = Capture()
    full.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": handler,
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Layers": [{"Ref": layer_parameter}],
            "MemorySize": memory,
            "Timeout": timeout,
            "TracingConfig": {"Mode": "Active"},
            "LoggingConfig": Match.object_like({"LogFormat": "JSON", "LogGroup": {"Ref": log_group}}),
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "IOTWATCH_TABLE": {"Ref": full.only("AWS::DynamoDB::Table")[0]},
                        "IOTWATCH_PLAN_FILE": "plan.json",
                        "IOTWATCH_DASHBOARD": "iotwatch-test-fleet",
                        "POWERTOOLS_SERVICE_NAME": service,
                        "POWERTOOLS_METRICS_NAMESPACE": "IotWatch/test-fleet",
                        "POWERTOOLS_LOG_LEVEL": "INFO",
                    }
                )
            },
        },
    )
    group = full.template_json["Resources"][log_group.as_string()]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == 30


def test_topics_variable_maps_every_plan_topic_to_its_arn(full: Synth) -> None:
    for handler in (EVALUATOR, BUILDER):
        _, function = full.function(handler)
        text = join_to_text(function["Properties"]["Environment"]["Variables"]["IOTWATCH_TOPICS"])
        assert json.loads(text) == {name: f"<{tid}>" for name, tid in _topic_ids(full).items()}


def test_no_log_retention_custom_resource_and_no_managed_policies(full: Synth) -> None:
    assert not full.resources("Custom::LogRetention")
    assert not [k for k, v in full.template_json["Resources"].items() if v["Type"].startswith("Custom::")]
    for role in full.resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_evaluator_permissions_are_least_privilege(full: Synth) -> None:
    function_id, function = full.function(EVALUATOR)
    statements = _statements_of_role(full, _role_of(function))
    table_id, _ = full.only("AWS::DynamoDB::Table")
    key_id, _ = full.only("AWS::KMS::Key")
    log_group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    topic_refs = sorted(json.dumps({"Ref": t}) for t in _topic_ids(full).values())

    actions_seen: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = _as_list(statement["Action"])
        resources = _as_list(statement["Resource"])
        actions_seen.update(actions)
        if any(a.startswith("sns:") for a in actions):
            assert actions == ["sns:Publish"]
            assert sorted(json.dumps(r) for r in resources) == topic_refs
        if any(a.startswith("dynamodb:") for a in actions):
            assert all(a.startswith("dynamodb:") for a in actions)
            assert resources == [{"Fn::GetAtt": [table_id, "Arn"]}]
        if any(a.startswith("kms:") for a in actions):
            assert sorted(actions) == ["kms:Decrypt", "kms:GenerateDataKey*"]
            assert resources == [{"Fn::GetAtt": [key_id, "Arn"]}]
        if any(a.startswith("logs:") for a in actions):
            assert resources == [{"Fn::GetAtt": [log_group_id, "Arn"]}]
        if "*" in resources:
            # only actions AWS offers no resource-level permission for
            assert set(actions) <= {
                "cloudwatch:GetMetricData",
                "cloudwatch:ListMetrics",
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
            }
    assert {
        "sns:Publish",
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
        "dynamodb:PutItem",
        "dynamodb:Query",
    } <= actions_seen
    assert not any(a.startswith("dynamodb:") and a.endswith("*") for a in actions_seen)
    assert function_id


@pytest.mark.parametrize("handler", [EVALUATOR, BUILDER, "iotwatch.handlers.band_widget.handler"])
def test_each_function_may_do_on_the_table_only_what_its_code_calls(full: Synth, handler: str) -> None:
    expected = assert_table_access_is_what_the_code_calls(full, handler)
    # DeleteItem only where a claim is released or the outbox drained: the evaluator
    assert ("dynamodb:DeleteItem" in expected) == (handler == EVALUATOR)


def test_builder_reads_metrics_and_table_but_cannot_publish(full: Synth) -> None:
    _, function = full.function(BUILDER)
    statements = _statements_of_role(full, _role_of(function))
    table_id, _ = full.only("AWS::DynamoDB::Table")
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert {"cloudwatch:GetMetricData", "cloudwatch:ListMetrics"} <= actions
    assert "dynamodb:PutItem" in actions and "dynamodb:BatchWriteItem" not in actions  # puts one at a time
    assert "dynamodb:Query" in actions  # the periods of marked incidents, in one Query (incidents mark)
    assert not any(a.startswith(("sns:", "kms:")) for a in actions)
    for statement in statements:
        if any(a.startswith("dynamodb:") for a in _as_list(statement["Action"])):
            assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": [table_id, "Arn"]}]


def test_each_function_writes_only_to_its_own_log_group(full: Synth) -> None:
    groups = set()
    for handler in (EVALUATOR, BUILDER):
        _, function = full.function(handler)
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        groups.add(group)
        log_statements = [
            s
            for s in _statements_of_role(full, _role_of(function))
            if any(a.startswith("logs:") for a in _as_list(s["Action"]))
        ]
        assert log_statements == [
            {
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [group, "Arn"]},
            }
        ]
    assert len(groups) == 2


# --- schedules and events -------------------------------------------------------------------------


def _rules_targeting(s: Synth, function_id: str) -> list[dict[str, Any]]:
    return [
        rule["Properties"]
        for rule in s.resources("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in rule["Properties"]["Targets"])
    ]


def test_schedules_equal_the_plan_and_retry_into_the_dead_letter_queue(full: Synth) -> None:
    plan = load_plan(full.plan_path, environ={ENV_EMAIL_VAR: ENV_EMAIL}, resolve_env=True)
    queue_id, _ = full.dead_letter_queue()
    expected = {EVALUATOR: plan.frequency.evaluation, BUILDER: plan.frequency.baseline_refresh}
    for handler, expression in expected.items():
        function_id, _ = full.function(handler)
        schedules = [r for r in _rules_targeting(full, function_id) if "ScheduleExpression" in r]
        assert [r["ScheduleExpression"] for r in schedules] == [expression]
        for rule in _rules_targeting(full, function_id):
            (target,) = rule["Targets"]
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
            assert "Input" not in target  # handlers receive the event itself


def test_minimal_plan_schedules(minimal: Synth) -> None:
    expressions = sorted(
        r["Properties"]["ScheduleExpression"]
        for r in minimal.resources("AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    )
    assert expressions == ["rate(10 minutes)", "rate(12 hours)"]


def test_baselines_are_bootstrapped_when_this_stack_finishes_deploying(full: Synth) -> None:
    builder_id, _ = full.function(BUILDER)
    (rule,) = [r for r in _rules_targeting(full, builder_id) if "EventPattern" in r]
    assert rule["EventPattern"] == {
        "source": ["aws.cloudformation"],
        "detail-type": ["CloudFormation Stack Status Change"],
        "detail": {
            "stack-id": [{"Ref": "AWS::StackId"}],
            "status-details": {"status": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]},
        },
    }
    evaluator_id, _ = full.function(EVALUATOR)
    assert all("EventPattern" not in r for r in _rules_targeting(full, evaluator_id))


def test_dead_letter_queue_is_encrypted_and_tls_only(full: Synth) -> None:
    queue_id, queue = full.dead_letter_queue()
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    full.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        ),
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                            }
                        ),
                    ]
                )
            },
        },
    )


# --- dashboard ------------------------------------------------------------------------------------


# Drawn widgets, header and limits: test_infra_dashboard.py.


def test_no_dashboard_when_the_plan_says_so(minimal: Synth) -> None:
    assert not minimal.resources("AWS::CloudWatch::Dashboard")
    assert "DashboardName" not in minimal.template_json["Outputs"]
    for _, function in minimal.resources("AWS::Lambda::Function").items():
        assert "IOTWATCH_DASHBOARD" not in function["Properties"]["Environment"]["Variables"]


# --- outputs --------------------------------------------------------------------------------------


def test_outputs_the_demo_reads_back(full: Synth) -> None:
    outputs = full.template_json["Outputs"]
    ids = _topic_ids(full)
    assert outputs["TableName"]["Value"] == {"Ref": full.only("AWS::DynamoDB::Table")[0]}
    assert outputs["TopicOncallEmailArn"]["Value"] == {"Ref": ids["oncall-email"]}
    assert outputs["TopicOncallSmsArn"]["Value"] == {"Ref": ids["oncall_sms"]}
    assert outputs["EvaluatorFunctionName"]["Value"] == {"Ref": full.function(EVALUATOR)[0]}
    assert outputs["BaselineBuilderFunctionName"]["Value"] == {"Ref": full.function(BUILDER)[0]}
    assert outputs["DashboardName"]["Value"] == {"Ref": full.only("AWS::CloudWatch::Dashboard")[0]}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": full.dead_letter_queue()[0]}


def test_a_plan_that_cannot_fan_out_has_no_work_queue_to_poll(full: Synth) -> None:
    """4 named series, no "*" metric: never more than a shard, so no queue for Lambda to
    long-poll (and bill) while idle."""
    dlq_id, _ = full.dead_letter_queue()
    assert list(full.resources("AWS::SQS::Queue")) == [dlq_id]
    assert full.resources("AWS::Lambda::EventSourceMapping") == {}
    for handler in (EVALUATOR, BUILDER):
        assert (
            "IOTWATCH_WORK_QUEUE" not in full.function(handler)[1]["Properties"]["Environment"]["Variables"]
        )


def test_more_named_series_than_a_shard_give_the_evaluator_its_work_queue(tmp_path: Path) -> None:
    text = FULL_PLAN.replace(
        "  baseline_refresh: cron(0 3 * * ? *)\n", "  baseline_refresh: cron(0 3 * * ? *)\n  shard_size: 3\n"
    )
    assert text != FULL_PLAN
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(text, encoding="utf-8")
    sharded = synthesize(plan_path, tmp_path / "cdk.out", environ={ENV_EMAIL_VAR: ENV_EMAIL})
    evaluator_id, evaluator = sharded.function(EVALUATOR)
    queue_ref = evaluator["Properties"]["Environment"]["Variables"]["IOTWATCH_WORK_QUEUE"]
    [mapping] = sharded.resources("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionName"] == {"Ref": evaluator_id}
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_ref["Ref"], "Arn"]}
    # 4 series are far below a build shard: the builder keeps building in one invocation
    assert "IOTWATCH_WORK_QUEUE" not in sharded.function(BUILDER)[1]["Properties"]["Environment"]["Variables"]


def test_a_plan_heavy_in_shares_gets_its_evaluator_work_queue(tmp_path: Path) -> None:
    """1,500 series of which 600 are shares of two metrics: 2,100 metric queries, over the
    default shard_size of 2,000. The handler fans such a tick out (tests/unit/test_fanout_rule.py),
    so the stack must give it the queue to fan out through: both ask `plan.fanout`."""
    matches = ", ".join(f"match_{i:04d}" for i in range(900))
    actions = ", ".join(f"deliver_{i:04d}" for i in range(600))
    resources = (
        "resources:\n  metrics:\n    - metric: TopicMatch\n"
        f"      dimensions: {{RuleName: [{matches}]}}\n"
        "  ratios:\n    - name: RuleAction.FailureRate\n      numerator: [Failure]\n"
        f"      dimensions: {{RuleName: [{actions}], ActionType: Kinesis}}\n"
    )
    text = MINIMAL_PLAN.replace(
        "resources:\n  metrics:\n    - metric: PublishIn.Success\n      dimensions: {Protocol: MQTT}\n",
        resources,
    )
    assert text != MINIMAL_PLAN
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(text, encoding="utf-8")
    heavy = synthesize(plan_path, tmp_path / "cdk.out", environ={})
    for handler in (EVALUATOR, BUILDER):
        function_id, function = heavy.function(handler)
        queue_ref = function["Properties"]["Environment"]["Variables"]["IOTWATCH_WORK_QUEUE"]
        [mapping] = [
            m
            for m in heavy.resources("AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == {"Ref": function_id}
        ]
        assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_ref["Ref"], "Arn"]}


def test_the_layer_version_is_the_pin_of_the_lambda_requirements(tmp_path: Path) -> None:
    from infra.functions import POWERTOOLS_LAYER_PARAMETER, pinned_version

    assert (
        POWERTOOLS_LAYER_PARAMETER.endswith(f"/{PINNED_POWERTOOLS}")
        and "latest" not in POWERTOOLS_LAYER_PARAMETER
    )
    pins = tmp_path / "lambda.txt"
    pins.write_text(
        "# the Lambda package\nboto3==1.0\naws-lambda-powertools==9.8.7  # the layer\n", encoding="utf-8"
    )
    assert pinned_version(pins, "aws-lambda-powertools") == "9.8.7"
    with pytest.raises(ValueError, match="no 'tzdata==<version>' line"):
        pinned_version(pins, "tzdata")
