"""Where and why, assembled: the numbers a page's look-up read (fleet-index counts, Contributor
Insights reports, the learnt baselines of the disconnect-reason series) made into a `Breakdown`.

Pure: the service (service.where) does the I/O and hands the answers here. Also which look-ups
an incident's metrics call for, so a page asks only what can explain it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iotwatch.domain.baseline.model import Baseline
from iotwatch.domain.where import (
    CONNECT_FAILURE_PREFIX,
    DISCONNECT_PREFIX,
    Breakdown,
    ClientShare,
    DeviceWatch,
    FieldBreakdown,
    LookupGap,
    ReasonShare,
    TopClients,
    ValueShare,
)

TOP_VALUES = 3  # index-field values a page names
TOP_REASONS = 5
TOP_CLIENTS = 5
# Operations whose metrics say devices came or went: the fleet index can say where they are.
CONNECTIVITY_OPERATIONS = frozenset(
    {"Connect", "Ping", "PublishIn", "PublishOut", "PublishRetained", "Subscribe", "Unsubscribe"}
)


def wants_fleet_index(watch: DeviceWatch, metrics: Sequence[str]) -> bool:
    """Connectivity or traffic deviations (and the device signals themselves) are explained by
    where the disconnected devices are; a rules-engine or action failure is not."""
    # a group's gauge is named by its fleet metric, which is a part of the series id
    group_ids = {part for g in watch.groups for part in (g.name, g.series_id, *g.series_id.split("|"))}
    for metric in metrics:
        if metric.startswith((DISCONNECT_PREFIX, CONNECT_FAILURE_PREFIX)) or metric in group_ids:
            return True
        if metric.partition(".")[0] in CONNECTIVITY_OPERATIONS:
            return True
    return False


# device signals by the error outcome whose top clients explain them
SIGNAL_OUTCOMES = {
    CONNECT_FAILURE_PREFIX + "AUTHORIZATION_FAILED": "AuthError",
    DISCONNECT_PREFIX + "AUTH_ERROR": "AuthError",
    DISCONNECT_PREFIX + "FORBIDDEN_ACCESS": "AuthError",
    DISCONNECT_PREFIX + "THROTTLED": "Throttle",
}


def explains(rule_metric: str, metric: str) -> bool:
    """Whether the top clients of `rule_metric` (Connect.AuthError) explain a deviation of `metric`:
    the metric itself, a share of its operation counting that outcome (Connect.AuthErrorRate), or
    the device signal of the same failure (ConnectFailure.AUTHORIZATION_FAILED)."""
    if metric == rule_metric:
        return True
    operation, _, outcome = rule_metric.partition(".")
    if outcome and metric.startswith(operation + ".") and outcome in metric:
        return True
    return bool(outcome) and SIGNAL_OUTCOMES.get(metric) == outcome


def contributor_rules_for(watch: DeviceWatch, metrics: Sequence[str]) -> list[tuple[str, str]]:
    """(metric, rule name) of the plan's Contributor Insights rules that explain `metrics`."""
    return [
        (r.metric, r.rule_name)
        for r in watch.contributor_rules
        if any(explains(r.metric, m) for m in metrics)
    ]


# --- the parts ------------------------------------------------------------------------------------


def field_breakdown(
    field: str,
    disconnected: Mapping[str, int],
    total_disconnected: int,
    population: Mapping[str, int] | None,
    *,
    top: int = TOP_VALUES,
) -> FieldBreakdown:
    """The values of `field` most of the disconnected devices share, largest first, each with
    its share of the disconnected and (when the population is known) of every device with it."""
    ranked = sorted(disconnected.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    values = []
    for value, count in ranked:
        if count <= 0:
            continue
        size = (population or {}).get(value)
        of_value = min(count / size, 1.0) if size else None
        values.append(ValueShare(value, count, _share(count, total_disconnected), of_value))
    return FieldBreakdown(field, tuple(values))


def usual_reason_shares(
    reason_series: Sequence[tuple[str, str]], baselines: Mapping[str, Baseline], *, since: int, now: int
) -> dict[str, float]:
    """Each reason's usual share of disconnects at this time of the week: the learnt expectation
    of its series over [since, now) (at most a day of it), over that of every reason. Empty when
    no reason has a usable baseline, or they expect nothing."""
    expected: dict[str, float] = {}
    for reason, series_id in reason_series:
        baseline = baselines.get(series_id)
        if baseline is None or not baseline.usable:
            continue
        expected[reason] = _expected_over(baseline, since=since, now=now)
    total = sum(expected.values())
    if total <= 0:
        return {}
    return {reason: value / total for reason, value in expected.items()}


def _expected_over(baseline: Baseline, *, since: int, now: int) -> float:
    period = baseline.period
    start = since - since % period
    end = max(now, start + period)
    start = max(start, end - 86400)
    return sum(baseline.expectation_at(ts).expected for ts in range(start, end, period))


def reason_mix(
    counts: Mapping[str, int], usual: Mapping[str, float], *, top: int = TOP_REASONS
) -> tuple[ReasonShare, ...]:
    """The reasons the disconnected devices give, largest first, against their usual share; a
    reason usually dominant but absent now is listed too (its absence is news)."""
    total = sum(c for c in counts.values() if c > 0)
    if total <= 0:
        return ()
    ranked = sorted(((r, c) for r, c in counts.items() if c > 0), key=lambda rc: (-rc[1], rc[0]))[:top]
    shares = [ReasonShare(r, c, _share(c, total), usual.get(r)) for r, c in ranked]
    listed = {s.reason for s in shares}
    missing = [(r, u) for r, u in usual.items() if r not in listed and u >= 0.25]
    for reason, usual_share in sorted(missing, key=lambda ru: -ru[1]):
        shares.append(ReasonShare(reason, 0, 0.0, usual_share))
    return tuple(shares)


def top_clients(
    metric: str,
    *,
    total: float,
    distinct: int | None,
    contributors: Sequence[tuple[str, float]],
    top: int = TOP_CLIENTS,
) -> TopClients:
    """The clients that make most of `metric`'s deviation, with their share of the rule's total
    (the total is the rule's aggregate; the contributors' own sum when the report gave none)."""
    ranked = sorted(contributors, key=lambda kv: (-kv[1], kv[0]))[:top]
    whole = total if total > 0 else sum(v for _, v in contributors)
    clients = tuple(ClientShare(client, value, _share(value, whole)) for client, value in ranked if value > 0)
    return TopClients(metric, whole, distinct, clients)


def _share(part: float, whole: float) -> float:
    if whole <= 0 or not math.isfinite(part):
        return 0.0
    return min(max(part / whole, 0.0), 1.0)


# --- the whole ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldCounts:
    """What the fleet index answered for one field: counts among the disconnected devices, and
    among every device (None when that second look-up failed)."""

    field: str
    disconnected: Mapping[str, int]
    population: Mapping[str, int] | None


def assemble_breakdown(
    *,
    since: int,
    now: int,
    disconnected: int | None = None,
    fields: Sequence[FieldCounts] = (),
    reason_counts: Mapping[str, int] | None = None,
    usual_reasons: Mapping[str, float] | None = None,
    clients: Sequence[TopClients] = (),
    gaps: Sequence[LookupGap] = (),
) -> Breakdown:
    """One `Breakdown` of what was found and what could not be looked up."""
    breakdowns = tuple(
        fb
        for fb in (
            field_breakdown(
                f.field, f.disconnected, disconnected or sum(f.disconnected.values()), f.population
            )
            for f in fields
        )
        if fb.values
    )
    reasons = reason_mix(reason_counts or {}, usual_reasons or {}) if reason_counts else ()
    return Breakdown(
        since=since,
        looked_up_at=now,
        disconnected=disconnected,
        fields=breakdowns,
        reasons=reasons,
        top_clients=tuple(c for c in clients if c.clients or c.total > 0),
        gaps=tuple(_unique(gaps)),
    )


def _unique(gaps: Sequence[LookupGap]) -> list[LookupGap]:
    seen: set[LookupGap] = set()
    kept = []
    for gap in gaps:
        if gap not in seen:
            seen.add(gap)
            kept.append(gap)
    return kept
