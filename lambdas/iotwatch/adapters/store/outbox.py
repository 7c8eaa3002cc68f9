"""The outbox: messages a topic still owes on-call, rendered when their publish failed."""

from __future__ import annotations

import json

from iotwatch.adapters.store.table import Repository
from iotwatch.domain.messages.model import OutboxItem

OUTBOX_PK = "OUTBOX"
OUTBOX_TTL_SECONDS = 7 * 86400


class OutboxRepository(Repository):
    def put_outbox(self, item: OutboxItem) -> None:
        self._table.put(
            {
                "pk": OUTBOX_PK,
                "sk": item.key,
                "topic": item.topic,
                "subject": item.subject,
                "message": item.message,
                "attributes": json.dumps(item.attributes),
                "first_attempt": item.first_attempt,
                "expires_at": item.first_attempt + OUTBOX_TTL_SECONDS,
            }
        )

    def list_outbox(self) -> list[OutboxItem]:
        return [
            OutboxItem(
                key=raw["sk"],
                topic=raw["topic"],
                subject=raw["subject"],
                message=raw["message"],
                attributes=json.loads(raw["attributes"]),
                first_attempt=int(raw["first_attempt"]),
            )
            for raw in self._table.query("pk = :pk", {":pk": OUTBOX_PK})
        ]

    def delete_outbox(self, key: str) -> None:
        self._table.delete(OUTBOX_PK, key)
