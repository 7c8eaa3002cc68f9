"""Evaluator Lambda: on each EventBridge schedule tick, score every series and page on changes.

The evaluation instant is the scheduled event's `time`, not the wall clock, so a retried or
replayed invocation evaluates the same window (and finds its own earlier state).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.emf import EmfWriter
from iotwatch.adapters.notifier import SnsNotifier
from iotwatch.adapters.store import DynamoStateStore
from iotwatch.domain.series import Series
from iotwatch.handlers.events import event_epoch
from iotwatch.handlers.settings import FunctionSettings, load_settings
from iotwatch.service.context import message_context
from iotwatch.service.evaluation import run_evaluation

logger = Logger()
metrics = Metrics()


@dataclass
class EvaluatorDependencies:
    reader: CloudWatchMetricReader
    store: DynamoStateStore
    notifier: SnsNotifier
    emf: EmfWriter


@cache
def _settings() -> FunctionSettings:
    return load_settings()


@cache
def _series() -> tuple[Series, ...]:
    return _settings().plan.series


@cache
def _dependencies() -> EvaluatorDependencies:
    from iotwatch.adapters.aws import client

    settings = _settings()
    return EvaluatorDependencies(
        reader=CloudWatchMetricReader(client("cloudwatch")),
        store=DynamoStateStore(client("dynamodb"), settings.table_name, cache_baselines=True),
        notifier=SnsNotifier(client("sns"), settings.topic_arns),
        emf=EmfWriter(service="iotwatch-evaluator"),
    )


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(
    event: dict[str, Any], context: LambdaContext, dependencies: EvaluatorDependencies | None = None
) -> dict[str, Any]:
    settings = _settings()
    deps = dependencies or _dependencies()
    scheduled = EventBridgeEvent(event)
    event_time = event_epoch(scheduled)
    calls_before, published_before = deps.reader.calls, deps.notifier.published
    report = run_evaluation(
        event_time=event_time,
        plan=settings.plan,
        series=_series(),
        reader=deps.reader,
        store=deps.store,
        notifier=deps.notifier,
        context=message_context(
            settings.plan, region=settings.region, dashboard_name=settings.dashboard_name
        ),
        emf=deps.emf,
    )
    for sent in report.sent:
        logger.info(
            "notification sent",
            topic=sent.notification.topic,
            kind=sent.notification.kind,
            severity=sent.notification.severity,
            metrics=sent.notification.metrics,
            message_id=sent.message_id,
        )
    for outcome in report.silenced:
        held, silence = outcome.held, outcome.silence
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
    if report.failed_topics:
        logger.error(
            "notifications kept in the outbox; the retry or the next run sends them",
            topics=report.failed_topics,
        )
    logger.info("evaluation complete", extra={"event_time": scheduled.time, **report.as_log_fields()})
    metrics.add_metric(name="SeriesEvaluated", unit=MetricUnit.Count, value=report.series - report.skipped)
    metrics.add_metric(name="SeriesLearning", unit=MetricUnit.Count, value=report.learning)
    metrics.add_metric(name="SeriesFiring", unit=MetricUnit.Count, value=report.firing)
    metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=len(report.sent))
    metrics.add_metric(name="DeviationsSilenced", unit=MetricUnit.Count, value=len(report.silenced))
    metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=len(report.failed_topics))
    metrics.add_metric(
        name="GetMetricDataCalls", unit=MetricUnit.Count, value=deps.reader.calls - calls_before
    )
    metrics.add_metric(name="EvaluationCompleted", unit=MetricUnit.Count, value=1)
    if report.failed_topics:
        # Fail the invocation so the error alarm sees it; state was kept for the failed series.
        raise RuntimeError(f"could not publish to {', '.join(report.failed_topics)}")
    return {
        **report.as_log_fields(),
        "published": deps.notifier.published - published_before,
    }
