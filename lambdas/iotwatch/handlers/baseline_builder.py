"""Baseline builder Lambda: learns every series' normal from CloudWatch history.

Runs on the plan's refresh schedule and on this stack's CREATE_COMPLETE/UPDATE_COMPLETE,
so a first deploy bootstraps from the history CloudWatch already holds. The values of the
plan's "*" metrics are listed again on every run (and stored for the evaluator), so each
build covers every value seen in the last two weeks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.store import DynamoStateStore
from iotwatch.domain.series import Series
from iotwatch.handlers.events import event_epoch
from iotwatch.handlers.settings import FunctionSettings, load_settings, series_discovery
from iotwatch.service.baselines import rebuild_baselines

if TYPE_CHECKING:  # discovery is imported only by plans with "*" metrics (cold start)
    from iotwatch.service.discovery import SeriesDiscovery

logger = Logger()
metrics = Metrics()


@dataclass
class BuilderDependencies:
    reader: CloudWatchMetricReader
    store: DynamoStateStore


@cache
def _settings() -> FunctionSettings:
    return load_settings()


@cache
def _discovery() -> SeriesDiscovery:
    """Discovered values of the plan's "*" metrics, kept in memory while the container is warm."""
    from iotwatch.service.discovery import BUILDER_REFRESH_SECONDS

    return series_discovery(_settings(), refresh_after=BUILDER_REFRESH_SECONDS)


def _series(now: float | None = None) -> tuple[Series, ...]:
    """The plan's series, then every value its "*" metrics have (listed again on every build
    and stored for the evaluator; a failed listing keeps the last stored values). `now`: the
    event time; the wall clock when not given."""
    plan = _settings().plan
    if not plan.discover:
        return plan.series
    report = _discovery().resolve(now=time.time() if now is None else now)
    from iotwatch.service.discovery import log_discovery

    log_discovery(logger, report)
    return report.series


@cache
def _dependencies() -> BuilderDependencies:
    from iotwatch.adapters.aws import client

    return BuilderDependencies(
        reader=CloudWatchMetricReader(client("cloudwatch")),
        store=DynamoStateStore(client("dynamodb"), _settings().table_name),
    )


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(
    event: dict[str, Any], context: LambdaContext, dependencies: BuilderDependencies | None = None
) -> dict[str, Any]:
    settings = _settings()
    deps = dependencies or _dependencies()
    now = event_epoch(event)
    calls_before = deps.reader.calls
    series = _series(now)
    discovered = len(series) - len(settings.plan.series)
    report = rebuild_baselines(
        now=now,
        series=series,
        history_days=settings.plan.frequency.history_days,
        reader=deps.reader,
        store=deps.store,
        excluded=settings.plan.detection.excluded_windows,
    )
    calls = deps.reader.calls - calls_before
    logger.info(
        "baselines rebuilt",
        trigger=event.get("detail-type"),
        built=report.built,
        discovered=discovered,
        without_history=len(report.empty),
        get_metric_data_calls=calls,
    )
    if report.empty:
        logger.warning("series with no history yet; they stay in learning mode", series=report.empty)
    metrics.add_metric(name="BaselinesBuilt", unit=MetricUnit.Count, value=report.built)
    metrics.add_metric(name="GetMetricDataCalls", unit=MetricUnit.Count, value=calls)
    return {
        "built": report.built,
        "discovered": discovered,
        "without_history": report.empty,
        "get_metric_data_calls": calls,
    }
