"""The local AWS endpoint (moto server), the SNS->SQS inbox and deploying synthesized CDK stacks into it.

The deployer is proven generic on a small stack synthesized here (tables, a KMS-encrypted
topic, a function from a local asset with a Powertools-style layer parameter, an
SSM-typed parameter, an SMS subscription), and then on the real iotwatch app.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import boto3
import pytest
from botocore.client import BaseClient

from infra.app import build_app
from infra.functions import POWERTOOLS_LAYER_PARAMETER
from iotwatch_local.assembly import DeployError, stack_names
from iotwatch_local.deploy import deploy_stack, wait_for_stack
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.inbox import message_attribute, read_inbox, subscribe_inbox
from iotwatch_local.moto_parameters import FAKE_PHONE_NUMBER
from iotwatch_local.moto_template import find_custom_resources

REPO = Path(__file__).resolve().parents[2]
PLAN_FILE = REPO / "monitoring-plan.yaml"
SMOKE_STACK = "LocalSmoke"
CUSTOM_STACK = "LocalCustom"
SMOKE_TOPIC = "smoke-alerts"
POWERTOOLS_PARAMETER = POWERTOOLS_LAYER_PARAMETER  # the pinned release's path
PHONE_PARAMETER = "/smoke/oncall-phone"


class AwsCall(NamedTuple):
    service: str
    operation: str
    params: dict[str, Any]


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[AwsCall]]:
    """Every AWS API call a boto3 client of this process makes during the test, in order."""
    calls: list[AwsCall] = []
    make_api_call = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append(AwsCall(client.meta.service_model.service_name, operation, params))
        return make_api_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    yield calls


def _count(calls: list[AwsCall], service: str, operation: str) -> int:
    return sum(1 for c in calls if (c.service, c.operation) == (service, operation))


def _assert_deployed_without_waiting(calls: list[AwsCall]) -> None:
    """moto creates a stack inside CreateStack: the deployer creates it once, finds it complete
    at its first look (no polling), and uploads each asset object once."""
    assert _count(calls, "cloudformation", "CreateStack") == 1
    assert _count(calls, "cloudformation", "DescribeStacks") == 1
    uploads = [(c.params["Bucket"], c.params["Key"]) for c in calls if c.operation == "PutObject"]
    assert uploads and len(uploads) == len(set(uploads))


# --------------------------------------------------------------------------------------------
# endpoint


def _server_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t is not threading.main_thread()}


def _wait_until_served(serving: set[threading.Thread]) -> None:
    """Returns once a new server thread serves the connection just opened (polls; gives up
    after some 500 looks: a server that never accepts fails the test here)."""
    for _ in range(500):
        if _server_threads() - serving:
            return
        time.sleep(0.02)
    raise AssertionError("the server never accepted the connection")


def _hung_up(connection: socket.socket) -> bool:
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


def test_endpoint_starts_on_a_free_port_and_leaves_nothing_running(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    before = _server_threads()
    caplog.set_level(logging.WARNING)
    with LocalAws(region="eu-west-1") as aws:
        host, port = aws.url.removeprefix("http://").split(":")
        assert host == "127.0.0.1" and int(port) > 0
        sqs = aws.client("sqs")
        for i in range(3):  # several connections, some kept alive in boto3's pool
            sqs.create_queue(QueueName=f"q{i}")
        assert len(sqs.list_queues()["QueueUrls"]) >= 3
        assert _server_threads() - before, "the server runs in a thread of this process"
        # a client that connected and sent half a request holds a handler thread on its socket
        serving = _server_threads()
        idle = socket.create_connection(("127.0.0.1", int(port)))
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        _wait_until_served(serving)
    # stopping hung up on that client rather than waiting for it: the end of its stream (or a
    # reset, when the handler had not read the half request yet) is there the moment the with
    # block is left, and no request thread was left behind busy
    readable, _, _ = select.select([idle], [], [], 0)
    assert readable == [idle] and _hung_up(idle)
    assert _server_threads() - before == set()
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    idle.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(port)), timeout=1):
        pass
    out, _ = capfd.readouterr()
    assert out == "", "the server logs no requests to stdout"
    with pytest.raises(RuntimeError):
        _ = aws.url


def test_env_points_boto3_at_moto_and_restores_the_environment(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "someones-real-profile")
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", "https://sns.example.invalid")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    saved = dict(os.environ)

    with local_aws.env(extra={"IOTWATCH_EXTRA": "1"}) as applied:
        assert os.environ["AWS_ENDPOINT_URL"] == local_aws.url
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        assert os.environ["AWS_REGION"] == os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
        assert os.environ["IOTWATCH_EXTRA"] == "1"
        assert "AWS_PROFILE" not in os.environ and "AWS_ENDPOINT_URL_SNS" not in os.environ
        assert applied["AWS_ENDPOINT_URL"] == local_aws.url
        arn = boto3.client("sns").create_topic(Name="env-check")["TopicArn"]
        assert arn == "arn:aws:sns:us-east-1:123456789012:env-check"

    assert dict(os.environ) == saved


def test_reset_forgets_everything(aws_env: LocalAws) -> None:
    sns = boto3.client("sns")
    sns.create_topic(Name="before-reset")
    aws_env.reset()
    assert sns.list_topics()["Topics"] == []


# --------------------------------------------------------------------------------------------
# SNS -> SQS inbox


def _publish(topic_arn: str, body: dict[str, str], severity: str, subject: str = "iotwatch: test") -> None:
    boto3.client("sns").publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=json.dumps(body),
        MessageStructure="json",
        MessageAttributes={
            "severity": {"DataType": "String", "StringValue": severity},
            "deviation": {"DataType": "Number", "StringValue": "7.5"},
        },
    )


def test_inbox_receives_the_sns_envelope_with_the_sqs_body_and_attributes(aws_env: LocalAws) -> None:
    kms_key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    topic_arn = boto3.client("sns").create_topic(Name="inbox-check", Attributes={"KmsMasterKeyId": kms_key})[
        "TopicArn"
    ]
    queue_url = subscribe_inbox(topic_arn)

    # with an "sqs" key, an SQS subscriber gets that body
    _publish(topic_arn, {"default": "DEFAULT", "email": "EMAIL", "sms": "SMS", "sqs": "SQS"}, "critical")
    # without one, it gets "default" (never the email or sms body)
    _publish(topic_arn, {"default": "full e-mail body", "sms": "short"}, "warning", subject="second")

    first, second = read_inbox(queue_url)
    assert first["Type"] == "Notification" and first["TopicArn"] == topic_arn
    assert first["Message"] == "SQS"
    assert first["Subject"] == "iotwatch: test"
    assert first["MessageAttributes"] == {
        "severity": {"Type": "String", "Value": "critical"},
        "deviation": {"Type": "Number", "Value": "7.5"},
    }
    assert second["Message"] == "full e-mail body" and second["Subject"] == "second"
    assert message_attribute(second, "severity") == "warning"
    assert message_attribute(second, "absent") is None
    assert read_inbox(queue_url) == [], "reading drains the queue"


def test_moto_checks_the_json_structure_only_for_sqs_subscribers(aws_env: LocalAws) -> None:
    """Pins moto quirks the handlers' tests must not rely on (real SNS always needs "default")."""
    sns = boto3.client("sns")
    lonely = sns.create_topic(Name="no-subscribers")["TopicArn"]
    sns.publish(TopicArn=lonely, Message=json.dumps({"email": "E"}), MessageStructure="json")  # accepted

    topic_arn = sns.create_topic(Name="structured")["TopicArn"]
    queue_url = subscribe_inbox(topic_arn)
    with pytest.raises(sns.exceptions.InvalidParameterException, match="sqs or default"):
        sns.publish(TopicArn=topic_arn, Message=json.dumps({"email": "E"}), MessageStructure="json")
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"sqs": "no default"}), MessageStructure="json")
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"sqs": "", "default": "D"}), MessageStructure="json")
    assert [e["Message"] for e in read_inbox(queue_url)] == ["no default", "D"]


def test_inbox_filter_policy_routes_by_severity(aws_env: LocalAws) -> None:
    topic_arn = boto3.client("sns").create_topic(Name="routed")["TopicArn"]
    everything = subscribe_inbox(topic_arn)
    critical_only = subscribe_inbox(topic_arn, filter_policy={"severity": ["critical"]})

    _publish(topic_arn, {"default": "w"}, "warning")
    _publish(topic_arn, {"default": "c"}, "critical")

    assert [e["Message"] for e in read_inbox(everything)] == ["w", "c"]
    assert [e["Message"] for e in read_inbox(critical_only)] == ["c"]


def test_publish_without_message_structure_delivers_the_plain_message(aws_env: LocalAws) -> None:
    topic_arn = boto3.client("sns").create_topic(Name="plain")["TopicArn"]
    queue_url = subscribe_inbox(topic_arn)
    boto3.client("sns").publish(TopicArn=topic_arn, Message='{"default": "not parsed"}')
    [envelope] = read_inbox(queue_url)
    assert envelope["Message"] == '{"default": "not parsed"}'
    assert "Subject" not in envelope and envelope["MessageAttributes"] == {}


# --------------------------------------------------------------------------------------------
# deploy: a small stack synthesized here


def _synth_small_app(outdir: Path, code_dir: Path) -> Path:
    import aws_cdk as cdk
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs
    from aws_cdk import aws_sns as sns
    from aws_cdk import aws_ssm as ssm

    app = cdk.App(outdir=str(outdir), analytics_reporting=False)
    stack = cdk.Stack(app, SMOKE_STACK)
    table = dynamodb.Table(
        stack,
        "Table",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute="expires_at",
    )
    table_v2 = dynamodb.TableV2(  # synthesizes AWS::DynamoDB::GlobalTable, which moto lacks
        stack,
        "TableV2",
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
    )
    key = kms.Key(stack, "TopicKey", enable_key_rotation=True)
    topic = sns.Topic(stack, "Topic", topic_name=SMOKE_TOPIC, master_key=key)
    phone = ssm.StringParameter.value_for_string_parameter(stack, PHONE_PARAMETER)
    sns.Subscription(stack, "Sms", topic=topic, protocol=sns.SubscriptionProtocol.SMS, endpoint=phone)
    layer = lambda_.LayerVersion.from_layer_version_arn(
        stack, "Powertools", ssm.StringParameter.value_for_string_parameter(stack, POWERTOOLS_PARAMETER)
    )
    function = lambda_.Function(
        stack,
        "Evaluator",
        runtime=lambda_.Runtime.PYTHON_3_14,
        architecture=lambda_.Architecture.ARM_64,
        handler="index.handler",
        code=lambda_.Code.from_asset(str(code_dir)),
        layers=[layer],
        log_group=logs.LogGroup(stack, "EvaluatorLogs", retention=logs.RetentionDays.ONE_WEEK),
        environment={
            "TABLE": table.table_name,
            "TABLE_V2": table_v2.table_name,
            "TOPIC": topic.topic_arn,
            "PHONE": phone,
        },
    )
    table.grant_read_write_data(function)
    topic.grant_publish(function)
    cdk.CfnOutput(stack, "TopicArn", value=topic.topic_arn)
    cdk.CfnOutput(stack, "TableName", value=table.table_name)

    cdk.Tags.of(stack).add("iotwatch:owner-team", "smoke")  # moto mishandles tags on AWS::KMS::Key

    custom = cdk.Stack(app, CUSTOM_STACK)
    cdk.CfnResource(
        custom,
        "Thing",
        type="Custom::Thing",
        properties={"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:provider"},
    )
    app.synth()
    return outdir


@pytest.fixture(scope="session")
def small_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    code_dir = tmp_path_factory.mktemp("code")
    (code_dir / "index.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    (code_dir / "plan.json").write_text('{"name": "smoke"}\n')
    return _synth_small_app(tmp_path_factory.mktemp("cdk") / "cdk.out", code_dir)


def test_deploys_a_synthesized_stack(
    aws_env: LocalAws, small_assembly: Path, aws_calls: list[AwsCall]
) -> None:
    stack = deploy_stack(small_assembly, SMOKE_STACK, parameter_values={PHONE_PARAMETER: "+15550123456"})
    _assert_deployed_without_waiting(aws_calls)

    # tables: the GlobalTable went in as a plain table with the same keys
    dynamodb = boto3.client("dynamodb")
    tables = {r.logical_id: r.physical_id for r in stack.of_type("AWS::DynamoDB::Table").values()}
    assert len(tables) == 2
    assert stack.outputs["TableName"] in tables.values()
    for name in tables.values():
        assert dynamodb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    assert any("GlobalTable deployed as AWS::DynamoDB::Table" in note for note in stack.adaptations)

    # KMS-encrypted topic; its SMS subscription is one of the things moto skips
    topic_arn = stack.outputs["TopicArn"]
    assert topic_arn.endswith(f":{SMOKE_TOPIC}")
    attributes = boto3.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    [key] = stack.of_type("AWS::KMS::Key").values()
    assert attributes["KmsMasterKeyId"].endswith(f":key/{key.physical_id}")
    tags = boto3.client("kms").list_resource_tags(KeyId=key.physical_id)["Tags"]
    assert {"TagKey": "iotwatch:owner-team", "TagValue": "smoke"} in tags
    assert "AWS::SNS::Subscription" in stack.skipped.values()

    # the function, with exactly the environment CloudFormation resolved for it
    env = stack.function_environment("Evaluator")
    assert env["TOPIC"] == topic_arn
    assert env["TABLE"] == stack.outputs["TableName"]
    assert env["TABLE_V2"] in tables.values()
    assert env["PHONE"] == "+15550123456"
    assert stack.ssm_parameters[PHONE_PARAMETER] == "+15550123456"
    assert boto3.client("ssm").get_parameter(Name=PHONE_PARAMETER)["Parameter"]["Value"] == "+15550123456"

    # the Powertools layer parameter was pointed at a placeholder layer published in moto
    layer_arn = next(v for k, v in stack.ssm_parameters.items() if k.endswith(POWERTOOLS_PARAMETER))
    assert ":layer:" in layer_arn
    assert boto3.client("lambda").list_layer_versions(LayerName=layer_arn.split(":")[6])["LayerVersions"]

    # the staged code, for calling handlers in-process
    asset_dir = stack.function_asset_dir("Evaluator")
    assert (asset_dir / "plan.json").is_file() and (asset_dir / "index.py").is_file()
    handler_env = stack.handler_environ("Evaluator")
    assert handler_env["LAMBDA_TASK_ROOT"] == str(asset_dir)
    assert handler_env["TOPIC"] == topic_arn
    assert handler_env["AWS_LAMBDA_FUNCTION_NAME"] == stack.function("Evaluator").physical_id


def test_deploy_is_repeatable_and_fills_missing_ssm_parameters_with_fakes(
    aws_env: LocalAws, small_assembly: Path, aws_calls: list[AwsCall]
) -> None:
    first = deploy_stack(small_assembly, SMOKE_STACK)
    assert first.function_environment("Evaluator")["PHONE"] == FAKE_PHONE_NUMBER
    assert any(PHONE_PARAMETER in note for note in first.adaptations)

    # an existing parameter is used as it is, and a second copy deploys under another name
    boto3.client("ssm").put_parameter(Name=PHONE_PARAMETER, Value="+15550199999", Overwrite=True)
    aws_calls.clear()
    second = deploy_stack(small_assembly, SMOKE_STACK, deployed_name="LocalSmoke-2")
    _assert_deployed_without_waiting(aws_calls)
    assert _count(aws_calls, "cloudformation", "DeleteStack") == 0, "the first copy is left alone"
    assert second.stack_name == "LocalSmoke-2"
    assert second.function_environment("Evaluator")["PHONE"] == "+15550199999"


def test_function_lookup_by_logical_id_name_or_construct_id(aws_env: LocalAws, small_assembly: Path) -> None:
    stack = deploy_stack(small_assembly, SMOKE_STACK)
    function = stack.function("Evaluator")
    assert stack.function(function.logical_id) == function
    assert stack.function(function.physical_id) == function
    with pytest.raises(KeyError, match="no function matches 'Nope'"):
        stack.function("Nope")


def test_custom_resources_fail_fast_without_creating_anything(
    aws_env: LocalAws, small_assembly: Path, aws_calls: list[AwsCall]
) -> None:
    with pytest.raises(DeployError, match=r"custom resources.*\n\s+Thing: Custom::Thing"):
        deploy_stack(small_assembly, CUSTOM_STACK)
    assert aws_calls == [], "refused from the template alone, before any call to AWS"
    assert boto3.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_unknown_stack_names_the_ones_there(aws_env: LocalAws, small_assembly: Path) -> None:
    assert set(stack_names(small_assembly)) == {SMOKE_STACK, CUSTOM_STACK}
    with pytest.raises(DeployError, match=r"no stack 'Missing'.*LocalCustom.*LocalSmoke"):
        deploy_stack(small_assembly, "Missing")


def _write_assembly(directory: Path, stack: str, template: dict[str, Any]) -> Path:
    directory.mkdir(parents=True)
    (directory / f"{stack}.template.json").write_text(json.dumps(template))
    manifest = {
        "version": "55.0.0",
        "artifacts": {
            stack: {
                "type": "aws:cloudformation:stack",
                "properties": {"templateFile": f"{stack}.template.json"},
            }
        },
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def _function(bucket: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.13",
            "Handler": "index.handler",
            "Role": "arn:aws:iam::123456789012:role/x",
            "Code": {"S3Bucket": bucket, "S3Key": "code.zip"},
        },
    }


_ROLE = {
    "Type": "AWS::IAM::Role",
    "Properties": {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    },
}


def test_missing_code_is_reported_with_the_resource_before_create_stack(
    aws_env: LocalAws, tmp_path: Path
) -> None:
    template = {"Resources": {"Role": _ROLE, "Fn": _function("no-such-bucket")}}
    assembly = _write_assembly(tmp_path / "cdk.out", "NoCode", template)
    with pytest.raises(DeployError, match=r"\n  Fn \(AWS::Lambda::Function\): s3://no-such-bucket/code.zip"):
        deploy_stack(assembly, "NoCode")
    assert boto3.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_a_resource_failing_in_moto_is_reported_and_the_stack_name_freed(
    aws_env: LocalAws, tmp_path: Path
) -> None:
    # an SQS queue whose name CloudFormation accepts but moto's SQS refuses
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "bad name!"}}}}
    assembly = _write_assembly(tmp_path / "cdk.out", "Broken", template)
    with pytest.raises(
        DeployError, match=r"create_stack Broken failed in moto.*\n  the partial stack Broken was deleted"
    ):
        deploy_stack(assembly, "Broken", timeout=5)
    stacks = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks] == ["DELETE_COMPLETE"]


def test_a_template_over_the_body_limit_goes_through_s3(aws_env: LocalAws, tmp_path: Path) -> None:
    template = {
        "Metadata": {"Padding": "x" * 60_000},
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "big-template"}}},
        "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
    }
    stack = deploy_stack(_write_assembly(tmp_path / "cdk.out", "Big", template), "Big")
    assert stack.outputs["QueueUrl"].endswith("/big-template")
    assert stack.resources["Queue"].type == "AWS::SQS::Queue"
    uploaded = boto3.client("s3").list_objects_v2(
        Bucket="iotwatch-local-templates-123456789012-us-east-1", Prefix="iotwatch-local/Big-"
    )
    assert uploaded["KeyCount"] == 1


def test_waiting_on_a_stuck_stack_times_out_with_its_status(aws_env: LocalAws) -> None:
    cfn = boto3.client("cloudformation")
    # moto leaves a stack CREATE_IN_PROGRESS when a resource fails inside CreateStack
    template = {"Resources": {"Fn": _function("no-such-bucket")}}
    with pytest.raises(Exception):  # noqa: B017 - moto answers JSON to an XML API here
        cfn.create_stack(StackName="Stuck", TemplateBody=json.dumps(template))
    with pytest.raises(DeployError, match=r"Stuck is CREATE_IN_PROGRESS after 0s"):
        wait_for_stack("Stuck", timeout=0.3)


# --------------------------------------------------------------------------------------------
# deploy: the real iotwatch app


@pytest.fixture(scope="session")
def iotwatch_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("iotwatch") / "cdk.out"
    build_app(PLAN_FILE, str(outdir)).synth()
    return outdir


def test_deploys_the_iotwatch_app(
    aws_env: LocalAws, iotwatch_assembly: Path, aws_calls: list[AwsCall]
) -> None:
    [stack_name] = stack_names(iotwatch_assembly)
    assert not find_custom_resources(
        json.loads((iotwatch_assembly / f"{stack_name}.template.json").read_text())
    ), "the core stack must stay deployable without Docker"

    stack = deploy_stack(
        iotwatch_assembly, stack_name, parameter_values={"/iotwatch/fleet/oncall-phone": "+15550123456"}
    )
    _assert_deployed_without_waiting(aws_calls)

    [table] = stack.of_type("AWS::DynamoDB::Table").values()
    assert (
        boto3.client("dynamodb").describe_table(TableName=table.physical_id)["Table"]["TableStatus"]
        == "ACTIVE"
    )

    topic_names = {r.physical_id.rsplit(":", 1)[-1] for r in stack.of_type("AWS::SNS::Topic").values()}
    assert {"iotwatch-fleet-oncall-email", "iotwatch-fleet-oncall-sms"} <= topic_names
    listed = {t["TopicArn"].rsplit(":", 1)[-1] for t in boto3.client("sns").list_topics()["Topics"]}
    assert {"iotwatch-fleet-oncall-email", "iotwatch-fleet-oncall-sms"} <= listed

    functions = stack.functions
    assert {stack.function("Evaluator").logical_id, stack.function("BaselineBuilder").logical_id} <= set(
        functions
    )
    for logical_id in functions:
        env = stack.function_environment(logical_id)
        assert env["IOTWATCH_TABLE"] == table.physical_id
        topics = json.loads(env["IOTWATCH_TOPICS"])
        assert {arn.rsplit(":", 1)[-1] for arn in topics.values()} == {
            "iotwatch-fleet-oncall-email",
            "iotwatch-fleet-oncall-sms",
        }
        assert (stack.function_asset_dir(logical_id) / "plan.json").is_file()
    assert boto3.client("ssm").get_parameter(Name="/iotwatch/fleet/oncall-phone")["Parameter"]["Value"] == (
        "+15550123456"
    )
    # what moto cannot show is left to the template assertions
    assert "AWS::SNS::Subscription" in stack.skipped.values()
