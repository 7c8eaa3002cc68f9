"""What a monitoring plan costs per month on AWS, item by item.

Every price and every assumption lives in this module: `Prices` (us-east-1 list prices),
`Assumptions` (volumes and durations nobody can know from the plan: pages per month, audit
events, dashboard views, how long a run takes, how big a stored item is), and the function
sizes the stack deploys. `estimate_cost` is pure: a plan (plus the series its "*" metrics
discover, when known) and assumptions in, a `CostEstimate` out, nothing read from AWS.

What grows with the series is what evaluation must read: GetMetricData at one metric per
series and tick (the floor; a share of attempts reads each metric it adds up, and a metric
read by several series once), the series' state and likelihood tracker in DynamoDB, and the
evaluator's compute. Nothing is published per series: the dashboard draws each band when
someone looks (a few reads per view), and the logs of a tick list only the series that
changed.

Conventions: a month is 30 days (720 hours; `Assumptions.month_days`), rate() schedules
fire month/interval times, a GB is 2**30 bytes, and nothing is subtracted for the free tier
(each item says what the always-free allowance would take off, in `free_tier_usd`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from iotwatch.adapters.cloudwatch import MAX_DATAPOINTS_PER_CALL, MAX_QUERIES_PER_CALL, plan_batches
from iotwatch.domain.discovery import MAX_SERIES_PER_TEMPLATE, SeriesTemplate
from iotwatch.domain.ratios import metric_queries, query_weight
from iotwatch.domain.series import Series
from iotwatch.domain.sharding import size_at_floor
from iotwatch.plan.loader import expand_series, expand_templates
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
    sqs_requests_per_million: float = 0.40  # standard queue, per 64 KB chunk
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
    sqs_requests: int = 1_000_000
    dynamodb_storage_gb: float = 25.0


@dataclass(frozen=True)
class FunctionSize:
    name: str
    memory_mb: int
    timeout_seconds: int
    # names the handler adds through Powertools Metrics on every run...
    powertools_metrics: tuple[str, ...] = ()
    # ...only in the runs where they count something (a custom metric costs for the hours it has data)...
    event_metrics: tuple[str, ...] = ()
    # ...and only when the run fans out (series > its shard size)
    fanout_metrics: tuple[str, ...] = ()

    @property
    def memory_gb(self) -> float:
        return self.memory_mb / 1024


# What infra/ deploys. The constructs pass these as literals (infra/detection.py,
# infra/baselines.py, infra/audit.py, infra/band_widget.py); tests/infrastructure/test_infra_cost.py
# checks that the synthesized template agrees, and tests/unit/test_plan_cost.py that the
# handlers emit exactly these metric names.
EVALUATOR = FunctionSize(
    "evaluator",
    512,
    60,
    ("EvaluationCompleted",),
    ("SeriesFiring", "NotificationsSent", "DeviationsSilenced", "NotificationsFailed"),
    ("ShardsQueued",),
)
BASELINE_BUILDER = FunctionSize(
    "baseline builder", 1024, 300, ("BaselinesBuilt", "GetMetricDataCalls"), fanout_metrics=("ShardsQueued",)
)
AUDIT = FunctionSize("audit", 256, 30, ("AuditEvents",), ("AuditAlerts", "AuditEventsRejected"))
BAND_WIDGET = FunctionSize("band widget", 256, 30)
# infra/health.py: errors, throttles and duration per function it watches (not the band
# widget: a draw that fails says so to whoever looks); the evaluator heartbeat and the
# dead-letter queue for the stack.
ALARMS_PER_FUNCTION = 3
STACK_ALARMS = 2
DURATION_ALARM_FRACTION = 0.8  # infra/health.py alarms at 80% of the timeout
# infra/dashboard.py: metrics drawn besides the per-function health rows (series now, incidents
# and notifications, GetMetricData calls, dead letters; + audit events and alerts); band
# widgets and the calls-by-action table draw no metric. CloudWatch: 500 widgets a dashboard.
DASHBOARD_FIXED_METRICS = 10
DASHBOARD_AUDIT_METRICS = 5
DASHBOARD_METRICS_PER_FUNCTION = 4
DASHBOARD_MAX_WIDGETS = 500
DASHBOARD_FIXED_WIDGETS = 14  # header, now row, audit row, health rows
# bench/fanout_scale.py measures a build shard at 14 days of 5-minute periods per series.
BENCH_POINTS_PER_SERIES = 14 * DAY // 300
# Lambda gives one full vCPU at 1,769 MB and a proportional share below it.
FULL_VCPU_MB = 1769


def cpu_share(memory_mb: int) -> float:
    """The share of a vCPU a function of `memory_mb` gets (at most 1 for these sizes)."""
    return min(1.0, memory_mb / FULL_VCPU_MB)


@dataclass(frozen=True)
class Assumptions:
    """What the plan cannot say. The CLI overrides the volumes (`--sms-per-month`, ...)."""

    month_days: int = 30
    # Lambda durations (billed, init included), kept above what bench/fanout_scale.py measures
    # on one core (an evaluator shard: ~0.4 ms of CPU per series, 2,000 series cold; a build
    # shard: ~6 ms per series of 4,032 points) scaled to the CPU share of the memory size,
    # plus the calls' latency.
    evaluator_base_seconds: float = 1.5  # GetMetricData, the batch reads, the claim, cold starts averaged in
    evaluator_ms_per_series: float = 4.0
    builder_base_seconds: float = 2.0
    builder_seconds_per_call: float = 1.0  # one history GetMetricData call of up to 100,800 points
    builder_ms_per_series: float = 50.0  # at BENCH_POINTS_PER_SERIES points; scales with points
    audit_seconds_per_event: float = 2.0  # mostly cold starts at 256 MB: events are sparse
    deploys_per_month: int = 4  # each successful deploy rebuilds every baseline
    # A warm evaluator keeps decoded baselines until the builder writes a new generation; it
    # reads them again when its container is new. A fanned-out tick's shards land on whichever
    # container is free, so they are counted as reading every baseline every tick.
    evaluator_cold_starts_per_day: int = 24
    # Notifications: None means per subscriber in the plan.
    emails_per_month: int | None = None
    emails_per_subscriber: int = 100  # alerts, reminders and resolutions per e-mail address
    sms_per_month: int | None = None
    sms_per_subscriber: int = 20  # critical pages and their resolutions per phone
    sms_price_usd: float = 0.00645  # one part to a US number; other countries differ widely
    incidents_per_month: int = 10  # each one writes its alert state a few times
    state_writes_per_incident: int = 4
    # the incident item (members, per-topic log, timeline): written when it opens, as members
    # join or recover, on updates and when it resolves; read every tick while it is open
    incident_item_kb: float = 5.0
    incident_writes_per_incident: int = 8
    # Event counters are published only in the hours that have events.
    firing_hours_per_incident: float = 2.0  # SeriesFiring, each tick an incident fires
    notifying_hours_per_incident: float = 2.0  # NotificationsSent: the page and the resolve
    series_per_incident: int = 5  # listed in each firing tick's log
    silenced_hours_per_month: float = 8.0  # DeviationsSilenced: maintenance windows that hold a page
    failed_notification_hours_per_month: float = 1.0  # NotificationsFailed
    # The audit (tools.audit): IoT control-plane write calls CloudTrail reports.
    audit_events_per_month: int = 1_000
    audit_alerts_per_month: int = 20  # sensitive calls that page (AuditAlerts)
    trail_events_per_month: int = 100_000  # every write management event of the region
    trail_bytes_per_event: int = 300  # gzip-compressed in the trail's files
    # The dashboard: each view draws every band widget on it once (one Lambda draw, one metric
    # read, a baseline and a state read). A screen left on auto-refresh is many views: a
    # 1-minute refresh is ~43,200 a month (--dashboard-views-per-month).
    dashboard_views_per_month: int = 300
    band_widget_seconds_per_draw: float = 0.3  # mostly warm: a view draws its widgets together
    # Item and log sizes (measured on the code: a 168-bucket baseline item is ~7.1 KB; the
    # likelihood tracker, written every tick, ~0.9 KB; tests/unit/test_plan_cost.py checks both).
    baseline_item_kb: float = 7.5
    state_item_kb: float = 0.5
    tracker_item_kb: float = 1.0  # ~0.9 KB measured, one write unit: change here when the tracker grows
    audit_item_kb: float = 0.7
    shard_result_kb: float = 1.0  # a fanned-out tick's shard result: its transitions and changed states
    evaluator_log_bytes_per_run: int = 1_500  # "evaluation complete" + the run's metrics document
    changed_series_log_bytes: int = 170  # one series in a tick's list of the series that changed
    builder_log_bytes_per_run: int = 1_200
    audit_log_bytes_per_event: int = 1_400
    band_widget_log_bytes_per_draw: int = 350
    # An idle SQS event source mapping long-polls its queue: Lambda keeps 2 to 5 pollers, each
    # a 20-second ReceiveMessage, on a queue with nothing in it.
    idle_queue_pollers: int = 5

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
    discovered: int = 0  # of `series`, how many the plan's "*" metrics discover
    queries: int = 0  # distinct metric queries one evaluation reads (a share reads its parts)
    # reading one metric at every evaluation, the least any evaluator of it must pay
    floor_per_metric_usd: float = 0.0

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


def per_added_metric(base: CostEstimate, more: CostEstimate) -> float:
    """What each metric `more` reads beyond `base` adds to the month: a series of one metric,
    or each part a share of attempts reads that nothing else did."""
    added = more.queries - base.queries
    return (more.total_usd - base.total_usd) / added if added else 0.0


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


def _count(n: float) -> str:
    return f"{n:,.0f}" if abs(n - round(n)) < 1e-9 or n >= 100 else f"{n:,.1f}"


def shard_counts(n: int, shard_size: int, per_call: int) -> list[int]:
    """Series per invocation of a run over `n` series (domain.sharding: whole calls per shard)."""
    if n <= shard_size:
        return [n]
    size = size_at_floor(shard_size, per_call)
    full, rest = divmod(n, size)
    return [size] * full + ([rest] if rest else [])


def expected_discovered(templates: Sequence[SeriesTemplate], count: int) -> list[Series]:
    """`count` stand-in series spread over the plan's "*" metrics (at most MAX_SERIES_PER_TEMPLATE
    each, as discovery watches), for costing a fleet whose values are not listed yet."""
    out: list[Series] = []
    for i in range(min(count, len(templates) * MAX_SERIES_PER_TEMPLATE)):
        template = templates[i % len(templates)]
        values = tuple((k, f"expected-{i:06d}") for k in template.wildcard)
        out.append(template.series(tuple(sorted([*template.fixed, *values]))))
    return out


def build_shard_size(plan: Plan) -> int:
    from iotwatch.plan.runtime import runtime_plan

    return runtime_plan(plan).frequency.build_shard_size


def estimate_cost(
    plan: Plan,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
    *,
    series_factor: int = 1,
    discovered: Sequence[Series] = (),
    prices: Prices = DEFAULT_PRICES,
    free: FreeTier = FreeTier(),
) -> CostEstimate:
    """The plan's monthly cost. `discovered`: the series its "*" metrics discover (from the
    deployed table, or as many as expected). `series_factor` multiplies the watched series
    (10: "what if the fleet had ten times the protocols, rules, ..."), everything else unchanged."""
    a, p = assumptions, prices
    named = expand_series(plan) * series_factor
    series: list[Series] = [*named, *(list(discovered) * series_factor)]
    n = len(series)
    # what a tick reads: each distinct metric query once (`series_factor` copies of the plan's)
    queries = metric_queries([*expand_series(plan), *discovered])
    q = len(queries) * series_factor
    weight = sum(query_weight(s) for s in series)  # fanned out, shards are cut by it
    hours = a.month_hours
    notes: list[str] = []
    warnings: list[str] = []
    frequency = plan.frequency

    evaluations, approx = runs_per_month(frequency.evaluation, a.month_days)
    notes += [approx] if approx else []
    refreshes, approx = runs_per_month(frequency.baseline_refresh, a.month_days)
    notes += [approx] if approx else []
    builds = refreshes + a.deploys_per_month
    audit = plan.tools.audit
    dashboard = plan.tools.dashboard
    history = frequency.history_days * DAY
    points = sum(history // s.period for s in queries) * series_factor

    # How the runs split: an evaluator tick above shard_size queries fans out (shards of whole
    # 500-query calls), a build above its build shard size likewise.
    eval_shards = shard_counts(q, frequency.shard_size, MAX_QUERIES_PER_CALL)
    if len(eval_shards) > 1:  # shards are cut by each series' own queries: shared ones once per shard
        eval_shards = shard_counts(weight, frequency.shard_size, MAX_QUERIES_PER_CALL)
    eval_fans_out = len(eval_shards) > 1
    build_size = build_shard_size(plan)
    most_points = max(1, history // min((s.period for s in series), default=frequency.period_seconds))
    per_call = max(1, min(MAX_QUERIES_PER_CALL, MAX_DATAPOINTS_PER_CALL // most_points))
    build_shards = shard_counts(q, build_size, per_call)
    build_fans_out = len(build_shards) > 1
    templates = expand_templates(plan)
    eval_queue = bool(templates) or len(named) > frequency.shard_size
    build_queue = bool(templates) or len(named) > build_size

    # The dashboard draws each named series with a band widget (up to the widget limit); a
    # view draws each widget once.
    drawn = 0
    if dashboard:
        room = DASHBOARD_MAX_WIDGETS - DASHBOARD_FIXED_WIDGETS - len(templates)
        drawn = min(len(named), max(0, room))
    draws = a.dashboard_views_per_month * drawn if dashboard else 0
    # a share's widget reads each of its parts
    draw_metrics = (
        a.dashboard_views_per_month * sum(query_weight(s) for s in named[:drawn]) if dashboard else 0
    )

    # GetMetricData: billed per metric requested, i.e. one per series per call; the history
    # length changes how many calls a rebuild takes (100,800 datapoints each), not the price.
    evaluator_calls = sum(-(-k // MAX_QUERIES_PER_CALL) for k in eval_shards)
    by_period: dict[int, list[Series]] = {}
    for query in queries * series_factor:
        by_period.setdefault(query.period, []).append(query)
    builder_calls = sum(len(plan_batches(group, start=0, end=history)) for group in by_period.values())
    requested = q * evaluations + q * builds + draw_metrics
    floor_per_metric = evaluations / 1000 * p.get_metric_data_per_1k_metrics
    shares = sum(1 for s in series if s.ratio is not None)
    read_as = f"{q} metric queries ({shares} shares read their parts)" if shares else f"{n} series"
    items = [
        LineItem(
            "CloudWatch GetMetricData",
            requested,
            "metrics",
            p.get_metric_data_per_1k_metrics,
            1000,
            requested / 1000 * p.get_metric_data_per_1k_metrics,
            f"{read_as} x {_count(evaluations)} evaluations ({frequency.evaluation}) + {read_as} x "
            f"{_count(builds)} baseline builds ({_count(refreshes)} on {frequency.baseline_refresh}, "
            f"{a.deploys_per_month} after deploys)"
            + (
                f" + {draw_metrics:,} metrics for band widget draws ({a.dashboard_views_per_month} dashboard "
                f"views x {drawn} widgets)"
                if draws
                else ""
            )
            + f"; one metric per query per call: {evaluator_calls} call(s) per evaluation "
            f"(the floor, ceil(N/500){', over ' + str(len(eval_shards)) + ' shards' if eval_fans_out else ''}), "
            f"{builder_calls} per build for {frequency.history_days} days of history (the calls, not the "
            "price, grow with it); a new series' first tick also reads its last week, once; no free tier",
        )
    ]

    # Lambda
    shard_evals = len(eval_shards) if eval_fans_out else 0
    evaluator_invocations = evaluations * (1 + shard_evals)
    evaluator_seconds_per_tick = (
        a.evaluator_base_seconds * (1 + shard_evals) + n * a.evaluator_ms_per_series / 1000
    )
    shard_builds = len(build_shards) if build_fans_out else 0
    builder_invocations = builds * (1 + shard_builds)
    builder_seconds_per_build = (
        a.builder_base_seconds * (1 + shard_builds)
        + builder_calls * a.builder_seconds_per_call
        + points / BENCH_POINTS_PER_SERIES * a.builder_ms_per_series / 1000
    )
    events = a.audit_events_per_month if audit else 0
    functions = [
        EVALUATOR,
        BASELINE_BUILDER,
        *([AUDIT] if audit else []),
        *([BAND_WIDGET] if dashboard else []),
    ]
    invocations_of = {
        EVALUATOR.name: evaluator_invocations,
        BASELINE_BUILDER.name: builder_invocations,
        AUDIT.name: events,
        BAND_WIDGET.name: draws,
    }
    seconds_of = {  # per month, per function
        EVALUATOR.name: evaluations * evaluator_seconds_per_tick,
        BASELINE_BUILDER.name: builds * builder_seconds_per_build,
        AUDIT.name: events * a.audit_seconds_per_event,
        BAND_WIDGET.name: draws * a.band_widget_seconds_per_draw,
    }
    how_of = {
        EVALUATOR.name: (
            f"{_count(evaluations)} ticks x ({1 + shard_evals} invocation(s) x {a.evaluator_base_seconds:g} s + "
            f"{a.evaluator_ms_per_series:g} ms x {n} series)"
        ),
        BASELINE_BUILDER.name: (
            f"{_count(builds)} builds x ({1 + shard_builds} invocation(s) x {a.builder_base_seconds:g} s + "
            f"{a.builder_seconds_per_call:g} s x {builder_calls} history call(s) + {a.builder_ms_per_series:g} ms "
            f"per {BENCH_POINTS_PER_SERIES:,} datapoints x {points:,} datapoints)"
        ),
        AUDIT.name: f"{events:,} events x {a.audit_seconds_per_event:g} s (mostly cold starts, as audit events are sparse)",
        BAND_WIDGET.name: f"{draws:,} draws x {a.band_widget_seconds_per_draw:g} s",
    }
    invocations = sum(invocations_of[f.name] for f in functions)
    items.append(
        LineItem(
            "Lambda requests",
            invocations,
            "invocations",
            p.lambda_requests_per_million,
            1_000_000,
            invocations / 1e6 * p.lambda_requests_per_million,
            " + ".join(f"{_count(invocations_of[f.name])} {f.name}" for f in functions)
            + (f" (each tick: 1 + {shard_evals} shards)" if eval_fans_out else "")
            + (f" (each build: 1 + {shard_builds} shards)" if build_fans_out else ""),
            free_tier_usd=min(invocations, free.lambda_requests) / 1e6 * p.lambda_requests_per_million,
        )
    )
    free_gbs = float(free.lambda_gb_seconds)
    for f in functions:
        gb_seconds = seconds_of[f.name] * f.memory_gb
        covered = min(gb_seconds, free_gbs)
        free_gbs -= covered
        items.append(
            LineItem(
                f"Lambda {f.name} compute",
                gb_seconds,
                "GB-s",
                p.lambda_arm_gb_second,
                1,
                gb_seconds * p.lambda_arm_gb_second,
                f"{how_of[f.name]} x {f.memory_mb} MB arm64",
                free_tier_usd=covered * p.lambda_arm_gb_second,
            )
        )
    # the longest single invocation of each, against its duration alarm
    longest = {
        EVALUATOR.name: a.evaluator_base_seconds + max(eval_shards) * a.evaluator_ms_per_series / 1000,
        BASELINE_BUILDER.name: a.builder_base_seconds
        + max(build_shards)
        / max(n, 1)
        * (builder_seconds_per_build - a.builder_base_seconds * (1 + shard_builds)),
    }
    for f in (EVALUATOR, BASELINE_BUILDER):
        limit = f.timeout_seconds * DURATION_ALARM_FRACTION
        if longest[f.name] >= limit:
            warnings.append(
                f"the {f.name} would run about {longest[f.name]:.0f} s, past its duration alarm "
                f"({limit:.0f} s of its {f.timeout_seconds} s timeout): lower its shard size or raise its "
                "memory or timeout in infra/"
            )

    # DynamoDB on-demand (strongly consistent reads: 1 RRU per 4 KB; writes: 1 WRU per KB)
    baseline_rru, state_rru = math.ceil(a.baseline_item_kb / 4), math.ceil(a.state_item_kb / 4)
    tracker_rru, tracker_wru = math.ceil(a.tracker_item_kb / 4), math.ceil(a.tracker_item_kb)
    baseline_wru = math.ceil(a.baseline_item_kb)
    evaluating = len(eval_shards)  # invocations that read and score series, per tick
    if eval_fans_out:
        baseline_reads = evaluations * n * baseline_rru
        baselines_how = "every tick (a shard lands on any container)"
    else:
        rereads = a.evaluator_cold_starts_per_day * a.month_days + builds
        baseline_reads = min(evaluations, rereads) * n * baseline_rru
        baselines_how = f"on {a.evaluator_cold_starts_per_day} cold starts a day and after each build"
    # generation + silences per evaluating invocation; outbox; the open incidents' ids; the completed mark
    per_tick_reads = evaluating * 2 + 3 + n * (state_rru + tracker_rru)
    open_incident_ticks = (
        a.incidents_per_month * a.firing_hours_per_incident * 3600 / frequency.period_seconds
    )
    open_incident_reads = math.ceil(open_incident_ticks * math.ceil(a.incident_item_kb / 4))
    fanout_reads = (shard_evals * 3 + math.ceil(shard_evals * a.shard_result_kb / 4)) if eval_fans_out else 0
    incident_reads = a.incidents_per_month if audit else 0
    draw_reads = draws * (baseline_rru + state_rru)
    build_reads = builds * (n * baseline_rru + shard_builds)
    reads = (
        evaluations * (per_tick_reads + fanout_reads)
        + baseline_reads
        + build_reads
        + incident_reads
        + open_incident_reads
        + draw_reads
    )
    items.append(
        LineItem(
            "DynamoDB reads",
            reads,
            "RRU",
            p.dynamodb_reads_per_million,
            1_000_000,
            reads / 1e6 * p.dynamodb_reads_per_million,
            f"per tick: {n} states x {state_rru} + {n} trackers x {tracker_rru} (~{a.tracker_item_kb:g} KB) + "
            f"outbox, silences, the baseline generation, the open incidents' ids and the completed mark, and "
            f"each open incident (~{a.incident_item_kb:g} KB) in the ticks it is open"
            + (
                f", and per shard its tick, result and the shard results ({shard_evals} shards)"
                if eval_fans_out
                else ""
            )
            + f"; the {n} baselines x {baseline_rru} (~{a.baseline_item_kb:g} KB) {baselines_how}; each build "
            f"reads the previous versions"
            + (f"; {draws:,} band widget draws x {baseline_rru + state_rru}" if draws else "")
            + (f"; {incident_reads} incidents read the audit calls once each" if audit else "")
            + "; all strongly consistent; no free tier on on-demand",
        )
    )
    fanout_writes = (2 + shard_evals * (math.ceil(a.shard_result_kb) + 1)) if eval_fans_out else 0
    writes = (
        evaluations * (2 + n * tracker_wru + fanout_writes)
        + builds * (n * baseline_wru + 1 + (1 + shard_builds if build_fans_out else 0))
        + a.incidents_per_month * a.state_writes_per_incident
        # each write of the incident item, and adding and removing its id in the open set
        + a.incidents_per_month * (a.incident_writes_per_incident * math.ceil(a.incident_item_kb) + 2)
        + events * math.ceil(a.audit_item_kb)
    )
    items.append(
        LineItem(
            "DynamoDB writes",
            writes,
            "WRU",
            p.dynamodb_writes_per_million,
            1_000_000,
            writes / 1e6 * p.dynamodb_writes_per_million,
            f"per tick: the run claim and the completed mark + {n} trackers x {tracker_wru} (written every tick)"
            + (
                f" + the tick, {shard_evals} shard results and their done marks, the publish claim"
                if eval_fans_out
                else ""
            )
            + f"; {n} baselines x {baseline_wru} + the generation per build"
            + (f" (+ its {shard_builds} shards' done marks)" if build_fans_out else "")
            + f"; {a.incidents_per_month} incidents x ({a.state_writes_per_incident} state writes + "
            f"{a.incident_writes_per_incident} writes of its ~{a.incident_item_kb:g} KB item + 2 of the open set)"
            + (f"; {events:,} audit records" if audit else "")
            + "; TTL deletes are free",
        )
    )
    stored_kb = (
        n * (a.baseline_item_kb + a.state_item_kb + a.tracker_item_kb)
        + events * plan.audit.retention_days / a.month_days * a.audit_item_kb
        + a.incidents_per_month * plan.notify.history_days / a.month_days * a.incident_item_kb
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
            "baselines, states and trackers"
            + (f", {plan.audit.retention_days} days of audit records" if audit else "")
            + f", {plan.notify.history_days} days of incidents"
            + f"; {usd(p.dynamodb_storage_gb_month)} storage + {usd(p.dynamodb_pitr_gb_month)} "
            "point-in-time recovery per GB-month",
            free_tier_usd=min(stored_gb, free.dynamodb_storage_gb) * p.dynamodb_storage_gb_month,
        )
    )

    # Custom metrics (Powertools), billed per metric-month, prorated by the hour. None per series.
    evaluator_cover = _coverage(evaluations, hours)
    build_cover = _coverage(builds, hours)
    event_hours = {
        "SeriesFiring": a.incidents_per_month * a.firing_hours_per_incident,
        "NotificationsSent": a.incidents_per_month * a.notifying_hours_per_incident,
        "DeviationsSilenced": a.silenced_hours_per_month,
        "NotificationsFailed": a.failed_notification_hours_per_month,
    }
    assert set(event_hours) == set(EVALUATOR.event_metrics)
    metric_months = len(EVALUATOR.powertools_metrics) * evaluator_cover
    metric_months += sum(_hours(h, hours) for h in event_hours.values())
    metric_months += len(EVALUATOR.fanout_metrics) * evaluator_cover if eval_fans_out else 0.0
    metric_months += len(BASELINE_BUILDER.powertools_metrics) * build_cover
    metric_months += len(BASELINE_BUILDER.fanout_metrics) * build_cover if build_fans_out else 0.0
    if audit:
        metric_months += len(AUDIT.powertools_metrics) * _event_coverage(events, hours)
        metric_months += _event_coverage(a.audit_alerts_per_month, hours)  # AuditAlerts
        metric_months += _hours(1.0, hours)  # AuditEventsRejected: rare
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
            f"evaluator: {len(EVALUATOR.powertools_metrics)} every tick ({', '.join(EVALUATOR.powertools_metrics)})"
            + (" + ShardsQueued" if eval_fans_out else "")
            + ", and in the hours they count something "
            + ", ".join(f"{name} ({_count(h)} h)" for name, h in event_hours.items())
            + f"; builder: {len(BASELINE_BUILDER.powertools_metrics)} in the hours it builds"
            + (
                f"; audit: AuditEvents in the hours with a call ({events:,} calls a month, at random), "
                f"AuditAlerts ({a.audit_alerts_per_month} a month), AuditEventsRejected (1 h)"
                if audit
                else ""
            )
            + "; none per series (bands are drawn from the stored baselines) and none per audit action "
            "(counted from the log when viewed); a metric costs only for the hours it receives data",
            free_tier_usd=metrics_cost - _tiered(max(0.0, metric_months - free.custom_metrics), tiers),
            tiered=True,
        )
    )

    watched = [EVALUATOR, BASELINE_BUILDER, *([AUDIT] if audit else [])]
    alarms = ALARMS_PER_FUNCTION * len(watched) + STACK_ALARMS
    items.append(
        LineItem(
            "CloudWatch alarms",
            alarms,
            "alarms",
            p.alarm_standard,
            1,
            alarms * p.alarm_standard,
            f"what infra/health.py creates: {ALARMS_PER_FUNCTION} per function (errors, throttles, duration) "
            f"x {len(watched)} + evaluator heartbeat + dead letters (shards included); standard resolution",
            free_tier_usd=min(alarms, free.alarms) * p.alarm_standard,
        )
    )

    dashboards = 1 if dashboard else 0
    drawn_metrics = (
        DASHBOARD_FIXED_METRICS
        + (DASHBOARD_AUDIT_METRICS if audit else 0)
        + DASHBOARD_METRICS_PER_FUNCTION * len(functions)
    )
    fits_free = drawn_metrics <= free.dashboard_max_metrics and not templates
    items.append(
        LineItem(
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
    )

    # SQS: a plan that can fan out has a work queue per function, long-polled even when idle.
    queues = int(eval_queue) + int(build_queue)
    if queues:
        idle = queues * a.idle_queue_pollers * 3 * 60 * hours  # 20-second long polls
        per_tick = (math.ceil(shard_evals / 10) + 2 * shard_evals) if eval_fans_out else 0
        per_build = (math.ceil(shard_builds / 10) + 2 * shard_builds) if build_fans_out else 0
        sqs_requests = idle + evaluations * per_tick + builds * per_build
        items.append(
            LineItem(
                "SQS requests (work queues)",
                sqs_requests,
                "requests",
                p.sqs_requests_per_million,
                1_000_000,
                sqs_requests / 1e6 * p.sqs_requests_per_million,
                f"{queues} work queue(s) (the plan can fan out: more series than a shard, or '*' metrics): "
                f"{a.idle_queue_pollers} idle long-pollers each, 3 ReceiveMessage a minute"
                + (
                    f"; per tick 1 send per 10 shards + a receive and a delete per shard ({shard_evals})"
                    if eval_fans_out
                    else ""
                )
                + (f"; per build the same for {shard_builds} shards" if build_fans_out else ""),
                free_tier_usd=min(sqs_requests, free.sqs_requests) / 1e6 * p.sqs_requests_per_million,
            )
        )

    items += _notifications(plan, a, p, free)

    # CloudWatch Logs: a tick logs a summary and the series that changed, never one line per series.
    changed_entries = a.incidents_per_month * a.firing_hours_per_incident * 3600 / frequency.period_seconds
    changed_bytes = changed_entries * a.series_per_incident * a.changed_series_log_bytes
    log_bytes = (
        evaluator_invocations * a.evaluator_log_bytes_per_run
        + changed_bytes
        + builder_invocations * a.builder_log_bytes_per_run
        + events * a.audit_log_bytes_per_event
        + draws * a.band_widget_log_bytes_per_draw
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
            f"evaluator {a.evaluator_log_bytes_per_run:,} B per invocation (summary and run metrics, whatever the "
            f"series) + {a.changed_series_log_bytes} B per series that changed or deviates in a tick "
            f"({a.series_per_incident} series x the ticks of {a.incidents_per_month} incidents); builder "
            f"{a.builder_log_bytes_per_run:,} B per invocation"
            + (f", audit {a.audit_log_bytes_per_event:,} B per event" if audit else "")
            + (f", band widget {a.band_widget_log_bytes_per_draw} B per draw" if draws else "")
            + "; START/END/REPORT lines are filtered out (system log level WARN); one month's retention: "
            "storage ~$0.03 per GB-month compressed, negligible",
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
            "active tracing on every function, one trace per invocation",
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

    discovered_n = len(discovered) * series_factor
    general = [
        f"us-east-1 list prices in USD (other regions differ); a {a.month_days}-day month ({hours} h); "
        "nothing subtracted for the free tier",
        f"{n} series"
        + (f" ({discovered_n} of them discovered by '*' metrics)" if discovered_n else "")
        + (f", read as {q} metric queries ({shares} shares of attempts read their parts)" if shares else "")
        + (f" ({series_factor}x the plan's)" if series_factor != 1 else "")
        + f": evaluation {frequency.evaluation} = {_count(evaluations)} runs a month"
        + (f" of {len(eval_shards)} shards each" if eval_fans_out else "")
        + f"; baseline refresh {frequency.baseline_refresh} = {_count(refreshes)} builds + "
        f"{a.deploys_per_month} after deploys"
        + (f", {len(build_shards)} shards each" if build_fans_out else ""),
        f"Lambda arm64: evaluator {EVALUATOR.memory_mb} MB, baseline builder {BASELINE_BUILDER.memory_mb} MB"
        + (f", audit {AUDIT.memory_mb} MB" if audit else "")
        + (f", band widget {BAND_WIDGET.memory_mb} MB" if dashboard else "")
        + " (the sizes in infra/; durations from bench/ scaled to the memory's CPU share)",
        f"each series' likelihood tracker is ~{a.tracker_item_kb:g} KB, read and written every tick "
        "(Assumptions.tracker_item_kb)",
    ]
    if dashboard:
        general.append(
            f"dashboard: {a.dashboard_views_per_month} views a month (--dashboard-views-per-month), each drawing "
            f"the {drawn} band widgets once"
        )
    if audit:
        general.append(
            f"audit: {events:,} IoT control-plane write calls a month (--audit-events-per-month), "
            f"{a.audit_alerts_per_month} of them paging"
        )
        if not plan.audit.create_trail:
            notes.append(
                "audit.create_trail is false: the audit relies on a trail the account already has in "
                "this region (its S3 storage is billed there); with create_trail the stack adds an S3 item"
            )
        if dashboard:
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
    return CostEstimate(
        plan_name=plan.name,
        series=n,
        evaluations_per_month=evaluations,
        baseline_builds_per_month=builds,
        items=items,
        assumptions=general,
        notes=notes,
        warnings=warnings,
        discovered=discovered_n,
        queries=q,
        floor_per_metric_usd=floor_per_metric,
    )


def _notifications(plan: Plan, a: Assumptions, p: Prices, free: FreeTier) -> list[LineItem]:
    email_subscribers = sum(1 for t in plan.notify.topics for s in t.subscribers if s.protocol == "email")
    sms_subscribers = sum(1 for t in plan.notify.topics for s in t.subscribers if s.protocol == "sms")
    emails = (
        a.emails_per_month if a.emails_per_month is not None else a.emails_per_subscriber * email_subscribers
    )
    sms = a.sms_per_month if a.sms_per_month is not None else a.sms_per_subscriber * sms_subscribers
    return [
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
        ),
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
        ),
    ]
