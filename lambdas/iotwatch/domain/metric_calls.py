"""GetMetricData's per-call limits, facts of the CloudWatch API that sizing reasons about: a
call carries up to 500 metric queries and returns up to 100,800 datapoints. The reader
(adapters.cloudwatch), the shard sizes (plan.fanout, service.fanout), the builder's history
chunks (service.baselines) and the cost estimate (plan.cost) all count calls with these.
"""

from __future__ import annotations

from collections.abc import Sequence

from iotwatch.domain.series import Series
from iotwatch.domain.sharding import packed

MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800

# what a read returns (the MetricReader port): each series' (period start, value), by series id
Datapoints = dict[str, list[tuple[int, float]]]


def queries_per_call(points_per_query: int) -> int:
    """Metric queries one call can read when each returns `points_per_query` datapoints
    (at least 1, at most MAX_QUERIES_PER_CALL)."""
    return min(MAX_QUERIES_PER_CALL, max(1, MAX_DATAPOINTS_PER_CALL // max(points_per_query, 1)))


def plan_batches(series: Sequence[Series], *, start: int, end: int) -> list[list[Series]]:
    """Packs metric queries into GetMetricData calls within both per-call limits."""
    span = end - start
    return packed(
        series, MAX_DATAPOINTS_PER_CALL, lambda s: max(1, -(-span // s.period)), most=MAX_QUERIES_PER_CALL
    )
