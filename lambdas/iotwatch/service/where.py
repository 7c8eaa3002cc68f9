"""The look-up a tick that pages makes (the `WhereLookup` port): where the deviation is
concentrated, read from the fleet index and Contributor Insights, assembled by
domain.breakdown. It never raises and never holds the page: each failed call is a gap in
the answer, and once `budget_seconds` are spent no new call starts.

Calls for one incident, at most: fleet index 2 per index field + 1 for the reasons (when a
connectivity or traffic metric deviates), 1 per Contributor Insights rule of its metrics.
Worst case, every call silent: budget_seconds + one call's timeout (adapters.where).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

from iotwatch.adapters.where import (
    TURN_ON_INDEX,
    FleetIndexReader,
    InsightReader,
    LookupFailed,
    quote,
)
from iotwatch.domain.breakdown import (
    FieldCounts,
    assemble_breakdown,
    contributor_rules_for,
    top_clients,
    usual_reason_shares,
    wants_fleet_index,
)
from iotwatch.domain.where import Breakdown, DeviceWatch, LookupGap, TopClients
from iotwatch.service.ports import BaselineReader

REASON_FIELD = "connectivity.disconnectReason"
BUDGET_SECONDS = 4.0


class IndexReader(Protocol):
    calls: int

    def buckets(self, query: str, field: str, *, what: str, max_buckets: int = ...) -> Any: ...


class ReportReader(Protocol):
    calls: int

    def report(self, rule_name: str, *, start: int, end: int, what: str) -> Any: ...


def disconnected_since(since: int) -> str:
    """Fleet-index query: things disconnected now whose last connectivity change is at or after
    `since` (connectivity.timestamp is in epoch milliseconds)."""
    return f"connectivity.connected:false AND connectivity.timestamp>{since * 1000 - 1}"


def values_query(field: str, values: Sequence[str]) -> str:
    return f"{field}:({' OR '.join(quote(v) for v in values)})"


def aws_where_lookup(watch: DeviceWatch, baselines: BaselineReader | None) -> FleetWhereLookup:
    """The look-up a deployed evaluator uses: the account's fleet index and Contributor Insights,
    through clients that try once with short timeouts, made only when a page first looks up
    (a quiet tick's cold start creates none)."""
    return FleetWhereLookup(watch, index=FleetIndexReader(), insights=InsightReader(), baselines=baselines)


class FleetWhereLookup:
    """`WhereLookup` over the plan's `DeviceWatch`, the fleet index, Contributor Insights and the
    learnt baselines of the disconnect-reason series."""

    def __init__(
        self,
        watch: DeviceWatch,
        *,
        index: IndexReader | None,
        insights: ReportReader | None,
        baselines: BaselineReader | None,
        budget_seconds: float = BUDGET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._watch = watch
        self._index = index
        self._insights = insights
        self._baselines = baselines
        self._budget = budget_seconds
        self._clock = clock

    def look_up(self, *, metrics: Sequence[str], since: int, now: int) -> Breakdown:
        try:
            return self._look_up(metrics, since=since, now=now)
        except Exception as err:  # the page goes out whatever happens here
            gap = LookupGap("where the deviation is concentrated", f"the look-up failed ({err!r})", _REPORT)
            return Breakdown(since=since, looked_up_at=now, gaps=(gap,))

    def _look_up(self, metrics: Sequence[str], *, since: int, now: int) -> Breakdown:
        run = _Run(self._clock, self._budget)
        parts: dict[str, Any] = {}
        if wants_fleet_index(self._watch, metrics):
            parts = self._fleet(run, since=since, now=now)
        clients = self._clients(run, metrics, since=since, now=now)
        return assemble_breakdown(since=since, now=now, clients=clients, gaps=run.gaps, **parts)

    def _fleet(self, run: _Run, *, since: int, now: int) -> dict[str, Any]:
        index = self._index
        if not self._watch.fleet_indexing:
            run.gaps.append(INDEX_OFF_IN_PLAN)
            return {}
        if index is None:
            run.gaps.append(LookupGap("where the disconnected devices are", "no fleet-index reader", _REPORT))
            return {}
        query = disconnected_since(since)
        disconnected: int | None = None
        fields: list[FieldCounts] = []
        for field in self._watch.index_fields:
            what = f"{field} of the devices disconnected since the deviation began"
            found = run.call(what, partial(index.buckets, query, field, what=what))
            if found is None:
                continue
            disconnected = found.total
            population = None
            top = list(found.counts)[:3]
            if top:
                sizes_what = f"how many devices each {field} has"
                sizes = run.call(
                    sizes_what,
                    partial(index.buckets, values_query(field, top), field, what=sizes_what),
                )
                population = sizes.counts if sizes is not None else None
            fields.append(FieldCounts(field, found.counts, population))
        reasons_what = "disconnect reasons of the devices disconnected since the deviation began"
        reasons = run.call(reasons_what, lambda: index.buckets(query, REASON_FIELD, what=reasons_what))
        parts: dict[str, Any] = {"disconnected": disconnected, "fields": fields}
        if reasons is not None:
            parts["disconnected"] = reasons.total if disconnected is None else disconnected
            parts["reason_counts"] = reasons.counts
            parts["usual_reasons"] = self._usual_reasons(run, since=since, now=now)
        return parts

    def _usual_reasons(self, run: _Run, *, since: int, now: int) -> dict[str, float]:
        if not self._watch.reason_series or self._baselines is None:
            return {}
        reader = self._baselines
        ids = [sid for _, sid in self._watch.reason_series]
        what = "the usual disconnect-reason mix"
        baselines = run.call(what, lambda: reader.get_baselines(ids), budgeted=False)
        if not baselines:
            return {}
        return usual_reason_shares(self._watch.reason_series, baselines, since=since, now=now)

    def _clients(self, run: _Run, metrics: Sequence[str], *, since: int, now: int) -> list[TopClients]:
        rules = contributor_rules_for(self._watch, metrics)
        if not rules:
            return []
        insights = self._insights
        if self._watch.log_level == "DISABLED":
            run.gaps.append(LOGS_OFF_IN_PLAN)
            return []
        if insights is None:
            run.gaps.append(
                LookupGap("the clients behind the deviation", "no Contributor Insights reader", _REPORT)
            )
            return []
        found = []
        for metric, rule_name in rules:
            what = f"the clients behind {metric}"
            report = run.call(what, partial(insights.report, rule_name, start=since, end=now, what=what))
            if report is not None:
                found.append(
                    top_clients(
                        metric, total=report.total, distinct=report.distinct, contributors=report.contributors
                    )
                )
        return found


_REPORT = "the page went out without it; report this with the evaluator's log"
INDEX_OFF_IN_PLAN = LookupGap(
    "where the disconnected devices are",
    "the plan says fleet indexing is not on (devices.fleet_indexing)",
    f"{TURN_ON_INDEX}, then set devices.fleet_indexing: enabled in the plan",
)
LOGS_OFF_IN_PLAN = LookupGap(
    "the clients behind the deviation",
    "the plan sets AWS IoT logging to DISABLED (devices.logging.level)",
    "set devices.logging.level: ERROR in the plan (failed connects and publishes are logged at ERROR)",
)


class _Run:
    """One look-up's budget and the gaps it has met."""

    def __init__(self, clock: Callable[[], float], budget: float) -> None:
        self._clock = clock
        self._deadline = clock() + budget
        self._budget = budget
        self.gaps: list[LookupGap] = []

    def call(self, what: str, fn: Callable[[], Any], *, budgeted: bool = True) -> Any:
        if budgeted and self._clock() >= self._deadline:
            self.gaps.append(
                LookupGap(
                    what, f"the look-ups' {self._budget:.0f} s budget was spent", "the next page tries again"
                )
            )
            return None
        try:
            return fn()
        except LookupFailed as failed:
            self.gaps.append(failed.gap)
        except Exception as err:  # a reader that breaks its promise still costs no page
            self.gaps.append(LookupGap(what, f"the look-up failed ({type(err).__name__}: {err})", _REPORT))
        return None
