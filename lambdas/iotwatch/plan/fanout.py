"""Whether a run fans out, and how big its shards are: the one rule the stack (does the
function get a work queue?), the cost estimate (does it pay for one?) and the functions (does
this run dispatch shards?) all apply.

A run fans out when its series read more metric queries than one invocation takes: a share of
attempts counts each metric it adds up (`domain.ratios.query_weight`), so 1,500 series of
which 600 are shares of two metrics weigh 2,100. The evaluator's limit is
`frequency.shard_size`, the builder's `frequency.build_shard_size` (smaller: each query reads
weeks of history); the rule is the same, only the limit differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from iotwatch.domain.discovery import SeriesTemplate
from iotwatch.domain.metric_calls import queries_per_call
from iotwatch.domain.ratios import query_weight
from iotwatch.domain.series import Series
from iotwatch.domain.sharding import size_at_floor

DAY = 86400
DEFAULT_SHARD_SIZE = 2_000  # metric queries per evaluator invocation before a tick fans out
# metric queries per builder invocation before a build fans out, at 14 days of 5-minute history
DEFAULT_BUILD_SHARD_SIZE = 1_000
# What one build shard learns from: 1,000 series x 14 days of 5-minute periods (4,032 each).
# `make bench` (bench/fanout_scale.py) measures such a shard at ~6 s of CPU on one core:
# ~10 s at the builder's 1024 MB plus 40 GetMetricData calls, ~35 s in all: inside 300 s.
BUILD_DATAPOINTS_PER_SHARD = DEFAULT_BUILD_SHARD_SIZE * 14 * DAY // 300


def fans_out(series: Iterable[Series], shard_size: int) -> bool:
    """Whether a run over `series` reads more metric queries than one invocation of
    `shard_size` takes (a share of attempts counts each of its parts)."""
    return sum(query_weight(s) for s in series) > shard_size


def may_fan_out(series: Iterable[Series], templates: Sequence[SeriesTemplate], shard_size: int) -> bool:
    """Whether a run of a plan can fan out, as the stack sizes it: its own series already do,
    or it has "*" metrics (their values are only known while running)."""
    return bool(templates) or fans_out(series, shard_size)


def build_shard_size(*, history_days: int, period: int) -> int:
    """Series per build shard: BUILD_DATAPOINTS_PER_SHARD of history, in whole GetMetricData
    calls (so a fanned-out build reads at the API's floor), at most 2,000."""
    points = max(1, history_days * DAY // period)
    return size_at_floor(min(2_000, max(1, BUILD_DATAPOINTS_PER_SHARD // points)), queries_per_call(points))
