"""The control-plane audit in the synthesized stack: off unless the plan asks, the rule, the
function and its permissions, and the optional CloudTrail trail with its bucket."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from infra_support import (
    ENV_EMAIL,
    ENV_EMAIL_VAR,
    FULL_PLAN,
    FULL_TOOLS,
    Synth,
    acknowledgements,
    assert_table_access_is_what_the_code_calls,
    cfn_lint_problems,
    join_to_text,
    nag_problems,
    synthesize,
)

from infra.app import project_context
from infra.audit import AuditTrail

pytestmark = pytest.mark.infrastructure

AUDIT = "iotwatch.handlers.audit.handler"
TRAIL_RETENTION_DAYS = 400  # not the default (365), so the test sees the plan's value
AUDIT_TRAIL_PLAN = FULL_PLAN.replace(
    FULL_TOOLS,
    "tools:\n  dashboard: true\n  audit: true\n"
    f"audit:\n  create_trail: true\n  trail_retention_days: {TRAIL_RETENTION_DAYS}\n",
)


def _synth(base: Path, plan: str) -> Synth:
    plan_path = base / "plan.yaml"
    plan_path.write_text(plan, encoding="utf-8")
    return synthesize(plan_path, base / "cdk.out", environ={ENV_EMAIL_VAR: ENV_EMAIL})


@pytest.fixture(scope="module")
def trailed(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(tmp_path_factory.mktemp("trailed"), AUDIT_TRAIL_PLAN)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _getatt_arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _audit_rule(s: Synth) -> tuple[str, dict[str, Any]]:
    function_id, _ = s.function(AUDIT)
    found = [
        (k, v)
        for k, v in s.resources("AWS::Events::Rule").items()
        if any(t["Arn"] == _getatt_arn(function_id) for t in v["Properties"]["Targets"])
    ]
    assert len(found) == 1, f"expected one rule targeting the audit function, found {len(found)}"
    return found[0]


def _statements_of_role(s: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in s.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _default_bus_arn() -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":events:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":event-bus/default",
            ],
        ]
    }


def _trail_bucket(s: Synth) -> tuple[str, dict[str, Any]]:
    _, trail = s.only("AWS::CloudTrail::Trail")
    bucket_id = trail["Properties"]["S3BucketName"]["Ref"]
    return bucket_id, s.template_json["Resources"][bucket_id]


def _access_log_bucket(s: Synth) -> tuple[str, dict[str, Any]]:
    _, bucket = _trail_bucket(s)
    log_bucket_id = bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    return log_bucket_id, s.template_json["Resources"][log_bucket_id]


def _bucket_policy(s: Synth, bucket_id: str) -> list[dict[str, Any]]:
    (policy,) = [
        p
        for p in s.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _ssl_only(statements: list[dict[str, Any]], bucket_id: str) -> bool:
    return any(
        st["Effect"] == "Deny"
        and st["Principal"] == {"AWS": "*"}
        and st["Action"] == "s3:*"
        and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and sorted(json.dumps(r, sort_keys=True) for r in st["Resource"])
        == sorted(
            json.dumps(r, sort_keys=True)
            for r in (_getatt_arn(bucket_id), {"Fn::Join": ["", [_getatt_arn(bucket_id), "/*"]]})
        )
        for st in statements
    )


ALL_PUBLIC_ACCESS_BLOCKED = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
SSE_S3 = {
    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
}


# --- off unless the plan asks ---------------------------------------------------------------------


def test_no_audit_resources_when_the_plan_leaves_it_off(minimal: Synth) -> None:
    handlers = {f["Properties"]["Handler"] for f in minimal.resources("AWS::Lambda::Function").values()}
    assert AUDIT not in handlers
    assert not [
        r
        for r in minimal.resources("AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"] and r["Properties"]["EventPattern"].get("source") == ["aws.iot"]
    ]
    assert not minimal.resources("AWS::CloudTrail::Trail")
    assert not minimal.resources("AWS::S3::Bucket")
    assert not {"AuditFunctionName", "AuditRuleName"} & set(minimal.template_json["Outputs"])


# --- the rule and the function --------------------------------------------------------------------


def test_rule_matches_iot_api_calls_recorded_by_cloudtrail(audited: Synth) -> None:
    _, rule = _audit_rule(audited)
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.iot"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["iot.amazonaws.com"]},
    }
    # plain ENABLED: write calls only (ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS would add reads)
    assert rule["Properties"]["State"] == "ENABLED"
    assert "ScheduleExpression" not in rule["Properties"]


def test_rule_retries_for_hours_then_dead_letters(audited: Synth) -> None:
    function_id, _ = audited.function(AUDIT)
    queue_id, _ = audited.dead_letter_queue()
    _, rule = _audit_rule(audited)
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == _getatt_arn(function_id)
    assert target["DeadLetterConfig"] == {"Arn": _getatt_arn(queue_id)}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 6 * 3600}
    assert "Input" not in target and "InputPath" not in target  # the handler gets the CloudTrail event


def test_only_this_rule_may_invoke_the_function_and_use_the_queue(audited: Synth) -> None:
    function_id, _ = audited.function(AUDIT)
    rule_id, _ = _audit_rule(audited)
    permissions = [
        p["Properties"]
        for p in audited.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == _getatt_arn(function_id)
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": _getatt_arn(function_id),
            "Principal": "events.amazonaws.com",
            "SourceArn": _getatt_arn(rule_id),
        }
    ]
    dlq_id, _ = audited.dead_letter_queue()
    [queue_policy] = [
        p
        for p in audited.resources("AWS::SQS::QueuePolicy").values()
        if {"Ref": dlq_id} in p["Properties"]["Queues"]
    ]
    assert any(
        st["Effect"] == "Allow"
        and st["Principal"] == {"Service": "events.amazonaws.com"}
        and st["Action"] == "sqs:SendMessage"
        and st["Condition"] == {"ArnEquals": {"aws:SourceArn": _getatt_arn(rule_id)}}
        for st in queue_policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_function_size_handler_and_its_own_dead_letter_queue(audited: Synth) -> None:
    _, function = audited.function(AUDIT)
    queue_id, _ = audited.dead_letter_queue()
    props = function["Properties"]
    assert props["MemorySize"] == 256
    assert props["Timeout"] == 30
    assert props["Runtime"] == "python3.14"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "iotwatch-audit"
    # A handler error after Lambda's own async retries lands here instead of being dropped.
    assert props["DeadLetterConfig"] == {"TargetArn": _getatt_arn(queue_id)}
    # Lambda checks at CreateFunction that the role may send to the dead-letter queue.
    role_id = props["Role"]["Fn::GetAtt"][0]
    (policy_id,) = [
        k
        for k, p in audited.resources("AWS::IAM::Policy").items()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    assert policy_id in function["DependsOn"]


def test_the_audit_takes_five_at_once_and_queues_the_rest(audited: Synth) -> None:
    """A provisioning run's thousands of calls wait in Lambda's queue instead of taking the
    account's concurrency from the fleet's own functions."""
    _, function = audited.function(AUDIT)
    assert function["Properties"]["ReservedConcurrentExecutions"] == 5


def test_audit_role_writes_the_table_publishes_to_the_topics_and_nothing_more(audited: Synth) -> None:
    _, function = audited.function(AUDIT)
    statements = _statements_of_role(audited, function["Properties"]["Role"]["Fn::GetAtt"][0])
    table_id, _ = audited.only("AWS::DynamoDB::Table")
    key_id, _ = audited.only("AWS::KMS::Key")
    queue_id, _ = audited.dead_letter_queue()
    log_group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    topic_refs = sorted(json.dumps({"Ref": k}) for k in audited.resources("AWS::SNS::Topic"))
    assert len(topic_refs) == 2

    by_service: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement
        actions = _as_list(statement["Action"])
        resources = _as_list(statement["Resource"])
        services = {a.split(":")[0] for a in actions}
        assert len(services) == 1, actions
        (service,) = services
        by_service.setdefault(service, set()).update(actions)
        expected_resources = {
            "logs": [_getatt_arn(log_group_id)],
            "sqs": [_getatt_arn(queue_id)],
            "xray": ["*"],
            "dynamodb": [_getatt_arn(table_id)],
            "kms": [_getatt_arn(key_id)],
            # notify.events (on by default): the default bus of the stack's account and region
            "events": [_default_bus_arn()],
        }
        if service == "sns":
            assert sorted(json.dumps(r) for r in resources) == topic_refs
        else:
            assert resources == expected_resources[service], (service, resources)

    assert set(by_service) == {"logs", "sqs", "xray", "dynamodb", "sns", "kms", "events"}
    assert by_service["events"] == {"events:PutEvents"}
    assert by_service["sns"] == {"sns:Publish"}
    assert by_service["sqs"] == {"sqs:SendMessage"}
    assert by_service["kms"] == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert by_service["logs"] == {"logs:CreateLogStream", "logs:PutLogEvents"}
    # what the audit's store port sends (it records a call, owes and settles its pages), no read
    assert by_service["dynamodb"] == assert_table_access_is_what_the_code_calls(audited, AUDIT)
    assert by_service["dynamodb"] == {"dynamodb:PutItem", "dynamodb:UpdateItem"}


def test_outputs_name_the_function_and_the_rule(audited: Synth) -> None:
    outputs = audited.template_json["Outputs"]
    assert outputs["AuditFunctionName"]["Value"] == {"Ref": audited.function(AUDIT)[0]}
    assert outputs["AuditRuleName"]["Value"] == {"Ref": _audit_rule(audited)[0]}


def test_dashboard_watches_the_audit_function_too(audited: Synth) -> None:
    _, dashboard = audited.only("AWS::CloudWatch::Dashboard")
    body = join_to_text(dashboard["Properties"]["DashboardBody"])
    assert f"<{audited.function(AUDIT)[0]}>" in body


def test_no_trail_unless_the_plan_asks(audited: Synth) -> None:
    assert not audited.resources("AWS::CloudTrail::Trail")
    assert not audited.resources("AWS::S3::Bucket")
    assert not audited.resources("AWS::S3::BucketPolicy")


# --- the optional trail ---------------------------------------------------------------------------


def test_trail_logs_write_management_events_of_this_region_with_validation(trailed: Synth) -> None:
    _, trail = trailed.only("AWS::CloudTrail::Trail")
    bucket_id, _ = _trail_bucket(trailed)
    props = trail["Properties"]
    assert props["S3BucketName"] == {"Ref": bucket_id}
    assert props["IsLogging"] is True
    assert props["EnableLogFileValidation"] is True
    assert props["IsMultiRegionTrail"] is False
    assert props["IncludeGlobalServiceEvents"] is False
    assert props["EventSelectors"] == [{"IncludeManagementEvents": True, "ReadWriteType": "WriteOnly"}]
    # CloudTrail checks the bucket policy when the trail is created
    (policy_id,) = [
        k
        for k, p in trailed.resources("AWS::S3::BucketPolicy").items()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert policy_id in trail["DependsOn"]


def test_trail_bucket_is_encrypted_private_versioned_logged_and_expires(trailed: Synth) -> None:
    bucket_id, bucket = _trail_bucket(trailed)
    log_bucket_id, _ = _access_log_bucket(trailed)
    props = bucket["Properties"]
    assert props["BucketEncryption"] == SSE_S3
    assert props["PublicAccessBlockConfiguration"] == ALL_PUBLIC_ACCESS_BLOCKED
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": log_bucket_id},
        "LogFilePrefix": "trail-bucket/",
    }
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert "Prefix" not in rule and "Filter" not in rule  # the whole bucket
    assert rule["ExpirationInDays"] == TRAIL_RETENTION_DAYS
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert _ssl_only(_bucket_policy(trailed, bucket_id), bucket_id)
    # audit evidence outlives the stack (the plan's stack is deployed with the default RETAIN)
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_trail_bucket_policy_lets_cloudtrail_deliver_and_nothing_else(trailed: Synth) -> None:
    bucket_id, _ = _trail_bucket(trailed)
    allows = [st for st in _bucket_policy(trailed, bucket_id) if st["Effect"] == "Allow"]
    assert sorted(allows, key=lambda st: st["Action"]) == [
        {
            "Action": "s3:GetBucketAcl",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Resource": _getatt_arn(bucket_id),
        },
        {
            "Action": "s3:PutObject",
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Resource": {
                "Fn::Join": ["", [_getatt_arn(bucket_id), "/AWSLogs/", {"Ref": "AWS::AccountId"}, "/*"]]
            },
        },
    ]


def test_access_log_bucket_takes_only_the_trail_buckets_logs(trailed: Synth) -> None:
    bucket_id, _ = _trail_bucket(trailed)
    log_bucket_id, log_bucket = _access_log_bucket(trailed)
    assert log_bucket_id != bucket_id
    props = log_bucket["Properties"]
    assert props["BucketEncryption"] == SSE_S3  # server access logging delivers to SSE-S3 only
    assert props["PublicAccessBlockConfiguration"] == ALL_PUBLIC_ACCESS_BLOCKED
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == TRAIL_RETENTION_DAYS
    assert log_bucket["DeletionPolicy"] == "Retain"
    statements = _bucket_policy(trailed, log_bucket_id)
    assert _ssl_only(statements, log_bucket_id)
    allows = [st for st in statements if st["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "s3:PutObject",
            "Condition": {
                "ArnLike": {"aws:SourceArn": _getatt_arn(bucket_id)},
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            },
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Resource": {"Fn::Join": ["", [_getatt_arn(log_bucket_id), "/trail-bucket/*"]]},
        }
    ]


def test_a_disposable_stack_drops_the_trail_buckets() -> None:
    """data_removal_policy=destroy (demos) applies to the trail buckets as well."""
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="trail-"), context=project_context())  # cdk.json flags
    stack = cdk.Stack(app, "TrailProbe")
    AuditTrail(stack, "Trail", retention_days=7, removal_policy=cdk.RemovalPolicy.DESTROY)
    buckets = Template.from_stack(stack).find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    assert {b["DeletionPolicy"] for b in buckets.values()} == {"Delete"}
    assert {
        b["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] for b in buckets.values()
    } == {7}


# --- cdk-nag and cfn-lint -------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["audited", "trailed"])
def test_cdk_nag_and_cfn_lint_pass(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    problems = nag_problems(synth)
    assert problems == [], "\n".join(problems)
    errors, warnings = cfn_lint_problems(synth)
    assert errors == [], "\n".join(errors)
    assert warnings == set(), warnings


def test_trail_needs_no_acknowledgement(trailed: Synth, audited: Synth) -> None:
    """The trail bucket logs its access into the access-log bucket, which cdk-nag (S1) counts
    as compliant as a log destination: nothing in the trail is waved through."""
    assert set(acknowledgements(trailed)) == set(acknowledgements(audited))
    assert not [path for path, _ in acknowledgements(trailed) if "/Audit/Trail/" in path]
