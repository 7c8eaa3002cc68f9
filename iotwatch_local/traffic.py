"""A simulated IoT fleet: AWS/IoT counters with daily and weekly rhythm, Poisson noise and
quiet nights, plus injectable incidents. Seeded, so every run produces the same numbers.

Each metric is driven by how many devices are online in a period; an incident takes a
share of the fleet offline, so Connect, Ping, PublishIn and the rules engine fall
together the way they do in a real broker or network outage. `put_traffic` writes what
`generate` yields into CloudWatch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iotwatch.domain.local_time import local_seconds
from iotwatch.domain.ratios import metric_queries, query_key
from iotwatch.domain.series import Series
from iotwatch.domain.where import is_device_signal

DAY = 86400

# Per online device, per 5-minute period.
RATES_PER_DEVICE = {
    "Connect.Success": 0.015,
    "Ping.Success": 0.9,
    "PublishIn.Success": 2.5,
    "PublishOut.Success": 0.8,
    "Subscribe.Success": 0.03,
    "GetThingShadow.Accepted": 0.04,
    "UpdateThingShadow.Accepted": 0.25,
    "DeleteThingShadow.Accepted": 0.00004,
    "RulesExecuted": 2.0,
    # what fails, as a share of the operation's attempts: 0.2 % of connects refused at
    # authentication, a few client errors and throttles, publishes refused rarely
    "Connect.AuthError": 0.015 * 0.002,
    "Connect.ClientError": 0.015 * 0.003,
    "Connect.ClientIDThrottle": 0.015 * 0.0005,
    "Connect.ServerError": 0.015 * 0.0001,
    "Connect.Throttle": 0.015 * 0.0005,
    "PublishIn.AuthError": 2.5 * 0.0001,
    "PublishIn.ClientError": 2.5 * 0.001,
    "PublishIn.ServerError": 2.5 * 0.00005,
    "PublishIn.Throttle": 2.5 * 0.0002,
}


@dataclass(frozen=True)
class Incident:
    start: int
    end: int
    metrics: tuple[str, ...]
    factor: float  # traffic multiplier during the incident, e.g. 0.2 for an 80 % drop
    description: str = "80% of devices lost connectivity"
    kind: str = "outage"
    ramp_seconds: int = 0  # >0: the factor is reached gradually (slow degradation)
    reconnect_burst: bool = True  # Connect.Success spikes for one period when it ends

    def affects(self, metric: str) -> bool:
        """The metrics it names; for devices lost (a factor under 1), also the failures of the
        operations it names: an offline device fails no connect or publish either."""
        if metric in self.metrics:
            return True
        operation = metric.rpartition(".")[0]
        return (
            self.factor < 1.0
            and bool(operation)
            and metric in RATES_PER_DEVICE
            and any(m.startswith(operation + ".") for m in self.metrics)
        )

    def multiplier(self, metric: str, ts: int) -> float:
        if not (self.start <= ts < self.end) or not self.affects(metric):
            return 1.0
        if self.ramp_seconds > 0:
            progress = min(1.0, (ts - self.start) / self.ramp_seconds)
            return 1.0 + (self.factor - 1.0) * progress
        return self.factor

    @property
    def magnitude(self) -> float:
        return abs(1.0 - self.factor)


@dataclass(frozen=True)
class FleetChange:
    """A planned change of fleet size (a rollout), ramped over `ramp_seconds`: not an incident."""

    start: int
    ramp_seconds: int
    factor: float

    def multiplier(self, ts: int) -> float:
        if ts < self.start:
            return 1.0
        progress = 1.0 if self.ramp_seconds <= 0 else min(1.0, (ts - self.start) / self.ramp_seconds)
        return 1.0 + (self.factor - 1.0) * progress


@dataclass(frozen=True)
class Fleet:
    devices: int = 4000
    seed: int = 7
    utc_offset_hours: int = 1  # the fleet's local time drives the daily rhythm
    daily_growth: float = 0.0  # e.g. 0.01: the fleet grows 1 % a day
    growth_epoch: int = 0  # when the fleet had `devices` devices
    changes: tuple[FleetChange, ...] = ()
    weekend_factor: float = 0.7
    timezone: str | None = None  # an IANA name: the rhythm follows its clock (DST too), not the offset

    def devices_at(self, ts: int) -> float:
        size = self.devices * (1.0 + self.daily_growth) ** ((ts - self.growth_epoch) / DAY)
        for change in self.changes:
            size *= change.multiplier(ts)
        return size

    def online_fraction(self, ts: int) -> float:
        """Share of devices online: high in local daytime, low at night, lower at weekends."""
        if self.timezone is not None:
            local = int(local_seconds(ts, self.timezone))
        else:
            local = ts + self.utc_offset_hours * 3600
        hour = (local % DAY) / 3600.0
        weekday = (local // DAY + 3) % 7  # 0 = Monday
        daytime = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 3.0) / 24.0)  # trough 03:00, peak 15:00
        fraction = 0.08 + 0.85 * daytime**1.5
        if weekday >= 5:
            fraction *= self.weekend_factor
        return fraction

    def expected_count(self, metric: str, ts: int) -> float:
        return self.devices_at(ts) * self.online_fraction(ts) * RATES_PER_DEVICE.get(metric, 1.0)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def generate(
    fleet: Fleet,
    series: Sequence[Series],
    *,
    start: int,
    end: int,
    period: int = 300,
    incidents: Sequence[Incident] = (),
) -> Iterator[tuple[Series, int, int]]:
    """Yields (series, period start, count) for every period with traffic. Zero counts are
    skipped: AWS IoT sends no datapoint when nothing happened. A ratio series is simulated as
    its parts (the metrics it reads), drawn from a random stream of their own, so adding a
    share to a plan leaves the traffic of its other metrics as it was."""
    metrics = list({query_key(s): s for s in series if s.ratio is None}.values())
    watched = [s for s in metrics if not is_device_signal(s.namespace)]
    # device signals (lifecycle counts, fleet metrics) from a stream of their own, like the
    # shares' parts: a plan that adds a devices section keeps its counters' traffic as it was
    devices = [s for s in metrics if is_device_signal(s.namespace)]
    own = {query_key(s) for s in metrics}
    parts_only = [q for q in metric_queries(series) if query_key(q) not in own]
    rng = random.Random(fleet.seed)
    parts_rng = random.Random(f"{fleet.seed}-parts")
    devices_rng = random.Random(f"{fleet.seed}-devices")
    for ts in range(start, end, period):
        yield from _period(fleet, watched, ts, period, incidents, rng)
        yield from _period(fleet, parts_only, ts, period, incidents, parts_rng)
        yield from _period(fleet, devices, ts, period, incidents, devices_rng)


def _period(
    fleet: Fleet,
    series: Sequence[Series],
    ts: int,
    period: int,
    incidents: Sequence[Incident],
    rng: random.Random,
) -> Iterator[tuple[Series, int, int]]:
    for s in series:
        lam = fleet.expected_count(s.metric, ts)
        for incident in incidents:
            lam *= incident.multiplier(s.metric, ts)
            if (
                incident.reconnect_burst
                and incident.factor < 1.0
                and s.metric == "Connect.Success"
                and s.metric in incident.metrics
                and incident.end <= ts < incident.end + period
            ):
                lam *= 4.0  # the reconnect burst when the devices come back
        count = poisson(rng, lam)
        if count > 0:
            yield s, ts, count


def put_traffic(cloudwatch: Any, points: Iterator[tuple[Any, int, int]]) -> int:
    """Writes (series, ts, count) datapoints with as few PutMetricData calls as allowed."""
    batch: list[dict[str, Any]] = []
    namespace: str | None = None
    written = 0

    def flush() -> None:
        if batch:
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=list(batch))
            batch.clear()

    for series, ts, count in points:
        if namespace not in (None, series.namespace) or len(batch) >= 1000:
            flush()
        namespace = series.namespace
        batch.append(
            {
                "MetricName": series.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in series.dimensions],
                "Timestamp": datetime.fromtimestamp(ts, UTC),
                "Value": float(count),
                "Unit": "Count",
            }
        )
        written += 1
    flush()
    return written
