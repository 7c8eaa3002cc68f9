"""Reading the evaluation instant from EventBridge events.

A plain mapping, not Powertools' EventBridgeEvent: importing its data-classes package loads
every event class Powertools has (~15 ms of each cold start), and these handlers read two
fields of one event type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class BadEventError(ValueError):
    pass


def event_epoch(event: Mapping[str, Any]) -> float:
    """The event's `time` (ISO 8601, e.g. 2026-11-24T14:05:00Z) as epoch seconds."""
    if not isinstance(event, Mapping) or "time" not in event:
        raise BadEventError("EventBridge event has no 'time' field; iotwatch needs it to pick the window")
    raw = event["time"]
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError) as exc:
        raise BadEventError(f"EventBridge event 'time' is not ISO 8601: {raw!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # EventBridge always sends UTC; never the host's zone
    return parsed.timestamp()


def event_time_text(event: Mapping[str, Any]) -> str:
    return str(event.get("time", ""))
