"""Reading the events the handlers get: the evaluation instant of an EventBridge event, and
a batch of shard messages from a work queue.

Plain mappings, not Powertools' data classes: importing its data-classes package loads every
event class Powertools has (~15 ms of each cold start), and these handlers read a few fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from iotwatch.domain.times import iso_seconds


class _Logger(Protocol):  # Powertools' Logger: keyword arguments become log fields
    def error(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def exception(self, msg: object, *args: object, **kwargs: Any) -> None: ...


class _Shard(Protocol):
    @property
    def shard(self) -> int: ...
    @property
    def shards(self) -> int: ...


ShardT = TypeVar("ShardT", bound=_Shard)


class BadEventError(ValueError):
    pass


def event_epoch(event: Mapping[str, Any]) -> float:
    """The event's `time` (ISO 8601, e.g. 2026-11-24T14:05:00Z) as epoch seconds."""
    if not isinstance(event, Mapping) or "time" not in event:
        raise BadEventError("EventBridge event has no 'time' field; iotwatch needs it to pick the window")
    raw = event["time"]
    try:
        return iso_seconds(raw)  # EventBridge always sends UTC; never the host's zone
    except (AttributeError, TypeError, ValueError) as exc:
        raise BadEventError(f"EventBridge event 'time' is not ISO 8601: {raw!r}") from exc


def event_time_text(event: Mapping[str, Any]) -> str:
    return str(event.get("time", ""))


def run_shard_batch(
    records: Sequence[Mapping[str, Any]],
    *,
    parse: Callable[[str], ShardT],
    unreadable: type[Exception],
    run: Callable[[ShardT], None],
    failed: str,
    logger: _Logger,
) -> dict[str, Any]:
    """An SQS batch of shard messages (one, as the stack configures it): `run` each; one that
    raises is logged (`failed`) and returned for redelivery (after 3 receives SQS parks it with
    the dead letters); a body `parse` cannot read is dropped with its reason, since no retry
    makes it readable."""
    failures: list[dict[str, str]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            task = parse(str(record.get("body", "")))
        except unreadable as exc:
            logger.error("work queue message dropped", message_id=message_id, reason=str(exc))
            continue
        try:
            run(task)
        except Exception:
            logger.exception(failed, shard=task.shard, shards=task.shards)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
