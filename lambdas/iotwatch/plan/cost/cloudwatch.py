"""CloudWatch's line items: GetMetricData reads, iotwatch's custom metrics, alarms, the dashboard, Logs ingestion."""

from __future__ import annotations

import math
from collections.abc import Sequence

from iotwatch.plan.cost.assumptions import GB, Assumptions
from iotwatch.plan.cost.deployment import (
    ALARMS_PER_FUNCTION,
    AUDIT,
    BASELINE_BUILDER,
    DASHBOARD_AUDIT_METRICS,
    DASHBOARD_FIXED_METRICS,
    DASHBOARD_METRICS_PER_FUNCTION,
    EVALUATOR,
    STACK_ALARMS,
    FunctionSize,
)
from iotwatch.plan.cost.items import LineItem, count_text, priced
from iotwatch.plan.cost.prices import FreeTier, Prices
from iotwatch.plan.cost.workload import Workload
from iotwatch.telemetry import (
    AUDIT_ALERTS,
    AUDIT_EVENTS,
    AUDIT_EVENTS_REJECTED,
    DEVIATIONS_SILENCED,
    EVALUATOR_SHARDS_QUEUED,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_SENT,
    SERIES_FIRING,
)


def get_metric_data(w: Workload, a: Assumptions, p: Prices) -> LineItem:
    """Billed per metric requested, i.e. one per series per call; the history length changes
    how many calls a rebuild takes (100,800 datapoints each), not the price."""
    frequency, q, draws = w.frequency, w.q, w.draws
    requested = q * w.evaluations + q * w.builds + w.draw_metrics
    read_as = f"{q} metric queries ({w.shares} shares read their parts)" if w.shares else f"{w.n} series"
    return priced(
        "CloudWatch GetMetricData",
        requested,
        "metrics",
        p.get_metric_data_per_1k_metrics,
        1000,
        f"{read_as} x {count_text(w.evaluations)} evaluations ({frequency.evaluation}) + {read_as} x "
        f"{count_text(w.builds)} baseline builds ({count_text(w.refreshes)} on {frequency.baseline_refresh}, "
        f"{a.deploys_per_month} after deploys)"
        + (
            f" + {w.draw_metrics:,} metrics for band widget draws ({a.dashboard_views_per_month} dashboard "
            f"views x {w.drawn} widgets)"
            if draws
            else ""
        )
        + f"; one metric per query per call: {w.evaluator_calls} call(s) per evaluation "
        f"(the floor, ceil(N/500){', over ' + str(len(w.eval_shards)) + ' shards' if w.eval_fans_out else ''}), "
        f"{w.builder_calls} per build for {frequency.history_days} days of history (the calls, not the "
        "price, grow with it); a new series' first tick also reads its last week, once; no free tier",
    )


def _tiered(quantity: float, tiers: Sequence[tuple[float, float]]) -> float:
    cost, left = 0.0, quantity
    for size, price in tiers:
        used = min(left, size)
        cost += used * price
        left -= used
        if left <= 0:
            break
    return cost


def _coverage(runs: float, month_hours: int) -> float:
    """Share of the month's hours with at least one scheduled run: custom metrics bill by the
    hour they receive data, so a metric published daily costs 1/24 of one published hourly."""
    return min(runs, month_hours) / month_hours if runs > 0 else 0.0


def _event_coverage(events: float, month_hours: int) -> float:
    """Share of the hours with at least one of `events` arriving at random (Poisson)."""
    return 1.0 - math.exp(-events / month_hours) if events > 0 else 0.0


def _hours(hours: float, month_hours: int) -> float:
    return min(max(hours, 0.0), month_hours) / month_hours


def custom_metrics(w: Workload, a: Assumptions, p: Prices, free: FreeTier) -> LineItem:
    """iotwatch's own metrics (Powertools), billed per metric-month, prorated by the hour. None per series."""
    hours, events = a.month_hours, w.events
    evaluator_cover = _coverage(w.evaluations, hours)
    build_cover = _coverage(w.builds, hours)
    event_hours = {
        SERIES_FIRING.name: a.incidents_per_month * a.firing_hours_per_incident,
        NOTIFICATIONS_SENT.name: a.incidents_per_month * a.notifying_hours_per_incident,
        DEVIATIONS_SILENCED.name: a.silenced_hours_per_month,
        NOTIFICATIONS_FAILED.name: a.failed_notification_hours_per_month,
    }
    assert set(event_hours) == set(EVALUATOR.event_metrics)
    metric_months = len(EVALUATOR.powertools_metrics) * evaluator_cover
    metric_months += sum(_hours(h, hours) for h in event_hours.values())
    metric_months += len(EVALUATOR.fanout_metrics) * evaluator_cover if w.eval_fans_out else 0.0
    metric_months += len(BASELINE_BUILDER.powertools_metrics) * build_cover
    metric_months += len(BASELINE_BUILDER.fanout_metrics) * build_cover if w.build_fans_out else 0.0
    if w.audit:
        metric_months += len(AUDIT.powertools_metrics) * _event_coverage(events, hours)
        metric_months += _event_coverage(a.audit_alerts_per_month, hours)  # AuditAlerts
        metric_months += _hours(1.0, hours)  # AuditEventsRejected: rare
    tiers = p.custom_metric_tiers
    metrics_cost = _tiered(metric_months, tiers)
    return LineItem(
        "CloudWatch custom metrics",
        metric_months,
        "metric-months",
        p.custom_metric_tiers[0][1],
        1,
        metrics_cost,
        f"evaluator: {len(EVALUATOR.powertools_metrics)} every tick ({', '.join(EVALUATOR.powertools_metrics)})"
        + (f" + {EVALUATOR_SHARDS_QUEUED.name}" if w.eval_fans_out else "")
        + ", and in the hours they count something "
        + ", ".join(f"{name} ({count_text(h)} h)" for name, h in event_hours.items())
        + f"; builder: {len(BASELINE_BUILDER.powertools_metrics)} in the hours it builds"
        + (
            f"; audit: {AUDIT_EVENTS.name} in the hours with a call ({events:,} calls a month, at random), "
            f"{AUDIT_ALERTS.name} ({a.audit_alerts_per_month} a month), {AUDIT_EVENTS_REJECTED.name} (1 h)"
            if w.audit
            else ""
        )
        + "; none per series (bands are drawn from the stored baselines) and none per audit action "
        "(counted from the log when viewed); a metric costs only for the hours it receives data",
        free_tier_usd=metrics_cost - _tiered(max(0.0, metric_months - free.custom_metrics), tiers),
        tiered=True,
    )


def alarms(w: Workload, p: Prices, free: FreeTier) -> LineItem:
    """What infra/health.py creates."""
    watched = [EVALUATOR, BASELINE_BUILDER, *([AUDIT] if w.audit else [])]
    count = ALARMS_PER_FUNCTION * len(watched) + STACK_ALARMS
    return priced(
        "CloudWatch alarms",
        count,
        "alarms",
        p.alarm_standard,
        1,
        f"what infra/health.py creates: {ALARMS_PER_FUNCTION} per function (errors, throttles, duration) "
        f"x {len(watched)} + evaluator heartbeat + dead letters (shards included); standard resolution",
        free_allowance=free.alarms,
    )


def dashboard(w: Workload, p: Prices, free: FreeTier, functions: Sequence[FunctionSize]) -> LineItem:
    """What infra/dashboard.py draws: iotwatch's own metrics, and band widgets that hold none."""
    dashboards = 1 if w.dashboard else 0
    drawn, named, templates = w.drawn, w.named, w.templates
    drawn_metrics = (
        DASHBOARD_FIXED_METRICS
        + (DASHBOARD_AUDIT_METRICS if w.audit else 0)
        + DASHBOARD_METRICS_PER_FUNCTION * len(functions)
    )
    fits_free = drawn_metrics <= free.dashboard_max_metrics and not templates
    return LineItem(
        "CloudWatch dashboard",
        dashboards,
        "dashboards",
        p.dashboard,
        1,
        dashboards * p.dashboard,
        (
            f"tools.dashboard: one dashboard of {drawn_metrics} metrics (iotwatch's own) and {drawn} band "
            "widgets (no metric each)"
            + (
                f", {len(named) - drawn} series beyond the 500-widget limit not drawn"
                if drawn < len(named)
                else ""
            )
            + (f", {len(templates)} SEARCH graph(s) of discovered values" if templates else "")
            + f"; the free tier's 3 dashboards hold at most {free.dashboard_max_metrics} metrics each"
            if dashboards
            else "tools.dashboard is off"
        ),
        free_tier_usd=dashboards * p.dashboard if dashboards and fits_free else 0.0,
    )


def logs_ingestion(w: Workload, a: Assumptions, p: Prices, free: FreeTier) -> LineItem:
    """A tick logs a summary and the series that changed, never one line per series."""
    events, draws = w.events, w.draws
    changed_entries = a.incidents_per_month * a.firing_hours_per_incident * 3600 / w.frequency.period_seconds
    changed_bytes = changed_entries * a.series_per_incident * a.changed_series_log_bytes
    log_bytes = (
        w.evaluator_invocations * a.evaluator_log_bytes_per_run
        + changed_bytes
        + w.builder_invocations * a.builder_log_bytes_per_run
        + events * a.audit_log_bytes_per_event
        + draws * a.band_widget_log_bytes_per_draw
    )
    log_gb = log_bytes / GB
    return priced(
        "CloudWatch Logs ingestion",
        log_gb,
        "GB",
        p.logs_ingestion_per_gb,
        1,
        f"evaluator {a.evaluator_log_bytes_per_run:,} B per invocation (summary and run metrics, whatever the "
        f"series) + {a.changed_series_log_bytes} B per series that changed or deviates in a tick "
        f"({a.series_per_incident} series x the ticks of {a.incidents_per_month} incidents); builder "
        f"{a.builder_log_bytes_per_run:,} B per invocation"
        + (f", audit {a.audit_log_bytes_per_event:,} B per event" if w.audit else "")
        + (f", band widget {a.band_widget_log_bytes_per_draw} B per draw" if draws else "")
        + "; START/END/REPORT lines are filtered out (system log level WARN); one month's retention: "
        "storage ~$0.03 per GB-month compressed, negligible",
        free_allowance=free.logs_gb,
    )
