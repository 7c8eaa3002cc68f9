"""What infra/ deploys, as the estimate counts it: function sizes, their metrics, alarms, the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from iotwatch.plan.cost.assumptions import DAY
from iotwatch.telemetry import (
    AUDIT_SERVICE,
    BASELINE_BUILDER_SERVICE,
    EVALUATOR_SERVICE,
    Cadence,
    published_by,
)


@dataclass(frozen=True)
class FunctionSize:
    name: str
    memory_mb: int
    timeout_seconds: int
    # names the handler adds through Powertools Metrics on every run...
    powertools_metrics: tuple[str, ...] = ()
    # ...only in the runs where they count something (a custom metric costs for the hours it has data)...
    event_metrics: tuple[str, ...] = ()
    # ...and only when the run fans out (series > its shard size)
    fanout_metrics: tuple[str, ...] = ()

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024


def _sized(name: str, memory_mb: int, timeout_seconds: int, service: str) -> FunctionSize:
    """A function of the stack with the metrics iotwatch.telemetry says its service publishes."""
    return FunctionSize(
        name,
        memory_mb,
        timeout_seconds,
        published_by(service, Cadence.EVERY_RUN),
        published_by(service, Cadence.WHEN_COUNTING),
        published_by(service, Cadence.WHEN_FANNING_OUT),
    )


# What infra/ deploys. The constructs pass these as literals (infra/detection.py,
# infra/baselines.py, infra/audit.py, infra/band_widget.py); tests/infrastructure/test_infra_cost.py
# checks that the synthesized template agrees, and tests/unit/test_plan_cost.py that the
# handlers emit exactly these metric names.
EVALUATOR = _sized("evaluator", 512, 60, EVALUATOR_SERVICE)
BASELINE_BUILDER = _sized("baseline builder", 1024, 300, BASELINE_BUILDER_SERVICE)
AUDIT = _sized("audit", 256, 30, AUDIT_SERVICE)
BAND_WIDGET = FunctionSize("band widget", 256, 30)
# infra/health.py: errors, throttles and duration per function it watches (not the band
# widget: a draw that fails says so to whoever looks); the evaluator heartbeat and the
# dead-letter queue for the stack.
ALARMS_PER_FUNCTION = 3
STACK_ALARMS = 2
DURATION_ALARM_FRACTION = 0.8  # infra/health.py alarms at 80% of the timeout
# infra/dashboard.py: metrics drawn besides the per-function health rows (series now, incidents
# and notifications, GetMetricData calls, dead letters; + audit events and alerts); band
# widgets and the calls-by-action table draw no metric. CloudWatch: 500 widgets a dashboard.
DASHBOARD_FIXED_METRICS = 10
DASHBOARD_AUDIT_METRICS = 5
DASHBOARD_METRICS_PER_FUNCTION = 4
DASHBOARD_MAX_WIDGETS = 500
DASHBOARD_FIXED_WIDGETS = 14  # header, now row, audit row, health rows
# bench/fanout_scale.py measures a build shard at 14 days of 5-minute periods per series.
BENCH_POINTS_PER_SERIES = 14 * DAY // 300
# Lambda gives one full vCPU at 1,769 MB and a proportional share below it.
FULL_VCPU_MB = 1769


def cpu_share(memory_mb: int) -> float:
    """The share of a vCPU a function of `memory_mb` gets (at most 1 for these sizes)."""
    return min(1.0, memory_mb / FULL_VCPU_MB)
