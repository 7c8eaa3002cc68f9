"""Series whose dimension values are discovered, not listed: `dimensions: {RuleName: "*"}`.

A plan metric with a "*" value compiles to a `SeriesTemplate`; CloudWatch ListMetrics says
which values exist, and the pure functions here turn its answer into `Series` that carry
the template's detection settings, runbook and description. Everything here is pure: the
ListMetrics call lives in `adapters/discovery.py`, the caching policy's I/O in
`service/discovery.py`, and time is always a parameter.

ListMetrics returns every metric that has *at least* the dimensions asked for (asking for
RuleName also returns RuleName+ActionType metrics), so a listed metric is kept only when
its dimension keys are exactly the template's keys, like a series of the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iotwatch.domain.series import DetectionSettings, Series

WILDCARD = "*"
# Series one template may add. A SEARCH graph on the dashboard shows at most 500 series, one
# GetMetricData call carries 500 queries, the stored list stays far below DynamoDB's 400 KB
# item limit, and each discovered series costs four band metrics (~$1.20 a month): a "*"
# on a busy account must not grow without bound. Beyond it: the first values in sorted
# order, and a warning with the number left out.
MAX_SERIES_PER_TEMPLATE = 500

Dimensions = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SeriesTemplate:
    """One metric with some dimension keys fixed and the others watched for every value."""

    namespace: str
    metric: str
    fixed: Dimensions  # sorted by key
    wildcard: tuple[str, ...]  # sorted dimension keys whose every value is watched
    statistic: str
    period: int
    detection: DetectionSettings
    runbook: str | None = None
    description: str | None = None

    @property
    def key(self) -> str:
        """Stable, readable key (the id a matching series would have, with '*' for the values):
        'AWS/IoT|Success|ActionType=Lambda,RuleName=*'. Statistic and period are not part of it:
        two templates that differ only there discover the same values."""
        dims = sorted([*self.fixed, *((k, WILDCARD) for k in self.wildcard)])
        return f"{self.namespace}|{self.metric}|{','.join(f'{k}={v}' for k, v in dims)}"

    @property
    def dimension_keys(self) -> frozenset[str]:
        return frozenset([*(k for k, _ in self.fixed), *self.wildcard])

    @property
    def label(self) -> str:
        """'TopicMatch (every RuleName)', 'Success (every RuleName, Lambda)'."""
        parts = [f"every {k}" for k in self.wildcard] + [v for _, v in self.fixed]
        return f"{self.metric} ({', '.join(parts)})"

    def matches(self, namespace: str, metric: str, dimensions: Mapping[str, str]) -> bool:
        """Same metric, exactly the template's dimension keys, and the fixed values."""
        return (
            namespace == self.namespace
            and metric == self.metric
            and frozenset(dimensions) == self.dimension_keys
            and all(dimensions.get(k) == v for k, v in self.fixed)
            and all(dimensions[k] for k in self.wildcard)
        )

    def series(self, dimensions: Dimensions) -> Series:
        return Series(
            namespace=self.namespace,
            metric=self.metric,
            dimensions=dimensions,
            statistic=self.statistic,
            period=self.period,
            detection=self.detection,
            runbook=self.runbook,
            description=self.description,
        )


@dataclass(frozen=True, slots=True)
class DiscoveredValues:
    """What one template's discovery found: the dimension sets (sorted, at most
    MAX_SERIES_PER_TEMPLATE), how many there were in all, and when they were listed."""

    template: str  # SeriesTemplate.key
    dimensions: tuple[Dimensions, ...]
    discovered_at: int
    total: int  # values found, watched or not

    @property
    def left_out(self) -> int:
        """Values found but not watched (beyond MAX_SERIES_PER_TEMPLATE)."""
        return max(0, self.total - len(self.dimensions))


class MetricListError(RuntimeError):
    """Listing a metric's values failed (throttled past the client's retries, timed out,
    denied): the run keeps the last list it has (service.discovery)."""


def matching_dimension_sets(
    template: SeriesTemplate, listed: Iterable[Mapping[str, Any]]
) -> tuple[tuple[Dimensions, ...], int]:
    """ListMetrics `Metrics` entries -> the template's dimension sets: exact key set only,
    deduplicated, sorted, at most MAX_SERIES_PER_TEMPLATE. Returns them and the total found."""
    found: set[Dimensions] = set()
    for metric in listed:
        dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
        if len(dims) != len(metric.get("Dimensions", [])):
            continue  # the same key twice: not a dimension set a series can name
        if template.matches(metric.get("Namespace", ""), metric.get("MetricName", ""), dims):
            found.add(tuple(sorted(dims.items())))
    ordered = sorted(found)
    return tuple(ordered[:MAX_SERIES_PER_TEMPLATE]), len(ordered)


def needs_refresh(entry: DiscoveredValues | None, *, now: float, refresh_after: int) -> bool:
    """True when the list must be asked for again: none yet, or `refresh_after` seconds old.
    `refresh_after` 0 refreshes on every call. A list newer than `now` (a replayed older
    event) is fresh."""
    return entry is None or now - entry.discovered_at >= refresh_after


def discovered_series(
    templates: Sequence[SeriesTemplate],
    found: Mapping[str, DiscoveredValues],
    *,
    concrete: Sequence[Series] = (),
) -> list[Series]:
    """The series the templates add, in template order then sorted dimension values.

    A series the plan already names (same id) keeps the plan's own entry and its settings,
    and a series two templates both find is added once, by the first."""
    seen = {s.id for s in concrete}
    out: list[Series] = []
    for template in templates:
        entry = found.get(template.key)
        if entry is None:
            continue
        for dims in entry.dimensions:
            series = template.series(dims)
            if series.id not in seen:
                seen.add(series.id)
                out.append(series)
    return out
