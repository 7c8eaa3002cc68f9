"""iotwatch's own CloudWatch metrics: namespace, names, units and dimensions, defined once.

The handlers publish these through Powertools Metrics (which adds the `service` dimension
from POWERTOOLS_SERVICE_NAME), infra/health.py alarms on them, infra/dashboard.py draws them
and plan/cost.py bills them; each reads the name from here, never from a literal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

# The stack sets IotWatch/<plan> (POWERTOOLS_METRICS_NAMESPACE): one namespace per plan and stage.
NAMESPACE_ROOT = "IotWatch"
SERVICE_DIMENSION = "service"  # the dimension Powertools adds to every metric

EVALUATOR_SERVICE = "iotwatch-evaluator"
BASELINE_BUILDER_SERVICE = "iotwatch-baseline-builder"
AUDIT_SERVICE = "iotwatch-audit"
BAND_WIDGET_SERVICE = "iotwatch-band-widget"

COUNT = "Count"  # a Powertools MetricUnit value and a CloudWatch unit alike


class Cadence(Enum):
    """When a metric receives data: a custom metric costs only for the hours it does."""

    EVERY_RUN = "every run"
    WHEN_COUNTING = "only in the runs where it counts something"
    WHEN_FANNING_OUT = "only when the run fans out into shards"


@dataclass(frozen=True)
class OwnMetric:
    name: str
    service: str
    cadence: Cadence
    unit: str = COUNT

    @property
    def dimensions(self) -> dict[str, str]:
        return {SERVICE_DIMENSION: self.service}

    def datapoint(self, value: float) -> dict[str, Any]:
        """Powertools' `add_metric` arguments for one value of this metric."""
        return {"name": self.name, "unit": self.unit, "value": value}


EVALUATION_COMPLETED = OwnMetric("EvaluationCompleted", EVALUATOR_SERVICE, Cadence.EVERY_RUN)
SERIES_FIRING = OwnMetric("SeriesFiring", EVALUATOR_SERVICE, Cadence.WHEN_COUNTING)
NOTIFICATIONS_SENT = OwnMetric("NotificationsSent", EVALUATOR_SERVICE, Cadence.WHEN_COUNTING)
DEVIATIONS_SILENCED = OwnMetric("DeviationsSilenced", EVALUATOR_SERVICE, Cadence.WHEN_COUNTING)
NOTIFICATIONS_FAILED = OwnMetric("NotificationsFailed", EVALUATOR_SERVICE, Cadence.WHEN_COUNTING)
EVALUATOR_SHARDS_QUEUED = OwnMetric("ShardsQueued", EVALUATOR_SERVICE, Cadence.WHEN_FANNING_OUT)

BASELINES_BUILT = OwnMetric("BaselinesBuilt", BASELINE_BUILDER_SERVICE, Cadence.EVERY_RUN)
BUILDER_GET_METRIC_DATA_CALLS = OwnMetric("GetMetricDataCalls", BASELINE_BUILDER_SERVICE, Cadence.EVERY_RUN)
BUILDER_SHARDS_QUEUED = OwnMetric("ShardsQueued", BASELINE_BUILDER_SERVICE, Cadence.WHEN_FANNING_OUT)

AUDIT_EVENTS = OwnMetric("AuditEvents", AUDIT_SERVICE, Cadence.EVERY_RUN)
AUDIT_ALERTS = OwnMetric("AuditAlerts", AUDIT_SERVICE, Cadence.WHEN_COUNTING)
AUDIT_EVENTS_REJECTED = OwnMetric("AuditEventsRejected", AUDIT_SERVICE, Cadence.WHEN_COUNTING)

# The evaluator's heartbeat: the one metric that says a tick completed (infra/health.py alarms on it).
HEARTBEAT = EVALUATION_COMPLETED

OWN_METRICS = (
    EVALUATION_COMPLETED,
    SERIES_FIRING,
    NOTIFICATIONS_SENT,
    DEVIATIONS_SILENCED,
    NOTIFICATIONS_FAILED,
    EVALUATOR_SHARDS_QUEUED,
    BASELINES_BUILT,
    BUILDER_GET_METRIC_DATA_CALLS,
    BUILDER_SHARDS_QUEUED,
    AUDIT_EVENTS,
    AUDIT_ALERTS,
    AUDIT_EVENTS_REJECTED,
)


def published_by(service: str, cadence: Cadence) -> tuple[str, ...]:
    """The names `service` publishes at `cadence`, in contract order."""
    return tuple(m.name for m in OWN_METRICS if m.service == service and m.cadence is cadence)
