"""The one table of prices: us-east-1 list prices and the always-free allowances."""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICING_REGION = "us-east-1"
INF = math.inf


@dataclass(frozen=True)
class Prices:
    """us-east-1 on-demand list prices in USD (AWS pricing pages, 2025). Lambda is ARM64,
    which is what infra/functions.py deploys."""

    get_metric_data_per_1k_metrics: float = 0.01
    # (metrics in the tier, USD per metric-month): first 10k, next 240k, next 750k, over 1M
    custom_metric_tiers: tuple[tuple[float, float], ...] = (
        (10_000, 0.30),
        (240_000, 0.10),
        (750_000, 0.05),
        (INF, 0.02),
    )
    alarm_standard: float = 0.10  # per alarm metric-month, standard resolution
    dashboard: float = 3.00  # per dashboard-month
    logs_ingestion_per_gb: float = 0.50
    lambda_requests_per_million: float = 0.20
    lambda_arm_gb_second: float = 0.0000133334
    dynamodb_reads_per_million: float = 0.125  # on-demand read request units
    dynamodb_writes_per_million: float = 0.625  # on-demand write request units
    dynamodb_storage_gb_month: float = 0.25
    dynamodb_pitr_gb_month: float = 0.20
    sns_email_per_100k: float = 2.00
    sqs_requests_per_million: float = 0.40  # standard queue, per 64 KB chunk
    xray_traces_per_million: float = 5.00
    kms_key_month: float = 1.00
    s3_standard_gb_month: float = 0.023
    s3_puts_per_1k: float = 0.005
    # --- device signals (the plan's `devices` section) ---
    # AWS IoT Core rules engine: $0.15 per million rules triggered and $0.15 per million actions
    # executed (aws.amazon.com/iot-core/pricing, us-east-1).
    iot_rules_triggered_per_million: float = 0.15
    iot_rule_actions_per_million: float = 0.15
    # CloudWatch API requests (PutMetricData, as the topic rule's metric action calls it, and
    # GetInsightRuleReport): $0.01 per 1,000 requests (aws.amazon.com/cloudwatch/pricing).
    cloudwatch_requests_per_1k: float = 0.01
    # CloudWatch Contributor Insights for CloudWatch Logs: $0.50 per rule per month and $0.02 per
    # million log events that match a rule (aws.amazon.com/cloudwatch/pricing; free tier: 1 rule
    # and the first million matched events a month).
    contributor_insights_rule_month: float = 0.50
    contributor_insights_events_per_million: float = 0.02
    # AWS IoT Device Management fleet indexing (aws.amazon.com/iot-device-management/pricing, as
    # its worked examples state them): $2.25 per million index updates (1 KB increments; every
    # connect and disconnect is one with connectivity indexing) and $0.05 per 10,000 queries (we
    # count each fleet metric emission as one aggregation query).
    fleet_index_updates_per_million: float = 2.25
    fleet_index_queries_per_10k: float = 0.05


@dataclass(frozen=True)
class FreeTier:
    """The always-free monthly allowances, shared with everything else in the account."""

    lambda_requests: int = 1_000_000
    lambda_gb_seconds: int = 400_000
    custom_metrics: int = 10
    alarms: int = 10
    dashboards: int = 3
    dashboard_max_metrics: int = 50
    logs_gb: float = 5.0
    xray_traces: int = 100_000
    sns_emails: int = 1_000
    sqs_requests: int = 1_000_000
    dynamodb_storage_gb: float = 25.0
    cloudwatch_requests: int = 1_000_000  # API requests (not GetMetricData, GetInsightRuleReport)
    contributor_insights_rules: int = 1
    contributor_insights_events: int = 1_000_000


DEFAULT_PRICES = Prices()
DEFAULT_FREE_TIER = FreeTier()
