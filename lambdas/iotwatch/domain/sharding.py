"""Splitting a run's series over parallel invocations (evaluator ticks, baseline builds).

Series are ordered by a stable hash of their id; the invocation that fans out cuts that
order into ranges of exactly `size` series and ships each range's bounds in its shard's
message. Every worker then takes the series of its own list whose key falls in its range:

- ranges of `size` series, a whole number of GetMetricData calls each, keep the calls of the
  whole run at the API's floor (ceil(N / 500) for a tick), where a hash modulo the shard
  count would leave uneven shards and one extra call in most of them;
- bounds, not positions: a worker that knows a series the dispatcher did not (or misses
  one: discovered values are refreshed per container) still evaluates each series it knows
  exactly once, in the one range its key falls in. No ids are shipped.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from iotwatch.domain.ratios import query_weight
from iotwatch.domain.series import Series

ShardKey = tuple[int, str]
T = TypeVar("T")


def shard_key(series_id: str) -> ShardKey:
    """crc32 spreads neighbouring ids (rule_0001, rule_0002) over the ranges; the id breaks ties."""
    return (zlib.crc32(series_id.encode("utf-8")), series_id)


def size_at_floor(limit: int, per_call: int) -> int:
    """The largest shard of at most `limit` series that fills whole GetMetricData calls of
    `per_call` series (`limit` itself when it is below one call)."""
    if limit < per_call:
        return max(1, limit)
    return limit // per_call * per_call


@dataclass(frozen=True)
class ShardRange:
    """Series whose key is in [first, until); None: unbounded on that side."""

    first: ShardKey | None = None
    until: ShardKey | None = None

    def holds(self, key: ShardKey) -> bool:
        return (self.first is None or key >= self.first) and (self.until is None or key < self.until)

    def members(self, series: Sequence[Series]) -> list[Series]:
        return [s for s in series if self.holds(shard_key(s.id))]

    def as_json(self) -> dict[str, Any]:
        return {"first": _key_json(self.first), "until": _key_json(self.until)}

    @classmethod
    def from_json(cls, data: Any) -> ShardRange:
        """Raises ValueError for anything but what `as_json` wrote."""
        if not isinstance(data, dict):
            raise ValueError("a shard range is an object with 'first' and 'until'")
        return cls(_key_of(data.get("first")), _key_of(data.get("until")))


def shard_ranges(
    series_ids: Sequence[str], size: int, weights: Mapping[str, int] | None = None
) -> list[ShardRange]:
    """Consecutive ranges of at most `size` series each (the last holds the rest), covering
    every key. `weights`: what a series counts for when it is more than one (a share of
    attempts: the metric queries it reads), so each shard still fills whole calls."""
    keys = sorted({shard_key(sid) for sid in series_ids})
    weight = weights or {}
    if sum(weight.get(sid, 1) for _, sid in keys) <= size:
        return [ShardRange()]
    cuts: list[ShardKey] = []
    load = 0
    for key in keys:
        more = weight.get(key[1], 1)
        if load and load + more > size:
            cuts.append(key)
            load = 0
        load += more
    bounds: list[ShardKey | None] = [None, *cuts, None]
    return [ShardRange(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def weighted(series: Sequence[Series], size: int) -> list[list[Series]]:
    """`series` in order, cut into runs of at most `size` metric queries (a series reads one,
    a share of attempts each of its parts)."""
    return packed(series, size, query_weight)


def packed(
    items: Sequence[T], limit: int, cost: Callable[[T], int], *, most: int | None = None
) -> list[list[T]]:
    """`items` in order, cut into runs whose costs add up to at most `limit` (and of at most
    `most` items); an item over the limit on its own is a run of its own."""
    runs: list[list[T]] = []
    current: list[T] = []
    load = 0
    for item in items:
        more = cost(item)
        if current and (load + more > limit or (most is not None and len(current) >= most)):
            runs.append(current)
            current, load = [], 0
        current.append(item)
        load += more
    if current:
        runs.append(current)
    return runs


def query_weights(series: Sequence[Series]) -> dict[str, int]:
    """The series that count for more than one metric query, by id (see shard_ranges)."""
    return {s.id: query_weight(s) for s in series if s.ratio is not None}


def _key_json(key: ShardKey | None) -> list[Any] | None:
    return None if key is None else [key[0], key[1]]


def _key_of(value: Any) -> ShardKey | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], str)
    ):
        return (value[0], value[1])
    raise ValueError(f"not a shard bound: {value!r}")
