"""Splitting a run over shards: ranges of exactly `size` series (whole GetMetricData calls,
so the run reads at the floor), every series in exactly one range, and a worker that knows
one series more or less than the dispatcher still evaluates each series it knows once."""

from __future__ import annotations

import json
import math

import pytest
from iotwatch.domain.sharding import ShardRange, shard_key, shard_ranges, size_at_floor
from iotwatch.plan.fanout import build_shard_size
from iotwatch.service.baselines import BuildMessageError, BuildTask
from iotwatch.service.fanout import ShardMessageError, ShardTask, series_per_shard, shard_count

from .fakes import make_series


def rules(n: int, prefix: str = "rule"):
    return [make_series("TopicMatch", (("RuleName", f"{prefix}_{i:05d}"),)) for i in range(n)]


def test_ranges_are_exactly_size_wide_and_cover_every_series_once():
    series = rules(4_321)
    ranges = shard_ranges([s.id for s in series], 1_000)
    members = [r.members(series) for r in ranges]
    assert [len(m) for m in members] == [1_000, 1_000, 1_000, 1_000, 321]
    assert sorted(s.id for m in members for s in m) == sorted(s.id for s in series)
    # at 500 queries a call, the shards read in ceil(4,321 / 500) calls: the floor
    assert sum(math.ceil(len(m) / 500) for m in members) == math.ceil(4_321 / 500)


def test_a_plan_within_one_shard_is_one_unbounded_range():
    assert shard_ranges([s.id for s in rules(10)], 10) == [ShardRange()]


def test_neighbouring_ids_spread_over_the_ranges():
    series = rules(2_000)
    first, second = (r.members(series) for r in shard_ranges([s.id for s in series], 1_000))
    # crc32 order, not name order: rule_00000..00999 are not all in the first shard
    assert 300 < sum(1 for s in first if s.id < series[1_000].id) < 700
    assert len(second) == 1_000


def test_a_worker_that_knows_a_series_more_or_less_still_evaluates_each_once():
    dispatcher = rules(3_000)
    ranges = shard_ranges([s.id for s in dispatcher], 1_000)
    newer = [*dispatcher[:-1], *rules(5, prefix="new")]  # one gone, five discovered since
    taken = [s.id for r in ranges for s in r.members(newer)]
    assert sorted(taken) == sorted(s.id for s in newer)


def test_shard_size_rounds_down_to_whole_calls():
    assert size_at_floor(2_000, 500) == 2_000
    assert size_at_floor(1_234, 500) == 1_000
    assert size_at_floor(300, 500) == 300  # less than one call: as asked
    assert size_at_floor(0, 500) == 1
    assert series_per_shard(2_345) == 2_000
    assert shard_count(100_000, 2_000) == 50
    assert shard_count(100_000, 2_345) == 50  # 2,000 a shard, not 43 shards of 2,345 and one extra call each


def test_build_shards_hold_the_same_history_and_whole_calls():
    assert build_shard_size(history_days=14, period=300) == 1_000  # 25 series of 4,032 points a call
    assert build_shard_size(history_days=63, period=300) == 220  # 5 of 18,144 a call
    assert build_shard_size(history_days=14, period=60) == 200
    assert build_shard_size(history_days=63, period=3600) == 1_980  # capped at 2,000


def test_shard_messages_round_trip_and_refuse_what_they_cannot_read():
    series = rules(10)
    [r, *_] = shard_ranges([s.id for s in series], 4)
    task = ShardTask(1_700_000_000.5, 1_700_000_000, 0, 3, r)
    assert ShardTask.from_body(task.body()) == task
    build = BuildTask("1700000000-abcd1234", 1_700_000_000.0, 2, 3, ShardRange(shard_key("a"), None))
    assert BuildTask.from_body(build.body()) == build
    # a version-1 message (queued before an upgrade) is still evaluated: crc32 % shards
    old = json.dumps({"version": 1, "event_time": 1.0, "window_end": 0, "shard": 1, "shards": 2})
    legacy = ShardTask.from_body(old)
    assert legacy.range is None
    assert sorted(s.id for k in (0, 1) for s in ShardTask(1.0, 0, k, 2).members(series)) == sorted(
        s.id for s in series
    )
    with pytest.raises(ShardMessageError, match="kind 'build'"):
        ShardTask.from_body(build.body())  # a build message on the evaluator's queue
    with pytest.raises(BuildMessageError):
        BuildTask.from_body(task.body())
    with pytest.raises(ShardMessageError, match="not a shard bound"):
        ShardTask.from_body(task.body().replace('"until":', '"until":"x","ignored":'))
    with pytest.raises(ShardMessageError, match="outside"):
        ShardTask.from_body(json.dumps({**json.loads(task.body()), "shard": 3}))
