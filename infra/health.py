"""Capability: watch the watcher. CloudWatch alarms on iotwatch itself, sent to the plan's
operations topic (`notify.operations_topic`, else the first topic).

Per function (evaluator, baseline builder, audit when the plan has it): errors, throttles
and a duration close to the timeout. For the stack: events EventBridge or Lambda could not
deliver (the dead-letter queue), and a heartbeat on the evaluator's own `EvaluationCompleted`
metric, which is the only alarm that notices the evaluator not running at all (a disabled
schedule, a broken deploy, a permissions change): every other alarm needs an invocation to
have data.

Missing data, alarm by alarm:
- errors, duration, dead letters: IGNORE. Lambda publishes Errors (0 when clean) and
  Duration only when the function runs, SQS publishes queue depth only while the queue is
  active, so "no data" says nothing new: the alarm keeps its state, and OK (with its
  notification) means a later run was clean, or fast, or the queue was drained, not merely
  that time passed.
- throttles: NOT_BREACHING, and no OK action: a throttle is an event, its absence is not a
  recovery worth a message.
- heartbeat: BREACHING, on FILL(EvaluationCompleted, 0), so each period without a completed
  run counts as 0 rather than as missing (CloudWatch would otherwise keep evaluating the last
  real datapoints of its evaluation range and notice a dead evaluator only periods later).
  Right after the first deploy, before the evaluator's first run, it may go to ALARM once;
  the first completed evaluation sends it back to OK.
"""

from __future__ import annotations

import re

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct
from iotwatch.plan.model.plan import Plan

from infra.metrics import FIVE_MINUTES, FunctionMetrics, IotWatchMetrics
from infra.notifications import AlertTopics

DURATION_ALARM_FRACTION = 0.8
MAX_DESCRIPTION = 1024  # AlarmDescription, in characters

_DAY = 86400


def alarm_name_prefix(plan: Plan) -> str:
    """Every self-monitoring alarm's name starts with this; the operations topic's policy
    lets CloudWatch publish for alarms with this prefix only."""
    return f"iotwatch-{plan.name}-"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class SelfMonitoring(Construct):
    """The alarms on iotwatch itself; `alarms` in the order the dashboard lists them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        metrics: IotWatchMetrics,
        topics: AlertTopics,
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        self.metrics = metrics
        self.prefix = alarm_name_prefix(plan)
        self.topics: list[sns.Topic] = topics.alarm_topics(
            plan.notify.operations, alarm_name_prefix=self.prefix
        )
        self._runbook = f" Runbook: {plan.owners.runbook}" if plan.owners.runbook else ""
        self.alarms: list[cloudwatch.Alarm] = []

        self.heartbeat = self._heartbeat()
        for function in metrics.functions():
            self._function_alarms(function)
        self.dead_letters = self._alarm(
            "DeadLetters",
            name="dead-letters",
            metric=metrics.dead_letters(period=FIVE_MINUTES),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.IGNORE,
            description=(
                "Work iotwatch could not finish after all retries is waiting in the dead-letter "
                "queue (kept 14 days): an event EventBridge could not deliver, or an invocation "
                "of the evaluator, the builder or the audit that failed after Lambda's retries "
                "(a failed tick: the next completed tick catches up on it), or a shard that "
                "failed 3 times. Check first: the "
                "failing function's errors alarm and logs; each message's attributes name the "
                "cause (EventBridge: RULE_ARN, ERROR_CODE, ERROR_MESSAGE; Lambda: ErrorCode, "
                "ErrorMessage). Redrive or purge the queue once fixed: "
                "the alarm returns to OK when the queue is empty."
            ),
        )

    # --- the alarms ------------------------------------------------------------------------------

    def _heartbeat(self) -> cloudwatch.Alarm:
        period, periods = self.metrics.heartbeat_period, self.metrics.heartbeat_periods
        window = _describe_seconds(int(period.to_seconds()) * periods)
        return self._alarm(
            "Heartbeat",
            name="evaluator-heartbeat",
            metric=self.metrics.completed_evaluations(),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=periods,
            missing=cloudwatch.TreatMissingData.BREACHING,
            description=(
                f"No evaluation of the '{self.plan.name}' fleet completed in {window} (schedule "
                f"{self.plan.frequency.evaluation}): deviations are not being detected or notified. "
                "Check first: the evaluator's errors and throttles alarms and its logs; that its "
                "EventBridge schedule rule is enabled; the dead-letter queue. Right after a first "
                "deploy it may fire once, before the first evaluation has completed."
            ),
        )

    def _function_alarms(self, metrics: FunctionMetrics) -> None:
        name, period = metrics.name, metrics.run_period
        label = _describe_seconds(int(period.to_seconds()))
        construct = re.sub(r"[^A-Za-z0-9]", "", name.title())
        slug = _slug(name)
        impact = self._impact(metrics)
        self._alarm(
            f"{construct}Errors",
            name=f"{slug}-errors",
            metric=metrics.errors(period=period),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.IGNORE,
            description=(
                f"The iotwatch {name} function failed at least once in {label}: {impact}. Check "
                "first: its log group (level ERROR, and the request's earlier lines), then recent "
                "deploys and IAM or plan changes. Returns to OK after its next clean run."
            ),
        )
        self._alarm(
            f"{construct}Throttles",
            name=f"{slug}-throttles",
            metric=metrics.throttles(period=period),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            missing=cloudwatch.TreatMissingData.NOT_BREACHING,
            ok_action=False,
            description=(
                f"Lambda throttled the iotwatch {name} function in {label}: the account or region ran "
                "out of concurrency, so runs are delayed (Lambda retries throttled events for up to "
                "6 hours) and may end in the dead-letter queue. Check first: the account's "
                "ConcurrentExecutions against its quota, and which other functions spiked."
            ),
        )
        timeout = metrics.timeout
        if timeout is None:  # the Lambda default, 3 s
            timeout = Duration.seconds(3)
        limit_ms = timeout.to_milliseconds() * DURATION_ALARM_FRACTION
        slow_runs = 1 if metrics is self.metrics.baseline_builder else 2
        self._alarm(
            f"{construct}Duration",
            name=f"{slug}-duration",
            metric=metrics.longest_run(period=period),
            threshold=limit_ms,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1 if slow_runs == 1 else 3,
            datapoints_to_alarm=slow_runs,
            missing=cloudwatch.TreatMissingData.IGNORE,
            description=(
                f"The iotwatch {name} function ran for {DURATION_ALARM_FRACTION:.0%} or more of its "
                f"{_describe_seconds(int(timeout.to_seconds()))} timeout "
                f"({'once' if slow_runs == 1 else f'in {slow_runs} of the last 3 periods of {label}'}): "
                "the next runs may time out. Check first: its logs and X-Ray trace for slow or "
                "throttled AWS calls (GetMetricData, DynamoDB, SNS), and whether the plan grew "
                "(more series). Raise memory or timeout in infra if the work itself grew."
            ),
        )

    def _impact(self, function: FunctionMetrics) -> str:
        if function is self.metrics.evaluator:
            return "fleet deviations may go undetected and unnotified while it fails"
        if function is self.metrics.baseline_builder:
            return "baselines are not refreshed (new series stay in learning mode, old ones age)"
        if function is self.metrics.audit:
            return "IoT control-plane calls may not be judged, recorded or alerted on"
        return f"the {function.name} function is not doing its job"

    def _alarm(
        self,
        construct_id: str,
        *,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        evaluation_periods: int,
        missing: cloudwatch.TreatMissingData,
        description: str,
        datapoints_to_alarm: int | None = None,
        ok_action: bool = True,
    ) -> cloudwatch.Alarm:
        text = f"iotwatch {self.plan.name}: {description}{self._runbook}"
        if len(text) > MAX_DESCRIPTION:  # a long runbook URL; CloudWatch refuses more
            text = text[: MAX_DESCRIPTION - 3] + "..."
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self.prefix}{name}",
            alarm_description=text,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
            treat_missing_data=missing,
        )
        for topic in self.topics:
            action = cw_actions.SnsAction(topic)
            alarm.add_alarm_action(action)
            if ok_action:
                alarm.add_ok_action(action)
        self.alarms.append(alarm)
        return alarm


def _describe_seconds(seconds: int) -> str:
    for unit, size in (("day", _DAY), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
