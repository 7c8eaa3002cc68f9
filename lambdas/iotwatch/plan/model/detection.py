"""The plan's `detection` section and the per-metric overrides of it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from iotwatch.plan.model.base import StrictModel

MissingData = Literal["zero", "ignore", "breaching"]
DetectionDirection = Literal["both", "up", "down"]


class Thresholds(StrictModel):
    """Deviation scores (robust z-scores against the baseline band) that raise each severity."""

    warning: float = Field(default=4.0, gt=0)
    critical: float = Field(default=7.0, gt=0)


class TrainingExclusion(StrictModel):
    """A window baselines must not learn from: a holiday, a maintenance, a past incident."""

    start: datetime
    end: datetime
    reason: str = Field(min_length=1, max_length=200)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _ordered(self) -> TrainingExclusion:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        return self

    @property
    def window(self) -> tuple[int, int]:
        return int(self.start.timestamp()), int(self.end.timestamp())


class SlowChange(StrictModel):
    """Slow change (domain.slow_change): a level that drifts from the same hours a week and two
    weeks before pages as a warning. The default suits traffic counters: a leak of 2 % a day
    pages within a week; weekly rhythm, a holiday or a noisy day do not."""

    threshold: float = Field(
        default=0.1,
        ge=0,
        le=0.9,
        description="the smallest drift (0.1: 10 %) from both the same hours a week and two weeks "
        "before; 0 turns it off",
    )
    min_days: int = Field(
        default=5, ge=2, le=7, description="days in a row (of the last week) the level must have been moving"
    )

    @model_validator(mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        """`slow_change: off` (YAML reads a bare off as false) is a threshold of 0."""
        if value is False or value == "off":
            return {"threshold": 0.0}
        if not isinstance(value, dict):
            raise ValueError(f"use off, or settings such as {{threshold: 0.1, min_days: 5}}, not {value!r}")
        return value


def _check_timezone(value: str | None) -> str | None:
    if value is not None:
        from iotwatch.domain.local_time import zone

        zone(value)  # ValueError naming the zone and what to write instead
    return value


class Holidays(StrictModel):
    """The fleet's holidays: local dates (in `timezone`) that look like a Sunday, not an outage."""

    treat_as: Literal["sunday", "exclude"] = Field(
        default="sunday",
        description="sunday: learnt and judged as a Sunday; exclude: not learnt from, judged as a Sunday",
    )
    dates: list[date] = Field(min_length=1, description="local dates, e.g. 2026-12-25")

    @field_validator("dates")
    @classmethod
    def _each_once(cls, value: list[date]) -> list[date]:
        twice = sorted(d.isoformat() for d, n in Counter(value).items() if n > 1)
        if twice:
            raise ValueError(f"{', '.join(twice)} listed more than once: list each date once")
        return value


class Detection(StrictModel):
    """How a deviation becomes an alert. Every field but `exclude_from_training` can be
    overridden per metric."""

    sensitivity: Thresholds = Thresholds()
    pending_periods: int = Field(
        default=1, ge=1, le=12, description="consecutive deviating periods before alerting"
    )
    recovery_periods: int = Field(
        default=2, ge=1, le=12, description="consecutive normal periods before resolving"
    )
    min_volume: float = Field(
        default=20.0, ge=0, description="below this count per period neither expected nor actual can page"
    )
    min_relative_change: float = Field(
        default=0.2, ge=0, le=10, description="smallest |actual-expected|/expected that can page"
    )
    missing_data: MissingData = Field(
        default="zero",
        description="a period without datapoint: zero traffic, ignored, or deviating (breaching)",
    )
    direction: DetectionDirection | None = Field(
        default=None,
        description="which side pages: up, down or both; unset: up for error, throttle and failure "
        "metrics, both for the rest",
    )
    above: float | None = Field(default=None, description="a value above this always deviates")
    below: float | None = Field(default=None, description="a value below this always deviates")
    exclude_from_training: list[TrainingExclusion] = Field(default_factory=list)
    slow_change: SlowChange = Field(
        default_factory=SlowChange, description="drift over the weeks that pages as a warning, or off"
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone whose hours of week and weekends the fleet follows",
    )
    holidays: Holidays | None = Field(
        default=None,
        description="local dates judged as Sundays (or not learnt from): Christmas, national holidays",
    )

    @field_validator("timezone")
    @classmethod
    def _timezone_known(cls, value: str) -> str:
        _check_timezone(value)
        return value

    @model_validator(mode="after")
    def _limits_ordered(self) -> Detection:
        _check_limits(self.above, self.below)
        return self

    @property
    def excluded_windows(self) -> list[tuple[int, int]]:
        return [exclusion.window for exclusion in self.exclude_from_training]


class ThresholdsOverride(StrictModel):
    warning: float | None = Field(default=None, gt=0)
    critical: float | None = Field(default=None, gt=0)


class DetectionOverride(StrictModel):
    sensitivity: ThresholdsOverride | None = None
    pending_periods: int | None = Field(default=None, ge=1, le=12)
    recovery_periods: int | None = Field(default=None, ge=1, le=12)
    min_volume: float | None = Field(default=None, ge=0)
    min_relative_change: float | None = Field(default=None, ge=0, le=10)
    missing_data: MissingData | None = None
    direction: DetectionDirection | None = None
    above: float | None = None
    below: float | None = None
    slow_change: SlowChange | None = None
    timezone: str | None = None
    holidays: Holidays | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone_known(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _limits_ordered(self) -> DetectionOverride:
        _check_limits(self.above, self.below)
        return self


def _check_limits(above: float | None, below: float | None) -> None:
    if above is not None and below is not None and below >= above:
        raise ValueError(f"below ({below}) must be less than above ({above}): no value could be normal")
