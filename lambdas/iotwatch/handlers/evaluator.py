"""Evaluator Lambda: on each EventBridge schedule tick, score every series and page on changes.

The evaluation instant is the scheduled event's `time`, not the wall clock, so a retried or
replayed invocation evaluates the same window (and finds its own earlier state).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.notifier import SnsNotifier
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.adapters.workqueue import SqsWorkQueue
from iotwatch.domain.incidents.tick import TickIncidents
from iotwatch.domain.messages.model import MessageContext
from iotwatch.domain.series import Series
from iotwatch.domain.times import iso_z
from iotwatch.handlers.events import event_epoch, event_time_text, run_shard_batch
from iotwatch.handlers.log_queries import EVALUATION_COMPLETE, INCIDENT_LINE
from iotwatch.handlers.settings import (
    FunctionSettings,
    event_publisher,
    load_settings,
    log_events_outcome,
    series_discovery,
)
from iotwatch.service.context import message_context
from iotwatch.service.evaluation import run_evaluation
from iotwatch.service.evaluation_report import EvaluationReport
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

if TYPE_CHECKING:  # discovery is imported only by plans with "*" metrics (cold start)
    from iotwatch.domain.where import Breakdown, DeviceWatch
    from iotwatch.service.discovery import SeriesDiscovery

logger = Logger()
metrics = Metrics()

# Series listed in one log line of a tick (about 150 bytes each): a line stays far below the
# 256 KB CloudWatch Logs takes per event however many series move at once.
SERIES_PER_LOG_LINE = 100


@dataclass
class EvaluatorDependencies:
    reader: CountingMetricReader
    store: FanoutStore
    notifier: CountingNotifier
    queue: WorkQueue | None = None  # None: every tick in one invocation
    where: WhereLookup | None = None  # asked only when a page goes out; None: pages without where
    events: EventPublisher | None = None  # incident events, put after the pages; None: no events


@cache
def _settings() -> FunctionSettings:
    return load_settings()


@cache
def _discovery() -> SeriesDiscovery:
    """Discovered values of the plan's "*" metrics, kept in memory while the container is warm."""
    from iotwatch.service.discovery import EVALUATOR_REFRESH_SECONDS

    return series_discovery(_settings(), refresh_after=EVALUATOR_REFRESH_SECONDS)


def _series(event_time: float | None = None) -> tuple[Series, ...]:
    """The plan's series, then those its "*" metrics discover (listed again when the last list
    is an hour old, as of `event_time`; the wall clock when not given). A value discovered
    since the last baseline build is learning until the builder's next run."""
    plan = _settings().plan
    if not plan.discover:
        return plan.series
    report = _discovery().resolve(now=time.time() if event_time is None else event_time)
    from iotwatch.service.discovery import log_discovery

    log_discovery(logger, report)
    return report.series


@cache
def _dependencies() -> EvaluatorDependencies:
    from iotwatch.adapters.aws import client

    settings = _settings()
    store = DynamoStateStore(client("dynamodb"), settings.table_name, cache_baselines=True)
    devices = settings.plan.devices
    return EvaluatorDependencies(
        reader=CloudWatchMetricReader(client("cloudwatch")),
        store=store,
        notifier=SnsNotifier(client("sns"), settings.topic_arns),
        queue=SqsWorkQueue(client("sqs"), settings.work_queue_url) if settings.work_queue_url else None,
        where=DeferredWhereLookup(devices, store) if devices is not None else None,
        events=event_publisher(settings.plan),
    )


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
    settings = _settings()
    deps = dependencies or _dependencies()
    if isinstance(event, dict) and "Records" in event:
        return _evaluate_shards(event["Records"], settings, deps)
    event_time = event_epoch(event)
    series = _series(event_time)
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
        context=_context(settings),
        where=deps.where,
    )
    _log_report(
        report, event_time=event_time_text(event), get_metric_data_calls=deps.reader.calls - calls_before
    )
    _count(report, completed=True)
    events = _publish_events(report, settings, deps)
    if report.failed_topics:
        # Fail the invocation so the error alarm sees it; state was kept for the failed series.
        raise RuntimeError(f"could not publish to {', '.join(report.failed_topics)}")
    return {
        **report.as_log_fields(),
        "published": deps.notifier.published - published_before,
        "events": events,
    }


def _publish_events(
    report: EvaluationReport, settings: FunctionSettings, deps: EvaluatorDependencies
) -> dict[str, int]:
    """The tick's incident transitions as events, once its pages went out and its incidents
    were stored: a failure is logged and counted, never raised (no page waits on them)."""
    if deps.events is None or report.incidents is None or not report.incidents.notifications:
        return {"sent": 0, "failed": 0}
    from iotwatch.service.incident_events import publish_tick_events

    outcome = publish_tick_events(report.incidents, _context(settings), deps.events)
    log_events_outcome(logger, outcome)
    return {"sent": outcome.sent, "failed": outcome.failed}


def _context(settings: FunctionSettings) -> MessageContext:
    return message_context(settings.plan, region=settings.region, dashboard_name=settings.dashboard_name)


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


def _evaluate_shards(
    records: list[dict[str, Any]], settings: FunctionSettings, deps: EvaluatorDependencies
) -> dict[str, Any]:
    """SQS batch of shard tasks (one, as the stack configures it)."""

    def evaluate(task: ShardTask) -> None:
        calls_before = deps.reader.calls
        outcome = run_shard(
            task,
            plan=settings.plan,
            series=_series(task.event_time),
            reader=deps.reader,
            store=deps.store,
            notifier=deps.notifier,
            context=_context(settings),
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
        _log_report(
            report, event_time=task.event_time, get_metric_data_calls=deps.reader.calls - calls_before
        )
        _count(report, completed=outcome.published)
        _publish_events(report, settings, deps)

    return run_shard_batch(
        records,
        parse=ShardTask.from_body,
        unreadable=ShardMessageError,
        run=evaluate,
        failed="shard failed; SQS delivers it again",
        logger=logger,
    )


def _log_report(report: EvaluationReport, *, event_time: object, get_metric_data_calls: int) -> None:
    for sent in report.sent:
        logger.info(
            "notification sent",
            topic=sent.notification.topic,
            kind=sent.notification.kind,
            severity=sent.notification.severity,
            metrics=sent.notification.metrics,
            incident=sent.notification.incident.id if sent.notification.incident else None,
            message_id=sent.message_id,
        )
    if report.incidents is not None:
        _log_incidents(report.incidents)
    for outcome in report.silenced:
        held, silence = outcome.transition, outcome.silence
        logger.info(
            "deviation silenced: recorded, not paged",
            series=outcome.series.id,
            kind=held.kind if held else None,
            severity=held.severity if held else None,
            silence=silence.id if silence else None,
            reason=silence.reason if silence else None,
            silenced_until=silence.ends if silence else None,
        )
    if report.silences_error:
        logger.warning(
            "ad-hoc silences could not be read; this run paged as if there were none",
            error=report.silences_error,
        )
    if report.where_errors:
        logger.warning(
            "where a deviation is concentrated could not be looked up; its pages went out without it",
            errors=report.where_errors,
        )
    if report.failed_topics:
        logger.error(
            "notifications kept in the outbox; the retry or the next run sends them",
            topics=report.failed_topics,
        )
    # a summary, plus the series that changed or deviate: the log grows with those, not the plan
    changed = report.changed_series()
    logger.info(
        EVALUATION_COMPLETE,
        extra={
            "event_time": event_time,
            **report.as_log_fields(),
            "get_metric_data_calls": get_metric_data_calls,
            "changed": len(changed),
            "series_changed": changed[:SERIES_PER_LOG_LINE],
        },
    )
    for first in range(SERIES_PER_LOG_LINE, len(changed), SERIES_PER_LOG_LINE):
        logger.info(
            "evaluation complete: more series changed",
            event_time=event_time,
            series_changed=changed[first : first + SERIES_PER_LOG_LINE],
        )


def _log_incidents(tick: TickIncidents) -> None:
    """One line per incident the tick changed (the dashboard's incident table reads them)."""
    for incident in tick.changed:
        at = max((e.at for e in incident.events), default=incident.opened_at)
        logger.info(
            INCIDENT_LINE,
            incident=incident.id,
            status=incident.status,
            severity=incident.severity,
            group=incident.group_label,
            failure_kind=incident.failure.kind if incident.failure is not None else None,
            members=len(incident.members),
            deviating=len(incident.firing),
            opened=iso_z(incident.opened_at),
            since=iso_z(incident.since),
            changes=[f"{e.kind}: {e.text}" for e in incident.events if e.at == at],
        )


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
