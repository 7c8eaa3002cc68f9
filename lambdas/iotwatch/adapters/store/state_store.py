"""DynamoStateStore: every repository over one table client, as the Lambdas and tools use it."""

from __future__ import annotations

from typing import Any

from iotwatch.adapters.store.audit import AuditRepository
from iotwatch.adapters.store.baselines import BaselineRepository
from iotwatch.adapters.store.discovered import DiscoveredRepository
from iotwatch.adapters.store.incidents import IncidentRepository
from iotwatch.adapters.store.outbox import OutboxRepository
from iotwatch.adapters.store.runs import RunRepository
from iotwatch.adapters.store.series_state import SeriesStateRepository
from iotwatch.adapters.store.shards import ShardRepository
from iotwatch.adapters.store.silences import SilenceRepository
from iotwatch.adapters.store.table import DynamoTable


class DynamoStateStore(
    BaselineRepository,
    SeriesStateRepository,
    RunRepository,
    ShardRepository,
    OutboxRepository,
    IncidentRepository,
    SilenceRepository,
    AuditRepository,
    DiscoveredRepository,
):
    """Everything iotwatch keeps, in one DynamoDB table (one request count for all of it)."""

    def __init__(self, dynamodb: Any, table_name: str, *, cache_baselines: bool = False) -> None:
        super().__init__(DynamoTable(dynamodb, table_name), cache_baselines=cache_baselines)
