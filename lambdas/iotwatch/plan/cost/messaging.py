"""Messaging's line items: the SQS work queues, SNS e-mail and SMS deliveries, the alert topics' KMS key."""

from __future__ import annotations

import math

from iotwatch.plan.cost.assumptions import Assumptions
from iotwatch.plan.cost.items import LineItem, priced
from iotwatch.plan.cost.prices import FreeTier, Prices
from iotwatch.plan.cost.workload import Workload
from iotwatch.plan.model.plan import Plan


def work_queues(w: Workload, a: Assumptions, p: Prices, free: FreeTier) -> list[LineItem]:
    """A plan that can fan out has a work queue per function, long-polled even when idle."""
    queues = int(w.eval_queue) + int(w.build_queue)
    if not queues:
        return []
    shard_evals, shard_builds = w.shard_evals, w.shard_builds
    idle = queues * a.idle_queue_pollers * 3 * 60 * a.month_hours  # 20-second long polls
    per_tick = (math.ceil(shard_evals / 10) + 2 * shard_evals) if w.eval_fans_out else 0
    per_build = (math.ceil(shard_builds / 10) + 2 * shard_builds) if w.build_fans_out else 0
    sqs_requests = idle + w.evaluations * per_tick + w.builds * per_build
    return [
        priced(
            "SQS requests (work queues)",
            sqs_requests,
            "requests",
            p.sqs_requests_per_million,
            1_000_000,
            f"{queues} work queue(s) (the plan can fan out: more series than a shard, or '*' metrics): "
            f"{a.idle_queue_pollers} idle long-pollers each, 3 ReceiveMessage a minute"
            + (
                f"; per tick 1 send per 10 shards + a receive and a delete per shard ({shard_evals})"
                if w.eval_fans_out
                else ""
            )
            + (f"; per build the same for {shard_builds} shards" if w.build_fans_out else ""),
            free_allowance=free.sqs_requests,
        )
    ]


def notifications(plan: Plan, a: Assumptions, p: Prices, free: FreeTier) -> list[LineItem]:
    email_subscribers = sum(1 for t in plan.notify.topics for s in t.subscribers if s.protocol == "email")
    sms_subscribers = sum(1 for t in plan.notify.topics for s in t.subscribers if s.protocol == "sms")
    emails = (
        a.emails_per_month if a.emails_per_month is not None else a.emails_per_subscriber * email_subscribers
    )
    sms = a.sms_per_month if a.sms_per_month is not None else a.sms_per_subscriber * sms_subscribers
    return [
        priced(
            "SNS e-mail deliveries",
            emails,
            "e-mails",
            p.sns_email_per_100k,
            100_000,
            (
                f"assumed {emails:,} per month"
                if a.emails_per_month is not None
                else f"{a.emails_per_subscriber} per month x {email_subscribers} e-mail subscriber(s)"
            )
            + "; publishes themselves: first 1M free, then $0.50 per million",
            free_allowance=free.sns_emails,
        ),
        priced(
            "SNS SMS deliveries",
            sms,
            "SMS",
            a.sms_price_usd,
            1,
            (
                f"assumed {sms:,} per month (--sms-per-month)"
                if a.sms_per_month is not None
                else f"{a.sms_per_subscriber} per month x {sms_subscribers} SMS subscriber(s) (--sms-per-month)"
            )
            + f"; ${a.sms_price_usd:g} per one-part message is an assumed US price (--sms-price): "
            "SMS prices depend on the destination country",
        ),
    ]


def kms_key(p: Prices) -> LineItem:
    return LineItem(
        "KMS key (alert topics)",
        1,
        "keys",
        p.kms_key_month,
        1,
        p.kms_key_month,
        "one customer-managed key with yearly rotation: +$1/month after each of the first two "
        "rotations ($3 from the third year); its requests stay within KMS's 20,000 free",
    )
