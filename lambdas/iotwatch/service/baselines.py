"""(Re)building every series' baseline from the history CloudWatch holds.

A plan with more series than `frequency.build_shard_size` builds in parallel: the run that
the schedule (or a deploy) starts lists the series, writes BUILD#<generation> with the shard
count and queues one message per shard (a range of series keys, `domain.sharding`); the same
function builds each shard from the work queue (a failed shard is retried by SQS, and parked
in the dead-letter queue after 3 receives); the shard that completes the set writes the new
generation, so warm evaluators re-read every baseline once, after all of them are new.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.metric_calls import queries_per_call
from iotwatch.domain.series import Series
from iotwatch.domain.sharding import ShardRange, query_weights, shard_ranges, weighted
from iotwatch.domain.slow_change import COMPARE_SECONDS, reads_extra_week, wants_extra_week
from iotwatch.service.ports import (
    BaselineWriter,
    BuildShardStore,
    GenerationMarker,
    MarkedIncidents,
    MetricReader,
    WorkQueue,
)

DAY = 86400
BUILD_MESSAGE_VERSION = 1
BUILD_KIND = "build"
BUILD_TTL_SECONDS = 2 * DAY


@dataclass
class BaselineReport:
    trained_from: int
    trained_to: int
    built: int = 0
    empty: list[str] = field(default_factory=list)


def rebuild_baselines(
    *,
    now: float,
    series: Sequence[Series],
    history_days: int,
    reader: MetricReader,
    store: BaselineWriter,
    excluded: Sequence[tuple[int, int]] = (),
    generation: str | None = None,
) -> BaselineReport:
    """Trains on whole periods in [now - history_days, now) and stores one baseline per series;
    then marks a new baseline generation (`generation`, or a fresh one). A shard of a fanned-out
    build passes generation="" and leaves the marking to the shard that completes the build."""
    by_period: dict[int, list[Series]] = {}
    for s in series:
        by_period.setdefault(s.period, []).append(s)
    report = BaselineReport(trained_from=0, trained_to=0)
    previous = store.get_baseline_versions([s.id for s in series])
    for period, group in by_period.items():
        end = int(now // period) * period
        start = end - history_days * DAY
        report.trained_from, report.trained_to = start, end
        # a chunk's history is read, learnt from and dropped before the next is read, so memory
        # follows the chunk (~36 MB), not the plan; whole GetMetricData calls per chunk keep the
        # number of calls at its floor
        read = history_days * DAY + (COMPARE_SECONDS if reads_extra_week(group, history_days) else 0)
        for chunk in weighted(group, history_chunk(read // period)):
            _build_chunk(
                chunk,
                reader=reader,
                store=store,
                previous=previous,
                start=start,
                end=end,
                period=period,
                now=now,
                excluded=excluded,
                report=report,
            )
    if isinstance(store, GenerationMarker) and generation != "":
        store.mark_baselines_built(generation or new_generation(now))
    return report


def new_generation(now: float) -> str:
    return f"{int(now)}-{uuid.uuid4().hex[:8]}"


# --- fanned-out builds ----------------------------------------------------------------------------


class BuildMessageError(ValueError):
    pass


@dataclass(frozen=True)
class BuildTask:
    """One SQS message of a fanned-out build: which build, when, and which range of series."""

    generation: str
    now: float
    shard: int
    shards: int
    range: ShardRange

    def body(self) -> str:
        return json.dumps(
            {
                "version": BUILD_MESSAGE_VERSION,
                "kind": BUILD_KIND,
                "generation": self.generation,
                "now": self.now,
                "shard": self.shard,
                "shards": self.shards,
                "range": self.range.as_json(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_body(cls, body: str) -> BuildTask:
        try:
            data = json.loads(body)
            if data.get("version") != BUILD_MESSAGE_VERSION or data.get("kind") != BUILD_KIND:
                raise ValueError(f"message version {data.get('version')!r}, kind {data.get('kind')!r}")
            task = cls(
                generation=str(data["generation"]),
                now=float(data["now"]),
                shard=int(data["shard"]),
                shards=int(data["shards"]),
                range=ShardRange.from_json(data["range"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BuildMessageError(f"not an iotwatch build shard message: {exc}") from exc
        if not 0 <= task.shard < task.shards or not task.generation:
            raise BuildMessageError(f"shard {task.shard} outside 0..{task.shards - 1}")
        return task


def training_exclusions(
    planned: Sequence[tuple[int, int]], store: object, *, now: float, history_days: int
) -> tuple[tuple[int, int], ...]:
    """What training leaves out: the plan's `exclude_from_training` windows and the periods of
    the incidents on-call marked a false alarm or expected in the training window (one Query;
    a store that keeps no incidents has none)."""
    if not isinstance(store, MarkedIncidents):
        return tuple(planned)
    marked = store.marked_windows(since=int(now) - history_days * DAY, now=int(now))
    return (*planned, *sorted(marked))


def dispatch_build(
    *, now: float, series: Sequence[Series], shard_size: int, store: BuildShardStore, queue: WorkQueue
) -> tuple[str, int]:
    """Starts a fanned-out build of `series`: (its generation, the shards queued)."""
    generation = new_generation(now)
    ranges = shard_ranges([s.id for s in series], shard_size, query_weights(series))
    store.shards.start_build(generation, len(ranges), expires_at=int(now) + BUILD_TTL_SECONDS)
    queue.send([BuildTask(generation, now, k, len(ranges), r).body() for k, r in enumerate(ranges)])
    return generation, len(ranges)


@dataclass
class BuildShardOutcome:
    report: BaselineReport
    members: int
    done: int
    shards: int
    marked: bool  # this invocation completed the build and wrote its generation


def run_build_shard(
    task: BuildTask,
    *,
    series: Sequence[Series],
    history_days: int,
    reader: MetricReader,
    store: BuildShardStore,
    excluded: Sequence[tuple[int, int]] = (),
) -> BuildShardOutcome:
    """Builds the baselines of one shard; the shard that completes the build marks its generation.
    A redelivered shard builds again (the same history gives the same baselines)."""
    started = store.shards.build_shards(task.generation)
    if started != task.shards:
        raise BuildMessageError(
            f"build {task.generation} was not fanned out into {task.shards} shards (found {started})"
        )
    members = task.range.members(series)
    report = rebuild_baselines(
        now=task.now,
        series=members,
        history_days=history_days,
        reader=reader,
        store=store.baselines,
        excluded=excluded,
        generation="",
    )
    done, shards = store.shards.finish_build_shard(task.generation, task.shard)
    marked = done >= shards
    if marked:
        store.baselines.mark_baselines_built(task.generation)
    return BuildShardOutcome(report, len(members), done, shards, marked)


def history_chunk(points_per_series: int) -> int:
    """Metric queries read and built together: four GetMetricData calls' worth (at least 1)."""
    return 4 * queries_per_call(points_per_series)


def _build_chunk(
    group: Sequence[Series],
    *,
    reader: MetricReader,
    store: BaselineWriter,
    previous: dict[str, int],
    start: int,
    end: int,
    period: int,
    now: float,
    excluded: Sequence[tuple[int, int]],
    report: BaselineReport,
) -> None:
    # a counter with slow change on reads the week before too (domain.slow_change)
    history_days = (end - start) // DAY
    wanted = {
        s.id
        for s in group
        if wants_extra_week(s.detection, share=s.ratio is not None, period=period, history_days=history_days)
    }
    extra = COMPARE_SECONDS if wanted else 0
    history = reader.read(group, start=start - extra, end=end)
    for s in group:
        points = history.get(s.id, [])
        if extra and s.id not in wanted:
            points = [p for p in points if p[0] >= start]
        old_version = previous.get(s.id)
        baseline = build_baseline(
            series_id=s.id,
            points=points,
            start=start,
            end=end,
            period=period,
            built_at=int(now),
            version=(old_version + 1) if old_version else 1,
            excluded=excluded,
            share=s.ratio is not None,
            timezone=s.detection.timezone,
            holidays=s.detection.holidays,
        )
        store.put_baseline(baseline)
        report.built += 1
        if all(ts < start for ts, _ in points):  # nothing in the training window
            report.empty.append(s.id)
