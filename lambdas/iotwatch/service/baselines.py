"""(Re)building every series' baseline from the history CloudWatch holds."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from iotwatch.adapters.cloudwatch import MetricReader
from iotwatch.adapters.store import StateStore
from iotwatch.domain.baseline import Baseline, build_baseline
from iotwatch.domain.series import Series

DAY = 86400


@dataclass
class BaselineReport:
    trained_from: int
    trained_to: int
    built: int = 0
    empty: list[str] = field(default_factory=list)
    baselines: list[Baseline] = field(default_factory=list)


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
    previous = store.get_baselines([s.id for s in series])
    for period, group in by_period.items():
        end = int(now // period) * period
        start = end - history_days * DAY
        report.trained_from, report.trained_to = start, end
        history = reader.read(group, start=start, end=end)
        for s in group:
            points = history.get(s.id, [])
            old = previous.get(s.id)
            baseline = build_baseline(
                series_id=s.id,
                points=points,
                start=start,
                end=end,
                period=period,
                built_at=int(now),
                version=(old.version + 1) if old else 1,
                excluded=excluded,
            )
            store.put_baseline(baseline)
            report.built += 1
            report.baselines.append(baseline)
            if not points:
                report.empty.append(s.id)
    mark = getattr(store, "mark_baselines_built", None)
    if mark is not None:
        mark(f"{int(now)}-{uuid.uuid4().hex[:8]}")
    return report
