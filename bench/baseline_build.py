"""The baseline builder for 1,000 series from 14 days of 5-minute history, on canned AWS.

`rebuild_baselines` (iotwatch.service.baselines) reads the history through
`CloudWatchMetricReader` and writes through `DynamoStateStore`, as the Lambda does; their
clients are the canned ones of `bench.canned_aws`. GetMetricData answers with simulated
traffic (`iotwatch.local.traffic`, botocore-shaped timestamps), and the table already holds
yesterday's baselines (the daily refresh bumps their version).

Reported: the median wall and CPU time of the rebuild and our CPU per series (less the
time inside the canned clients), GetMetricData calls against the API's floor (100,800
datapoints a call: 25 series of 4,032 periods), DynamoDB reads and writes, and the peak
RSS growth during the run (`bench.measure`; tracemalloc's peak with --tracemalloc, which
makes a run ~15x slower). The canned responses exist before the measurement starts, so the
peak is ours: what the reader keeps and what the builds allocate.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.store import BASELINE_SK, DynamoStateStore, series_pk
from iotwatch.domain.series import Series
from iotwatch.plan.loader import load_plan, merged_detection
from iotwatch.plan.runtime import runtime_plan
from iotwatch.service.baselines import rebuild_baselines

from bench.canned_aws import CannedAws, metric_key
from bench.measure import Measurement, mb, measured
from bench.scale_fleet import (
    DAY,
    HISTORY_DAYS,
    PERIOD,
    TRAINED_TO,
    Profile,
    get_metric_data_floor,
    profile_history,
    scale_series,
    seed_baselines,
)

SERIES = 1_000
RUNS = 3
NOW = TRAINED_TO + 120  # the daily refresh, just after midnight UTC


@dataclass
class BuilderWorld:
    series: tuple[Series, ...]
    aws: CannedAws
    snapshot: dict[str, dict[str, dict[str, object]]]
    excluded: tuple[tuple[int, int], ...]


def build_world(n: int = SERIES, plan_path: str = "monitoring-plan.yaml") -> BuilderWorld:
    plan = load_plan(plan_path, environ={})
    members = scale_series(n, merged_detection(plan, None))
    aws = CannedAws()
    first_of: dict[Profile, Series] = {}
    for m in members:
        s = m.series
        key = metric_key(s.namespace, s.metric, s.dimensions, s.statistic, s.period)
        like = first_of.get(m.profile)
        if like is None:
            first_of[m.profile] = s
            aws.cloudwatch.put(key, profile_history(m.profile))
        else:
            # same profile: the very same datapoints (and memory), not a copy
            aws.cloudwatch.share(
                key, metric_key(like.namespace, like.metric, like.dimensions, like.statistic, like.period)
            )
    seed_baselines(aws.dynamodb, members)  # yesterday's baselines: the rebuild reads their versions
    world = BuilderWorld(
        series=tuple(m.series for m in members),
        aws=aws,
        snapshot=aws.dynamodb.snapshot(),
        excluded=runtime_plan(plan).detection.excluded_windows,
    )
    aws.meter.reset()
    return world


@dataclass(frozen=True)
class BuildResult:
    measurement: Measurement
    canned_seconds: float  # CPU seconds inside the canned clients
    get_metric_data_calls: int
    datapoints: int
    dynamodb_reads: int
    dynamodb_writes: int

    @property
    def own_cpu_seconds(self) -> float:
        return self.measurement.cpu_seconds - self.canned_seconds


def run_once(world: BuilderWorld, *, trace_memory: bool = False) -> BuildResult:
    aws = world.aws
    aws.dynamodb.restore(world.snapshot)
    aws.cloudwatch.datapoints_returned = 0
    reader = CloudWatchMetricReader(aws.cloudwatch)
    store = DynamoStateStore(aws.dynamodb, aws.table_name)
    aws.meter.reset()
    report, measurement = measured(
        lambda: rebuild_baselines(
            now=NOW,
            series=world.series,
            history_days=HISTORY_DAYS,
            reader=reader,
            store=store,
            excluded=world.excluded,
        ),
        trace_memory=trace_memory,
    )
    calls = aws.meter.calls
    n = len(world.series)
    assert report.built == n and not report.empty, (report.built, report.empty[:3])
    assert reader.calls == calls["cloudwatch.GetMetricData"]
    assert store.requests == aws.meter.count("dynamodb."), (store.requests, dict(calls))
    sample = world.series[n // 2]
    stored = aws.dynamodb.partitions[series_pk(sample.id)][BASELINE_SK]
    assert stored["version"]["N"] == "13", stored["version"]  # yesterday's version 12, bumped
    return BuildResult(
        measurement=measurement,
        canned_seconds=aws.meter.cpu_seconds,
        get_metric_data_calls=reader.calls,
        datapoints=aws.cloudwatch.datapoints_returned,
        dynamodb_reads=calls["dynamodb.BatchGetItem"] + calls["dynamodb.GetItem"] + calls["dynamodb.Query"],
        dynamodb_writes=calls["dynamodb.PutItem"] + calls["dynamodb.BatchWriteItem"],
    )


def measure(
    plan_path: str = "monitoring-plan.yaml",
    n: int = SERIES,
    runs: int = RUNS,
    *,
    trace_memory: bool = False,
) -> dict[str, object]:
    world = build_world(n, plan_path)
    results = [run_once(world) for _ in range(runs)]
    first = results[0]
    periods = HISTORY_DAYS * DAY // PERIOD
    floor = get_metric_data_floor(n, datapoints_per_series=periods)
    rss = [r.measurement.rss_peak_bytes for r in results if r.measurement.rss_peak_bytes is not None]
    figures: dict[str, object] = {
        "series": n,
        "history_days": HISTORY_DAYS,
        "runs": runs,
        "datapoints_read": first.datapoints,
        "get_metric_data_calls": first.get_metric_data_calls,
        "get_metric_data_floor": floor,
        "get_metric_data_at_floor": first.get_metric_data_calls == floor,
        "dynamodb_reads": first.dynamodb_reads,
        "dynamodb_writes": first.dynamodb_writes,
        "median_seconds": round(statistics.median(r.measurement.wall_seconds for r in results), 3),
        "cpu_seconds": round(statistics.median(r.measurement.cpu_seconds for r in results), 3),
        "canned_aws_cpu_ms": round(statistics.median(r.canned_seconds for r in results) * 1000, 1),
        "own_ms_per_series": round(statistics.median(r.own_cpu_seconds for r in results) / n * 1000, 3),
        "peak_rss_mb": mb(max(rss)) if rss else None,
    }
    if trace_memory:  # ~15x slower: the reader and the builds allocate millions of small objects
        figures["peak_mb"] = mb(run_once(world, trace_memory=True).measurement.traced_peak_bytes)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plan", default="monitoring-plan.yaml")
    parser.add_argument("--series", type=int, default=SERIES)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--tracemalloc", action="store_true", help="also the tracemalloc peak (slow)")
    args = parser.parse_args()
    for name, value in measure(args.plan, args.series, args.runs, trace_memory=args.tracemalloc).items():
        print(f"baseline_build.{name}: {value}", flush=True)


if __name__ == "__main__":
    main()
