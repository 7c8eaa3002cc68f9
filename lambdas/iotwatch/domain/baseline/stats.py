"""Robust statistics the baseline is built from: the median and the MAD-based scale."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import sub


def median(values: Iterable[float]) -> float:
    return _middle(sorted(values))


def _middle(ordered: Sequence[float]) -> float:
    """The median of values already in ascending order."""
    n = len(ordered)
    if n == 0:
        return 0.0
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def robust_scale(values: Iterable[float]) -> float:
    return robust_scale_of_sorted(sorted(values))


def robust_scale_of_sorted(ordered: Sequence[float]) -> float:
    """robust_scale of values already in ascending order. Their deviations from the median
    then fall and rise again: two runs, which sorted() merges in about linear time."""
    if not ordered:
        return 0.0
    center = _middle(ordered)
    return 1.4826 * median(map(abs, map(sub, ordered, repeat(center))))
