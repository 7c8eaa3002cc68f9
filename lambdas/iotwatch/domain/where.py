"""Where and why: what the plan asks iotwatch to look up when a page goes out (device groups,
disconnect reasons, top clients), and what the look-up found, as plain data.

The plan compiles `DeviceWatch` into plan.json; the evaluator, only in a tick that pages, asks a
`WhereLookup` (service.ports) for a `Breakdown` of each incident it is about to page for; the
messages render it and the failure-kind classifier weighs it. Nothing here imports boto3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# --- the series device signals become --------------------------------------------------------------
# The stack's topic rule counts AWS IoT lifecycle events into CloudWatch under
# "IotWatch/<plan>/Devices" (a CloudWatch metric action sets no dimensions, so the reason is in
# the metric name): "Disconnect.CONNECTION_LOST", "ConnectFailure.AUTHORIZATION_FAILED" (the
# lifecycle events' `disconnectReason` and `connectFailureReason` values, as AWS IoT writes them).
DEVICE_NAMESPACE_SUFFIX = "/Devices"
DISCONNECT_PREFIX = "Disconnect."
CONNECT_FAILURE_PREFIX = "ConnectFailure."
# Where AWS IoT publishes fleet metrics (connected devices per group): namespace "IoTFleetMetrics",
# metric name = the fleet metric's name, one dimension AggregationType = the aggregation value
# ("count" for a Statistics count), per the fleet metrics tutorial of the AWS IoT developer guide.
FLEET_METRICS_NAMESPACE = "IoTFleetMetrics"
FLEET_METRIC_DIMENSION = "AggregationType"
FLEET_METRIC_COUNT = "count"

# Every `disconnectReason` AWS IoT documents (lifecycle events, developer guide) and the one
# `connectFailureReason` of `$aws/events/presence/connect_failed/<clientId>`.
DISCONNECT_REASONS = (
    "AUTH_ERROR",
    "CLIENT_INITIATED_DISCONNECT",
    "CLIENT_ERROR",
    "CONNECTION_LOST",
    "DUPLICATE_CLIENTID",
    "FORBIDDEN_ACCESS",
    "MQTT_KEEP_ALIVE_TIMEOUT",
    "SERVER_ERROR",
    "SERVER_INITIATED_DISCONNECT",
    "API_INITIATED_DISCONNECT",
    "THROTTLED",
    "WEBSOCKET_TTL_EXPIRATION",
    "CUSTOMAUTH_TTL_EXPIRATION",
)
CONNECT_FAILURE_REASONS = ("AUTHORIZATION_FAILED",)


def device_namespace(plan_name: str) -> str:
    return f"IotWatch/{plan_name}{DEVICE_NAMESPACE_SUFFIX}"


def is_device_signal(namespace: str) -> bool:
    """A series iotwatch's own device signals feed (lifecycle counts or a group's connected devices)."""
    return namespace.endswith(DEVICE_NAMESPACE_SUFFIX) or namespace == FLEET_METRICS_NAMESPACE


# --- what the plan asks for (compiled into plan.json, read by the functions) ---------------------


@dataclass(frozen=True, slots=True)
class WatchedGroup:
    """A set of things whose connected devices are a watched gauge (an AWS IoT fleet metric)."""

    name: str  # as pages name it: "eu-gateways"
    query: str  # fleet-index query selecting the group: "thingGroupNames:eu-gateways"
    series_id: str  # the connected-devices series iotwatch watches for it


@dataclass(frozen=True, slots=True)
class ContributorRule:
    """A CloudWatch Contributor Insights rule over AWS IoT's logs, keyed on the client id, that
    names the devices behind a deviation of `metric` (an AWS/IoT metric or share name)."""

    metric: str  # "Connect.AuthError"
    rule_name: str  # the rule's physical name


@dataclass(frozen=True, slots=True)
class DeviceWatch:
    """Everything a tick that pages may look up about devices, as the plan configured it."""

    index_fields: tuple[str, ...] = ("thingGroupNames",)  # fields a breakdown counts by
    groups: tuple[WatchedGroup, ...] = ()
    # disconnect reason -> id of the series counting it (written by the stack's topic rule)
    reason_series: tuple[tuple[str, str], ...] = ()
    contributor_rules: tuple[ContributorRule, ...] = ()
    # connect-failure reason -> id of the series counting it (the same topic rule's other half)
    connect_failure_series: tuple[tuple[str, str], ...] = ()
    # False: the plan says fleet indexing (with connectivity) is not on in the account yet, so
    # the groups have no fleet metric and an index look-up is a gap, not an error
    fleet_indexing: bool = False
    # the AWS IoT log level the stack sets (None: the account's own, unknown to iotwatch)
    log_level: str | None = None


# --- what a look-up found (adapters produce it, messages render it) ------------------------------


@dataclass(frozen=True, slots=True)
class ValueShare:
    """One value of an index field among the devices disconnected since the deviation began:
    "94 % in eu-gateways, 96 % of that group"."""

    value: str
    count: int
    share: float  # of the disconnected devices counted
    of_value: float | None = None  # share of every device with this value; None: not known


@dataclass(frozen=True, slots=True)
class FieldBreakdown:
    field: str  # "thingGroupNames"
    values: tuple[ValueShare, ...]  # largest first


@dataclass(frozen=True, slots=True)
class ReasonShare:
    """A disconnect reason's share now against its usual share: "CONNECTION_LOST 88 %, normally 20 %"."""

    reason: str
    count: int
    share: float
    usual_share: float | None = None  # None: no baseline yet


@dataclass(frozen=True, slots=True)
class ClientShare:
    client_id: str
    value: float  # the contributor's count over the window
    share: float  # of the rule's total


@dataclass(frozen=True, slots=True)
class TopClients:
    """Who makes a deviation of `metric`: "3 clients make 91 % of Connect.AuthError, from 3 devices"."""

    metric: str
    total: float
    distinct_clients: int | None  # Contributor Insights' approximate unique count
    clients: tuple[ClientShare, ...]  # largest first


@dataclass(frozen=True, slots=True)
class LookupGap:
    """A look-up that could not be made: the page goes out without it and says how to fix it."""

    what: str  # "thing groups of the disconnected devices"
    why: str  # "fleet indexing is off in this account and region"
    fix: str  # "turn on fleet indexing with connectivity: aws iot update-indexing-configuration ..."


class LookupFailed(Exception):
    """A look-up that could not be made; `gap` says what, why and how to fix it."""

    def __init__(self, gap: LookupGap) -> None:
        super().__init__(f"{gap.what}: {gap.why}")
        self.gap = gap


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Where a deviation is concentrated, as looked up in the tick that paged."""

    since: int  # epoch seconds: the start of the deviation the look-up covers
    looked_up_at: int  # epoch seconds
    disconnected: int | None = None  # devices disconnected since `since`; None: not looked up
    fields: tuple[FieldBreakdown, ...] = ()
    reasons: tuple[ReasonShare, ...] = ()
    top_clients: tuple[TopClients, ...] = ()
    gaps: tuple[LookupGap, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.disconnected or self.fields or self.reasons or self.top_clients)


FailureKindName = Literal[
    "devices-or-network",
    "credentials-or-policy",
    "aws-side",
    "throttling",
    "rules-engine",
    "rogue-device",
    "unclear",
]


@dataclass(frozen=True, slots=True)
class FailureKind:
    """The likely kind of failure behind an incident, with what points to it and what points
    elsewhere: every page opens with it."""

    kind: FailureKindName
    evidence: tuple[str, ...] = ()
    against: tuple[str, ...] = field(default=())


# --- the stored form (incidents keep what their pages said) ---------------------------------------


def breakdown_from_record(data: Mapping[str, Any]) -> Breakdown:
    """A Breakdown from `dataclasses.asdict` of one, as an incident record stores it."""
    return Breakdown(
        since=int(data["since"]),
        looked_up_at=int(data["looked_up_at"]),
        disconnected=data.get("disconnected"),
        fields=tuple(
            FieldBreakdown(f["field"], tuple(ValueShare(**v) for v in f["values"]))
            for f in data.get("fields", ())
        ),
        reasons=tuple(ReasonShare(**r) for r in data.get("reasons", ())),
        top_clients=tuple(
            TopClients(
                metric=t["metric"],
                total=t["total"],
                distinct_clients=t.get("distinct_clients"),
                clients=tuple(ClientShare(**c) for c in t.get("clients", ())),
            )
            for t in data.get("top_clients", ())
        ),
        gaps=tuple(LookupGap(**g) for g in data.get("gaps", ())),
    )


def failure_kind_from_record(data: Mapping[str, Any]) -> FailureKind:
    return FailureKind(
        kind=data["kind"], evidence=tuple(data.get("evidence", ())), against=tuple(data.get("against", ()))
    )
