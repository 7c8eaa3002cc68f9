"""A series is one CloudWatch metric with one exact dimension set, watched on its own, or a
share of two sums of such metrics (a ratio series: AuthError over every connection attempt)."""

from __future__ import annotations

from dataclasses import dataclass, field

from iotwatch.domain.local_time import NO_HOLIDAYS, Holidays


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    warning: float
    critical: float
    pending_periods: int
    recovery_periods: int
    min_volume: float
    min_relative_change: float
    # what a period without a datapoint means: "zero" traffic, "ignore" (skipped by the
    # pending/recovery counts) or "breaching" (deviating when traffic was expected)
    missing_data: str = "zero"
    # which side pages: "up" (errors, throttles), "down" (connections, messages) or "both"
    direction: str = "both"
    # absolute limits a team knows: beyond them a period deviates whatever the baseline says
    above: float | None = None
    below: float | None = None
    # slow change (domain.slow_change): the level's drift from the same hours a week and two
    # weeks before that pages as a warning (0: off), and for how many days it must have lasted
    slow_change: float = 0.1
    slow_change_days: int = 5
    # the fleet's clock its hours of week and weekends follow (an IANA name)
    timezone: str = "UTC"
    # its holidays (the plan's `detection.holidays`): Sundays on that clock, or not learnt from
    holidays: Holidays = NO_HOLIDAYS


@dataclass(frozen=True, slots=True)
class Ratio:
    """A series whose value is the share sum(numerator) / sum(denominator) of metrics that carry
    the series' namespace and dimensions, each read as a Sum (domain.ratios computes it).

    The numerator's metrics are among the denominator's, so the share lies in [0, 1]. A period
    with fewer than `min_denominator` attempts has no share: a handful of attempts is a few
    devices, not the fleet, and is neither learnt nor judged."""

    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    min_denominator: float = 100.0
    # how messages name the parts: "AuthError", "connection attempts"
    numerator_label: str = ""
    denominator_label: str = ""


@dataclass(frozen=True, slots=True)
class Series:
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int
    detection: DetectionSettings
    runbook: str | None = None
    description: str | None = field(default=None, compare=False)
    ratio: Ratio | None = None  # None: the metric itself; else `metric` names the share

    @property
    def id(self) -> str:
        """Stable, readable key: 'AWS/IoT|Connect.Success|Protocol=MQTT'."""
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace}|{self.metric}|{dims}"

    @property
    def dimension_map(self) -> dict[str, str]:
        return dict(self.dimensions)

    @property
    def label(self) -> str:
        """Short human name: 'Connect.Success (MQTT)', 'RulesExecuted'."""
        if not self.dimensions:
            return self.metric
        return f"{self.metric} ({', '.join(v for _, v in self.dimensions)})"
