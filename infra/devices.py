"""Capability: device signals (the plan's `devices` section), where and why beyond the AWS/IoT
account-wide metrics.

- Lifecycle topic rules count `$aws/events/presence/disconnected/+` per `disconnectReason` and
  `$aws/events/presence/connect_failed/+` per `connectFailureReason` into CloudWatch (the
  CloudWatch metric action, no Lambda in the path), in the plan's device namespace.
- One AWS IoT fleet metric per group: its connected devices, once the plan says fleet indexing
  is on (a fleet metric cannot be created without the index; docs/decision_log.md).
- One Contributor Insights rule per `top_clients` metric over AWS IoT's log, keyed on the
  client id, and, when the plan sets it, the account's AWS IoT log level.
- The evaluator may query the fleet index and read the rules' reports: it does, only in a tick
  that pages (the look-ups, lambdas/iotwatch/adapters).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from iotwatch.domain.where import device_namespace
from iotwatch.plan.devices import (
    CONNECT_FAILURE_METRIC_TEMPLATE,
    DISCONNECT_METRIC_TEMPLATE,
    FLEET_AGGREGATION_FIELD,
    FLEET_QUERY_VERSION,
    IOT_LOG_GROUP,
    IOT_SQL_VERSION,
    THINGS_INDEX,
    connect_failure_rule_sql,
    disconnect_rule_sql,
    fleet_metric_name,
    fleet_period,
    fleet_query,
    insight_rule_json,
    insight_rule_name,
)
from iotwatch.plan.model.devices import Devices
from iotwatch.plan.model.plan import Plan

from infra.nag import acknowledge, skip_checkov

# A rule that cannot put its metric (throttled, a permission removed) says why here; two weeks
# is long enough to notice and short enough to cost nothing.
RULE_ERROR_RETENTION = logs.RetentionDays.TWO_WEEKS
LOGS_WITHOUT_CMK = (
    "Holds only AWS IoT's own error records of the lifecycle topic rules (rule name, action, "
    "error message): no device data. The default CloudWatch Logs encryption (AWS-owned keys) "
    "applies; a customer-managed key would add a key to administer for no added protection."
)
PUT_METRIC_DATA_ANY_RESOURCE = (
    "cloudwatch:PutMetricData has no resource-level permissions (AWS requires Resource '*'); "
    "the statement is scoped with the cloudwatch:namespace condition key to the plan's device "
    "namespace only."
)
# Index look-ups a page makes (the look-up adapters): aggregation queries only, no search of
# individual things' data.
INDEX_ACTIONS = ("iot:GetBucketsAggregation", "iot:GetStatistics", "iot:GetCardinality")


def topic_rule_name(plan_name: str, what: str) -> str:
    """Topic rule names allow letters, digits and underscores only."""
    return f"iotwatch_{plan_name.replace('-', '_')}_{what}"


class DeviceSignals(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        devices: Devices,
        evaluator: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = device_namespace(plan.name)
        self.rules: list[iot.CfnTopicRule] = []
        self.fleet_metrics: list[iot.CfnFleetMetric] = []
        self.insight_rules: list[cloudwatch.CfnInsightRule] = []
        self.logging: iot.CfnLogging | None = None

        self._lifecycle_rules(plan, devices)
        if devices.fleet_metrics_on:
            self._fleet_metrics(plan, devices)
        for metric in devices.top_clients:
            self.insight_rules.append(
                cloudwatch.CfnInsightRule(
                    self,
                    f"TopClients{metric.replace('.', '')}",
                    rule_name=insight_rule_name(plan.name, metric),
                    rule_state="ENABLED",
                    rule_body=insight_rule_json(metric),
                )
            )
        if devices.logging is not None:
            self._iot_logging(devices.logging.level)
        self._grant_lookups(evaluator, devices)

    # --- lifecycle events -> per-reason counts --------------------------------------------------

    def _lifecycle_rules(self, plan: Plan, devices: Devices) -> None:
        self.rule_errors = logs.LogGroup(
            self, "RuleErrors", retention=RULE_ERROR_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        skip_checkov(self.rule_errors, "CKV_AWS_158", LOGS_WITHOUT_CMK)
        self.rule_role = iam.Role(
            self,
            "RuleRole",
            assumed_by=iam.ServicePrincipal(
                "iot.amazonaws.com",
                # confused deputy: only this account's topic rules may assume it
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description=f"iotwatch {plan.name}: lifecycle topic rules put device counts",
        )
        put_metrics = iam.Policy(
            self,
            "PutDeviceCounts",
            statements=[
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": self.namespace}},
                )
            ],
            roles=[self.rule_role],
        )
        acknowledge(put_metrics, "AwsSolutions-IAM5[Resource::*]", PUT_METRIC_DATA_ANY_RESOURCE)
        self.rule_errors.grant_write(self.rule_role)

        specs = [("disconnects", disconnect_rule_sql(devices.disconnect_reasons), DISCONNECT_METRIC_TEMPLATE)]
        if devices.connect_failures:
            specs.append(("connect_failures", connect_failure_rule_sql(), CONNECT_FAILURE_METRIC_TEMPLATE))
        for what, sql, metric_name in specs:
            rule = iot.CfnTopicRule(
                self,
                "".join(part.capitalize() for part in what.split("_")) + "Rule",
                rule_name=topic_rule_name(plan.name, what),
                topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                    sql=sql,
                    aws_iot_sql_version=IOT_SQL_VERSION,
                    rule_disabled=False,
                    description=f"iotwatch {plan.name}: count {what.replace('_', ' ')} per reason",
                    actions=[
                        iot.CfnTopicRule.ActionProperty(
                            cloudwatch_metric=iot.CfnTopicRule.CloudwatchMetricActionProperty(
                                metric_namespace=self.namespace,
                                metric_name=metric_name,
                                metric_unit="Count",
                                metric_value="1",
                                role_arn=self.rule_role.role_arn,
                            )
                        )
                    ],
                    error_action=iot.CfnTopicRule.ActionProperty(
                        cloudwatch_logs=iot.CfnTopicRule.CloudwatchLogsActionProperty(
                            log_group_name=self.rule_errors.log_group_name,
                            role_arn=self.rule_role.role_arn,
                        )
                    ),
                ),
            )
            # the role's policies exist before AWS IoT first assumes it
            rule.node.add_dependency(put_metrics)
            self.rules.append(rule)

    # --- connected devices per group ------------------------------------------------------------

    def _fleet_metrics(self, plan: Plan, devices: Devices) -> None:
        period = fleet_period(plan.frequency.period_seconds)
        for group in devices.groups:
            self.fleet_metrics.append(
                iot.CfnFleetMetric(
                    self,
                    f"Connected{group.label.replace('-', '').replace('_', '').replace('.', '')}",
                    metric_name=fleet_metric_name(plan.name, group.label),
                    description=f"iotwatch {plan.name}: connected devices in {group.label}",
                    index_name=THINGS_INDEX,
                    query_string=fleet_query(group),
                    query_version=FLEET_QUERY_VERSION,
                    aggregation_type=iot.CfnFleetMetric.AggregationTypeProperty(
                        name="Statistics", values=["count"]
                    ),
                    aggregation_field=FLEET_AGGREGATION_FIELD,
                    period=period,
                    unit="Count",
                )
            )

    # --- the account's AWS IoT log level --------------------------------------------------------

    def _iot_logging(self, level: str) -> None:
        stack = Stack.of(self)
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{IOT_LOG_GROUP}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.logging_role = iam.Role(
            self,
            "LoggingRole",
            assumed_by=iam.ServicePrincipal(
                "iot.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="AWS IoT writes its log (AWSIotLogsV2) with this role (set by iotwatch)",
            inline_policies={
                "WriteIotLog": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[log_group_arn],
                        )
                    ]
                )
            },
        )
        acknowledge(
            self.logging_role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:AWSIotLogsV2:*]",
            "AWS IoT names a log stream per source in its one log group, AWSIotLogsV2: the '*' is "
            "the streams of that group, which the role must create and write.",
        )
        self.logging = iot.CfnLogging(
            self,
            "Logging",
            account_id=Aws.ACCOUNT_ID,
            default_log_level=level,
            role_arn=self.logging_role.role_arn,
        )
        self.logging.node.add_dependency(self.logging_role)

    # --- what the evaluator may look up when it pages ------------------------------------------

    def _grant_lookups(self, evaluator: lambda_.IFunction, devices: Devices) -> None:
        stack = Stack.of(self)
        statements = [
            iam.PolicyStatement(
                actions=list(INDEX_ACTIONS),
                resources=[stack.format_arn(service="iot", resource="index", resource_name=THINGS_INDEX)],
            )
        ]
        if self.insight_rules:
            statements.append(
                iam.PolicyStatement(
                    actions=["cloudwatch:GetInsightRuleReport"],
                    resources=[
                        stack.format_arn(
                            service="cloudwatch",
                            resource="insight-rule",
                            resource_name=rule.rule_name,
                        )
                        for rule in self.insight_rules
                    ],
                )
            )
        assert evaluator.role is not None
        policy = iam.Policy(self, "LookupPolicy", statements=statements, roles=[evaluator.role])
        # before the evaluator's first run, like its metric reads
        evaluator.node.add_dependency(policy)
