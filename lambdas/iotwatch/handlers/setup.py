"""What a function builds once per container, in one home for every handler: its settings (and
the plan), its dependencies (clients, the store), and the discovery of the plan's "*" metrics.

A handler module holds one `FunctionSetup`; `reset()` is the next cold start (the tests and the
local harness call it, so a run follows its own endpoint and stack).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.handlers.settings import FunctionSettings, load_settings
from iotwatch.service.context import message_context

if TYPE_CHECKING:  # discovery is imported only by plans with "*" metrics (cold start)
    from aws_lambda_powertools import Logger

    from iotwatch.domain.messages.model import MessageContext
    from iotwatch.domain.series import Series
    from iotwatch.service.discovery import SeriesDiscovery

DependenciesT = TypeVar("DependenciesT")

# Whose refresh period a discovery keeps: the evaluator's, the builder's scheduled run's, or a
# build shard's (which reads the list its build's first run just stored).
Discoverer = Literal["evaluator", "builder", "build shard"]


class FunctionSetup(Generic[DependenciesT]):
    """Built on first use and kept while the container is warm."""

    def __init__(
        self,
        build: Callable[[FunctionSettings], DependenciesT],
        *,
        logger: Logger,
        discovers: Discoverer | None = None,
        on_reset: Callable[[], None] | None = None,
    ) -> None:
        self._build = build
        self._logger = logger
        self.discovers = discovers  # None: the function never lists "*" metrics
        self._on_reset = on_reset
        self._settings: FunctionSettings | None = None
        self._dependencies: DependenciesT | None = None
        self._discoveries: dict[Discoverer, SeriesDiscovery] = {}

    def reset(self) -> None:
        """Forgets everything built: the next call reads the environment and the plan again."""
        self._settings, self._dependencies, self._discoveries = None, None, {}
        if self._on_reset is not None:
            self._on_reset()

    def route(
        self,
        event: dict[str, Any],
        dependencies: DependenciesT | None,
        *,
        on_schedule: Callable[[dict[str, Any], DependenciesT], dict[str, Any]],
        on_shard_batch: Callable[[list[dict[str, Any]], DependenciesT], dict[str, Any]],
    ) -> dict[str, Any]:
        """A function with two triggers: a batch from its work queue (SQS "Records"), or a
        scheduled or stack event. A wrong environment fails first, before any client is made."""
        self.settings()
        deps = dependencies or self.dependencies()
        if isinstance(event, dict) and "Records" in event:
            return on_shard_batch(event["Records"], deps)
        return on_schedule(event, deps)

    def settings(self) -> FunctionSettings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def dependencies(self) -> DependenciesT:
        if self._dependencies is None:
            self._dependencies = self._build(self.settings())
        return self._dependencies

    def messages(self) -> MessageContext:
        """Where the function's messages say they come from (plan, stack, region, dashboard)."""
        settings = self.settings()
        return message_context(settings.plan, region=settings.region, dashboard_name=settings.dashboard_name)

    def discovery(self, discoverer: Discoverer) -> SeriesDiscovery:
        """Discovered values of the plan's "*" metrics, kept in memory while the container is warm."""
        if discoverer not in self._discoveries:
            self._discoveries[discoverer] = series_discovery(
                self.settings(), refresh_after=_refresh_seconds(discoverer)
            )
        return self._discoveries[discoverer]

    def series(self, now: float | None = None, *, discoverer: Discoverer | None = None) -> tuple[Series, ...]:
        """The plan's series, then those its "*" metrics discover (listed again when the last list
        is older than `discoverer`'s refresh period, as of `now`: the event time, the wall clock
        when not given). A value discovered since the last baseline build is learning until the
        builder's next run."""
        plan = self.settings().plan
        if not plan.discover:
            return plan.series
        chosen = discoverer or self.discovers
        assert chosen is not None, "a function that discovers names its discoverer"
        report = self.discovery(chosen).resolve(now=time.time() if now is None else now)
        from iotwatch.service.discovery import log_discovery

        log_discovery(self._logger, report)
        return report.series


def _refresh_seconds(discoverer: Discoverer) -> int:
    from iotwatch.service import discovery

    return {
        "evaluator": discovery.EVALUATOR_REFRESH_SECONDS,
        "builder": discovery.BUILDER_REFRESH_SECONDS,
        "build shard": discovery.SHARD_WORKER_REFRESH_SECONDS,
    }[discoverer]


def state_store(settings: FunctionSettings, *, cache_baselines: bool = False) -> DynamoStateStore:
    """The function's state table, through one DynamoDB client."""
    from iotwatch.adapters.aws import client

    return DynamoStateStore(client("dynamodb"), settings.table_name, cache_baselines=cache_baselines)


def series_discovery(settings: FunctionSettings, *, refresh_after: int) -> SeriesDiscovery:
    """The discovery of the plan's "*" metrics as a function wires it (its own clients: a
    listing gets fewer retries than the rest, so a throttled run stays short)."""
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.discovery import LIST_METRICS_ATTEMPTS, CloudWatchMetricLister
    from iotwatch.service.discovery import SeriesDiscovery

    return SeriesDiscovery(
        series=settings.plan.series,
        templates=settings.plan.discover,
        lister=CloudWatchMetricLister(client("cloudwatch", total_attempts=LIST_METRICS_ATTEMPTS)),
        store=state_store(settings).discovered,
        refresh_after=refresh_after,
    )
