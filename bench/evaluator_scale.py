"""The evaluator in one invocation at 100 and 1,000 series, through the real code path on
canned AWS (bigger plans fan out: bench/fanout_scale.py measures them shard by shard).

`run_evaluation` (iotwatch.service.evaluation) drives `CloudWatchMetricReader`,
`DynamoStateStore` and `SnsNotifier` as in the Lambda, but their boto3 clients are the
canned ones of `bench.canned_aws`: GetMetricData answers with the tick's datapoints, the
table holds one stored baseline per series (built by `build_baseline` from 14 days of
simulated history and written by `DynamoStateStore.baselines.put_baseline`), a few alert states and
one ad-hoc silence, SNS answers with a MessageId. A few series drop to a tenth of their
traffic, so the run pages.

Per N: GetMetricData calls against the API's floor ceil(queries / 500) (a share of attempts
reads its parts: `shares_1000` watches each busy rule action's failure share beside its
Success and Failure, read once for both), DynamoDB requests
(and how many were writes), SNS publishes, the median wall and CPU time of
`run_evaluation`, our CPU per series in microseconds (less the time inside the canned
clients), the peak RSS growth during the runs and, up to
TRACE_UP_TO series, the tracemalloc peak of one more run (see `bench.measure`).
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.notifier import SnsNotifier
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.deviation import AlertState
from iotwatch.domain.evaluation import Window, evaluation_window, lookback_periods
from iotwatch.domain.messages.model import MessageContext
from iotwatch.domain.ratios import metric_queries
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence
from iotwatch.plan.expand import merged_detection
from iotwatch.plan.loader import load_plan
from iotwatch.plan.runtime import RuntimePlan, runtime_plan
from iotwatch.service.context import message_context
from iotwatch.service.evaluation import run_evaluation

from bench.canned_aws import CannedAws, metric_key
from bench.measure import Measurement, mb, measured
from bench.scale_fleet import (
    DAY,
    PERIOD,
    TRAINED_TO,
    ScaleSeries,
    expected_at,
    get_metric_data_floor,
    scale_series,
    seed_baselines,
    seed_trackers,
    window_points,
)

SIZES = (100, 1_000)
# after an outage: the default plan's whole catch-up span (frequency.catch_up, 6 h) missed,
# at the most series one invocation evaluates (frequency.shard_size, 2,000)
CATCH_UP_SIZES = (2_000,)
SHARES_SIZE = 1_000
HOUR = 3600
TICK = TRAINED_TO + 14 * HOUR  # Monday 14:00 UTC: daytime traffic, baselines 14 h old
DEVIATING = 3  # series whose traffic drops to DEVIATION x normal for the whole window
DEVIATION = 0.1
REGION = "us-east-1"
ACCOUNT = "123456789012"


# tracemalloc slows the run ~4x: one traced run at 10,000 series would add ~30 s to `make bench`
TRACE_UP_TO = 1_000


def repetitions(n: int) -> int:
    return 5 if n <= 1_000 else 3


@dataclass
class EvaluatorWorld:
    n: int
    plan: RuntimePlan
    series: tuple[Series, ...]
    aws: CannedAws
    snapshot: dict[str, dict[str, dict[str, object]]]
    event_time: float
    window: Window
    topic_arns: dict[str, str]
    context: MessageContext
    deviating: list[str] = field(default_factory=list)


def build_world(
    n: int,
    plan_path: str = "monitoring-plan.yaml",
    *,
    deviating: int = DEVIATING,
    catch_up: int = 0,
    shares: bool = False,
) -> EvaluatorWorld:
    """`catch_up`: seconds of ticks no run completed before this one (the evaluator was down):
    the run evaluates them first, from one read per series."""
    plan = load_plan(plan_path, environ={})
    members = scale_series(n, merged_detection(plan, None), shares=shares)
    series = tuple(m.series for m in members)
    rplan = replace(runtime_plan(plan), series=series)
    settle = rplan.frequency.settle_seconds
    event_time = TICK + settle + 7.0
    window = evaluation_window(
        event_time, period=PERIOD, settle_seconds=settle, periods=lookback_periods(series)
    )
    aws = CannedAws()
    chosen = _choose_deviating(members, window, deviating)

    rng = random.Random(n)
    for m in members:
        s = m.series
        if m.parts is not None:
            continue  # a share's parts are the rule's Success and Failure, put below as theirs
        factor = DEVIATION if s.id in chosen else 1.0
        # a period either side of the window: the reader must keep only what is inside
        points = window_points(
            m.profile, start=window.start - catch_up - PERIOD, end=window.end + PERIOD, rng=rng, factor=factor
        )
        aws.cloudwatch.put(metric_key(s.namespace, s.metric, s.dimensions, s.statistic, s.period), points)

    seed_baselines(aws.dynamodb, members)
    seed_trackers(aws.dynamodb, members)
    seed = DynamoStateStore(aws.dynamodb, aws.table_name)
    seed.baselines.mark_baselines_built("bench")  # as the builder does after a rebuild
    seed.runs.complete_run(window.end - catch_up - PERIOD)  # the last tick a run completed
    for i, m in enumerate(members):
        if i % 100 == 50:
            # alerted once and resolved since (as `decide` leaves it): an item this tick reads, not writes
            seed.series_state.save_state(
                AlertState(series_id=m.series.id, last_evaluated=window.end - PERIOD, revision=2)
            )
    seed.silences.put_silence(
        Silence(
            id="bench-rollout",
            starts=window.end - DAY,
            ends=window.end + DAY,
            reason="bench: firmware rollout on a rule outside this plan",
            metrics=("TopicMatch",),
            dimensions={"RuleName": "not_in_this_plan"},
            created_by="bench",
            created_at=window.end - DAY,
        )
    )
    topic_arns = {t: f"arn:aws:sns:{REGION}:{ACCOUNT}:iotwatch-{rplan.name}-{t}" for t in rplan.topics}
    world = EvaluatorWorld(
        n=n,
        plan=rplan,
        series=series,
        aws=aws,
        snapshot=aws.dynamodb.snapshot(),
        event_time=event_time,
        window=window,
        topic_arns=topic_arns,
        context=message_context(rplan, region=REGION, dashboard_name=f"IotWatch-{rplan.name}"),
        deviating=sorted(chosen),
    )
    aws.meter.reset()
    return world


def _choose_deviating(members: Sequence[ScaleSeries], window: Window, count: int) -> set[str]:
    """`count` busy series spread over the plan (a drop to a tenth of them is unmistakable)."""
    busy = [m.series.id for m in members if m.parts is None and expected_at(m.profile, window.start) >= 500]
    if count <= 0 or not busy:
        return set()
    step = max(1, len(busy) // count)
    return set(busy[::step][:count])


@dataclass(frozen=True)
class RunResult:
    measurement: Measurement
    canned_seconds: float  # CPU seconds inside the canned clients
    get_metric_data_calls: int
    dynamodb_requests: int
    dynamodb_writes: int
    sns_publishes: int
    firing: int

    @property
    def own_cpu_seconds(self) -> float:
        return self.measurement.cpu_seconds - self.canned_seconds


def run_once(
    world: EvaluatorWorld, *, trace_memory: bool = False, store: DynamoStateStore | None = None
) -> RunResult:
    """One run in a cold container, or in the warm one whose `store` (and its baseline cache) is given."""
    aws = world.aws
    aws.dynamodb.restore(world.snapshot)
    aws.sns.sent.clear()
    reader = CloudWatchMetricReader(aws.cloudwatch)
    store = store or DynamoStateStore(aws.dynamodb, aws.table_name, cache_baselines=True)
    requests_before = store.requests
    notifier = SnsNotifier(aws.sns, world.topic_arns)
    aws.meter.reset()
    report, measurement = measured(
        lambda: run_evaluation(
            event_time=world.event_time,
            plan=world.plan,
            series=world.series,
            reader=reader,
            store=store,
            notifier=notifier,
            context=world.context,
        ),
        trace_memory=trace_memory,
    )
    calls = aws.meter.calls
    dynamodb = aws.meter.count("dynamodb.")
    writes = calls["dynamodb.PutItem"] + calls["dynamodb.DeleteItem"] + calls["dynamodb.BatchWriteItem"]
    # the adapters' own counters and the clients' must agree, or a figure is wrong
    assert reader.calls == calls["cloudwatch.GetMetricData"], (reader.calls, dict(calls))
    assert store.requests - requests_before == dynamodb, (store.requests, dict(calls))
    assert notifier.published == calls["sns.Publish"] == len(report.sent), (
        notifier.published,
        len(report.sent),
    )
    assert not report.failed_topics and not report.duplicate_run and report.learning == 0, (
        report.as_log_fields()
    )
    return RunResult(
        measurement=measurement,
        canned_seconds=aws.meter.cpu_seconds,
        get_metric_data_calls=reader.calls,
        dynamodb_requests=dynamodb,
        dynamodb_writes=writes,
        sns_publishes=notifier.published,
        firing=report.firing,
    )


def measure_size(world: EvaluatorWorld, runs: int, *, trace_memory: bool = True) -> dict[str, object]:
    results = [run_once(world) for _ in range(runs)]
    counts = {
        (r.get_metric_data_calls, r.dynamodb_requests, r.dynamodb_writes, r.sns_publishes) for r in results
    }
    assert len(counts) == 1, f"runs disagree on requests: {counts}"  # every run starts from the same table
    first = results[0]
    n = world.n
    lookback = (world.window.end - world.window.start) // PERIOD
    queries = len(metric_queries(world.series))
    floor = get_metric_data_floor(queries, datapoints_per_series=lookback)
    rss = [r.measurement.rss_peak_bytes for r in results if r.measurement.rss_peak_bytes is not None]
    figures: dict[str, object] = {
        "series": n,
        "shares": sum(1 for s in world.series if s.ratio is not None),
        "metric_queries": queries,
        "runs": runs,
        "get_metric_data_calls": first.get_metric_data_calls,
        "get_metric_data_floor": floor,
        "get_metric_data_at_floor": first.get_metric_data_calls == floor,
        "dynamodb_requests": first.dynamodb_requests,
        "dynamodb_writes": first.dynamodb_writes,
        "sns_publishes": first.sns_publishes,
        "firing": first.firing,
        "run_ms": round(statistics.median(r.measurement.wall_seconds for r in results) * 1000, 1),
        "cpu_ms": round(statistics.median(r.measurement.cpu_seconds for r in results) * 1000, 1),
        "canned_aws_cpu_ms": round(statistics.median(r.canned_seconds for r in results) * 1000, 1),
        "own_us_per_series": round(statistics.median(r.own_cpu_seconds for r in results) / n * 1e6, 1),
        "peak_rss_mb": mb(max(rss)) if rss else None,
    }
    if trace_memory:
        figures["peak_mb"] = mb(run_once(world, trace_memory=True).measurement.traced_peak_bytes, 2)
    # a warm container: baselines decoded by its previous run and unchanged since
    warm_store = DynamoStateStore(world.aws.dynamodb, world.aws.table_name, cache_baselines=True)
    run_once(world, store=warm_store)
    warm = [run_once(world, store=warm_store) for _ in range(runs)]
    figures["warm_dynamodb_requests"] = warm[0].dynamodb_requests
    figures["warm_run_ms"] = round(statistics.median(r.measurement.wall_seconds for r in warm) * 1000, 1)
    figures["warm_own_us_per_series"] = round(statistics.median(r.own_cpu_seconds for r in warm) / n * 1e6, 1)
    return figures


def measure(
    plan_path: str = "monitoring-plan.yaml",
    sizes: Sequence[int] = SIZES,
    runs: int | None = None,
    *,
    trace_up_to: int = TRACE_UP_TO,
) -> dict[str, object]:
    figures: dict[str, object] = {}
    for n in sizes:
        world = build_world(n, plan_path)
        size_figures = measure_size(world, runs or repetitions(n), trace_memory=n <= trace_up_to)
        figures.update({f"{n}.{name}": value for name, value in size_figures.items()})
        del world
    world = build_world(SHARES_SIZE, plan_path, shares=True)
    size_figures = measure_size(world, runs or repetitions(SHARES_SIZE), trace_memory=False)
    figures.update({f"shares_{SHARES_SIZE}.{name}": value for name, value in size_figures.items()})
    return figures


def measure_catch_up(
    plan_path: str = "monitoring-plan.yaml", sizes: Sequence[int] = CATCH_UP_SIZES, runs: int = 3
) -> dict[str, object]:
    """A run that recovers after its plan's whole catch-up span was missed: 72 windows at 6 h
    of 5-minute periods, then its own. GetMetricData calls stay one read per series."""
    figures: dict[str, object] = {}
    for n in sizes:
        plan = load_plan(plan_path, environ={})
        world = build_world(n, plan_path, catch_up=plan.frequency.catch_up)
        results = [run_once(world) for _ in range(runs)]
        first = results[0]
        windows = plan.frequency.catch_up // PERIOD + 1
        lookback = (world.window.end - world.window.start) // PERIOD + windows - 1
        own = statistics.median(r.own_cpu_seconds for r in results)
        figures |= {
            f"catch_up.{n}.windows": windows,
            f"catch_up.{n}.get_metric_data_calls": first.get_metric_data_calls,
            f"catch_up.{n}.get_metric_data_floor": get_metric_data_floor(n, datapoints_per_series=lookback),
            f"catch_up.{n}.dynamodb_requests": first.dynamodb_requests,
            f"catch_up.{n}.cpu_ms": round(
                statistics.median(r.measurement.cpu_seconds for r in results) * 1000
            ),
            f"catch_up.{n}.own_us_per_series_window": round(own / n / windows * 1e6, 1),
            f"catch_up.{n}.peak_rss_mb": mb(max(r.measurement.rss_peak_bytes or 0 for r in results)),
        }
        del world
    return figures


def profile(n: int, plan_path: str = "monitoring-plan.yaml", top: int = 25) -> None:
    """cProfile of one run at N series, by cumulative time, our code first."""
    import cProfile
    import pstats

    world = build_world(n, plan_path)
    run_once(world)  # warm
    profiler = cProfile.Profile()
    profiler.enable()
    run_once(world)
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats("iotwatch", top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plan", default="monitoring-plan.yaml")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument(
        "--trace-up-to", type=int, default=TRACE_UP_TO, help="tracemalloc peak up to N series"
    )
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile one run at N series instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.plan)
        return
    for name, value in measure(args.plan, args.sizes, args.runs, trace_up_to=args.trace_up_to).items():
        print(f"evaluator.{name}: {value}", flush=True)


if __name__ == "__main__":
    main()
