"""iotwatch's own metrics, built once from the constructs that emit them and used by both the
alarms (infra/health.py) and the dashboard (infra/dashboard.py), after cdk-monitoring-constructs'
per-service metric factories: AWS/Lambda's metrics of each function, the dead-letter queue's
depth, and the telemetry the handlers publish (iotwatch.telemetry) in the plan's namespace.

Periods differ on purpose and each consumer states its own: an alarm evaluates a function at
the period one of its runs falls into (`FunctionMetrics.run_period`), the dashboard's health rows
draw every function at `DRAWN_PERIOD`, the "per hour" graphs at `HOUR`.
"""

from __future__ import annotations

import itertools
import math

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.schedule import ScheduleError, cron_field_values, parse_schedule
from iotwatch.telemetry import HEARTBEAT, OwnMetric

from infra.naming import metrics_namespace

FIVE_MINUTES = Duration.minutes(5)
HOUR = Duration.hours(1)
# the dashboard's health rows: every function, and the dead-letter queue, at 5 minutes
DRAWN_PERIOD = FIVE_MINUTES

# CloudWatch: Period x EvaluationPeriods at most 1 day for periods under an hour, 7 days else.
_DAY = 86400
_MAX_EVALUATION_SECONDS = 7 * _DAY
# The evaluator's EMF metrics reach CloudWatch through its log stream, a minute or so after
# the run: shorter heartbeat periods would count a late datapoint as a missed run.
_MIN_HEARTBEAT_PERIOD = 300


def evaluation_cadence(expression: str) -> int | None:
    """The longest gap, in seconds, between two runs of the evaluation schedule: the rate
    itself, or for cron() the widest gap within a day when the expression runs every day
    (minute and hour fields only). None when it cannot be told (weekday, month, year or
    day-of-month restrictions, L/W/#)."""
    try:
        schedule = parse_schedule(expression)
    except ScheduleError:
        return None
    if schedule.interval_seconds is not None:
        return schedule.interval_seconds
    assert schedule.cron_fields is not None
    minutes_f, hours_f, day_of_month, month, day_of_week, year = schedule.cron_fields
    if day_of_month not in ("*", "?") or day_of_week not in ("*", "?") or month != "*" or year != "*":
        return None
    minutes = cron_field_values(minutes_f, 0, 59)
    hours = cron_field_values(hours_f, 0, 23)
    if not minutes or not hours:
        return None
    fires = sorted(h * 60 + m for h in hours for m in minutes)
    gaps = [b - a for a, b in itertools.pairwise(fires)] + [fires[0] + 1440 - fires[-1]]
    return max(gaps) * 60


def heartbeat_window(evaluation: str) -> tuple[Duration, int]:
    """(period, evaluation periods) for "no completed evaluation in two cadences" of the
    `evaluation` schedule expression: the period is one cadence (at least 5 minutes, at most
    a day) and the alarm needs every period of the window empty. An evaluation schedule whose cadence cannot be told gets a week, the
    longest window CloudWatch evaluates."""
    cadence = evaluation_cadence(evaluation)
    if cadence is None:
        return Duration.days(1), _MAX_EVALUATION_SECONDS // _DAY
    period = min(max(cadence, _MIN_HEARTBEAT_PERIOD), _DAY)
    periods = 2 if cadence <= _DAY else min(math.ceil(2 * cadence / _DAY), _MAX_EVALUATION_SECONDS // _DAY)
    return Duration.seconds(period), periods


class FunctionMetrics:
    """AWS/Lambda's metrics of one of iotwatch's functions. `name` is how alarms and widgets
    call it; `run_period` is the period one run of it (and Lambda's and EventBridge's retries
    of it) falls into, what its alarms evaluate; `alarmed`: whether it has alarms at all."""

    def __init__(
        self, name: str, function: lambda_.IFunction, *, run_period: Duration, alarmed: bool = True
    ) -> None:
        self.name = name
        self.function = function
        self.run_period = run_period
        self.alarmed = alarmed

    @property
    def timeout(self) -> Duration | None:
        """The function's timeout when the stack defined it (None: imported, or Lambda's default)."""
        return getattr(self.function, "timeout", None)

    def invocations(self, *, period: Duration, label: str | None = None) -> cloudwatch.Metric:
        return self.function.metric_invocations(period=period, label=label)

    def errors(self, *, period: Duration, label: str | None = None) -> cloudwatch.Metric:
        return self.function.metric_errors(period=period, statistic="Sum", label=label)

    def throttles(self, *, period: Duration, label: str | None = None) -> cloudwatch.Metric:
        return self.function.metric_throttles(period=period, statistic="Sum", label=label)

    def longest_run(self, *, period: Duration, label: str | None = None) -> cloudwatch.Metric:
        return self.function.metric_duration(period=period, statistic="Maximum", label=label)


class IotWatchMetrics:
    """Every metric iotwatch keeps about itself, from the stack's constructs: the functions (by
    role, no lookup by name), the dead-letter queue and the plan's own telemetry."""

    def __init__(
        self,
        plan: Plan,
        *,
        evaluator: lambda_.IFunction,
        baseline_builder: lambda_.IFunction,
        dead_letter_queue: sqs.IQueue,
        audit: lambda_.IFunction | None = None,
    ) -> None:
        self.namespace = metrics_namespace(plan)
        self.heartbeat_period, self.heartbeat_periods = heartbeat_window(plan.frequency.evaluation)
        # one evaluation cadence (at most an hour): nobody needs a slower run's errors sooner
        self.evaluator = FunctionMetrics(
            "evaluator",
            evaluator,
            run_period=Duration.seconds(min(self.heartbeat_period.to_seconds(), 3600)),
        )
        # a rebuild or two a day: nobody needs its errors within minutes
        self.baseline_builder = FunctionMetrics("baseline builder", baseline_builder, run_period=HOUR)
        # invoked by events
        self.audit = FunctionMetrics("audit", audit, run_period=FIVE_MINUTES) if audit is not None else None
        self.dead_letter_queue = dead_letter_queue

    def functions(self, band_widget: lambda_.IFunction | None = None) -> list[FunctionMetrics]:
        """The functions in the order alarms and health rows list them; with `band_widget`, the
        band-widget function last, drawn but not alarmed (a draw that fails shows its reason in
        the widget, to the person looking at it)."""
        found = [self.evaluator, self.baseline_builder, *([self.audit] if self.audit is not None else [])]
        if band_widget is not None:
            found.append(FunctionMetrics("band widget", band_widget, run_period=FIVE_MINUTES, alarmed=False))
        return found

    def dead_letters(self, *, period: Duration, label: str | None = None) -> cloudwatch.Metric:
        """Messages waiting in the dead-letter queue (the most seen in `period`)."""
        return self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=period, statistic="Maximum", label=label
        )

    def own(
        self,
        metric: OwnMetric,
        *,
        statistic: str,
        period: Duration,
        label: str | None = None,
        color: str | None = None,
    ) -> cloudwatch.Metric:
        """One of iotwatch's own metrics (iotwatch.telemetry) in the plan's namespace."""
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=metric.name,
            dimensions_map=metric.dimensions,
            statistic=statistic,
            period=period,
            label=label,
            color=color,
        )

    def completed_evaluations(self) -> cloudwatch.MathExpression:
        """The heartbeat: completed evaluations per heartbeat period, 0 where none completed."""
        completed = self.own(HEARTBEAT, statistic="Sum", period=self.heartbeat_period)
        return cloudwatch.MathExpression(
            expression="FILL(completed, 0)",
            using_metrics={"completed": completed},
            period=self.heartbeat_period,
            label="completed evaluations",
        )
