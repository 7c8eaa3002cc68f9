"""Everything iotwatch keeps, in one DynamoDB table: per series (pk SERIES#<id>: BASELINE,
STATE, TRACKER), runs and shards, the outbox, silences, audit calls, incidents and discovered
values; one repository per kind of record (its module), all over one table client (`table`)."""

from iotwatch.adapters.store.series_items import BASELINE_SK, TRACKER_SK, series_pk
from iotwatch.adapters.store.silences import SILENCE_PK, SILENCE_TTL_SECONDS
from iotwatch.adapters.store.state_store import DynamoStateStore

# The names the operator CLI, the local harness, the benches and their tests import from here.
__all__ = ["BASELINE_SK", "SILENCE_PK", "SILENCE_TTL_SECONDS", "TRACKER_SK", "DynamoStateStore", "series_pk"]
