"""The one place that decides how an iotwatch Lambda function is built.

Every function gets the same runtime, architecture, Powertools layer, code asset, JSON
logging, tracing and log retention from `FunctionFactory.create`; callers say only what
differs (handler, service name, memory, timeout). No copy-pasted Function blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.nag import acknowledge, skip_checkov

# Python 3.14 is the newest Lambda runtime aws-cdk-lib knows (so cdk-nag AwsSolutions-L1
# passes without an acknowledgement) and Powertools publishes its layer for it. The code stays
# 3.11-compatible, which is what runs locally.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
LAMBDA_REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements" / "lambda.txt"


def pinned_version(requirements: Path, package: str) -> str:
    """The version `requirements` pins `package` to (`package==X`); outside a checkout, the
    same pin as the installed iotwatch distribution declares it (its dependencies are that file)."""
    if requirements.exists():
        lines = requirements.read_text(encoding="utf-8").splitlines()
    else:
        from importlib.metadata import requires

        lines = requires("iotwatch") or []
    for line in lines:
        name, sep, version = line.split("#", 1)[0].split(";", 1)[0].strip().partition("==")
        if sep and name.strip().lower() == package:
            return version.strip()
    raise ValueError(f"{requirements}: no '{package}==<version>' line")


# The Powertools layer the functions run with: the release requirements/lambda.txt pins (the
# one the tests run against), never `latest`, so two deploys of one commit run the same code.
# Powertools' release workflow writes /aws/service/powertools/python/<arch>/<runtime>/<version>
# in every commercial region (powertools-lambda-python .github/workflows/update_ssm.yml). To
# bump it: change aws-lambda-powertools in requirements/lambda.txt (docs/decision_log.md).
POWERTOOLS_VERSION = pinned_version(LAMBDA_REQUIREMENTS, "aws-lambda-powertools")
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/arm64/{RUNTIME.name}/{POWERTOOLS_VERSION}"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
LOG_LEVEL = "INFO"


# Why the checkov findings every function shares do not apply (docs/decision_log.md).
NO_VPC = (
    "iotwatch functions call only AWS public APIs (CloudWatch, DynamoDB, SNS, SQS) and hold no "
    "network-reachable data: a VPC would add a NAT gateway or five interface endpoints per AZ "
    "(~USD 7 each a month), ENI cold starts and a network to keep, and protect nothing."
)
ENVIRONMENT_NOT_SECRET = (
    "The variables hold no secret: the table name, topic ARNs, queue URL, dashboard name and "
    "Powertools settings (contacts are stripped from the staged plan). Lambda encrypts them at "
    "rest with its AWS-managed key; a customer key would add a KMS call to every cold start."
)
LOGS_WITHOUT_CMK = (
    "CloudWatch Logs encrypts every log group at rest. iotwatch logs no contact or secret (the "
    "brief's rule, tested); a customer key would make every dashboard viewer need kms:Decrypt "
    "for the incident and audit tables, which are Logs Insights queries of these groups."
)


class FunctionFactory(Construct):
    """Owns the defaults shared by every iotwatch function and the objects they share
    (one code asset, one layer reference)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_dir: str | Path,
        environment: Mapping[str, str],
        reserve: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self._environment = dict(environment)
        self.reserve = reserve
        self.code = lambda_.Code.from_asset(str(code_dir))
        # Resolved by CloudFormation at deploy time (an SSM-typed template parameter), so synth
        # needs no AWS access; the path names the pinned release, so every deploy gets its layer.
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "PowertoolsLayer",
            ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_LAYER_PARAMETER),
        )

    def create(
        self,
        construct_id: str,
        *,
        handler: str,
        service_name: str,
        description: str,
        memory_size: int,
        timeout: Duration,
        environment: Mapping[str, str] | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        """A function with its own role and its own log group, under `construct_id`.

        `dead_letter_queue`: where Lambda puts an asynchronous invocation (an EventBridge
        target) that still fails after Lambda's own retries (2 retries, events up to 6 h old,
        the Lambda defaults); without one Lambda drops it. The message body is the original
        event, as in EventBridge's own target dead-letter queue, so one queue can hold both
        and be replayed the same way. Lambda sends with the function's role: the role gets
        sqs:SendMessage on that queue (an SSE-SQS queue needs no KMS permission). Every
        function EventBridge invokes has one; a function only ever invoked synchronously
        (the band widget) says so with a checkov skip instead.

        `reserved_concurrency`: the most instances at once (and the least the account keeps
        for it); None leaves the function in the account's shared pool, with a checkov skip
        saying why, which the caller writes. Without `reserve` (the `reserved_concurrency`
        context key off) nothing is reserved."""
        scope = Construct(self, construct_id)
        log_group = logs.LogGroup(
            scope,
            "Logs",
            retention=LOG_RETENTION,
            # The group has no fixed name; keeping it after the stack is gone would only leave
            # an orphan that expires anyway.
            removal_policy=RemovalPolicy.DESTROY,
        )
        # A role of our own instead of the AWSLambdaBasicExecutionRole managed policy
        # (cdk-nag AwsSolutions-IAM4): the only log permission it holds is to write to
        # this function's own log group, not to create or write any group in the account.
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"iotwatch {service_name}",
        )
        log_group.grant_write(role)

        function = lambda_.Function(
            scope,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self.code,
            handler=handler,
            layers=[self.powertools_layer],
            description=description,
            memory_size=memory_size,
            timeout=timeout,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            dead_letter_queue=dead_letter_queue,
            reserved_concurrent_executions=reserved_concurrency if self.reserve else None,
            environment={
                **self._environment,
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
                **(environment or {}),
            },
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Active X-Ray tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords; X-Ray "
            "has no resource-level permissions for these actions, so AWS requires Resource '*'.",
        )
        skip_checkov(function, "CKV_AWS_117", NO_VPC)
        skip_checkov(function, "CKV_AWS_173", ENVIRONMENT_NOT_SECRET)
        skip_checkov(log_group, "CKV_AWS_158", LOGS_WITHOUT_CMK)
        return function


def grant_read_metrics(function: lambda_.Function) -> iam.Policy:
    """cloudwatch:GetMetricData and cloudwatch:ListMetrics, in a policy of their own so its '*'
    is acknowledged on its own.

    GetMetricData supports no resource-level permissions or metric-scoping condition keys:
    AWS requires Resource '*'. ListMetrics (which values a "*" dimension of the plan has)
    has no resource-level permissions either: Resource '*' as well. Both are read-only.
    """
    role = function.role
    assert role is not None
    scope = function.node.scope
    assert isinstance(scope, Construct)
    policy = iam.Policy(
        scope,
        "ReadMetricsPolicy",
        statements=[
            iam.PolicyStatement(
                actions=["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"], resources=["*"]
            )
        ],
        roles=[role],
    )
    # Attach before the function exists in the account, so its first run can read metrics.
    function.node.add_dependency(policy)
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "cloudwatch:GetMetricData and cloudwatch:ListMetrics do not support resource-level "
        "permissions; AWS requires Resource '*'. Both are read-only and the only actions in this "
        "policy (ListMetrics discovers the values of a plan's '*' dimensions).",
    )
    return policy
