"""The plan's monthly cost: every service's line items assembled, with the assumptions and notes they rest on."""

from __future__ import annotations

from collections.abc import Sequence

from iotwatch.domain.series import Series
from iotwatch.plan.cost import cloudwatch, compute, dynamodb, messaging, trail
from iotwatch.plan.cost.assumptions import DEFAULT_ASSUMPTIONS, Assumptions
from iotwatch.plan.cost.deployment import AUDIT, BAND_WIDGET, BASELINE_BUILDER, EVALUATOR
from iotwatch.plan.cost.devices import device_items
from iotwatch.plan.cost.items import CostEstimate, LineItem, count_text
from iotwatch.plan.cost.prices import DEFAULT_FREE_TIER, DEFAULT_PRICES, FreeTier, Prices
from iotwatch.plan.cost.workload import Workload, measure_workload
from iotwatch.plan.model.plan import Plan


def estimate_cost(
    plan: Plan,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
    *,
    series_factor: int = 1,
    discovered: Sequence[Series] = (),
    prices: Prices = DEFAULT_PRICES,
    free: FreeTier = DEFAULT_FREE_TIER,
) -> CostEstimate:
    """The plan's monthly cost. `discovered`: the series its "*" metrics discover (from the
    deployed table, or as many as expected). `series_factor` multiplies the watched series
    (10: "what if the fleet had ten times the protocols, rules, ..."), everything else unchanged."""
    a, p = assumptions, prices
    w = measure_workload(plan, a, series_factor=series_factor, discovered=discovered)
    items = [
        cloudwatch.get_metric_data(w, a, p),
        *compute.lambda_items(w, a, p, free),
        dynamodb.reads(w, a, p),
        dynamodb.writes(w, a, p),
        dynamodb.storage(w, a, p, free),
        cloudwatch.custom_metrics(w, a, p, free),
        cloudwatch.alarms(w, p, free),
        cloudwatch.dashboard(w, p, free, compute.deployed_functions(w)),
        *messaging.work_queues(w, a, p, free),
        *messaging.notifications(plan, a, p, free),
        cloudwatch.logs_ingestion(w, a, p, free),
        compute.xray_traces(w, p, free),
        messaging.kms_key(p),
        *trail.audit_trail(w, a, p),
        *device_items(plan, a, p, free),
    ]
    return CostEstimate(
        plan_name=plan.name,
        series=w.n,
        evaluations_per_month=w.evaluations,
        baseline_builds_per_month=w.builds,
        items=items,
        assumptions=_general_assumptions(w, a, series_factor),
        notes=[*w.approximations, *_notes(w, items)],
        warnings=compute.duration_warnings(w, a),
        discovered=w.discovered,
        queries=w.q,
        floor_per_metric_usd=w.evaluations / 1000 * p.get_metric_data_per_1k_metrics,
    )


def _general_assumptions(w: Workload, a: Assumptions, series_factor: int) -> list[str]:
    """What every item rests on: prices and month, the series and runs, the function sizes."""
    frequency, q, shares = w.frequency, w.q, w.shares
    general = [
        f"us-east-1 list prices in USD (other regions differ); a {a.month_days}-day month ({a.month_hours} h); "
        "nothing subtracted for the free tier",
        f"{w.n} series"
        + (f" ({w.discovered} of them discovered by '*' metrics)" if w.discovered else "")
        + (f", read as {q} metric queries ({shares} shares of attempts read their parts)" if shares else "")
        + (f" ({series_factor}x the plan's)" if series_factor != 1 else "")
        + f": evaluation {frequency.evaluation} = {count_text(w.evaluations)} runs a month"
        + (f" of {len(w.eval_shards)} shards each" if w.eval_fans_out else "")
        + f"; baseline refresh {frequency.baseline_refresh} = {count_text(w.refreshes)} builds + "
        f"{a.deploys_per_month} after deploys"
        + (f", {len(w.build_shards)} shards each" if w.build_fans_out else ""),
        f"Lambda arm64: evaluator {EVALUATOR.memory_mb} MB, baseline builder {BASELINE_BUILDER.memory_mb} MB"
        + (f", audit {AUDIT.memory_mb} MB" if w.audit else "")
        + (f", band widget {BAND_WIDGET.memory_mb} MB" if w.dashboard else "")
        + " (the sizes in infra/; durations from bench/ scaled to the memory's CPU share)",
        f"each series' likelihood tracker is ~{a.tracker_item_kb:g} KB, read and written every tick "
        "(Assumptions.tracker_item_kb)",
    ]
    if w.dashboard:
        general.append(
            f"dashboard: {a.dashboard_views_per_month} views a month (--dashboard-views-per-month), each drawing "
            f"the {w.drawn} band widgets once"
        )
    if plan_devices := w.plan.devices:
        general.append(
            f"devices: {a.devices:,} devices (--devices), {a.disconnects_per_device_per_day:g} disconnects per "
            f"device a day (--disconnects-per-device-per-day), {a.failed_log_events_per_device_per_day:g} failed "
            f"attempts logged per device a day (--log-events-per-device-per-day); fleet indexing "
            f"{plan_devices.fleet_indexing}"
        )
    if w.audit:
        general.append(
            f"audit: {w.events:,} IoT control-plane write calls a month (--audit-events-per-month), "
            f"{a.audit_alerts_per_month} of them paging"
        )
    return general


def _notes(w: Workload, items: Sequence[LineItem]) -> list[str]:
    """What is left out of the items, or billed elsewhere."""
    notes: list[str] = []
    if w.audit and not w.plan.audit.create_trail:
        notes.append(
            "audit.create_trail is false: the audit relies on a trail the account already has in "
            "this region (its S3 storage is billed there); with create_trail the stack adds an S3 item"
        )
    if w.audit and w.dashboard:
        notes.append(
            "the calls-by-action table is a Logs Insights query of the audit log when viewed: $0.005 per "
            "GB scanned, a few KB a view"
        )
    notes.append(
        "not itemized, free or negligible: EventBridge schedules and AWS service events, SNS publishes "
        "(first million free), the SQS dead-letter queue while empty, KMS requests"
    )
    if any(i.item == "SNS SMS deliveries" and i.quantity for i in items):
        notes.append(
            "US SMS also needs an origination identity (e.g. a toll-free number, about $2/month, "
            "registered before use); new accounts start in the SMS sandbox with a $1/month spend limit"
        )
    return notes
