"""EventBridge PutEvents for incident and audit events: batched, retried once, never raising.

The events go out after the pages: whatever EventBridge does, a page is never held back or lost
for them, and the tick never fails because of them. An entry EventBridge refuses twice is
counted and reported (its error code, never its content).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iotwatch.domain.messages.events import MAX_ENTRY_BYTES, BusEvent, EventsOutcome

MAX_ENTRIES_PER_CALL = 10  # PutEvents' limit
ATTEMPTS = 2  # the first put and one retry of what failed


class EventBridgePublisher:
    def __init__(self, client: Any, bus: str) -> None:
        self._client = client
        self._bus = bus

    def publish(self, events: Sequence[BusEvent]) -> EventsOutcome:
        outcome = EventsOutcome()
        for batch in batches(events):
            outcome.add(self._put(batch))
        return outcome

    def _put(self, batch: list[BusEvent]) -> EventsOutcome:
        pending = batch
        errors: list[str] = []
        for _ in range(ATTEMPTS):
            pending, errors = self._attempt(pending)
            if not pending:
                break
        return EventsOutcome(sent=len(batch) - len(pending), failed=len(pending), errors=errors)

    def _attempt(self, batch: list[BusEvent]) -> tuple[list[BusEvent], list[str]]:
        """The entries still to send after one PutEvents call, and why each failed."""
        try:
            response = self._client.put_events(Entries=[e.entry(self._bus) for e in batch])
        except (ClientError, BotoCoreError) as exc:
            code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
            return batch, [f"{e.detail_type} {e.detail.get('dedup_key')}: {code}" for e in batch]
        if not response.get("FailedEntryCount"):
            return [], []
        failed: list[BusEvent] = []
        errors: list[str] = []
        # results come back in the order of the entries; a failed one has an ErrorCode
        for event, result in zip(batch, response.get("Entries", []), strict=False):
            if result.get("ErrorCode"):
                failed.append(event)
                errors.append(f"{event.detail_type} {event.detail.get('dedup_key')}: {result['ErrorCode']}")
        return failed, errors


def batches(events: Sequence[BusEvent], limit: int = MAX_ENTRY_BYTES) -> Iterator[list[BusEvent]]:
    """At most 10 entries a call and `limit` bytes in all, in order."""
    batch: list[BusEvent] = []
    size = 0
    for event in events:
        if batch and (len(batch) == MAX_ENTRIES_PER_CALL or size + event.size > limit):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event.size
    if batch:
        yield batch
