"""The look-up a tick that pages makes (the `WhereLookup` port): where the deviation is
concentrated, read from the fleet index and Contributor Insights, assembled by
domain.breakdown. It never raises and never holds the page: each failed call is a gap in
the answer.

Calls for one incident, at most, all at once: fleet index 2 per index field (the disconnected
devices' values, every device's values) + 1 for the reasons (when a connectivity or traffic
metric deviates), 1 per Contributor Insights rule of its metrics. Each call tries once and
waits at most CALL_SECONDS (adapters.where makes its clients so), and the look-up waits for
them no longer than that and a second: the worst case, every call silent, is CALL_SECONDS + 1 s (then the reason
baselines, read from the evaluator's own store, which has already cached them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from functools import partial
from typing import Any, Protocol

from iotwatch.domain.breakdown import (
    FieldCounts,
    assemble_breakdown,
    contributor_rules_for,
    top_clients,
    usual_reason_shares,
    wants_fleet_index,
)
from iotwatch.domain.where import Breakdown, DeviceWatch, LookupFailed, LookupGap
from iotwatch.service.ports import BaselineReader

REASON_FIELD = "connectivity.disconnectReason"
# the budget of one call (adapters.where makes its clients with these, and no retries)
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0
CALL_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT  # the most one call waits (no retries)


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


# every thing in the index: counted by a field's values, the size of each group
ALL_THINGS = "thingName:*"


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
        call_seconds: float = CALL_SECONDS,
    ) -> None:
        self._watch = watch
        self._index = index
        self._insights = insights
        self._baselines = baselines
        self._call_seconds = call_seconds

    def look_up(self, *, metrics: Sequence[str], since: int, now: int) -> Breakdown:
        try:
            return self._look_up(metrics, since=since, now=now)
        except Exception as err:  # the page goes out whatever happens here
            gap = LookupGap("where the deviation is concentrated", f"the look-up failed ({err!r})", _REPORT)
            return Breakdown(since=since, looked_up_at=now, gaps=(gap,))

    def _look_up(self, metrics: Sequence[str], *, since: int, now: int) -> Breakdown:
        run = _Run(self._call_seconds)
        index = self._fleet_index(run, metrics)
        query = disconnected_since(since)
        first: dict[tuple[str, str], Callable[[], Any]] = {}
        if index is not None:
            for field in self._watch.index_fields:
                what = f"{field} of the devices disconnected since the deviation began"
                first[("field", field)] = partial(index.buckets, query, field, what=what)
                what = f"how many devices each {field} has"
                first[("sizes", field)] = partial(index.buckets, ALL_THINGS, field, what=what)
            what = "disconnect reasons of the devices disconnected since the deviation began"
            first[("reasons", REASON_FIELD)] = partial(index.buckets, query, REASON_FIELD, what=what)
        insights = self._contributor_insights(run, metrics)
        if insights is not None:
            for metric, rule_name in contributor_rules_for(self._watch, metrics):
                what = f"the clients behind {metric}"
                first[("clients", metric)] = partial(
                    insights.report, rule_name, start=since, end=now, what=what
                )
        found = run.all(first)
        return self._assemble(run, found, since=since, now=now)

    def _fleet_index(self, run: _Run, metrics: Sequence[str]) -> IndexReader | None:
        if not wants_fleet_index(self._watch, metrics):
            return None
        # asked even when the plan says indexing is off (that gates the fleet metrics only): an
        # account that has it on gets the breakdown, one without it a quick gap with the fix
        if self._index is None:
            run.gaps.append(LookupGap("where the disconnected devices are", "no fleet-index reader", _REPORT))
        return self._index

    def _contributor_insights(self, run: _Run, metrics: Sequence[str]) -> ReportReader | None:
        if not contributor_rules_for(self._watch, metrics):
            return None
        if self._watch.log_level == "DISABLED":
            run.gaps.append(LOGS_OFF_IN_PLAN)
            return None
        if self._insights is None:
            run.gaps.append(
                LookupGap("the clients behind the deviation", "no Contributor Insights reader", _REPORT)
            )
        return self._insights

    def _assemble(
        self,
        run: _Run,
        found: dict[tuple[str, str], Any],
        *,
        since: int,
        now: int,
    ) -> Breakdown:
        fields = []
        disconnected: int | None = None
        for field in self._watch.index_fields:
            counts = found.get(("field", field))
            if counts is None:
                continue
            disconnected = counts.total
            population = found.get(("sizes", field))
            fields.append(
                FieldCounts(field, counts.counts, population.counts if population is not None else None)
            )
        parts: dict[str, Any] = {}
        reasons = found.get(("reasons", REASON_FIELD))
        if reasons is not None:
            disconnected = reasons.total if disconnected is None else disconnected
            parts = {
                "reason_counts": reasons.counts,
                "usual_reasons": self._usual_reasons(run, since=since, now=now),
            }
        clients = [
            top_clients(
                metric, total=report.total, distinct=report.distinct, contributors=report.contributors
            )
            for (kind, metric), report in found.items()
            if kind == "clients" and report is not None
        ]
        return assemble_breakdown(
            since=since,
            now=now,
            disconnected=disconnected,
            fields=fields,
            clients=clients,
            gaps=run.gaps,
            **parts,
        )

    def _usual_reasons(self, run: _Run, *, since: int, now: int) -> dict[str, float]:
        if not self._watch.reason_series or self._baselines is None:
            return {}
        reader = self._baselines
        ids = [sid for _, sid in self._watch.reason_series]
        baselines = run.one("the usual disconnect-reason mix", partial(reader.get_baselines, ids))
        if not baselines:
            return {}
        return usual_reason_shares(self._watch.reason_series, baselines, since=since, now=now)


_REPORT = "the page went out without it; report this with the evaluator's log"
LOGS_OFF_IN_PLAN = LookupGap(
    "the clients behind the deviation",
    "the plan sets AWS IoT logging to DISABLED (devices.logging.level)",
    "set devices.logging.level: ERROR in the plan (failed connects and publishes are logged at ERROR)",
)


class _Run:
    """One look-up's calls and the gaps they met."""

    def __init__(self, call_seconds: float) -> None:
        self._call_seconds = call_seconds
        self.gaps: list[LookupGap] = []

    def all(self, calls: dict[tuple[str, str], Callable[[], Any]]) -> dict[tuple[str, str], Any]:
        """Every call at once (each is bounded by its client's timeouts); the answers by key,
        None for a call that failed (its gap recorded, in the calls' order)."""
        if not calls:
            return {}
        if len(calls) == 1:
            ((key, call),) = calls.items()
            return {key: self.one(_what(call), call)}
        pool = ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="where")
        futures = {key: pool.submit(self._attempt, call) for key, call in calls.items()}
        wait_for(futures.values(), timeout=self._call_seconds + 1.0)
        pool.shutdown(wait=False, cancel_futures=True)
        answers: dict[tuple[str, str], Any] = {}
        for key, future in futures.items():
            if not future.done():
                self.gaps.append(
                    LookupGap(_what(calls[key]), "no answer in time", "the next page tries again")
                )
                answers[key] = None
                continue
            answer, gap = future.result()
            if gap is not None:
                self.gaps.append(gap)
            answers[key] = answer
        return answers

    def one(self, what: str, call: Callable[[], Any]) -> Any:
        answer, gap = self._attempt(call, what)
        if gap is not None:
            self.gaps.append(gap)
        return answer

    @staticmethod
    def _attempt(call: Callable[[], Any], what: str | None = None) -> tuple[Any, LookupGap | None]:
        try:
            return call(), None
        except LookupFailed as failed:
            return None, failed.gap
        except Exception as err:  # a reader that breaks its promise still costs no page
            gap = LookupGap(what or _what(call), f"the look-up failed ({type(err).__name__}: {err})", _REPORT)
            return None, gap


def _what(call: Callable[[], Any]) -> str:
    """What a call looks up (its `what` keyword)."""
    keywords = getattr(call, "keywords", {}) or {}
    return str(keywords.get("what", "a look-up"))
