"""(Re)building every series' baseline from the history CloudWatch holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from iotwatch.adapters.cloudwatch import MAX_DATAPOINTS_PER_CALL, MAX_QUERIES_PER_CALL, MetricReader
from iotwatch.adapters.store import StateStore
from iotwatch.domain.baseline import build_baseline
from iotwatch.domain.series import Series

DAY = 86400


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
    store: StateStore,
    excluded: Sequence[tuple[int, int]] = (),
) -> BaselineReport:
    """Trains on whole periods in [now - history_days, now) and stores one baseline per series."""
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
        chunk = history_chunk(history_days * DAY // period)
        for first in range(0, len(group), chunk):
            _build_chunk(
                group[first : first + chunk],
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
    mark = getattr(store, "mark_baselines_built", None)
    if mark is not None:
        mark(f"{int(now)}-{uuid.uuid4().hex[:8]}")
    return report


def history_chunk(points_per_series: int) -> int:
    """Series read and built together: four GetMetricData calls' worth (at least 1)."""
    per_call = min(MAX_QUERIES_PER_CALL, max(1, MAX_DATAPOINTS_PER_CALL // max(points_per_series, 1)))
    return 4 * per_call


def _build_chunk(
    group: Sequence[Series],
    *,
    reader: MetricReader,
    store: StateStore,
    previous: dict[str, int],
    start: int,
    end: int,
    period: int,
    now: float,
    excluded: Sequence[tuple[int, int]],
    report: BaselineReport,
) -> None:
    history = reader.read(group, start=start, end=end)
    for s in group:
        points = history.get(s.id, [])
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
        )
        store.put_baseline(baseline)
        report.built += 1
        if not points:
            report.empty.append(s.id)
