"""Publishing rendered messages to the plan's SNS topics."""

from __future__ import annotations

from typing import Any

from iotwatch.domain.messages.model import RenderedMessage


class UnknownTopicError(KeyError):
    pass


class SnsNotifier:
    def __init__(self, sns: Any, topic_arns: dict[str, str]) -> None:
        self._sns = sns
        self._topic_arns = topic_arns
        self.published = 0

    def publish(self, topic: str, message: RenderedMessage) -> str:
        return self.publish_raw(
            topic, subject=message.subject, message=message.sns_message(), attributes=message.attributes
        )

    def publish_raw(
        self, topic: str, *, subject: str, message: str, attributes: dict[str, dict[str, str]]
    ) -> str:
        arn = self._topic_arns.get(topic)
        if arn is None:
            raise UnknownTopicError(f"plan topic '{topic}' has no ARN in IOTWATCH_TOPICS")
        response = self._sns.publish(
            TopicArn=arn,
            Subject=subject,
            Message=message,
            MessageStructure="json",
            MessageAttributes=attributes,
        )
        self.published += 1
        return str(response["MessageId"])
