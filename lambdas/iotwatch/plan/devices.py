"""What the plan's `devices` section becomes in AWS, by name: the lifecycle topic rules' SQL, the
fleet metrics' names and queries, the Contributor Insights rules' names and bodies, and the
steps an account needs before they work. The stack (infra/devices.py), the plan expansion and
`plan validate` all read them here, so a name is written once.

No boto3 and no CDK here: plain strings and dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iotwatch.domain.where import CONNECT_FAILURE_PREFIX, DISCONNECT_PREFIX

if TYPE_CHECKING:
    from iotwatch.plan.model.devices import DeviceGroup
    from iotwatch.plan.model.plan import Plan

# AWS IoT lifecycle events (developer guide, "Lifecycle events"): one topic per client id.
DISCONNECTED_TOPIC = "$aws/events/presence/disconnected/+"
CONNECT_FAILED_TOPIC = "$aws/events/presence/connect_failed/+"
IOT_SQL_VERSION = "2016-03-23"

# The fleet index AWS IoT keeps for things (registry, shadow, connectivity).
THINGS_INDEX = "AWS_Things"
FLEET_QUERY_VERSION = "2017-09-30"
# Counting things: Statistics over a field every thing has (the fleet metrics tutorial counts
# with values [count]); the published value is the number of things matching the query.
FLEET_AGGREGATION_FIELD = "registry.version"
CONNECTED = "connectivity.connected:true"
# A fleet metric emits every 60 s to 1 day, in whole minutes.
MIN_FLEET_PERIOD, MAX_FLEET_PERIOD = 60, 86_400

# AWS IoT's v2 log group (the account-wide destination of AWS IoT logging).
IOT_LOG_GROUP = "AWSIotLogsV2"


@dataclass(frozen=True)
class LogMatch:
    """The AWS IoT log entries behind one AWS/IoT metric: `eventType`, `status` "Failure" and,
    where the log documents one, the `reason`."""

    event_type: str
    reasons: tuple[str, ...] = ()


# AWS/IoT metrics whose contributors a page can name, and the log entries they count. Auth
# failures log reason AUTHORIZATION_FAILURE (AWS IoT log entries, Connect and Publish-In). The
# log documents no single reason value for throttling: a throttle family's rule counts every
# failed attempt of the operation, which throttles dominate while that metric deviates.
TOP_CLIENT_METRICS: dict[str, LogMatch] = {
    "Connect.AuthError": LogMatch("Connect", ("AUTHORIZATION_FAILURE",)),
    "Connect.Throttle": LogMatch("Connect"),
    "Connect.ClientIDThrottle": LogMatch("Connect"),
    "PublishIn.AuthError": LogMatch("Publish-In", ("AUTHORIZATION_FAILURE",)),
    "PublishIn.Throttle": LogMatch("Publish-In"),
    "Subscribe.AuthError": LogMatch("Subscribe", ("AUTHORIZATION_FAILURE",)),
    "Subscribe.Throttle": LogMatch("Subscribe"),
}


def fleet_metric_name(plan_name: str, label: str) -> str:
    """Fleet metric names are unique per account and region: the plan's name keeps two stacks apart."""
    return f"iotwatch-{plan_name}-{label}"


def fleet_query(group: DeviceGroup) -> str:
    """The group's things that are connected now."""
    return f"({group.index_query}) AND {CONNECTED}"


def fleet_period(period_seconds: int) -> int:
    """One emission per evaluation period (whole minutes within AWS's range)."""
    minutes = max(1, round(period_seconds / 60))
    return min(max(minutes * 60, MIN_FLEET_PERIOD), MAX_FLEET_PERIOD)


def insight_rule_name(plan_name: str, metric: str) -> str:
    return f"iotwatch-{plan_name}-{metric}"


def insight_rule_body(metric: str, log_group: str = IOT_LOG_GROUP) -> dict[str, Any]:
    """A Contributor Insights rule over AWS IoT's log, one contributor per client id, counting
    the failed attempts behind `metric`."""
    match = TOP_CLIENT_METRICS[metric]
    filters: list[dict[str, Any]] = [
        {"Match": "$.eventType", "In": [match.event_type]},
        {"Match": "$.status", "In": ["Failure"]},
    ]
    if match.reasons:
        filters.append({"Match": "$.reason", "In": list(match.reasons)})
    return {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": [log_group],
        "LogFormat": "JSON",
        "Contribution": {"Keys": ["$.clientId"], "Filters": filters},
        "AggregateOn": "Count",
    }


def insight_rule_json(metric: str) -> str:
    return json.dumps(insight_rule_body(metric), sort_keys=True)


def _quoted(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def disconnect_rule_sql(reasons: list[str] | tuple[str, ...]) -> str:
    """Only the watched reasons: every other reason would cost a custom metric nobody watches."""
    where = " OR ".join(f"disconnectReason = '{r}'" for r in reasons)
    return f"SELECT disconnectReason FROM '{DISCONNECTED_TOPIC}' WHERE {where}"


def connect_failure_rule_sql() -> str:
    return f"SELECT connectFailureReason FROM '{CONNECT_FAILED_TOPIC}'"


# The CloudWatch metric action's substitution templates: the reason is in the metric name (the
# action sets no dimensions).
DISCONNECT_METRIC_TEMPLATE = DISCONNECT_PREFIX + "${disconnectReason}"
CONNECT_FAILURE_METRIC_TEMPLATE = CONNECT_FAILURE_PREFIX + "${connectFailureReason}"

FLEET_INDEXING_STEPS = (
    "aws iot update-indexing-configuration --thing-indexing-configuration "
    "thingIndexingMode=REGISTRY,thingConnectivityIndexingMode=STATUS",
    "aws iot describe-index --index-name AWS_Things   # wait for indexStatus ACTIVE",
)


def iot_logging_steps(level: str = "ERROR") -> tuple[str, ...]:
    return (
        f"aws iot set-v2-logging-options --role-arn <a role AWS IoT may assume to write {IOT_LOG_GROUP}> "
        f"--default-log-level {level}",
    )


def prerequisites(plan: Plan) -> list[str]:
    """What the account must have switched on for the plan's device signals, and how: lines for
    `plan validate` (nothing when the plan watches no devices)."""
    devices = plan.devices
    if devices is None:
        return []
    lines: list[str] = []
    if devices.groups and devices.fleet_indexing != "enabled":
        lines += [
            f"Fleet indexing with connectivity: the {len(devices.groups)} group(s) get no fleet metric "
            "until it is on and the plan says devices.fleet_indexing: enabled (the stack deploys "
            "without them). Switch it on with:",
            *(f"  {step}" for step in FLEET_INDEXING_STEPS),
        ]
    elif devices.groups or devices.where:
        lines.append(
            "Fleet indexing with connectivity must be on for the groups and the page's breakdown "
            f"by {', '.join(devices.where)} (else a page says it could not look them up). Check with:"
        )
        lines.append(f"  {FLEET_INDEXING_STEPS[1]}")
    if devices.top_clients and devices.logging is None:
        lines += [
            f"AWS IoT logging (ERROR or more) into {IOT_LOG_GROUP}, for the top clients of "
            f"{', '.join(devices.top_clients)}: set devices.logging.level, or switch it on with:",
            *(f"  {step}" for step in iot_logging_steps()),
        ]
    elif devices.logging is not None and devices.logging.level == "DISABLED" and devices.top_clients:
        lines.append("devices.logging.level DISABLED: the top-client rules will find nothing to count")
    return lines
