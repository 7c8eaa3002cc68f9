"""The series one run watches: the plan's own, plus what its "*" templates discover.

Discovered values are kept at three levels, cheapest first:

1. in memory, for a warm container (no I/O while the list is fresh);
2. in the table (pk DISCOVERY, sk <template key>), shared by the evaluator, the baseline
   builder and every container, so one ListMetrics per template and refresh interval is
   enough for all of them;
3. ListMetrics, when the freshest list is `refresh_after` seconds old: 1 hour for the
   evaluator (a new rule is watched within the hour, plus up to 15 minutes until ListMetrics
   shows it), 0 for the builder (every build lists again and shares the result).

A failed ListMetrics (throttling past the client's retries, a timeout) never means "no
values": the run keeps the last list it has, however old, and says so in the report; a
template with no list at all yet is reported as missing and tried again on the next run.
After one failure the run lists no other template (they keep their last lists too), so a
throttled account costs a run one retried call, not one per template.
Time is the caller's `now` (the event time), never the wall clock.

A value first discovered after the last baseline build has no baseline: the evaluator keeps
it in learning mode until the builder's next run (which lists again and builds it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from iotwatch.domain.discovery import (
    MAX_SERIES_PER_TEMPLATE,
    DiscoveredValues,
    MetricListError,
    SeriesTemplate,
    discovered_series,
    needs_refresh,
)
from iotwatch.domain.series import Series
from iotwatch.service.ports import DiscoveryStore, MetricLister

EVALUATOR_REFRESH_SECONDS = 3600
BUILDER_REFRESH_SECONDS = 0  # the builder always lists again
# A build shard resolves "*" metrics from the list its build's first run has just stored.
SHARD_WORKER_REFRESH_SECONDS = EVALUATOR_REFRESH_SECONDS


@dataclass
class DiscoveryReport:
    series: tuple[Series, ...]  # the plan's own series, then the discovered ones
    discovered: int = 0  # series the templates added
    listed: list[str] = field(default_factory=list)  # templates listed with ListMetrics now
    from_table: list[str] = field(default_factory=list)  # fresher list another run stored
    failed: dict[str, str] = field(default_factory=dict)  # template -> why ListMetrics failed
    stale: dict[str, int] = field(default_factory=dict)  # failed, kept the last list: its age (s)
    missing: list[str] = field(default_factory=list)  # failed with no list yet: not watched now
    left_out: dict[str, int] = field(default_factory=dict)  # values beyond the per-template cap
    list_metrics_calls: int = 0

    def as_log_fields(self) -> dict[str, object]:
        return {
            "series": len(self.series),
            "discovered": self.discovered,
            "listed": self.listed,
            "from_table": self.from_table,
            "list_metrics_calls": self.list_metrics_calls,
            **({"left_out": self.left_out} if self.left_out else {}),
        }


class SeriesDiscovery:
    """Resolves the series of each run for one function; keep one per warm container."""

    def __init__(
        self,
        *,
        series: Sequence[Series],
        templates: Sequence[SeriesTemplate],
        lister: MetricLister,
        store: DiscoveryStore,
        refresh_after: int,
    ) -> None:
        self._series = tuple(series)
        self._templates = tuple(templates)
        self._lister = lister
        self._store = store
        self._refresh_after = refresh_after
        self._memory: dict[str, DiscoveredValues] = {}

    def resolve(self, *, now: float) -> DiscoveryReport:
        report = DiscoveryReport(series=self._series)
        if not self._templates:
            return report
        calls_before = self._lister.calls
        known: dict[str, DiscoveredValues | None] = {t.key: self._memory.get(t.key) for t in self._templates}
        due = {
            t.key: t
            for t in self._templates
            if needs_refresh(known[t.key], now=now, refresh_after=self._refresh_after)
        }
        if due:
            stored = self._store.list_discovered()
            for key in due:
                entry, mine = stored.get(key), known[key]
                if entry is not None and (mine is None or entry.discovered_at > mine.discovered_at):
                    known[key] = entry
                    if not needs_refresh(entry, now=now, refresh_after=self._refresh_after):
                        report.from_table.append(key)
            first_error: str | None = None
            for key, template in due.items():
                previous = known[key]
                if not needs_refresh(previous, now=now, refresh_after=self._refresh_after):
                    continue
                if first_error is not None:  # throttled: do not spend the run on more of it
                    self._failed(report, key, previous, f"not listed this run after: {first_error}", now)
                    continue
                try:
                    dimensions, total = self._lister.list_dimension_sets(template)
                except MetricListError as exc:
                    first_error = str(exc)
                    self._failed(report, key, previous, first_error, now)
                    continue
                entry = DiscoveredValues(key, dimensions, int(now), total)
                self._store.put_discovered(entry)
                known[key] = entry
                report.listed.append(key)
        found = {key: entry for key, entry in known.items() if entry is not None}
        self._memory.update(found)
        added = discovered_series(self._templates, found, concrete=self._series)
        report.series = (*self._series, *added)
        report.discovered = len(added)
        report.left_out = {key: entry.left_out for key, entry in found.items() if entry.left_out}
        report.list_metrics_calls = self._lister.calls - calls_before
        return report

    @staticmethod
    def _failed(
        report: DiscoveryReport, key: str, previous: DiscoveredValues | None, error: str, now: float
    ) -> None:
        """Records a template that could not be listed: it keeps `previous`, if there is one."""
        report.failed[key] = error
        if previous is None:
            report.missing.append(key)
        else:
            report.stale[key] = int(now) - previous.discovered_at


class _Logger(Protocol):  # Powertools' Logger: keyword arguments become log fields
    def info(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def warning(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def error(self, msg: object, *args: object, **kwargs: Any) -> None: ...


def log_discovery(logger: _Logger, report: DiscoveryReport) -> None:
    """What a handler logs about its run's discovery (Powertools keyword fields)."""
    if report.listed or report.failed:
        logger.info("series discovered", **report.as_log_fields())
    if report.stale:
        logger.warning(
            "ListMetrics failed; watching the last discovered values instead",
            age_seconds=report.stale,
            errors={k: report.failed[k] for k in report.stale},
        )
    if report.missing:
        logger.error(
            "ListMetrics failed and no values were discovered before: these metrics are not "
            "watched until it succeeds (tried again next run)",
            templates=report.missing,
            errors={k: report.failed[k] for k in report.missing},
        )
    if report.left_out:
        logger.warning(
            "more values than one '*' metric may watch; the first in sorted order are watched",
            left_out=report.left_out,
            limit=MAX_SERIES_PER_TEMPLATE,
        )
