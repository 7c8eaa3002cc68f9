"""The SQS queue that carries a big tick's shards to parallel evaluator invocations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SEND_BATCH_LIMIT = 10  # SendMessageBatch entries per call


class WorkQueueError(RuntimeError):
    pass


class SqsWorkQueue:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url
        self.calls = 0

    def send(self, bodies: Sequence[str]) -> int:
        """Sends every body or raises: a shard that is not queued would never be evaluated."""
        for start in range(0, len(bodies), SEND_BATCH_LIMIT):
            chunk = bodies[start : start + SEND_BATCH_LIMIT]
            self.calls += 1
            response = self._sqs.send_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
            )
            failed = response.get("Failed", [])
            if failed:
                reasons = ", ".join(f"{f.get('Code')}: {f.get('Message')}" for f in failed)
                raise WorkQueueError(f"{len(failed)} shard message(s) not queued ({reasons})")
        return len(bodies)
