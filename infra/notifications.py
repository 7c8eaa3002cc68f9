"""Capability: tell people. One encrypted SNS topic per plan topic, with its subscribers.

Contact data never leaves this module as text: literal and {env: VAR} addresses go straight
into the subscription resource; {ssm: /name} addresses become a CloudFormation parameter of
type AWS::SSM::Parameter::Value<String>, resolved at deploy time, so the number never passes
through synth at all. Nothing here logs or prints a contact.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from iotwatch.plan.model import Contact, Plan, Subscriber

from infra.nag import acknowledge


class AlertTopics(Construct):
    """SNS topics named `iotwatch-<plan>-<topic>`, encrypted with one customer-managed key.

    The key is customer-managed (not alias/aws/sns) because AWS services that will publish
    here later — CloudWatch alarms on iotwatch itself — can only use a key whose policy lets
    their service principal call kms:GenerateDataKey* and kms:Decrypt; the AWS-managed key's
    policy cannot be changed. Rotation is on. The publishing Lambdas get key use through
    `grant_publish` (identity policy), not through the key policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        env = os.environ if environ is None else environ
        self.key = kms.Key(
            self,
            "TopicKey",
            description=f"iotwatch {plan.name}: encrypts the alert topics",
            enable_key_rotation=True,
            # The key only protects messages while SNS holds them; nothing encrypted with it
            # outlives the topics, so it goes with the stack (after KMS's waiting period).
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )
        self.topics: dict[str, sns.Topic] = {}
        for topic_spec in plan.notify.topics:
            topic = sns.Topic(
                self,
                topic_spec.name,
                topic_name=plan.topic_physical_name(topic_spec.name),
                # E-mail "From" name, and the prefix SNS may put in front of SMS text: keep it short,
                # each character counts against the 160 of an SMS part.
                display_name="iotwatch",
                master_key=self.key,
                enforce_ssl=True,
            )
            for subscriber in topic_spec.subscribers:
                self._subscribe(topic, subscriber, env)
            self.topics[topic_spec.name] = topic

    def _subscribe(
        self, topic: sns.Topic, subscriber: Subscriber, environ: Mapping[str, str]
    ) -> sns.Subscription:
        # topic.add_subscription() would name the construct (and the logical id, which shows
        # up in CloudFormation events and `cdk diff`) after the address itself. Name it after a
        # digest of where the address comes from instead: stable when subscribers are reordered
        # (no re-confirmation e-mails), and no readable contact outside the Endpoint property.
        contact = subscriber.contact
        digest = hashlib.sha256(
            f"{subscriber.protocol}|{contact.source}|{contact.value}".encode()
        ).hexdigest()[:10]
        return sns.Subscription(
            topic,
            f"Subscriber{digest}",
            topic=topic,
            protocol=sns.SubscriptionProtocol.EMAIL
            if subscriber.protocol == "email"
            else sns.SubscriptionProtocol.SMS,
            endpoint=self._endpoint(contact, environ),
        )

    def _endpoint(self, contact: Contact, environ: Mapping[str, str]) -> str:
        if contact.source == "literal":
            return contact.value
        if contact.source == "env":
            # load_plan(resolve_env=True) has already checked that the variable is set and valid.
            return environ[contact.value]
        # A String parameter (CloudFormation cannot read SecureString into an SNS endpoint).
        return ssm.StringParameter.value_for_string_parameter(Stack.of(self), contact.value)

    @property
    def topic_arns(self) -> dict[str, str]:
        """Plan topic name -> topic ARN (a token until deploy)."""
        return {name: topic.topic_arn for name, topic in self.topics.items()}

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        """sns:Publish on each topic ARN, plus kms:GenerateDataKey*/Decrypt on the topic key."""
        for topic in self.topics.values():
            topic.grant_publish(grantee)
        principal = grantee.grant_principal
        if isinstance(principal, Construct):
            acknowledge(
                principal,
                "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
                "Publishing to a KMS-encrypted SNS topic needs kms:GenerateDataKey; the wildcard is "
                "what Topic.grant_publish grants (GenerateDataKey and its WithoutPlaintext variant) "
                "and it is scoped to the one topic key, not to any key.",
            )
