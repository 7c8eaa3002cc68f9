"""The plan's `notify` section: topics, routes by severity and metric, and how incidents page."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from iotwatch.domain.incidents.model import DEFAULT_GROUP_INTERVAL, DEFAULT_HISTORY_DAYS
from iotwatch.domain.routing import route_matches
from iotwatch.domain.silences import MaintenanceWindow
from iotwatch.plan.model.base import StrictModel, parse_interval
from iotwatch.plan.model.contacts import Subscriber
from iotwatch.plan.model.events import EventsSettings
from iotwatch.plan.model.windows import MaintenanceWindowSpec

Severity = Literal["warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("warning", "critical")
DEFAULT_REPEAT_INTERVAL = 4 * 3600
TOPIC_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"


class Topic(StrictModel):
    name: str
    description: str | None = None
    subscribers: list[Subscriber] = Field(default_factory=list)


class Route(StrictModel):
    topic: str
    severities: list[Severity] = Field(default_factory=lambda: list(SEVERITIES), min_length=1)
    metrics: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="glob patterns")

    def matches(self, *, severity: str, metric: str) -> bool:
        return route_matches(self, severity=severity, metric=metric)


class Notify(StrictModel):
    topics: list[Topic] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)
    repeat_interval: int = Field(
        default=DEFAULT_REPEAT_INTERVAL,
        description="seconds between reminders while an alert fires ('4h', '30m' or minutes); 0: none",
    )
    group_by: str | list[str] = Field(
        default="dimensions",
        description="which deviations share an incident: 'dimensions' (same dimension set, any "
        "protocol; account-wide metrics join any), 'tick' (the whole plan, one incident at a time), "
        "or a list of dimension keys",
    )
    group_interval: int = Field(
        default=DEFAULT_GROUP_INTERVAL,
        description="while an incident is open, at most one update per topic this often "
        "('15m', '1h' or minutes); 0: on every evaluation that has news",
    )
    history_days: int = Field(
        default=DEFAULT_HISTORY_DAYS,
        ge=1,
        le=3650,
        description="days a resolved incident, its members and its notifications are kept",
    )
    maintenance_windows: list[MaintenanceWindowSpec] = Field(default_factory=list)
    operations_topic: str | None = Field(
        default=None, description="topic for alarms on iotwatch itself; default: the first topic"
    )
    events: EventsSettings = Field(default_factory=EventsSettings)

    @field_validator("repeat_interval", "group_interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> int:
        return parse_interval(value)

    @field_validator("group_by", mode="before")
    @classmethod
    def _grouping(cls, value: Any) -> Any:
        if isinstance(value, str) and value in ("tick", "dimensions"):
            return value
        if isinstance(value, list) and value and all(isinstance(k, str) and k for k in value):
            return value
        raise ValueError(
            f"got {value!r}: write 'dimensions' (same tick and dimension set), 'tick' (same tick), "
            "or a list of dimension keys such as [Protocol]"
        )

    @property
    def windows(self) -> tuple[MaintenanceWindow, ...]:
        return tuple(w.domain() for w in self.maintenance_windows)

    @property
    def operations(self) -> str:
        """The topic that receives alarms on iotwatch itself."""
        return self.operations_topic or self.topics[0].name
