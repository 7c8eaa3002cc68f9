"""The plan's `resources` section: the metrics and the shares of failed attempts it watches."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from iotwatch.domain.discovery import WILDCARD
from iotwatch.plan.catalog import AWS_IOT_NAMESPACE
from iotwatch.plan.model.base import StrictModel
from iotwatch.plan.model.detection import DetectionOverride

Statistic = Literal["Sum", "Average", "Minimum", "Maximum", "SampleCount"]
# Metric x fixed-value combinations with a "*" per plan: each is one or more ListMetrics calls
# on every refresh and can add up to MAX_SERIES_PER_TEMPLATE series.
MAX_WILDCARD_TEMPLATES = 10


class MetricSpec(StrictModel):
    metric: str = Field(min_length=1, max_length=255)
    namespace: str = Field(default=AWS_IOT_NAMESPACE, min_length=1, max_length=255)
    # A list value watches each listed value as its own series; "*" watches every value
    # CloudWatch has for that key (discovered with ListMetrics while running, not at synth).
    dimensions: dict[str, str | list[str]] = Field(default_factory=dict)
    statistic: Statistic = "Sum"
    period: int | None = Field(
        default=None, gt=0, description="seconds; defaults to frequency.period_seconds"
    )
    description: str | None = None
    runbook: str | None = None
    detection: DetectionOverride | None = None

    @property
    def wildcard_keys(self) -> tuple[str, ...]:
        """Dimension keys whose every value is watched (value "*"), sorted."""
        return tuple(sorted(k for k, v in self.dimensions.items() if v == WILDCARD))


RATIO_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
DEFAULT_MIN_DENOMINATOR = 100.0


class RatioSpec(StrictModel):
    """A share: the sum of the `numerator` metrics over the sum of the `denominator` metrics, each
    with the entry's namespace and dimensions, read as Sums: "AuthError as a share of every
    connection attempt". Watched, learnt and paged like a metric, under `name`."""

    name: str = Field(min_length=1, max_length=255, pattern=RATIO_NAME_PATTERN)
    numerator: list[str] = Field(min_length=1, description="metrics whose sum is what failed")
    denominator: list[str] | None = Field(
        default=None,
        description="metrics whose sum is every attempt, the numerator's among them; default for "
        "AWS/IoT: every outcome of the numerator's operation (Connect.* for Connect.AuthError)",
    )
    namespace: str = Field(default=AWS_IOT_NAMESPACE, min_length=1, max_length=255)
    dimensions: dict[str, str | list[str]] = Field(default_factory=dict)
    min_denominator: float = Field(
        default=DEFAULT_MIN_DENOMINATOR,
        ge=1,
        description="attempts per period below which the share is neither learnt nor judged",
    )
    period: int | None = Field(
        default=None, gt=0, description="seconds; defaults to frequency.period_seconds"
    )
    description: str | None = None
    runbook: str | None = None
    detection: DetectionOverride | None = None

    @field_validator("numerator", "denominator", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("numerator", "denominator")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if any(not name for name in value):
            raise ValueError("metric names must not be empty")
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed twice: list each metric once")
        return value


class Resources(StrictModel):
    metrics: list[MetricSpec] = Field(default_factory=list)
    ratios: list[RatioSpec] = Field(default_factory=list, description="shares of failed attempts")

    @model_validator(mode="after")
    def _watches_something(self) -> Resources:
        if not self.metrics and not self.ratios:
            raise ValueError("watch at least one metric (resources.metrics) or ratio (resources.ratios)")
        return self
