"""Catch what is published to an SNS topic in an SQS queue, and read it back.

    queue_url = subscribe_inbox(topic_arn)
    ... code under test publishes ...
    [envelope] = read_inbox(queue_url)
    envelope["Subject"], envelope["Message"], envelope["MessageAttributes"]["severity"]["Value"]

The subscription keeps the SNS envelope (``RawMessageDelivery=false``), so the subject
and the message attributes arrive with the body, as an SQS or HTTPS subscriber sees them.

What moto 5.2.5 delivers to an SQS subscriber (``moto/sns/models.py``,
``Subscription.publish`` and ``_parse_message_structure``; pinned by the tests in
``tests/integration/test_local_stack.py``):

- ``MessageStructure='json'``: the envelope's ``Message`` is the value of the **"sqs"**
  key of the JSON body, or of ``"default"`` when there is no ``"sqs"`` key or it is empty
  (moto does ``body.get("sqs") or body["default"]``). The ``"email"``/``"sms"`` keys never
  reach an SQS inbox: to see the e-mail rendering there, publish it under ``"default"``
  (as real SNS does for a protocol without its own key) and leave ``"sqs"`` out.
- moto checks the JSON body per subscription, not per publish: a body with neither
  ``"sqs"`` nor ``"default"`` fails only when an SQS subscriber exists, and with no
  subscriber at all (moto skips ``AWS::SNS::Subscription`` in CloudFormation, so a
  deployed stack's topics have none) anything is accepted. Real SNS rejects every body
  without ``"default"``: subscribe an inbox in tests that should catch that.
- ``MessageAttributes`` in the envelope use SNS's spelling, not SQS's:
  ``{"name": {"Type": "String", "Value": "critical"}}``; a Number keeps its string
  value, a Binary is base64 text. The SQS message itself carries no message attributes
  (it would with ``RawMessageDelivery=true``, which also drops the envelope).
- ``Subject`` is in the envelope only when the publisher gave one.
- Subscription filter policies are applied (to message attributes by default).
- Delivery is synchronous inside ``Publish``: the message is in the queue when the
  publish call returns, so ``read_inbox`` needs no wait. No queue policy is needed
  (real SNS needs one allowing ``sns.amazonaws.com`` to ``sqs:SendMessage``).
- ``sms`` and ``email`` subscribers receive nothing observable through the API; only
  ``Publish(PhoneNumber=...)`` SMS are recorded.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3


def subscribe_inbox(
    topic_arn: str,
    *,
    queue_name: str | None = None,
    filter_policy: dict[str, Any] | None = None,
    sns_client: Any = None,
    sqs_client: Any = None,
) -> str:
    """Create an SQS queue, subscribe it to ``topic_arn`` keeping the SNS envelope; return its URL.

    ``filter_policy`` (optional) is set on the subscription as real SNS would apply it
    to message attributes, e.g. ``{"severity": ["critical"]}``.
    """
    sns = sns_client or boto3.client("sns")
    sqs = sqs_client or boto3.client("sqs")
    topic_name = topic_arn.rsplit(":", 1)[-1]
    fifo = topic_name.endswith(".fifo")
    if queue_name is None:
        queue_name = f"inbox-{topic_name.removesuffix('.fifo')}-{uuid.uuid4().hex[:8]}"[:75]
        if fifo:
            queue_name += ".fifo"
    attributes = {"FifoQueue": "true"} if fifo else {}
    queue_url: str = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sub_attributes = {"RawMessageDelivery": "false"}
    if filter_policy is not None:
        sub_attributes["FilterPolicy"] = json.dumps(filter_policy)
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes=sub_attributes,
        ReturnSubscriptionArn=True,
    )
    return queue_url


def read_inbox(queue_url: str, *, sqs_client: Any = None, max_messages: int = 1000) -> list[dict[str, Any]]:
    """Drain the queue; return the SNS envelopes, oldest first, parsed from JSON.

    Each has at least ``Type``, ``MessageId``, ``TopicArn``, ``Message`` (the body SNS chose
    for SQS, see the module docstring) and ``Timestamp``; ``Subject`` and
    ``MessageAttributes`` (``{name: {"Type": ..., "Value": ...}}``) when published with them.
    ``MessageAttributes`` is always present in the result (``{}`` when none were sent).
    """
    sqs = sqs_client or boto3.client("sqs")
    envelopes: list[dict[str, Any]] = []
    while len(envelopes) < max_messages:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=30,
            AttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            envelope = json.loads(message["Body"])
            envelope.setdefault("MessageAttributes", {})
            envelopes.append(envelope)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    envelopes.sort(key=lambda e: e.get("Timestamp", ""))
    return envelopes


def message_attribute(envelope: dict[str, Any], name: str) -> str | None:
    """The value of one message attribute of an envelope from ``read_inbox``, or None."""
    attribute = envelope.get("MessageAttributes", {}).get(name)
    return None if attribute is None else attribute.get("Value")
