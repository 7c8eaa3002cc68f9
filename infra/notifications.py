"""Capability: tell people. One encrypted SNS topic per plan topic, with its subscribers.

Each subscription carries a filter policy on message attributes derived from the plan's
routes to its topic (see `route_filter_policy`): defence in depth behind the evaluator, which
already publishes only to routed topics, and the real SNS semantics for anyone who subscribes
to the topic by hand with the same policy.

Contact data never leaves this module as text: literal and {env: VAR} addresses go straight
into the subscription resource; {ssm: /name} addresses become a CloudFormation parameter of
type AWS::SSM::Parameter::Value<String>, resolved at deploy time, so the number never passes
through synth at all. Nothing here logs or prints a contact.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct
from iotwatch.plan.model.contacts import Contact, Subscriber
from iotwatch.plan.model.notify import SEVERITIES, Route
from iotwatch.plan.model.plan import Plan

from infra.nag import acknowledge

# SNS counts a policy's "combinations" (per $or branch, the product of each key's number of
# values; summed over branches) and refuses more than 150.
MAX_FILTER_COMBINATIONS = 150
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
_GLOB_CHARACTERS = set("*?[")


def metric_matcher(pattern: str) -> str | dict[str, str] | None:
    """A route's metric glob as an SNS filter value: the name itself when it has no wildcard,
    {"prefix": ...} for `X*`, {"suffix": ...} for `*X`; None when SNS cannot express it
    (`*`, `?`, `[...]`, a `*` in the middle): the route then does not filter on metrics."""
    if not _GLOB_CHARACTERS & set(pattern):
        return pattern
    head, tail = pattern[:-1], pattern[1:]
    if pattern.endswith("*") and head and not _GLOB_CHARACTERS & set(head):
        return {"prefix": head}
    if pattern.startswith("*") and tail and not _GLOB_CHARACTERS & set(tail):
        return {"suffix": tail}
    return None


def _combinations(branch: Mapping[str, Sequence[Any]]) -> int:
    total = 1
    for values in branch.values():
        total *= len(values)
    return total


def route_filter_policy(routes: Sequence[Route]) -> dict[str, Any] | None:
    """The SNS filter policy (MessageAttributes scope) that lets through what `routes` send to
    one topic, or None when they allow everything (no policy at all).

    A message passes when some route allows its `severity` and, if that route names metrics,
    one of the message's `metric` values (a String.Array: any element may match). A resolved or
    reminder message carries the incident's severity and metrics, so it reaches whoever got the
    firing. Audit messages (`category: audit`) carry a severity but no metric: they pass on
    severity alone. A metric glob SNS cannot express widens its route to all metrics (the
    policy may let through more than the routes, never less; the evaluator narrows). A topic
    no route names has no policy (nothing derives one)."""
    if not routes:
        return None
    open_severities: set[str] = set()
    narrowed: dict[tuple[str, ...], list[Any]] = {}
    for route in routes:
        matchers = [metric_matcher(p) for p in route.metrics]
        if any(m is None for m in matchers):
            open_severities |= set(route.severities)
            continue
        key = tuple(s for s in SEVERITIES if s in route.severities)
        for matcher in matchers:
            if matcher not in narrowed.setdefault(key, []):
                narrowed[key].append(matcher)
    branches: list[dict[str, list[Any]]] = []
    if open_severities:
        branches.append({"severity": [s for s in SEVERITIES if s in open_severities]})
    audit: set[str] = set()
    for severities, matchers in narrowed.items():
        rest = [s for s in severities if s not in open_severities]
        if rest:
            branches.append({"severity": rest, "metric": matchers})
            audit |= set(rest)
    if audit:
        branches.append({"severity": [s for s in SEVERITIES if s in audit], "category": ["audit"]})
    if sum(_combinations(b) for b in branches) > MAX_FILTER_COMBINATIONS:
        # Too many metric patterns for one policy: keep the severity filter only.
        every = {s for b in branches for s in b["severity"]}
        branches = [{"severity": [s for s in SEVERITIES if s in every]}]
    if (
        len(branches) == 1
        and set(branches[0]) == {"severity"}
        and set(branches[0]["severity"]) == set(SEVERITIES)
    ):
        return None
    return branches[0] if len(branches) == 1 else {"$or": branches}


# The subscriber kinds that are SNS subscriptions of the plan topic itself.
SNS_PROTOCOLS: dict[str, sns.SubscriptionProtocol] = {
    "email": sns.SubscriptionProtocol.EMAIL,
    "sms": sns.SubscriptionProtocol.SMS,
    "https": sns.SubscriptionProtocol.HTTPS,
    "sqs": sns.SubscriptionProtocol.SQS,
    "lambda": sns.SubscriptionProtocol.LAMBDA,
}
# Raw delivery: the webhook and the queue get the JSON document itself, not SNS's envelope
# (a Lambda function always gets the SNS event; SNS has no raw delivery for it).
RAW_DELIVERY = {"https", "sqs"}


# An incident's update (someone joined while it is open) is for e-mail and for queues and
# functions; an SMS subscriber was paged when the incident opened and is not woken again.
NO_UPDATES: dict[str, Any] = {"kind": [{"anything-but": ["update"]}]}


def without_updates(policy: dict[str, Any] | None) -> dict[str, Any]:
    """`policy` for an SMS subscription: the same messages but an incident's updates."""
    if policy is None:
        return dict(NO_UPDATES)
    branches = policy.get("$or", [policy])
    narrowed = [{**branch, **NO_UPDATES} for branch in branches]
    return narrowed[0] if len(narrowed) == 1 else {"$or": narrowed}


class AlertTopics(Construct):
    """SNS topics named `iotwatch-<plan>-<topic>`, encrypted with one customer-managed key.

    The key is customer-managed (not alias/aws/sns) because the CloudWatch alarms on iotwatch
    itself (infra.health) publish to the operations topic, and an AWS service can only use a
    key whose policy lets its service principal call kms:GenerateDataKey* and kms:Decrypt; the
    AWS-managed key's policy cannot be changed. Rotation is on. The publishing Lambdas get key
    use through `grant_publish` (identity policy), not through the key policy.
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
        # The one service that publishes to these topics: CloudWatch, for the alarms on iotwatch
        # itself (infra.health), and only on behalf of alarms in this account. Nothing else gets
        # the key through its policy: the Lambdas use it through grant_publish (identity policy),
        # and EventBridge only for the chat topics (allow_eventbridge).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        self.topics: dict[str, sns.Topic] = {}
        # The operations topic's subscribers, by whether their subscription has a filter policy
        # (see alarm_topics: a filtered one never gets a CloudWatch alarm notification).
        self._operations_filtered: list[Subscriber] = []
        self._operations_open: list[Subscriber] = []
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
            routed = route_filter_policy([r for r in plan.notify.routes if r.topic == topic_spec.name])
            for subscriber in topic_spec.subscribers:
                if subscriber.protocol not in SNS_PROTOCOLS:
                    continue  # PagerDuty, Opsgenie, chat: infra.delivery, from the incident events
                policy = without_updates(routed) if subscriber.protocol == "sms" else routed
                if topic_spec.name == plan.notify.operations:
                    (self._operations_filtered if policy is not None else self._operations_open).append(
                        subscriber
                    )
                self._subscribe(topic, subscriber, env, policy)
            self.topics[topic_spec.name] = topic
        self._environ = env
        self._eventbridge_allowed = False

    def _subscribe(
        self,
        topic: sns.Topic,
        subscriber: Subscriber,
        environ: Mapping[str, str],
        policy: dict[str, Any] | None,
    ) -> sns.Subscription:
        # topic.add_subscription() would name the construct (and the logical id, which shows
        # up in CloudFormation events and `cdk diff`) after the address itself. Name it after a
        # digest of where the address comes from instead: stable when subscribers are reordered
        # (no re-confirmation e-mails), and no readable contact outside the Endpoint property.
        endpoint, source = self._subscriber_endpoint(subscriber, environ)
        digest = hashlib.sha256(f"{subscriber.protocol}|{source}".encode()).hexdigest()[:10]
        subscription = sns.Subscription(
            topic,
            f"Subscriber{digest}",
            topic=topic,
            protocol=SNS_PROTOCOLS[subscriber.protocol],
            endpoint=endpoint,
            raw_message_delivery=True if subscriber.protocol in RAW_DELIVERY else None,
        )
        if subscriber.lambda_ is not None:
            # SNS invokes the function as the sns.amazonaws.com principal, for this topic only.
            lambda_.CfnPermission(
                topic,
                f"Invoke{digest}",
                action="lambda:InvokeFunction",
                function_name=subscriber.lambda_,
                principal="sns.amazonaws.com",
                source_arn=topic.topic_arn,
            )
        if policy is not None:
            # Set on the L1: SubscriptionFilter cannot express "$or" or a suffix match.
            cfn = subscription.node.default_child
            assert isinstance(cfn, sns.CfnSubscription)
            cfn.filter_policy = policy
            cfn.filter_policy_scope = "MessageAttributes"
        return subscription

    def _subscriber_endpoint(self, subscriber: Subscriber, environ: Mapping[str, str]) -> tuple[str, str]:
        """(endpoint, where it comes from: what names the subscription, never the address)."""
        arn = subscriber.sqs or subscriber.lambda_
        if arn is not None:
            return arn, arn
        contact = subscriber.contact
        return self._endpoint(contact, environ), f"{contact.source}|{contact.value}"

    def allow_eventbridge(self) -> None:
        """Lets EventBridge publish to a topic encrypted with the topic key (infra.delivery's chat
        topics): the key half, for this account's rules only. The topic half is each topic's
        policy, which the rule target adds."""
        if self._eventbridge_allowed:
            return
        self._eventbridge_allowed = True
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowIotwatchRulesToPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )

    def _endpoint(self, contact: Contact, environ: Mapping[str, str]) -> str:
        if contact.source == "literal":
            return contact.value
        if contact.source == "env":
            # load_plan(resolve_env=True) has already checked that the variable is set and valid.
            return environ[contact.value]
        # A String parameter (CloudFormation cannot read SecureString into an SNS endpoint).
        return ssm.StringParameter.value_for_string_parameter(Stack.of(self), contact.value)

    def alarm_topics(self, topic_name: str, *, alarm_name_prefix: str) -> list[sns.Topic]:
        """The topics iotwatch's own alarms (infra.health) notify so that every subscriber of the
        operations topic `topic_name` gets each alarm once, whatever its filter policy.

        A CloudWatch alarm notification carries no message attributes, and SNS delivers a
        message without attributes to no subscription with a filter policy (`"exists": false`
        too needs at least one attribute: SNS developer guide, "Key matching"). So: the
        operations topic, for its unfiltered subscribers; and, when some are filtered (an SMS
        subscriber always is: it skips incident updates), a dedicated alarms topic where each of
        them has a second, unfiltered subscription (its own confirmation, for e-mail)."""
        topics = []
        if self._operations_open or not self._operations_filtered:
            topics.append(self._allow_cloudwatch_alarms(self.topics[topic_name], alarm_name_prefix))
        if self._operations_filtered:
            alarms = sns.Topic(
                self,
                "OperationsAlarms",  # no topic_name: CloudFormation's cannot clash with a plan topic
                display_name="iotwatch",
                master_key=self.key,
                enforce_ssl=True,
            )
            for subscriber in self._operations_filtered:
                self._subscribe(alarms, subscriber, self._environ, None)
            topics.append(self._allow_cloudwatch_alarms(alarms, alarm_name_prefix))
        return topics

    def _allow_cloudwatch_alarms(self, topic: sns.Topic, alarm_name_prefix: str) -> sns.Topic:
        """Lets CloudWatch publish to `topic` for this account's alarms named
        `alarm_name_prefix*`, and returns the topic.

        The topic policy CDK writes for enforce_ssl replaces SNS's default policy, so nothing
        but an identity policy in this account can publish unless the policy says so; an alarm
        publishes as the cloudwatch.amazonaws.com service principal, which has none. The key
        half (kms:GenerateDataKey*/Decrypt for that principal) is in the key policy above."""
        stack = Stack.of(self)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowIotwatchAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=f"{alarm_name_prefix}*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        return topic

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
