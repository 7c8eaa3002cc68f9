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
# Where the outage happens: the first of the plan's thing groups, its devices losing their network.
OUTAGE_GROUP_SHARE = 0.85  # of the 4,000 devices, in the plan's first group (the rest in the others)
OUTAGE_SHARE = 0.94  # of that group: 80 % of the fleet, the drop the AWS/IoT counters show
OUTAGE_REASON = "CONNECTION_LOST"
# The short scenario: after a CA change, a handful of devices of the last group fail every connect.
AUTH_START = REPLAY_DAY + 10 * HOUR + 30 * 60
AUTH_END = AUTH_START + 30 * 60
AUTH_CLIENTS = 5
AUTH_ATTEMPTS = 100  # each, over the 30 minutes: about 80 refused connects a period
# The outage's cause: a pipeline deletes the fleet's IoT policy four minutes before devices drop.
CAUSE_AT = INCIDENT_START - 4 * 60
CAUSE_ACTION = "DeletePolicy"


def in_scenario(ts: int) -> bool:
    """Whether something happening at `ts` belongs to one of the day's two problems (or its
    recovery, within an hour of its end)."""
    return any(
        start <= ts < end + HOUR for start, end in ((INCIDENT_START, INCIDENT_END), (AUTH_START, AUTH_END))
    )


def group_sizes(groups: list[str], devices: int = 4000) -> dict[str, int]:
    """The demo fleet's devices by thing group: most in the first (the outage's), the rest shared."""
    if len(groups) == 1:
        return {groups[0]: devices}
    first = round(devices * OUTAGE_GROUP_SHARE)
    rest = (devices - first) // (len(groups) - 1)
    return {groups[0]: first, **dict.fromkeys(groups[1:], rest)}


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
