"""DynamoDB's line items, on demand: reads (strongly consistent: 1 RRU per 4 KB), writes
(1 WRU per KB) and storage with point-in-time recovery."""

from __future__ import annotations

import math

from iotwatch.plan.cost.assumptions import GB, Assumptions
from iotwatch.plan.cost.items import LineItem, priced, usd
from iotwatch.plan.cost.prices import FreeTier, Prices
from iotwatch.plan.cost.workload import Workload


def _baseline_reads(w: Workload, a: Assumptions, baseline_rru: int) -> tuple[float, str]:
    """The evaluator's baseline reads a month, and when it reads them."""
    if w.eval_fans_out:
        return w.evaluations * w.n * baseline_rru, "every tick (a shard lands on any container)"
    rereads = a.evaluator_cold_starts_per_day * a.month_days + w.builds
    how = f"on {a.evaluator_cold_starts_per_day} cold starts a day and after each build"
    return min(w.evaluations, rereads) * w.n * baseline_rru, how


def reads(w: Workload, a: Assumptions, p: Prices) -> LineItem:
    n, shard_evals, draws = w.n, w.shard_evals, w.draws
    baseline_rru, state_rru = math.ceil(a.baseline_item_kb / 4), math.ceil(a.state_item_kb / 4)
    tracker_rru = math.ceil(a.tracker_item_kb / 4)
    evaluating = len(w.eval_shards)  # invocations that read and score series, per tick
    baseline_reads, baselines_how = _baseline_reads(w, a, baseline_rru)
    # generation + silences per evaluating invocation; outbox; the open incidents' ids; the completed mark
    per_tick_reads = evaluating * 2 + 3 + n * (state_rru + tracker_rru)
    open_incident_ticks = (
        a.incidents_per_month * a.firing_hours_per_incident * 3600 / w.frequency.period_seconds
    )
    open_incident_reads = math.ceil(open_incident_ticks * math.ceil(a.incident_item_kb / 4))
    fanout_reads = (
        (shard_evals * 3 + math.ceil(shard_evals * a.shard_result_kb / 4)) if w.eval_fans_out else 0
    )
    incident_reads = a.incidents_per_month if w.audit else 0
    draw_reads = draws * (baseline_rru + state_rru)
    build_reads = w.builds * (n * baseline_rru + w.shard_builds)
    total = (
        w.evaluations * (per_tick_reads + fanout_reads)
        + baseline_reads
        + build_reads
        + incident_reads
        + open_incident_reads
        + draw_reads
    )
    return priced(
        "DynamoDB reads",
        total,
        "RRU",
        p.dynamodb_reads_per_million,
        1_000_000,
        f"per tick: {n} states x {state_rru} + {n} trackers x {tracker_rru} (~{a.tracker_item_kb:g} KB) + "
        f"outbox, silences, the baseline generation, the open incidents' ids and the completed mark, and "
        f"each open incident (~{a.incident_item_kb:g} KB) in the ticks it is open"
        + (
            f", and per shard its tick, result and the shard results ({shard_evals} shards)"
            if w.eval_fans_out
            else ""
        )
        + f"; the {n} baselines x {baseline_rru} (~{a.baseline_item_kb:g} KB) {baselines_how}; each build "
        f"reads the previous versions"
        + (f"; {draws:,} band widget draws x {baseline_rru + state_rru}" if draws else "")
        + (f"; {incident_reads} incidents read the audit calls once each" if w.audit else "")
        + "; all strongly consistent; no free tier on on-demand",
    )


def writes(w: Workload, a: Assumptions, p: Prices) -> LineItem:
    n, shard_evals, shard_builds, events = w.n, w.shard_evals, w.shard_builds, w.events
    tracker_wru, baseline_wru = math.ceil(a.tracker_item_kb), math.ceil(a.baseline_item_kb)
    fanout_writes = (2 + shard_evals * (math.ceil(a.shard_result_kb) + 1)) if w.eval_fans_out else 0
    total = (
        w.evaluations * (2 + n * tracker_wru + fanout_writes)
        + w.builds * (n * baseline_wru + 1 + (1 + shard_builds if w.build_fans_out else 0))
        + a.incidents_per_month * a.state_writes_per_incident
        # each write of the incident item, and adding and removing its id in the open set
        + a.incidents_per_month * (a.incident_writes_per_incident * math.ceil(a.incident_item_kb) + 2)
        + events * math.ceil(a.audit_item_kb)
    )
    return priced(
        "DynamoDB writes",
        total,
        "WRU",
        p.dynamodb_writes_per_million,
        1_000_000,
        f"per tick: the run claim and the completed mark + {n} trackers x {tracker_wru} (written every tick)"
        + (
            f" + the tick, {shard_evals} shard results and their done marks, the publish claim"
            if w.eval_fans_out
            else ""
        )
        + f"; {n} baselines x {baseline_wru} + the generation per build"
        + (f" (+ its {shard_builds} shards' done marks)" if w.build_fans_out else "")
        + f"; {a.incidents_per_month} incidents x ({a.state_writes_per_incident} state writes + "
        f"{a.incident_writes_per_incident} writes of its ~{a.incident_item_kb:g} KB item + 2 of the open set)"
        + (f"; {events:,} audit records" if w.audit else "")
        + "; TTL deletes are free",
    )


def storage(w: Workload, a: Assumptions, p: Prices, free: FreeTier) -> LineItem:
    plan = w.plan
    stored_kb = (
        w.n * (a.baseline_item_kb + a.state_item_kb + a.tracker_item_kb)
        + w.events * plan.audit.retention_days / a.month_days * a.audit_item_kb
        + a.incidents_per_month * plan.notify.history_days / a.month_days * a.incident_item_kb
    )
    stored_gb = stored_kb * 1024 / GB
    storage_price = p.dynamodb_storage_gb_month + p.dynamodb_pitr_gb_month
    return LineItem(
        "DynamoDB storage + backups",
        stored_gb,
        "GB-months",
        storage_price,
        1,
        stored_gb * storage_price,
        "baselines, states and trackers"
        + (f", {plan.audit.retention_days} days of audit records" if w.audit else "")
        + f", {plan.notify.history_days} days of incidents"
        + f"; {usd(p.dynamodb_storage_gb_month)} storage + {usd(p.dynamodb_pitr_gb_month)} "
        "point-in-time recovery per GB-month",
        free_tier_usd=min(stored_gb, free.dynamodb_storage_gb) * p.dynamodb_storage_gb_month,
    )
