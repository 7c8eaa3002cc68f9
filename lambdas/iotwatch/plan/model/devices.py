"""The plan's `devices` section: where and why, beyond the account-wide AWS/IoT metrics.

- `groups`: connected devices per thing group (or any fleet-index query), each an AWS IoT fleet
  metric iotwatch watches as a gauge. Fleet metrics need fleet indexing with connectivity, an
  account setting CloudFormation cannot switch on, so they are created only once the plan says
  `fleet_indexing: enabled` (docs/decision_log.md).
- `disconnect_reasons` and `connect_failures`: AWS IoT lifecycle events counted per reason into
  CloudWatch by a topic rule, each count a watched series.
- `where`: the fleet-index fields a page breaks disconnected devices down by.
- `top_clients`: AWS/IoT metrics whose top client ids a page names (Contributor Insights rules
  over AWS IoT's logs), and optionally the account's AWS IoT `logging` level.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Literal

from pydantic import Field, field_validator, model_validator

from iotwatch.domain.where import DISCONNECT_REASONS
from iotwatch.plan.model.base import StrictModel, require_names
from iotwatch.plan.model.detection import DetectionOverride

# The reasons worth paging on by default: each says something about devices, credentials, the
# broker or limits. Left out: the client's own goodbye (CLIENT_INITIATED_DISCONNECT), an
# operator's DeleteConnection, and TTL expiries that happen on schedule.
DEFAULT_DISCONNECT_REASONS = (
    "CONNECTION_LOST",
    "MQTT_KEEP_ALIVE_TIMEOUT",
    "AUTH_ERROR",
    "DUPLICATE_CLIENTID",
    "THROTTLED",
    "SERVER_ERROR",
    "SERVER_INITIATED_DISCONNECT",
    "CLIENT_ERROR",
    "FORBIDDEN_ACCESS",
)
# A page's breakdown of disconnected devices, by default: by thing group.
DEFAULT_WHERE = ("thingGroupNames",)
# Labels become part of a fleet metric's name (pattern [a-zA-Z0-9_.-]+) and of page lines.
GROUP_LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# A thing group name as AWS IoT allows it ([a-zA-Z0-9:_-]+, at most 128).
THING_GROUP_PATTERN = r"^[a-zA-Z0-9:_-]{1,128}$"
INDEX_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")

IotLogLevel = Literal["ERROR", "WARN", "INFO", "DEBUG", "DISABLED"]
FleetIndexing = Literal["disabled", "enabled"]


class DeviceGroup(StrictModel):
    """`{thing_group: eu-gateways}`, or `{name: fw-2-1, query: "attributes.firmware:2.1"}`."""

    thing_group: str | None = Field(default=None, pattern=THING_GROUP_PATTERN)
    name: str | None = Field(default=None, pattern=GROUP_LABEL_PATTERN)
    query: str | None = Field(default=None, min_length=1, max_length=900)
    description: str | None = None
    detection: DetectionOverride | None = None

    @model_validator(mode="after")
    def _one_way(self) -> DeviceGroup:
        if self.thing_group is None and self.query is None:
            raise ValueError('give thing_group: NAME, or name: LABEL with query: "<fleet-index query>"')
        if self.thing_group is not None and self.query is not None:
            raise ValueError("give either thing_group or query, not both (a query can name the group)")
        if self.query is not None and self.name is None:
            raise ValueError("a query needs a name: the label pages and the fleet metric use")
        if (
            self.thing_group is not None
            and self.name is None
            and not re.match(GROUP_LABEL_PATTERN, self.thing_group)
        ):
            raise ValueError(f"thing group '{self.thing_group}' cannot be a label: add name: LABEL")
        return self

    @property
    def label(self) -> str:
        label = self.name or self.thing_group
        assert label is not None  # checked above
        return label

    @property
    def index_query(self) -> str:
        """The fleet-index query selecting the group's things."""
        return self.query if self.query is not None else f"thingGroupNames:{self.thing_group}"


class IotLogging(StrictModel):
    """The account's AWS IoT (v2) default log level, set by the stack (`AWS::IoT::Logging`)."""

    level: IotLogLevel = "ERROR"


class Devices(StrictModel):
    fleet_indexing: FleetIndexing = Field(
        default="disabled",
        description="'enabled' once fleet indexing with connectivity is on in the account: the "
        "groups' fleet metrics are created only then (CloudFormation cannot switch it on)",
    )
    groups: list[DeviceGroup] = Field(default_factory=list)
    disconnect_reasons: list[str] = Field(default_factory=lambda: list(DEFAULT_DISCONNECT_REASONS))
    connect_failures: bool = Field(default=True, description="count failed connection attempts too")
    where: list[str] = Field(default_factory=lambda: list(DEFAULT_WHERE), max_length=5)
    top_clients: list[str] = Field(default_factory=list, max_length=10)
    logging: IotLogging | None = Field(
        default=None, description="absent: the account's AWS IoT logging is left as it is"
    )
    detection: DetectionOverride | None = Field(
        default=None, description="detection for the disconnect and connect-failure counts"
    )

    @field_validator("fleet_indexing", mode="before")
    @classmethod
    def _yaml_switch(cls, value: object) -> object:
        # YAML reads on/off/yes/no as booleans
        return {True: "enabled", False: "disabled"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("disconnect_reasons")
    @classmethod
    def _reasons(cls, value: list[str]) -> list[str]:
        return _known_once(
            value,
            DISCONNECT_REASONS,
            unknown=f"not a disconnect reason AWS IoT documents (known: {', '.join(DISCONNECT_REASONS)})",
            each="reason",
        )

    @field_validator("top_clients")
    @classmethod
    def _top_client_metrics(cls, value: list[str]) -> list[str]:
        from iotwatch.plan.devices import TOP_CLIENT_METRICS

        return _known_once(
            value,
            TOP_CLIENT_METRICS,
            unknown=f"iotwatch names top clients for {', '.join(TOP_CLIENT_METRICS)}",
            each="metric",
        )

    @field_validator("where")
    @classmethod
    def _fields(cls, value: list[str]) -> list[str]:
        require_names(
            value,
            INDEX_FIELD,
            write="write fleet-index field names such as thingGroupNames, thingTypeName or attributes.firmware",
        )
        return value

    @model_validator(mode="after")
    def _distinct_groups(self) -> Devices:
        labels = [g.label for g in self.groups]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"group(s) {', '.join(twice)} listed twice: give each a distinct name")
        return self

    @property
    def fleet_metrics_on(self) -> bool:
        return self.fleet_indexing == "enabled" and bool(self.groups)


def _known_once(value: list[str], known: Collection[str], *, unknown: str, each: str) -> list[str]:
    """`value` when every item is one of `known`, each listed once; else the problem, named."""
    strangers = [item for item in value if item not in known]
    if strangers:
        raise ValueError(f"{', '.join(strangers)}: {unknown}")
    twice = sorted({item for item in value if value.count(item) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} listed twice: list each {each} once")
    return value
