"""Capability: remember what normal looks like (baselines) and where each alert stands (state)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.nag import skip_checkov

# What each function may do on the table: the requests its store port (iotwatch.service.ports)
# can send through the repositories (adapters/store), and nothing else. No Scan, DescribeTable
# or stream action: no handler calls one; DeleteItem only for the evaluator (it releases run and
# publish claims and drains the outbox). tests/infrastructure/test_infra_stack.py derives these
# sets again from the code and compares, so a new store call fails there until granted here.
_GET, _PUT, _UPDATE, _DELETE = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
_QUERY, _BATCH_GET, _BATCH_WRITE = "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"
EVALUATOR_TABLE_ACTIONS = (_BATCH_GET, _BATCH_WRITE, _DELETE, _GET, _PUT, _QUERY, _UPDATE)
BUILDER_TABLE_ACTIONS = (_BATCH_GET, _GET, _PUT, _QUERY, _UPDATE)
AUDIT_TABLE_ACTIONS = (_PUT, _UPDATE)
BAND_WIDGET_TABLE_ACTIONS = (_BATCH_GET, _GET)

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"


class BaselineStore(Construct):
    """One single-table DynamoDB design: `pk`/`sk` strings, items expire through `expires_at`.

    - On-demand billing: traffic is a burst every evaluation period and near zero between,
      which provisioned capacity would either throttle or pay for idle.
    - Point-in-time recovery: baselines take days of history to rebuild well.
    - Encryption with the AWS-managed key (alias/aws/dynamodb): the items are metric
      aggregates and alert states, not personal data; a customer-managed key would add a
      monthly cost and a key policy to maintain for no extra control we need. Every use is
      still logged in CloudTrail. Switch to CUSTOMER_MANAGED here if a policy requires it.
    - RETAIN by default, so deleting the stack never deletes learned baselines; demos and
      tests pass `removal_policy=DESTROY`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=removal_policy,
        )
        # A stateful resource: pin its logical id so refactoring construct paths never
        # replaces the table (and orphans the learned baselines).
        cfn_table = self.table.node.default_child
        assert isinstance(cfn_table, dynamodb.CfnTable)
        cfn_table.override_logical_id("BaselineTable")
        skip_checkov(
            cfn_table,
            "CKV_AWS_119",
            "Encrypted with the AWS-managed key (alias/aws/dynamodb), every use logged in "
            "CloudTrail: the items are metric aggregates, alert state, incidents and audit records "
            "on-call reads with the iotwatch CLI, and a customer key would make every such reader "
            "need kms:Decrypt as well, for no control the table's IAM policies do not give.",
        )

    @property
    def table_name(self) -> str:
        return self.table.table_name

    def grant(self, grantee: iam.IGrantable, actions: tuple[str, ...]) -> iam.Grant:
        """Exactly `actions` on the table (one of the *_TABLE_ACTIONS above), never the CDK's
        read/write bundles (they add Scan, DescribeTable and the stream reads)."""
        return self.table.grant(grantee, *actions)
