"""Reading the evaluation instant from EventBridge events."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent


class BadEventError(ValueError):
    pass


def event_epoch(event: EventBridgeEvent) -> float:
    """The event's `time` (ISO 8601, e.g. 2026-11-24T14:05:00Z) as epoch seconds."""
    try:
        raw = event.time
    except KeyError as exc:
        raise BadEventError(
            "EventBridge event has no 'time' field; iotwatch needs it to pick the window"
        ) from exc
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError) as exc:
        raise BadEventError(f"EventBridge event 'time' is not ISO 8601: {raw!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # EventBridge always sends UTC; never the host's zone
    return parsed.timestamp()
