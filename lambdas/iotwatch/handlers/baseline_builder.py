"""Baseline builder Lambda: learns every series' normal from CloudWatch history.

Runs on the plan's refresh schedule and on this stack's CREATE_COMPLETE/UPDATE_COMPLETE,
so a first deploy bootstraps from the history CloudWatch already holds. The values of the
plan's "*" metrics are listed again on every run (and stored for the evaluator), so each
build covers every value seen in the last two weeks. More series than
`frequency.build_shard_size` fan out: the scheduled run queues the shards on the function's
work queue, and the same function builds each shard it receives from it (SQS "Records").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.adapters.workqueue import SqsWorkQueue
from iotwatch.handlers.events import event_epoch, run_shard_batch
from iotwatch.handlers.settings import FunctionSettings
from iotwatch.handlers.setup import FunctionSetup, state_store
from iotwatch.plan.fanout import fans_out
from iotwatch.service.baselines import (
    BuildMessageError,
    BuildTask,
    dispatch_build,
    rebuild_baselines,
    run_build_shard,
    training_exclusions,
)
from iotwatch.service.ports import BuildShardStore, CountingMetricReader, WorkQueue
from iotwatch.telemetry import BASELINES_BUILT, BUILDER_GET_METRIC_DATA_CALLS, BUILDER_SHARDS_QUEUED

logger = Logger()
metrics = Metrics()

SERIES_PER_LOG_LINE = 100  # series named in a warning; the rest are counted


@dataclass
class BuilderDependencies:
    reader: CountingMetricReader
    store: BuildShardStore
    queue: WorkQueue | None = None  # None: every build in one invocation


def _wire(settings: FunctionSettings) -> BuilderDependencies:
    from iotwatch.adapters.aws import client

    return BuilderDependencies(
        reader=CloudWatchMetricReader(client("cloudwatch")),
        store=state_store(settings),
        queue=SqsWorkQueue(client("sqs"), settings.work_queue_url) if settings.work_queue_url else None,
    )


# Its "*" metrics are listed again on every build (and stored for the evaluator; a failed
# listing keeps the last stored values); a build shard reads the list its build just stored.
setup = FunctionSetup(_wire, logger=logger, discovers="builder")


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(
    event: dict[str, Any], context: LambdaContext, dependencies: BuilderDependencies | None = None
) -> dict[str, Any]:
    """The function's entry point: a batch from the build queue (SQS "Records") or a scheduled
    or stack event; both triggers reach the one function the stack deploys."""
    return setup.route(event, dependencies, on_schedule=on_schedule, on_shard_batch=on_shard_batch)


def on_schedule(event: dict[str, Any], deps: BuilderDependencies) -> dict[str, Any]:
    """The refresh schedule or the stack's deploy: rebuild every baseline, or queue the shards."""
    settings = setup.settings()
    now = event_epoch(event)
    calls_before = deps.reader.calls
    series = setup.series(now)
    discovered = len(series) - len(settings.plan.series)
    shard_size = settings.plan.frequency.build_shard_size
    if fans_out(series, shard_size) and deps.queue is not None:
        generation, shards = dispatch_build(
            now=now, series=series, shard_size=shard_size, store=deps.store, queue=deps.queue
        )
        logger.info(
            "baseline build fanned out",
            trigger=event.get("detail-type"),
            series=len(series),
            discovered=discovered,
            shards=shards,
            shard_size=shard_size,
            generation=generation,
        )
        metrics.add_metric(**BUILDER_SHARDS_QUEUED.datapoint(shards))
        return {"series": len(series), "discovered": discovered, "shards": shards, "generation": generation}
    report = rebuild_baselines(
        now=now,
        series=series,
        history_days=settings.plan.frequency.history_days,
        reader=deps.reader,
        store=deps.store.baselines,
        excluded=training_exclusions(
            settings.plan.detection.excluded_windows,
            deps.store.incidents,
            now=now,
            history_days=settings.plan.frequency.history_days,
        ),
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
    _warn_without_history(report.empty)
    metrics.add_metric(**BASELINES_BUILT.datapoint(report.built))
    metrics.add_metric(**BUILDER_GET_METRIC_DATA_CALLS.datapoint(calls))
    return {
        "built": report.built,
        "discovered": discovered,
        "without_history": report.empty,
        "get_metric_data_calls": calls,
    }


def on_shard_batch(records: list[dict[str, Any]], deps: BuilderDependencies) -> dict[str, Any]:
    """An SQS batch of build shards (one, as the stack configures it): each failed one is
    returned for redelivery."""
    settings = setup.settings()
    totals = {"built": 0, "calls": 0}

    def build(task: BuildTask) -> None:
        calls_before = deps.reader.calls
        outcome = run_build_shard(
            task,
            series=setup.series(task.now, discoverer="build shard"),
            history_days=settings.plan.frequency.history_days,
            reader=deps.reader,
            store=deps.store,
            excluded=training_exclusions(
                settings.plan.detection.excluded_windows,
                deps.store.incidents,
                now=task.now,
                history_days=settings.plan.frequency.history_days,
            ),
        )
        calls = deps.reader.calls - calls_before
        totals["built"] += outcome.report.built
        totals["calls"] += calls
        logger.info(
            "baseline shard built",
            shard=task.shard,
            shards=task.shards,
            generation=task.generation,
            built=outcome.report.built,
            without_history=len(outcome.report.empty),
            done=outcome.done,
            generation_marked=outcome.marked,
            get_metric_data_calls=calls,
        )
        _warn_without_history(outcome.report.empty)

    result = run_shard_batch(
        records,
        parse=BuildTask.from_body,
        unreadable=BuildMessageError,
        run=build,
        failed="build shard failed; SQS delivers it again",
        logger=logger,
    )
    metrics.add_metric(**BASELINES_BUILT.datapoint(totals["built"]))
    metrics.add_metric(**BUILDER_GET_METRIC_DATA_CALLS.datapoint(totals["calls"]))
    return result


def _warn_without_history(series: list[str]) -> None:
    if series:
        # the first ones only: a new fleet can have thousands, and the log must not grow with them
        logger.warning(
            "series with no history yet (a share: no period with min_denominator attempts); they stay "
            "in learning mode",
            count=len(series),
            series=series[:SERIES_PER_LOG_LINE],
        )
