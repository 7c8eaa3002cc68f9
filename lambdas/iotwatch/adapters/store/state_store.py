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


class DynamoStateStore:
    """Everything iotwatch keeps, in one DynamoDB table: one repository per kind of record, all
    through the same table client (one request count for all of it). A use case is given the
    repositories it needs (service.ports)."""

    def __init__(self, dynamodb: Any, table_name: str, *, cache_baselines: bool = False) -> None:
        self.table = DynamoTable(dynamodb, table_name)
        self.baselines = BaselineRepository(self.table, cache_baselines=cache_baselines)
        self.series_state = SeriesStateRepository(self.table)
        self.runs = RunRepository(self.table)
        self.shards = ShardRepository(self.table)
        self.outbox = OutboxRepository(self.table)
        self.incidents = IncidentRepository(self.table)
        self.silences = SilenceRepository(self.table)
        self.audit = AuditRepository(self.table)
        self.discovered = DiscoveredRepository(self.table)

    @property
    def requests(self) -> int:
        """Requests sent to the table so far, by every repository (a batch retry counts)."""
        return self.table.requests
