"""Maintenance windows: weekly times in which deviations are recorded but not paged."""

from __future__ import annotations

import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from iotwatch.domain.silences import WEEKDAYS, MaintenanceWindow
from iotwatch.plan.model.base import StrictModel

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
assert WEEKDAYS == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class MaintenanceWindowSpec(StrictModel):
    """A weekly window in local time in which deviations are recorded but not paged."""

    name: str = Field(min_length=1, max_length=64)
    days: list[Weekday] = Field(min_length=1)
    start: str = Field(description="HH:MM local time")
    end: str = Field(description="HH:MM local time; earlier than start ends the next day")
    timezone: str = "UTC"
    metrics: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="glob patterns")
    dimensions: dict[str, str] = Field(default_factory=dict)

    @field_validator("days", mode="before")
    @classmethod
    def _lower_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return (
            [v.lower()[:3] if isinstance(v, str) and len(v) >= 3 else v for v in value]
            if isinstance(value, list)
            else value
        )

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day: write HH:MM, 00:00 to 23:59")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
            ) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> MaintenanceWindowSpec:
        if self.start == self.end:
            raise ValueError(f"start and end are both {self.start}: the window would be empty")
        return self

    def domain(self) -> MaintenanceWindow:
        return MaintenanceWindow(
            name=self.name,
            days=tuple(self.days),
            start=self.start,
            end=self.end,
            timezone=self.timezone,
            metrics=tuple(self.metrics),
            dimensions=dict(self.dimensions),
        )
