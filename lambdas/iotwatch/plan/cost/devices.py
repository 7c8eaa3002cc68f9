"""The device signals' line items (the plan's `devices` section): the lifecycle topic rules and
the metrics they write, the groups' fleet metrics and the fleet index behind them, the
look-ups a page makes, the Contributor Insights rules and AWS IoT's own log.

Reading the device series (GetMetricData) is in the GetMetricData item with every other series.
"""

from __future__ import annotations

from iotwatch.domain.where import CONNECT_FAILURE_REASONS
from iotwatch.plan.cost.assumptions import GB, Assumptions
from iotwatch.plan.cost.items import LineItem, count_text, priced
from iotwatch.plan.cost.prices import FreeTier, Prices
from iotwatch.plan.devices import fleet_period
from iotwatch.plan.model.devices import Devices
from iotwatch.plan.model.plan import Plan

_VERBOSE_LEVELS = ("INFO", "DEBUG")


def device_items(plan: Plan, a: Assumptions, p: Prices, free: FreeTier) -> list[LineItem]:
    devices = plan.devices
    if devices is None:
        return []
    return [
        *_lifecycle(devices, a, p, free),
        *_fleet(plan, devices, a, p),
        *_top_clients(devices, a, p, free),
        *_iot_log(devices, a, p),
    ]


def lifecycle_events(devices: Devices, a: Assumptions) -> float:
    """Lifecycle events a month on the rules' topics: every disconnect, and refused connects."""
    per_day = a.disconnects_per_device_per_day + (
        a.connect_failures_per_device_per_day if devices.connect_failures else 0.0
    )
    return a.devices * per_day * a.month_days


def _lifecycle(devices: Devices, a: Assumptions, p: Prices, free: FreeTier) -> list[LineItem]:
    events = lifecycle_events(devices, a)
    fleet = f"{a.devices:,} devices (--devices) x {a.disconnects_per_device_per_day:g} disconnects a day"
    if devices.connect_failures:
        fleet += f" + {a.connect_failures_per_device_per_day:g} refused connects"
    fleet += " (--disconnects-per-device-per-day)"
    per_million = (p.iot_rules_triggered_per_million + p.iot_rule_actions_per_million) + (
        1e6 / 1000 * p.cloudwatch_requests_per_1k
    )
    metrics = len(devices.disconnect_reasons) + (
        len(CONNECT_FAILURE_REASONS) if devices.connect_failures else 0
    )
    return [
        priced(
            "IoT rules (lifecycle events)",
            events,
            "events",
            p.iot_rules_triggered_per_million + p.iot_rule_actions_per_million,
            1_000_000,
            f"{fleet} = {count_text(events)} events a month, each one rule triggered and one "
            "CloudWatch metric action (counted for every event: a reason the rule's WHERE drops "
            f"costs at most the trigger); all in, with the PutMetricData below, ${per_million:.2f} "
            "per million lifecycle events",
        ),
        priced(
            "PutMetricData (lifecycle counts)",
            events,
            "requests",
            p.cloudwatch_requests_per_1k,
            1000,
            "one PutMetricData per lifecycle event the rules count (the metric action puts one datum)",
            free_allowance=free.cloudwatch_requests,
        ),
        priced(
            "Custom metrics (lifecycle counts)",
            metrics,
            "metric-months",
            p.custom_metric_tiers[0][1],
            1,
            f"{len(devices.disconnect_reasons)} watched disconnect reason(s)"
            + (" + refused connects" if devices.connect_failures else "")
            + ", each a metric billed by the hours it gets data (counted as every hour); first-tier "
            "price, shared with the account's other custom metrics",
        ),
    ]


def _fleet(plan: Plan, devices: Devices, a: Assumptions, p: Prices) -> list[LineItem]:
    """The groups' fleet metrics and the index they need (only once fleet indexing is on), and
    the where look-ups, made only in a tick that pages."""
    items: list[LineItem] = []
    lookups = a.incidents_per_month * a.lookups_per_incident * (len(devices.where) + 1 + len(devices.groups))
    if devices.fleet_indexing == "enabled":
        period = fleet_period(plan.frequency.period_seconds)
        emissions = len(devices.groups) * a.month_seconds / period
        if devices.groups:
            items.append(
                LineItem(
                    "AWS IoT fleet metrics",
                    emissions,
                    "queries",
                    p.fleet_index_queries_per_10k,
                    10_000,
                    emissions / 10_000 * p.fleet_index_queries_per_10k
                    + len(devices.groups) * p.custom_metric_tiers[0][1],
                    f"{len(devices.groups)} group(s), each a fleet metric emitting every {period} s "
                    f"({count_text(emissions)} aggregation queries a month) and a CloudWatch metric "
                    f"(${p.custom_metric_tiers[0][1]:.2f} a month each, included)",
                )
            )
        updates = 2 * a.devices * a.disconnects_per_device_per_day * a.month_days
        items.append(
            priced(
                "Fleet index updates (connectivity)",
                updates,
                "updates",
                p.fleet_index_updates_per_million,
                1_000_000,
                "connectivity indexing updates a thing's entry on every connect and disconnect "
                f"({a.devices:,} devices x {a.disconnects_per_device_per_day:g} of each a day); an account "
                "setting, billed whether or not iotwatch reads it",
            )
        )
    items.append(
        priced(
            "Fleet index queries (page look-ups)",
            lookups,
            "queries",
            p.fleet_index_queries_per_10k,
            10_000,
            f"only in a tick that pages: {a.incidents_per_month} incidents x {a.lookups_per_incident} paging "
            f"ticks x {len(devices.where) + 1 + len(devices.groups)} aggregation queries (one per where "
            "field, the disconnected count, each group's total); a quiet tick makes none",
        )
    )
    return items


def _top_clients(devices: Devices, a: Assumptions, p: Prices, free: FreeTier) -> list[LineItem]:
    rules = len(devices.top_clients)
    if not rules:
        return []
    matched = rules * a.devices * a.failed_log_events_per_device_per_day * a.month_days
    return [
        priced(
            "Contributor Insights rules",
            rules,
            "rule-months",
            p.contributor_insights_rule_month,
            1,
            f"one rule per top_clients metric ({', '.join(devices.top_clients)}), keyed on the client id",
            free_allowance=free.contributor_insights_rules,
        ),
        priced(
            "Contributor Insights matched log events",
            matched,
            "events",
            p.contributor_insights_events_per_million,
            1_000_000,
            f"each rule sees every failed attempt AWS IoT logs: {a.devices:,} devices x "
            f"{a.failed_log_events_per_device_per_day:g} a day (--log-events-per-device-per-day), counted "
            "once per rule (conservative: a rule matches only its own operation's); GetInsightRuleReport "
            "only when paging (cents a month)",
            free_allowance=free.contributor_insights_events,
        ),
    ]


def iot_log_events(level: str, a: Assumptions) -> float:
    """AWS IoT log entries a month at `level`: the failures, and at INFO or DEBUG every message
    and connection too."""
    per_device = a.failed_log_events_per_device_per_day
    if level in _VERBOSE_LEVELS:
        per_device += a.messages_per_device_per_day + 2 * a.disconnects_per_device_per_day
    return 0.0 if level == "DISABLED" else a.devices * per_device * a.month_days


def _iot_log(devices: Devices, a: Assumptions, p: Prices) -> list[LineItem]:
    """The plan's log level, or ERROR (what the top clients need) when the account keeps its own."""
    if devices.logging is None and not devices.top_clients:
        return []
    level = devices.logging.level if devices.logging is not None else "ERROR"
    events = iot_log_events(level, a)
    gb = events * a.iot_log_event_bytes / GB
    info_gb = iot_log_events("INFO", a) * a.iot_log_event_bytes / GB
    return [
        priced(
            f"AWS IoT log ingestion ({level})",
            gb,
            "GB",
            p.logs_ingestion_per_gb,
            1,
            (
                f"devices.logging.level {level}"
                if devices.logging is not None
                else "the account's AWS IoT log "
                "at ERROR, the least the top clients need (devices.logging unset: the account's own level)"
            )
            + f": {count_text(events)} log entries a month of "
            f"~{a.iot_log_event_bytes} B"
            + (
                f" (at INFO it would be {info_gb:,.1f} GB, ${info_gb * p.logs_ingestion_per_gb:,.2f}: every "
                f"message of {a.messages_per_device_per_day:g} a device a day, --messages-per-device-per-day)"
                if level not in _VERBOSE_LEVELS
                else " (every message and connection is logged; ERROR logs only the failures)"
            )
            + "; AWSIotLogsV2 keeps them forever unless you set its retention (storage $0.03/GB-month)",
        )
    ]
