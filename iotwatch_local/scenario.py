"""The demo's scenario, the same at every run: a fixed Monday, the stack deployed at 08:00 UTC,
a 30-minute outage at 13:00 and the control-plane change behind it."""

from __future__ import annotations

import calendar
from typing import Any

from iotwatch_local.events import cloudtrail_event

DAY = 86400
HOUR = 3600
# A fixed Monday, so every run replays the same traffic and prints the same pages.
REPLAY_DAY = calendar.timegm((2026, 11, 16, 0, 0, 0))
DEPLOYED_AT = REPLAY_DAY + 8 * HOUR
REPLAY_END = REPLAY_DAY + 16 * HOUR
INCIDENT_START = REPLAY_DAY + 13 * HOUR
INCIDENT_END = INCIDENT_START + 30 * 60
INCIDENT_METRICS = (
    "Connect.Success",
    "Ping.Success",
    "PublishIn.Success",
    "PublishOut.Success",
    "RulesExecuted",
    "GetThingShadow.Accepted",
    "UpdateThingShadow.Accepted",
)
BACKTEST_DAYS = 14
# The outage's cause: a pipeline deletes the fleet's IoT policy four minutes before devices drop.
CAUSE_AT = INCIDENT_START - 4 * 60
CAUSE_ACTION = "DeletePolicy"


def control_plane_story(region: str) -> list[tuple[int, dict[str, Any]]]:
    """What CloudTrail delivers during the replay, by delivery time: a routine provisioning
    call (recorded, not paged), the policy deletion behind the outage, EventBridge delivering
    that one a second time (at least once), and an event no CloudTrail reader can use."""
    provisioning = cloudtrail_event(
        REPLAY_DAY + 10 * HOUR + 15 * 60, "CreateThing", {"thingName": "sensor-4711"}, region=region
    )
    cause = cloudtrail_event(CAUSE_AT, CAUSE_ACTION, {"policyName": "fleet-device-policy"}, region=region)
    malformed = {**cause, "id": "demo-malformed", "detail": {"eventSource": "iot.amazonaws.com"}}
    return [
        (REPLAY_DAY + 10 * HOUR + 16 * 60, provisioning),
        (CAUSE_AT + 2 * 60, cause),
        (CAUSE_AT + 3 * 60, cause),
        (CAUSE_AT + 3 * 60, malformed),
    ]
