"""What a plan makes AWS do in a month: series, metric queries, runs, shards, draws and audit events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iotwatch.domain.discovery import MAX_SERIES_PER_TEMPLATE, SeriesTemplate
from iotwatch.domain.metric_calls import MAX_QUERIES_PER_CALL, plan_batches, queries_per_call
from iotwatch.domain.ratios import metric_queries, query_weight
from iotwatch.domain.series import Series
from iotwatch.domain.sharding import size_at_floor
from iotwatch.plan.cost.assumptions import DAY, Assumptions
from iotwatch.plan.cost.deployment import DASHBOARD_FIXED_WIDGETS, DASHBOARD_MAX_WIDGETS
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.fanout import may_fan_out
from iotwatch.plan.model.frequency import Frequency
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.schedule import cron_field_values, parse_schedule


@dataclass(frozen=True)
class Workload:
    """A month of the plan, `series_factor` times its series (the discovered ones included)."""

    plan: Plan
    named: list[Series]  # the plan's own series, each `series_factor` times
    n: int  # every series watched
    q: int  # distinct metric queries one evaluation reads (a share reads its parts)
    discovered: int  # of `n`, how many the plan's "*" metrics discover
    shares: int  # of `n`, how many are shares of attempts
    evaluations: float
    refreshes: float  # scheduled baseline builds; `builds` adds those after deploys
    builds: float
    points: int  # datapoints one build reads
    eval_shards: list[int]  # queries per evaluating invocation of a tick
    build_shards: list[int]
    templates: list[SeriesTemplate]
    eval_queue: bool  # the plan can fan out, so the function has a work queue
    build_queue: bool
    drawn: int  # band widgets on the dashboard
    draws: int  # band widget draws a month
    draw_metrics: int  # metrics those draws read
    evaluator_calls: int  # GetMetricData calls per evaluation
    builder_calls: int  # GetMetricData calls per build
    events: int  # audit events a month
    approximations: list[str]  # schedules whose runs could only be approximated

    @property
    def frequency(self) -> Frequency:
        return self.plan.frequency

    @property
    def audit(self) -> bool:
        return self.plan.tools.audit

    @property
    def dashboard(self) -> bool:
        return self.plan.tools.dashboard

    @property
    def eval_fans_out(self) -> bool:
        return len(self.eval_shards) > 1

    @property
    def build_fans_out(self) -> bool:
        return len(self.build_shards) > 1

    @property
    def shard_evals(self) -> int:
        return len(self.eval_shards) if self.eval_fans_out else 0

    @property
    def shard_builds(self) -> int:
        return len(self.build_shards) if self.build_fans_out else 0

    @property
    def evaluator_invocations(self) -> float:
        return self.evaluations * (1 + self.shard_evals)

    @property
    def builder_invocations(self) -> float:
        return self.builds * (1 + self.shard_builds)


def measure_workload(
    plan: Plan, a: Assumptions, *, series_factor: int, discovered: Sequence[Series]
) -> Workload:
    named = expand_series(plan) * series_factor
    series: list[Series] = [*named, *(list(discovered) * series_factor)]
    # what a tick reads: each distinct metric query once (`series_factor` copies of the plan's)
    queries = metric_queries([*expand_series(plan), *discovered])
    q = len(queries) * series_factor
    frequency = plan.frequency
    notes: list[str] = []
    evaluations, approx = runs_per_month(frequency.evaluation, a.month_days)
    notes += [approx] if approx else []
    refreshes, approx = runs_per_month(frequency.baseline_refresh, a.month_days)
    notes += [approx] if approx else []
    history = frequency.history_days * DAY
    templates = expand_templates(plan)
    build_size = build_shard_size(plan)
    eval_shards = _evaluation_shards(series, q, frequency.shard_size)
    dashboard = plan.tools.dashboard
    drawn = _drawn(named, templates) if dashboard else 0
    views = a.dashboard_views_per_month
    return Workload(
        plan=plan,
        named=named,
        n=len(series),
        q=q,
        discovered=len(discovered) * series_factor,
        shares=sum(1 for s in series if s.ratio is not None),
        evaluations=evaluations,
        refreshes=refreshes,
        builds=refreshes + a.deploys_per_month,
        points=sum(history // s.period for s in queries) * series_factor,
        eval_shards=eval_shards,
        build_shards=_build_shards(series, q, build_size, history, frequency.period_seconds),
        templates=templates,
        eval_queue=may_fan_out(named, templates, frequency.shard_size),
        build_queue=may_fan_out(named, templates, build_size),
        drawn=drawn,
        draws=views * drawn if dashboard else 0,
        # a share's widget reads each of its parts
        draw_metrics=views * sum(query_weight(s) for s in named[:drawn]) if dashboard else 0,
        evaluator_calls=sum(-(-k // MAX_QUERIES_PER_CALL) for k in eval_shards),
        builder_calls=_builder_calls(queries * series_factor, history),
        events=a.audit_events_per_month if plan.tools.audit else 0,
        approximations=notes,
    )


def _evaluation_shards(series: Sequence[Series], q: int, shard_size: int) -> list[int]:
    """An evaluator tick above shard_size queries fans out (shards of whole 500-query calls)."""
    shards = shard_counts(q, shard_size, MAX_QUERIES_PER_CALL)
    if len(shards) > 1:  # shards are cut by each series' own queries: shared ones once per shard
        weight = sum(query_weight(s) for s in series)
        shards = shard_counts(weight, shard_size, MAX_QUERIES_PER_CALL)
    return shards


def _build_shards(
    series: Sequence[Series], q: int, build_size: int, history: int, period_seconds: int
) -> list[int]:
    """A build above its build shard size fans out, in calls as full as its longest history allows."""
    most_points = max(1, history // min((s.period for s in series), default=period_seconds))
    return shard_counts(q, build_size, queries_per_call(most_points))


def _builder_calls(queries: Sequence[Series], history: int) -> int:
    """History GetMetricData calls of one build (100,800 datapoints each), batched by period."""
    by_period: dict[int, list[Series]] = {}
    for query in queries:
        by_period.setdefault(query.period, []).append(query)
    return sum(len(plan_batches(group, start=0, end=history)) for group in by_period.values())


def _drawn(named: Sequence[Series], templates: Sequence[SeriesTemplate]) -> int:
    """The dashboard draws each named series with a band widget, up to the widget limit."""
    room = DASHBOARD_MAX_WIDGETS - DASHBOARD_FIXED_WIDGETS - len(templates)
    return min(len(named), max(0, room))


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
