"""The audit trail's line item: the S3 storage and PUTs of a trail the stack creates (audit.create_trail)."""

from __future__ import annotations

from iotwatch.plan.cost.assumptions import GB, Assumptions
from iotwatch.plan.cost.items import LineItem
from iotwatch.plan.cost.prices import Prices
from iotwatch.plan.cost.workload import Workload


def audit_trail(w: Workload, a: Assumptions, p: Prices) -> list[LineItem]:
    plan = w.plan
    if not (w.audit and plan.audit.create_trail):
        return []
    monthly_gb = a.trail_events_per_month * a.trail_bytes_per_event / GB
    stored = monthly_gb * plan.audit.trail_retention_days / a.month_days
    # log files about every 5 minutes, digests hourly, and an access-log object for each
    puts = 2 * a.month_days * (288 + 24)
    cost = stored * p.s3_standard_gb_month + puts / 1000 * p.s3_puts_per_1k
    return [
        LineItem(
            "S3 (audit trail)",
            stored,
            "GB-months",
            p.s3_standard_gb_month,
            1,
            cost,
            f"audit.create_trail: {a.trail_events_per_month:,} write events of the region per month x "
            f"{a.trail_bytes_per_event} B compressed, kept {plan.audit.trail_retention_days} days, plus "
            f"~{puts:,} PUTs at ${p.s3_puts_per_1k:g} per 1,000; CloudTrail's first copy of management "
            "events is free (a second trail in the region pays $2 per 100,000)",
        )
    ]
