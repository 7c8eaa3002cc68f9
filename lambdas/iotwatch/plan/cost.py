"""What a monitoring plan costs per month on AWS, item by item.

Every price and every assumption lives in this module: `Prices` (us-east-1 list prices),
`Assumptions` (volumes and durations nobody can know from the plan: pages per month, audit
events, how long a run takes), and the function sizes the stack deploys. `estimate_cost`
is pure: a plan and assumptions in, a `CostEstimate` out, nothing read from AWS.

Conventions: a month is 30 days (720 hours; `Assumptions.month_days`), rate() schedules
fire month/interval times, a GB is 2**30 bytes, and nothing is subtracted for the free tier
(each item says what the always-free allowance would take off, in `free_tier_usd`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from iotwatch.adapters.cloudwatch import plan_batches
from iotwatch.adapters.emf import METRICS as PER_SERIES_EMF_METRICS
from iotwatch.adapters.emf import emf_document
from iotwatch.domain.deviation import PeriodScore
from iotwatch.domain.evaluation import lookback_periods
from iotwatch.domain.series import Series
from iotwatch.plan.loader import expand_series
from iotwatch.plan.model import Plan
from iotwatch.plan.schedule import cron_field_values, parse_schedule

PRICING_REGION = "us-east-1"
GB = 1024**3
DAY = 86400
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
    xray_traces_per_million: float = 5.00
    kms_key_month: float = 1.00
    s3_standard_gb_month: float = 0.023
    s3_puts_per_1k: float = 0.005


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
    dynamodb_storage_gb: float = 25.0


@dataclass(frozen=True)
class FunctionSize:
    name: str
    memory_mb: int
    timeout_seconds: int
    powertools_metrics: tuple[str, ...]  # names the handler adds through Powertools Metrics
    fanout_metrics: tuple[str, ...] = ()  # added only when the plan fans out (series > shard_size)

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024


# What infra/ deploys. The constructs pass these as literals (infra/detection.py,
# infra/baselines.py, infra/audit.py); tests/infrastructure/test_infra_cost.py checks that
# the synthesized template agrees, and tests/unit/test_plan_cost.py that the handlers emit
# exactly these metric names.
EVALUATOR = FunctionSize(
    "evaluator",
    512,
    60,
    (
        "SeriesEvaluated",
        "SeriesLearning",
        "SeriesFiring",
        "NotificationsSent",
        "DeviationsSilenced",
        "NotificationsFailed",
        "GetMetricDataCalls",
        "EvaluationCompleted",
    ),
    fanout_metrics=("ShardsQueued",),
)
BASELINE_BUILDER = FunctionSize("baseline builder", 1024, 300, ("BaselinesBuilt", "GetMetricDataCalls"))
AUDIT = FunctionSize("audit", 256, 30, ("AuditEvents", "AuditAlerts", "AuditEventsRejected"))
# infra/health.py: errors, throttles and duration per function; the evaluator heartbeat and
# the dead-letter queue for the stack.
ALARMS_PER_FUNCTION = 3
STACK_ALARMS = 2
DURATION_ALARM_FRACTION = 0.8  # infra/health.py alarms at 80% of the timeout
# infra/dashboard.py draws five metrics per series; four per function on the health row.
DASHBOARD_METRICS_PER_SERIES = 5
DASHBOARD_METRICS_PER_FUNCTION = 4
# bench/baseline_build.py measures the builder at 14 days of 5-minute periods per series.
BENCH_POINTS_PER_SERIES = 14 * DAY // 300


@dataclass(frozen=True)
class Assumptions:
    """What the plan cannot say. The CLI overrides the volumes (`--sms-per-month`, ...)."""

    month_days: int = 30
    # Lambda durations (billed, init included). The per-series figures are bench/ figures
    # (evaluator_scale: ~1.2 ms of Python per series; baseline_build: ~27 ms per series of
    # 4,032 points) on one full core, scaled to the CPU share of the memory size (Lambda
    # gives a full vCPU at 1,769 MB).
    evaluator_base_seconds: float = 1.5  # GetMetricData, two batch reads, the claim, cold starts averaged in
    evaluator_ms_per_series: float = 4.0
    builder_base_seconds: float = 2.0
    builder_seconds_per_call: float = 1.0  # one history GetMetricData call of up to 100,800 points
    builder_ms_per_series: float = 50.0  # at BENCH_POINTS_PER_SERIES points; scales with points
    audit_seconds_per_event: float = 2.0  # mostly cold starts at 256 MB: events are sparse
    deploys_per_month: int = 4  # each successful deploy rebuilds every baseline
    # Notifications: None means per subscriber in the plan.
    emails_per_month: int | None = None
    emails_per_subscriber: int = 100  # alerts, reminders and resolutions per e-mail address
    sms_per_month: int | None = None
    sms_per_subscriber: int = 20  # critical pages and their resolutions per phone
    sms_price_usd: float = 0.00645  # one part to a US number; other countries differ widely
    incidents_per_month: int = 10  # each one writes its alert state a few times
    state_writes_per_incident: int = 4
    # The audit (tools.audit): IoT control-plane write calls CloudTrail reports.
    audit_events_per_month: int = 1_000
    audit_distinct_actions: int = 10  # AuditEventsByAction has one metric per action seen
    trail_events_per_month: int = 100_000  # every write management event of the region
    trail_bytes_per_event: int = 300  # gzip-compressed in the trail's files
    # Item and log sizes (measured on the code: a 168-bucket baseline item is ~7.1 KB).
    baseline_item_kb: float = 7.5
    state_item_kb: float = 0.5
    audit_item_kb: float = 0.7
    evaluator_log_bytes_per_run: int = 1_500  # "evaluation complete" + the run's metrics document
    builder_log_bytes_per_run: int = 1_200
    audit_log_bytes_per_event: int = 1_600

    @property
    def month_hours(self) -> int:
        return self.month_days * 24

    @property
    def month_seconds(self) -> int:
        return self.month_days * DAY


DEFAULT_ASSUMPTIONS = Assumptions()
DEFAULT_PRICES = Prices()


@dataclass(frozen=True)
class LineItem:
    item: str
    quantity: float
    unit: str
    unit_price_usd: float  # per `price_per` units (tiered items: the first tier)
    price_per: int
    monthly_usd: float
    assumption: str
    free_tier_usd: float = 0.0  # what the always-free allowance would take off
    tiered: bool = False

    @property
    def price_text(self) -> str:
        """'$0.01 per 1,000 metrics', '$0.125 per 1M RRU', '$0.10 per alarm'."""
        per = {1: "", 1_000_000: "1M "}.get(self.price_per, f"{self.price_per:,} ")
        unit = self.unit
        if self.price_per == 1 and unit.endswith("s") and not unit.endswith("GB-s"):
            unit = unit.removesuffix("s")
        return f"{usd(self.unit_price_usd)} per {per}{unit}" + (", tiered" if self.tiered else "")


def usd(value: float) -> str:
    """A price without exponent or float noise, at least to the cent: $3.00, $0.125, $0.0000133334."""
    text = f"{value:.10f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${int(whole):,}.{cents.ljust(2, '0')}"


@dataclass(frozen=True)
class CostEstimate:
    plan_name: str
    series: int
    evaluations_per_month: float
    baseline_builds_per_month: float
    items: list[LineItem]
    assumptions: list[str]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return sum(i.monthly_usd for i in self.items)

    @property
    def free_tier_usd(self) -> float:
        return sum(i.free_tier_usd for i in self.items)

    def item(self, name: str) -> LineItem:
        (found,) = [i for i in self.items if i.item == name]
        return found

    def dominant(self, share: float = 0.75, limit: int = 3) -> list[LineItem]:
        """The fewest items (at most `limit`) that make up `share` of the total."""
        ranked = sorted(self.items, key=lambda i: i.monthly_usd, reverse=True)
        picked: list[LineItem] = []
        running = 0.0
        for item in ranked:
            if item.monthly_usd <= 0 or len(picked) >= limit:
                break
            picked.append(item)
            running += item.monthly_usd
            if running >= share * self.total_usd:
                break
        return picked


# --- schedules ---------------------------------------------------------------------------------


def _cron_count(text: str, low: int, high: int) -> int | None:
    """How many values a cron field selects in [low, high]; None when it cannot be told (L, W, #)."""
    values = cron_field_values(text, low, high)
    return None if values is None else len(values)


def runs_per_month(expression: str, month_days: int) -> tuple[float, str | None]:
    """How often an EventBridge schedule fires in a month; a note when it is an approximation."""
    schedule = parse_schedule(expression)
    if schedule.interval_seconds is not None:
        return month_days * DAY / schedule.interval_seconds, None
    assert schedule.cron_fields is not None
    minutes_f, hours_f, dom_f, month_f, dow_f, _year = schedule.cron_fields
    minutes, hours = _cron_count(minutes_f, 0, 59), _cron_count(hours_f, 0, 23)
    months = _cron_count(month_f, 1, 12)
    if dom_f in ("*", "?") and dow_f in ("*", "?"):
        days: float | None = month_days
    elif dom_f in ("*", "?"):
        weekdays = _cron_count(dow_f, 1, 7)
        days = None if weekdays is None else month_days * weekdays / 7
    else:
        dates = _cron_count(dom_f, 1, 31)
        days = None if dates is None else min(dates, month_days)
    if minutes is None or hours is None or days is None or months is None:
        return float(month_days), f"{expression}: counted as once a day (its fields could not be counted)"
    return minutes * hours * days * months / 12, None


# --- the estimate ------------------------------------------------------------------------------


def _typical_score(ts: int) -> PeriodScore:
    """A datapoint of a busy counter, for sizing the per-series EMF document."""
    return PeriodScore(
        ts=ts,
        actual=51234.0,
        expected=50123.456,
        lower=45012.345,
        upper=56234.567,
        score=-1.234,
        relative_change=0.022,
        severity=None,
        source="hour-of-week",
    )


def _emf_line_bytes(series: Series) -> int:
    """One series' EMF document as the evaluator prints it (with its newline)."""
    score = _typical_score(1_700_000_000)
    return len(emf_document(series.id, score, timestamp_ms=score.ts * 1000, service="iotwatch-evaluator")) + 1


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
    """Share of the month's hours with at least one run: custom metrics bill by the hour they
    receive data, so a metric published daily costs 1/24 of one published every hour."""
    return min(runs, month_hours) / month_hours if runs > 0 else 0.0


def _count(n: float) -> str:
    return f"{n:,.0f}" if abs(n - round(n)) < 1e-9 or n >= 100 else f"{n:,.1f}"


def estimate_cost(
    plan: Plan,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
    *,
    series_factor: int = 1,
    prices: Prices = DEFAULT_PRICES,
    free: FreeTier = FreeTier(),
) -> CostEstimate:
    """The plan's monthly cost. `series_factor` multiplies the watched series (10: "what if the
    fleet had ten times the protocols, rules, ..."), everything else unchanged."""
    a, p = assumptions, prices
    series: list[Series] = expand_series(plan) * series_factor
    n = len(series)
    hours = a.month_hours
    notes: list[str] = []
    warnings: list[str] = []

    evaluations, approx = runs_per_month(plan.frequency.evaluation, a.month_days)
    notes += [approx] if approx else []
    refreshes, approx = runs_per_month(plan.frequency.baseline_refresh, a.month_days)
    notes += [approx] if approx else []
    builds = refreshes + a.deploys_per_month
    audit = plan.tools.audit
    functions = [EVALUATOR, BASELINE_BUILDER, *([AUDIT] if audit else [])]
    events = a.audit_events_per_month if audit else 0

    # GetMetricData: billed per metric requested, i.e. one per series per call; the history
    # length changes how many calls a rebuild takes (100,800 datapoints each), not the price.
    window = lookback_periods(series) * plan.frequency.period_seconds
    evaluator_calls = len(plan_batches(series, start=0, end=window))
    by_period: dict[int, list[Series]] = {}
    for s in series:
        by_period.setdefault(s.period, []).append(s)
    history = plan.frequency.history_days * DAY
    builder_calls = sum(len(plan_batches(group, start=0, end=history)) for group in by_period.values())
    requested = n * evaluations + n * builds
    items = [
        LineItem(
            "CloudWatch GetMetricData",
            requested,
            "metrics",
            p.get_metric_data_per_1k_metrics,
            1000,
            requested / 1000 * p.get_metric_data_per_1k_metrics,
            f"{n} series x {_count(evaluations)} evaluations ({plan.frequency.evaluation}) + {n} series x "
            f"{_count(builds)} baseline builds ({_count(refreshes)} on {plan.frequency.baseline_refresh}, "
            f"{a.deploys_per_month} after deploys); one metric per series per call: "
            f"{evaluator_calls} call(s) per evaluation, {builder_calls} per build for "
            f"{plan.frequency.history_days} days of history (the calls, not the price, grow with it); "
            "no free tier",
        )
    ]

    # Lambda
    evaluator_seconds = a.evaluator_base_seconds + n * a.evaluator_ms_per_series / 1000
    points = sum(history // s.period for s in series)
    builder_seconds = (
        a.builder_base_seconds
        + builder_calls * a.builder_seconds_per_call
        + points / BENCH_POINTS_PER_SERIES * a.builder_ms_per_series / 1000
    )
    runs = {EVALUATOR.name: evaluations, BASELINE_BUILDER.name: builds, AUDIT.name: events}
    seconds = {
        EVALUATOR.name: evaluator_seconds,
        BASELINE_BUILDER.name: builder_seconds,
        AUDIT.name: a.audit_seconds_per_event,
    }
    invocations = sum(runs[f.name] for f in functions)
    items.append(
        LineItem(
            "Lambda requests",
            invocations,
            "invocations",
            p.lambda_requests_per_million,
            1_000_000,
            invocations / 1e6 * p.lambda_requests_per_million,
            " + ".join(f"{_count(runs[f.name])} {f.name}" for f in functions),
            free_tier_usd=min(invocations, free.lambda_requests) / 1e6 * p.lambda_requests_per_million,
        )
    )
    free_gbs = float(free.lambda_gb_seconds)
    for f in functions:
        gb_seconds = runs[f.name] * seconds[f.name] * f.memory_gb
        covered = min(gb_seconds, free_gbs)
        free_gbs -= covered
        how = {
            EVALUATOR.name: f"{a.evaluator_base_seconds:g} s + {a.evaluator_ms_per_series:g} ms x {n} series",
            BASELINE_BUILDER.name: f"{a.builder_base_seconds:g} s + {a.builder_seconds_per_call:g} s x "
            f"{builder_calls} history call(s) + {a.builder_ms_per_series:g} ms per "
            f"{BENCH_POINTS_PER_SERIES:,} datapoints x {points:,} datapoints",
            AUDIT.name: "per event; mostly cold starts, as audit events are sparse",
        }[f.name]
        items.append(
            LineItem(
                f"Lambda {f.name} compute",
                gb_seconds,
                "GB-s",
                p.lambda_arm_gb_second,
                1,
                gb_seconds * p.lambda_arm_gb_second,
                f"{_count(runs[f.name])} runs x {seconds[f.name]:.2f} s ({how}) x {f.memory_mb} MB arm64",
                free_tier_usd=covered * p.lambda_arm_gb_second,
            )
        )
        limit = f.timeout_seconds * DURATION_ALARM_FRACTION
        if runs[f.name] and seconds[f.name] >= limit:
            warnings.append(
                f"the {f.name} would run about {seconds[f.name]:.0f} s, past its duration alarm "
                f"({limit:.0f} s of its {f.timeout_seconds} s timeout): raise its memory or timeout in infra/"
            )

    # DynamoDB on-demand (strongly consistent reads: 1 RRU per 4 KB; writes: 1 WRU per KB)
    baseline_rru, state_rru = math.ceil(a.baseline_item_kb / 4), math.ceil(a.state_item_kb / 4)
    baseline_wru = math.ceil(a.baseline_item_kb)
    reads_per_evaluation = 2 + n * (baseline_rru + state_rru)
    # a run that pages with the audit on reads the control-plane calls of the incident's window
    incident_reads = a.incidents_per_month if audit else 0
    reads = evaluations * reads_per_evaluation + builds * n * baseline_rru + incident_reads
    writes = (
        evaluations
        + builds * n * baseline_wru
        + a.incidents_per_month * a.state_writes_per_incident
        + events * math.ceil(a.audit_item_kb)
    )
    items.append(
        LineItem(
            "DynamoDB reads",
            reads,
            "RRU",
            p.dynamodb_reads_per_million,
            1_000_000,
            reads / 1e6 * p.dynamodb_reads_per_million,
            f"per evaluation: outbox + silences queries (1 each) + {n} baselines x {baseline_rru} "
            f"(~{a.baseline_item_kb:g} KB items) + {n} states x {state_rru}, all strongly consistent; "
            f"each build re-reads the {n} baselines"
            + (f"; {incident_reads} incidents read the audit calls once each" if audit else "")
            + "; no free tier on on-demand",
        )
    )
    items.append(
        LineItem(
            "DynamoDB writes",
            writes,
            "WRU",
            p.dynamodb_writes_per_million,
            1_000_000,
            writes / 1e6 * p.dynamodb_writes_per_million,
            f"1 run claim per evaluation + {n} baselines x {baseline_wru} per build + "
            f"{a.incidents_per_month} incidents x {a.state_writes_per_incident} state writes"
            + (f" + {events:,} audit records" if audit else "")
            + "; TTL deletes are free",
        )
    )
    stored_kb = (
        n * (a.baseline_item_kb + a.state_item_kb)
        + events * plan.audit.retention_days / a.month_days * a.audit_item_kb
    )
    stored_gb = stored_kb * 1024 / GB
    storage_price = p.dynamodb_storage_gb_month + p.dynamodb_pitr_gb_month
    items.append(
        LineItem(
            "DynamoDB storage + backups",
            stored_gb,
            "GB-months",
            storage_price,
            1,
            stored_gb * storage_price,
            "baselines and states"
            + (f", {plan.audit.retention_days} days of audit records" if audit else "")
            + f"; {usd(p.dynamodb_storage_gb_month)} storage + {usd(p.dynamodb_pitr_gb_month)} "
            "point-in-time recovery per GB-month",
            free_tier_usd=min(stored_gb, free.dynamodb_storage_gb) * p.dynamodb_storage_gb_month,
        )
    )

    # Custom metrics (EMF and Powertools), billed per metric-month, prorated by the hour
    evaluator_cover = _coverage(evaluations, hours)
    run_metrics = len(EVALUATOR.powertools_metrics) + (
        len(EVALUATOR.fanout_metrics) if n > plan.frequency.shard_size else 0
    )
    metric_months = (
        run_metrics * evaluator_cover
        + len(PER_SERIES_EMF_METRICS) * n * evaluator_cover
        + len(BASELINE_BUILDER.powertools_metrics) * _coverage(builds, hours)
    )
    if audit:
        metric_months += len(AUDIT.powertools_metrics) * _coverage(events, hours)
        per_action = events / max(a.audit_distinct_actions, 1)
        metric_months += a.audit_distinct_actions * _coverage(per_action, hours)
    tiers = p.custom_metric_tiers
    metrics_cost = _tiered(metric_months, tiers)
    items.append(
        LineItem(
            "CloudWatch custom metrics",
            metric_months,
            "metric-months",
            p.custom_metric_tiers[0][1],
            1,
            metrics_cost,
            f"evaluator: {run_metrics} run metrics + {len(PER_SERIES_EMF_METRICS)} per "
            f"series ({', '.join(PER_SERIES_EMF_METRICS)}) x {n}; builder: "
            f"{len(BASELINE_BUILDER.powertools_metrics)}, billed only in the hours it runs"
            + (
                f"; audit: {len(AUDIT.powertools_metrics)} + AuditEventsByAction for "
                f"{a.audit_distinct_actions} distinct actions"
                if audit
                else ""
            )
            + "; a metric costs only for the hours it receives data",
            free_tier_usd=metrics_cost - _tiered(max(0.0, metric_months - free.custom_metrics), tiers),
            tiered=True,
        )
    )

    alarms = ALARMS_PER_FUNCTION * len(functions) + STACK_ALARMS
    items.append(
        LineItem(
            "CloudWatch alarms",
            alarms,
            "alarms",
            p.alarm_standard,
            1,
            alarms * p.alarm_standard,
            f"what infra/health.py creates: {ALARMS_PER_FUNCTION} per function (errors, throttles, duration) "
            f"x {len(functions)} + evaluator heartbeat + dead letters; standard resolution",
            free_tier_usd=min(alarms, free.alarms) * p.alarm_standard,
        )
    )

    dashboards = 1 if plan.tools.dashboard else 0
    drawn = DASHBOARD_METRICS_PER_SERIES * n + DASHBOARD_METRICS_PER_FUNCTION * len(functions)
    fits_free = drawn <= free.dashboard_max_metrics
    items.append(
        LineItem(
            "CloudWatch dashboard",
            dashboards,
            "dashboards",
            p.dashboard,
            1,
            dashboards * p.dashboard,
            (
                f"tools.dashboard: one dashboard drawing at least {drawn} metrics "
                f"({DASHBOARD_METRICS_PER_SERIES} per series + iotwatch's health); the free tier's 3 "
                f"dashboards hold at most {free.dashboard_max_metrics} metrics each"
                if dashboards
                else "tools.dashboard is off"
            ),
            free_tier_usd=dashboards * p.dashboard if fits_free else 0.0,
        )
    )

    # SNS
    email_subscribers = sum(1 for t in plan.notify.topics for s in t.subscribers if s.protocol == "email")
    sms_subscribers = sum(1 for t in plan.notify.topics for s in t.subscribers if s.protocol == "sms")
    emails = (
        a.emails_per_month if a.emails_per_month is not None else a.emails_per_subscriber * email_subscribers
    )
    sms = a.sms_per_month if a.sms_per_month is not None else a.sms_per_subscriber * sms_subscribers
    items.append(
        LineItem(
            "SNS e-mail deliveries",
            emails,
            "e-mails",
            p.sns_email_per_100k,
            100_000,
            emails / 100_000 * p.sns_email_per_100k,
            (
                f"assumed {emails:,} per month"
                if a.emails_per_month is not None
                else f"{a.emails_per_subscriber} per month x {email_subscribers} e-mail subscriber(s)"
            )
            + "; publishes themselves: first 1M free, then $0.50 per million",
            free_tier_usd=min(emails, free.sns_emails) / 100_000 * p.sns_email_per_100k,
        )
    )
    items.append(
        LineItem(
            "SNS SMS deliveries",
            sms,
            "SMS",
            a.sms_price_usd,
            1,
            sms * a.sms_price_usd,
            (
                f"assumed {sms:,} per month (--sms-per-month)"
                if a.sms_per_month is not None
                else f"{a.sms_per_subscriber} per month x {sms_subscribers} SMS subscriber(s) (--sms-per-month)"
            )
            + f"; ${a.sms_price_usd:g} per one-part message is an assumed US price (--sms-price): "
            "SMS prices depend on the destination country",
        )
    )

    # CloudWatch Logs
    emf_bytes = sum(_emf_line_bytes(s) for s in series)
    log_bytes = (
        evaluations * (a.evaluator_log_bytes_per_run + emf_bytes)
        + builds * a.builder_log_bytes_per_run
        + events * a.audit_log_bytes_per_event
    )
    log_gb = log_bytes / GB
    items.append(
        LineItem(
            "CloudWatch Logs ingestion",
            log_gb,
            "GB",
            p.logs_ingestion_per_gb,
            1,
            log_gb * p.logs_ingestion_per_gb,
            f"evaluator {(a.evaluator_log_bytes_per_run + emf_bytes) / 1024:,.1f} KB per run "
            f"({a.evaluator_log_bytes_per_run:,} B of log and run metrics + {emf_bytes / max(n, 1):,.0f} B "
            f"EMF per series), builder {a.builder_log_bytes_per_run:,} B per run"
            + (f", audit {a.audit_log_bytes_per_event:,} B per event" if audit else "")
            + "; START/END/REPORT lines are filtered out (system log level WARN); "
            "one month's retention: storage ~$0.03 per GB-month compressed, negligible",
            free_tier_usd=min(log_gb, free.logs_gb) * p.logs_ingestion_per_gb,
        )
    )

    items.append(
        LineItem(
            "X-Ray traces",
            invocations,
            "traces",
            p.xray_traces_per_million,
            1_000_000,
            invocations / 1e6 * p.xray_traces_per_million,
            "active tracing on every function; at under one invocation a second each is sampled",
            free_tier_usd=min(invocations, free.xray_traces) / 1e6 * p.xray_traces_per_million,
        )
    )
    items.append(
        LineItem(
            "KMS key (alert topics)",
            1,
            "keys",
            p.kms_key_month,
            1,
            p.kms_key_month,
            "one customer-managed key with yearly rotation: +$1/month after each of the first two "
            "rotations ($3 from the third year); its requests stay within KMS's 20,000 free",
        )
    )

    if audit and plan.audit.create_trail:
        monthly_gb = a.trail_events_per_month * a.trail_bytes_per_event / GB
        stored = monthly_gb * plan.audit.trail_retention_days / a.month_days
        # log files about every 5 minutes, digests hourly, and an access-log object for each
        puts = 2 * a.month_days * (288 + 24)
        cost = stored * p.s3_standard_gb_month + puts / 1000 * p.s3_puts_per_1k
        items.append(
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
        )

    general = [
        f"us-east-1 list prices in USD (other regions differ); a {a.month_days}-day month ({hours} h); "
        "nothing subtracted for the free tier",
        f"{n} series"
        + (f" ({series_factor}x the plan's)" if series_factor != 1 else "")
        + f": evaluation {plan.frequency.evaluation} = {_count(evaluations)} runs a month; "
        f"baseline refresh {plan.frequency.baseline_refresh} = {_count(refreshes)} builds + "
        f"{a.deploys_per_month} after deploys",
        f"Lambda arm64: evaluator {EVALUATOR.memory_mb} MB, baseline builder {BASELINE_BUILDER.memory_mb} MB"
        + (f", audit {AUDIT.memory_mb} MB" if audit else "")
        + " (the sizes in infra/; durations from bench/ scaled to the memory's CPU share)",
    ]
    if audit:
        general.append(
            f"audit: {events:,} IoT control-plane write calls a month (--audit-events-per-month), "
            f"{a.audit_distinct_actions} distinct actions"
        )
        if not plan.audit.create_trail:
            notes.append(
                "audit.create_trail is false: the audit relies on a trail the account already has in "
                "this region (its S3 storage is billed there); with create_trail the stack adds an S3 item"
            )
    notes.append(
        "not itemized, free or negligible: EventBridge schedules and AWS service events, SNS publishes "
        "(first million free), the SQS dead-letter queue while empty, KMS requests"
    )
    if sms:
        notes.append(
            "US SMS also needs an origination identity (e.g. a toll-free number, about $2/month, "
            "registered before use); new accounts start in the SMS sandbox with a $1/month spend limit"
        )
    return CostEstimate(
        plan_name=plan.name,
        series=n,
        evaluations_per_month=evaluations,
        baseline_builds_per_month=builds,
        items=items,
        assumptions=general,
        notes=notes,
        warnings=warnings,
    )
