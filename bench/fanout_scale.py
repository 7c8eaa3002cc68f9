"""The fanned-out evaluator and baseline builder at 10,000 and 100,000 series, through the real
handlers on canned AWS.

Each function runs as Lambda would run it: `handler(event, context, dependencies)` of
`iotwatch.handlers.evaluator` / `.baseline_builder`, its settings read from the environment
and a plan.json holding every series (written here, as the stack stages it), its boto3
clients the canned ones of `bench.canned_aws`, its logs and metrics captured as CloudWatch
Logs would ingest them. The scheduled invocation dispatches: it claims the tick (or starts
the build) and queues one message per shard; each shard message is then delivered as the
SQS event source would, in a container of its own (no baseline cache).

- Evaluator, 10,000 series (default shard_size 2,000): the dispatch and all 5 shards, the
  last of which pages for the tick (3 series drop to a tenth of their traffic).
- Evaluator, 100,000 series: the dispatch at full size, one worker shard and the shard that
  completes the tick (the other 48 are marked done with their results stored, as if they had
  run); per-tick figures are composed: every shard but the last does what the measured
  worker did (the same 2,000-series size, the same kind of series).
- Builder, both sizes (build_shard_size 1,000 at 14 days of 5-minute history): the dispatch
  at full size and one shard at full size, the one that completes the build (the others
  marked done); a build is `shards` such shards.

Per invocation: GetMetricData calls, DynamoDB and SQS requests, our CPU (less the canned
clients'), wall time, the RSS growth during the call, the bytes it logs, and an estimated
Lambda duration at the function's memory (CPU / its vCPU share + each AWS call at an assumed
latency), checked against the configured memory and timeout together with the RSS of a
container at rest (a fresh interpreter that imported the handler, made its clients and
loaded the plan).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.notifier import SnsNotifier
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.adapters.workqueue import SqsWorkQueue
from iotwatch.domain.evaluation import evaluation_window, lookback_periods
from iotwatch.domain.metric_calls import MAX_QUERIES_PER_CALL
from iotwatch.domain.series import Series
from iotwatch.domain.sharding import shard_key
from iotwatch.domain.slow_change import COMPARE_SECONDS
from iotwatch.plan.expand import merged_detection
from iotwatch.plan.loader import load_plan
from iotwatch.plan.runtime import RuntimePlan, runtime_plan
from iotwatch.service.baselines import BuildTask
from iotwatch.service.fanout import SHARD_RESULT_VERSION, ShardTask

from bench.canned_aws import CannedAws, metric_key
from bench.lambda_function import (
    ACCOUNT,
    HANDLERS,
    QUEUE_URL,
    REGION,
    Invocation,
    container_figures,
    container_rss_mb,
    environment,
    handler_module,
    invocation_figures,
    invoke,
    load_plan_in,
    scheduled_event,
    write_plan,
)
from bench.scale_fleet import (
    HISTORY_DAYS,
    PERIOD,
    TRAINED_TO,
    ScaleSeries,
    expected_at,
    get_metric_data_floor,
    profile_history,
    scale_series,
    seed_baselines,
    seed_trackers,
    window_points,
)

SIZES = (10_000, 100_000)
HOUR = 3600
TICK = TRAINED_TO + 14 * HOUR  # Monday 14:00 UTC: daytime traffic
BUILD_AT = TRAINED_TO + 120  # the daily refresh, just after midnight
DEVIATING = 3


# --- a plan of n series ---------------------------------------------------------------------------


@dataclass
class Fleet:
    n: int
    members: list[ScaleSeries]
    series: tuple[Series, ...]
    plan: RuntimePlan
    plan_file: Path
    topics: dict[str, str]

    def range_sizes(self, ranges: Sequence[Any]) -> list[int]:
        """Series per shard range, without walking every series once per range."""
        keys = sorted(shard_key(s.id) for s in self.series)

        def position(bound: Any) -> int:
            return len(keys) if bound is None else bisect_left(keys, bound)

        return [position(r.until) - (0 if r.first is None else position(r.first)) for r in ranges]


def fleet_of(
    n: int,
    plan_path: str,
    directory: Path,
    *,
    shard_size: int | None = None,
    build_shard_size: int | None = None,
) -> Fleet:
    """`n` series of a large plan (the plan's shard sizes unless given)."""
    plan = load_plan(plan_path, environ={})
    members = scale_series(n, merged_detection(plan, None))
    series = tuple(m.series for m in members)
    compiled = runtime_plan(plan)
    frequency = replace(
        compiled.frequency,
        shard_size=shard_size or compiled.frequency.shard_size,
        build_shard_size=build_shard_size or compiled.frequency.build_shard_size,
    )
    rplan = replace(compiled, series=series, frequency=frequency)
    topics = {t: f"arn:aws:sns:{REGION}:{ACCOUNT}:iotwatch-{rplan.name}-{t}" for t in rplan.topics}
    return Fleet(n, members, series, rplan, write_plan(rplan, directory), topics)


def _dispatch(
    module: ModuleType,
    environ: Mapping[str, str],
    event: Any,
    deps: Any,
    aws: CannedAws,
    fleet: Fleet,
    task: Any,
) -> tuple[Invocation, list[tuple[dict[str, Any], Any]], list[int]]:
    """The scheduled invocation that fans a run out, the shard messages it queued (as `task`s)
    and each shard's size: together they hold every series of the fleet once."""
    dispatch = invoke(module, environ, event, deps, aws)
    tasks = [(r, task.from_body(r["body"])) for r in _records(aws)]
    sizes = fleet.range_sizes([t.range for _, t in tasks])
    assert sum(sizes) == fleet.n and dispatch.result["shards"] == len(tasks), (sizes, dispatch.result)
    return dispatch, tasks, sizes


def _records(aws: CannedAws) -> list[dict[str, Any]]:
    return aws.sqs.records()


# --- evaluator ------------------------------------------------------------------------------------


def measure_evaluator(fleet: Fleet, *, deviating: int = DEVIATING, full: bool) -> dict[str, object]:
    """The dispatch and the shards of one tick (all of them when `full`, else a worker and the
    last), as figures per invocation and per tick."""
    module_name, service, size = HANDLERS["evaluator"]
    aws = CannedAws()
    environ = environment(fleet.plan_file, service, aws.table_name, fleet.topics)
    module = handler_module(module_name, environ)
    load = load_plan_in(module, environ)
    settle = fleet.plan.frequency.settle_seconds
    event_time = TICK + settle + 7.0
    window = evaluation_window(
        event_time, period=PERIOD, settle_seconds=settle, periods=lookback_periods(fleet.series)
    )

    def deps() -> Any:  # a container of its own: no baseline cache carried over
        return module.EvaluatorDependencies(
            reader=CloudWatchMetricReader(aws.cloudwatch),
            store=DynamoStateStore(aws.dynamodb, aws.table_name, cache_baselines=True),
            notifier=SnsNotifier(aws.sns, fleet.topics),
            queue=SqsWorkQueue(aws.sqs, QUEUE_URL),
        )

    dispatch, tasks, sizes = _dispatch(
        module, environ, scheduled_event(event_time), deps(), aws, fleet, ShardTask
    )
    shards = len(tasks)
    by_id = {m.series.id: m for m in fleet.members}
    measured_shards = list(range(shards)) if full else [0, shards - 1]
    chosen: set[str] = set()
    for k in measured_shards:
        chosen.update(s.id for s in tasks[k][1].members(fleet.series))
    _seed_tick(aws, [by_id[sid] for sid in sorted(chosen)], window, deviating)
    store = DynamoStateStore(aws.dynamodb, aws.table_name)
    if not full:  # the shards not measured: done, their (quiet) results stored
        for k in range(1, shards - 1):
            quiet = {"version": SHARD_RESULT_VERSION, "news": [], "methods": {}, "states": []}
            store.shards.put_shard_result(window.end, k, json.dumps(quiet))
            store.shards.finish_shard(window.end, k)
    runs: dict[int, Invocation] = {}
    for k in measured_shards:
        record, _ = tasks[k]
        runs[k] = invoke(module, environ, {"Records": [record]}, deps(), aws)
        assert runs[k].result == {"batchItemFailures": []}, runs[k].result
    last = runs[shards - 1]
    published = last.count("sns.Publish")
    assert published > 0, "the completing shard pages for the tick"
    rest = container_rss_mb(module_name, environ, ("cloudwatch", "dynamodb", "sns", "sqs"))

    figures: dict[str, object] = {
        "series": fleet.n,
        "shards": shards,
        "series_per_shard": max(sizes),
        **container_figures(rest, load, size),
        "deviating": deviating,
        "sns_publishes": published,
    }
    figures |= invocation_figures("dispatch", dispatch, size, rest)
    figures |= invocation_figures("shard", runs[0], size, rest)
    figures |= invocation_figures("last_shard", last, size, rest)
    # the tick: each shard reads its own series at whole calls of 500
    per_shard_calls = [math.ceil(k / MAX_QUERIES_PER_CALL) for k in sizes]
    for k, run in runs.items():
        assert run.count("cloudwatch.GetMetricData") == per_shard_calls[k], (k, run.calls)
    floor = get_metric_data_floor(fleet.n, datapoints_per_series=lookback_periods(fleet.series))
    worker = runs[0]
    rest_of = [runs.get(k, worker) for k in range(shards)]  # composed: unmeasured shards as the worker
    figures |= {
        "tick.get_metric_data_calls": sum(per_shard_calls),
        "tick.get_metric_data_floor": floor,
        "tick.get_metric_data_at_floor": sum(per_shard_calls) == floor,
        "tick.dynamodb_requests": dispatch.count("dynamodb.") + sum(r.count("dynamodb.") for r in rest_of),
        "tick.cpu_ms": round((dispatch.own_cpu_seconds + sum(r.own_cpu_seconds for r in rest_of)) * 1000),
        "tick.log_bytes": dispatch.log_bytes + sum(r.log_bytes for r in rest_of),
        "tick.measured_shards": len(runs),
    }
    return figures


def _seed_tick(aws: CannedAws, members: Sequence[ScaleSeries], window: Any, deviating: int) -> None:
    """The tick's datapoints, yesterday's baselines and the trackers of `members`; `deviating`
    busy ones drop to a tenth of their traffic."""
    busy = [m.series.id for m in members if expected_at(m.profile, window.start) >= 500]
    chosen = set(busy[:: max(1, len(busy) // max(deviating, 1))][:deviating]) if deviating else set()
    rng = random.Random(len(members))
    for m in members:
        s = m.series
        factor = 0.1 if s.id in chosen else 1.0
        points = window_points(
            m.profile, start=window.start - PERIOD, end=window.end + PERIOD, rng=rng, factor=factor
        )
        aws.cloudwatch.put(metric_key(s.namespace, s.metric, s.dimensions, s.statistic, s.period), points)
    seed_baselines(aws.dynamodb, members)
    seed_trackers(aws.dynamodb, members)
    DynamoStateStore(aws.dynamodb, aws.table_name).baselines.mark_baselines_built("bench")


# --- builder --------------------------------------------------------------------------------------


def measure_builder(fleet: Fleet) -> dict[str, object]:
    """The dispatch of a build and the shard that completes it, both at full size."""
    module_name, service, size = HANDLERS["builder"]
    aws = CannedAws()
    environ = environment(fleet.plan_file, service, aws.table_name, fleet.topics)
    module = handler_module(module_name, environ)
    load = load_plan_in(module, environ)

    def deps() -> Any:
        return module.BuilderDependencies(
            reader=CloudWatchMetricReader(aws.cloudwatch),
            store=DynamoStateStore(aws.dynamodb, aws.table_name),
            queue=SqsWorkQueue(aws.sqs, QUEUE_URL),
        )

    dispatch, tasks, sizes = _dispatch(
        module, environ, scheduled_event(BUILD_AT), deps(), aws, fleet, BuildTask
    )
    shards = len(tasks)
    record, task = tasks[-1]
    members = [m for m in fleet.members if task.range.holds(shard_key(m.series.id))]
    shared: dict[Any, Any] = {}
    for m in members:
        s = m.series
        key = metric_key(s.namespace, s.metric, s.dimensions, s.statistic, s.period)
        if m.profile in shared:
            aws.cloudwatch.share(key, shared[m.profile])
        else:
            shared[m.profile] = key
            aws.cloudwatch.put(key, profile_history(m.profile))
    seed_baselines(aws.dynamodb, members)  # yesterday's: the build bumps their versions
    store = DynamoStateStore(aws.dynamodb, aws.table_name)
    for k in range(shards - 1):
        store.shards.finish_build_shard(task.generation, k)
    shard = invoke(module, environ, {"Records": [record]}, deps(), aws)
    assert shard.result == {"batchItemFailures": []}, shard.result
    assert store.baselines.baseline_generation() == task.generation, "the completing shard marks the build"
    rest = container_rss_mb(module_name, environ, ("cloudwatch", "dynamodb", "sqs"))
    # the history and the week before it, which a build reads for slow change
    points = (HISTORY_DAYS * 86400 + COMPARE_SECONDS) // PERIOD
    per_shard_floor = [get_metric_data_floor(k, datapoints_per_series=points) for k in sizes]
    assert shard.count("cloudwatch.GetMetricData") == per_shard_floor[-1], shard.calls
    figures: dict[str, object] = {
        "series": fleet.n,
        "shards": shards,
        "series_per_shard": max(sizes),
        "history_days": HISTORY_DAYS,
        **container_figures(rest, load, size),
    }
    figures |= invocation_figures("dispatch", dispatch, size, rest)
    figures |= invocation_figures("shard", shard, size, rest)
    floor = get_metric_data_floor(fleet.n, datapoints_per_series=points)
    figures |= {
        "build.get_metric_data_calls": sum(per_shard_floor),
        "build.get_metric_data_floor": floor,
        "build.get_metric_data_at_floor": sum(per_shard_floor) == floor,
        "build.dynamodb_requests": dispatch.count("dynamodb.") + shards * shard.count("dynamodb."),
        "build.cpu_s": round(dispatch.own_cpu_seconds + shards * shard.own_cpu_seconds, 1),
    }
    return figures


# --- both -------------------------------------------------------------------------------------------


MORE_DEVIATING = 30  # a second 10,000-series tick: what each series that changes adds to the log


def measure(plan_path: str = "monitoring-plan.yaml", sizes: Sequence[int] = SIZES) -> dict[str, object]:
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as directory:
        for n in sizes:
            fleet = fleet_of(n, plan_path, Path(directory))
            full = n <= 10_000
            evaluator = measure_evaluator(fleet, full=full)
            figures |= {f"evaluator.{n}.{name}": value for name, value in evaluator.items()}
            if full:
                more = measure_evaluator(fleet, full=True, deviating=MORE_DEVIATING)
                added = int(more["tick.log_bytes"]) - int(evaluator["tick.log_bytes"])  # type: ignore[call-overload]
                figures[f"evaluator.{n}.log_bytes_per_changed_series"] = round(
                    added / (MORE_DEVIATING - DEVIATING)
                )
            figures |= {f"builder.{n}.{name}": value for name, value in measure_builder(fleet).items()}
            del fleet
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plan", default="monitoring-plan.yaml")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    for name, value in measure(args.plan, args.sizes).items():
        print(f"fanout.{name}: {value}", flush=True)


if __name__ == "__main__":
    main()
