"""Evaluator Lambda: on each EventBridge schedule tick, score every series and page on changes.

The evaluation instant is the scheduled event's `time`, not the wall clock, so a retried or
replayed invocation evaluates the same window (and finds its own earlier state). A plan bigger
than one shard fans out: the tick queues its shards, and the same function evaluates each
shard the work queue delivers (`on_shard_batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.notifier import SnsNotifier
from iotwatch.adapters.workqueue import SqsWorkQueue
from iotwatch.domain.series import Series
from iotwatch.handlers.events import event_epoch, event_time_text, run_shard_batch
from iotwatch.handlers.settings import FunctionSettings, event_publisher, log_events_outcome
from iotwatch.handlers.setup import FunctionSetup, state_store
from iotwatch.service.evaluation import run_evaluation
from iotwatch.service.evaluation_report import EvaluationReport, log_evaluation_report
from iotwatch.service.fanout import ShardMessageError, ShardTask, dispatch, needs_fanout, run_shard
from iotwatch.service.ports import (
    BaselineReader,
    CountingMetricReader,
    CountingNotifier,
    EventPublisher,
    FanoutStore,
    WhereLookup,
    WorkQueue,
)
from iotwatch.telemetry import (
    DEVIATIONS_SILENCED,
    EVALUATION_COMPLETED,
    EVALUATOR_SHARDS_QUEUED,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_SENT,
    SERIES_FIRING,
)

if TYPE_CHECKING:  # the look-up is imported on the first page that asks for it (cold start)
    from iotwatch.domain.where import Breakdown, DeviceWatch

logger = Logger()
metrics = Metrics()


@dataclass
class EvaluatorDependencies:
    reader: CountingMetricReader
    store: FanoutStore
    notifier: CountingNotifier
    queue: WorkQueue | None = None  # None: every tick in one invocation
    where: WhereLookup | None = None  # asked only when a page goes out; None: pages without where
    events: EventPublisher | None = None  # incident events, put after the pages; None: no events


def _wire(settings: FunctionSettings) -> EvaluatorDependencies:
    from iotwatch.adapters.aws import client

    store = state_store(settings, cache_baselines=True)
    devices = settings.plan.devices
    return EvaluatorDependencies(
        reader=CloudWatchMetricReader(client("cloudwatch")),
        store=store,
        notifier=SnsNotifier(client("sns"), settings.topic_arns),
        queue=SqsWorkQueue(client("sqs"), settings.work_queue_url) if settings.work_queue_url else None,
        where=DeferredWhereLookup(devices, store.baselines) if devices is not None else None,
        events=event_publisher(settings.plan),
    )


setup = FunctionSetup(_wire, logger=logger, discovers="evaluator")


class DeferredWhereLookup:
    """The plan's look-up, built on the first page that asks: a quiet tick imports none of it
    (the fleet-index and Contributor Insights clients, the look-up service)."""

    def __init__(self, watch: DeviceWatch, baselines: BaselineReader) -> None:
        self._watch = watch
        self._baselines = baselines
        self._lookup: WhereLookup | None = None

    def look_up(self, *, metrics: Sequence[str], since: int, now: int) -> Breakdown:
        if self._lookup is None:
            from iotwatch.adapters.where import aws_where_lookup

            self._lookup = aws_where_lookup(self._watch, self._baselines)
        return self._lookup.look_up(metrics=metrics, since=since, now=now)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(
    event: dict[str, Any], context: LambdaContext, dependencies: EvaluatorDependencies | None = None
) -> dict[str, Any]:
    """The function's entry point: a batch from the shard queue (SQS "Records") or the
    schedule's tick; both triggers reach the one function the stack deploys."""
    return setup.route(event, dependencies, on_schedule=on_schedule, on_shard_batch=on_shard_batch)


def on_schedule(event: dict[str, Any], deps: EvaluatorDependencies) -> dict[str, Any]:
    """The schedule's tick: evaluate the window it names, or queue its shards."""
    settings = setup.settings()
    event_time = event_epoch(event)
    series = setup.series(event_time)
    if needs_fanout(series, settings.plan) and deps.queue is not None:
        return _fan_out(event_time, series, settings, deps)
    calls_before, published_before = deps.reader.calls, deps.notifier.published
    report = run_evaluation(
        event_time=event_time,
        plan=settings.plan,
        series=series,
        reader=deps.reader,
        store=deps.store,
        notifier=deps.notifier,
        context=setup.messages(),
        where=deps.where,
    )
    log_evaluation_report(
        logger,
        report,
        event_time=event_time_text(event),
        get_metric_data_calls=deps.reader.calls - calls_before,
    )
    _count(report, completed=True)
    events = _publish_events(report, deps)
    if report.failed_topics:
        # Fail the invocation so the error alarm sees it; state was kept for the failed series.
        raise RuntimeError(f"could not publish to {', '.join(report.failed_topics)}")
    return {
        **report.as_log_fields(),
        "published": deps.notifier.published - published_before,
        "events": events,
    }


def on_shard_batch(records: list[dict[str, Any]], deps: EvaluatorDependencies) -> dict[str, Any]:
    """An SQS batch of shard tasks (one, as the stack configures it): each failed one is
    returned for redelivery."""
    settings = setup.settings()

    def evaluate(task: ShardTask) -> None:
        calls_before = deps.reader.calls
        outcome = run_shard(
            task,
            plan=settings.plan,
            series=setup.series(task.event_time),
            reader=deps.reader,
            store=deps.store,
            notifier=deps.notifier,
            context=setup.messages(),
            where=deps.where,
        )
        report = outcome.report
        logger.info(
            "shard evaluated" if outcome.evaluated else "shard redelivered: its first result re-used",
            shard=task.shard,
            shards=task.shards,
            done=outcome.done,
            published=outcome.published,
        )
        log_evaluation_report(
            logger, report, event_time=task.event_time, get_metric_data_calls=deps.reader.calls - calls_before
        )
        _count(report, completed=outcome.published)
        _publish_events(report, deps)

    return run_shard_batch(
        records,
        parse=ShardTask.from_body,
        unreadable=ShardMessageError,
        run=evaluate,
        failed="shard failed; SQS delivers it again",
        logger=logger,
    )


def _publish_events(report: EvaluationReport, deps: EvaluatorDependencies) -> dict[str, int]:
    """The tick's incident transitions as events, once its pages went out and its incidents
    were stored: a failure is logged and counted, never raised (no page waits on them)."""
    if deps.events is None or report.incidents is None or not report.incidents.notifications:
        return {"sent": 0, "failed": 0}
    from iotwatch.service.incident_events import publish_tick_events

    outcome = publish_tick_events(report.incidents, setup.messages(), deps.events)
    log_events_outcome(logger, outcome)
    return {"sent": outcome.sent, "failed": outcome.failed}


def _fan_out(
    event_time: float, series: tuple[Series, ...], settings: FunctionSettings, deps: EvaluatorDependencies
) -> dict[str, Any]:
    """The scheduled run of a plan bigger than one shard: queue the shards, evaluate none."""
    assert deps.queue is not None
    report = EvaluationReport(window_start=0, window_end=0, series=len(series))
    shards = dispatch(
        event_time=event_time,
        plan=settings.plan,
        series=series,
        store=deps.store,
        queue=deps.queue,
        notifier=deps.notifier,
        report=report,
    )
    logger.info(
        "evaluation fanned out",
        series=len(series),
        shards=shards,
        shard_size=settings.plan.frequency.shard_size,
        duplicate_run=report.duplicate_run,
        redelivered=report.redelivered,
    )
    metrics.add_metric(**EVALUATOR_SHARDS_QUEUED.datapoint(shards))
    return {"series": len(series), "shards": shards, "duplicate_run": report.duplicate_run}


def _count(report: EvaluationReport, *, completed: bool) -> None:
    """The heartbeat and the event counters. How many series were evaluated, were learning and
    the GetMetricData calls are fields of the `evaluation complete` line, which the dashboard
    queries: as custom metrics, published every tick, they cost USD 0.30 a month each."""
    # the heartbeat: one per tick, from the invocation that finished it (the last shard's when fanned out)
    metrics.add_metric(**EVALUATION_COMPLETED.datapoint(1 if completed else 0))
    # Events are counted only in the runs that have them: a custom metric costs for each hour
    # it receives data, and the dashboard draws these through FILL(m, 0).
    if report.firing:
        metrics.add_metric(**SERIES_FIRING.datapoint(report.firing))
    if report.sent:
        metrics.add_metric(**NOTIFICATIONS_SENT.datapoint(len(report.sent)))
    if report.silenced:
        metrics.add_metric(**DEVIATIONS_SILENCED.datapoint(len(report.silenced)))
    if report.failed_topics:
        metrics.add_metric(**NOTIFICATIONS_FAILED.datapoint(len(report.failed_topics)))
