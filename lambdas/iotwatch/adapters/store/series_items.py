"""Per-series items, pk SERIES#<id>: BASELINE, STATE and TRACKER, read in batches by series id."""

from __future__ import annotations

from collections.abc import Sequence

from iotwatch.adapters.store.table import DynamoTable, Item

BASELINE_SK = "BASELINE"
STATE_SK = "STATE"
TRACKER_SK = "TRACKER"  # the anomaly-likelihood tracker, written every tick (see likelihood)
SERIES_PREFIX = "SERIES#"


def series_pk(series_id: str) -> str:
    return f"{SERIES_PREFIX}{series_id}"


def read_series_items(
    table: DynamoTable, series_ids: Sequence[str], sk: str, *, projection: str | None = None
) -> dict[str, Item]:
    """The `sk` item of each series that has one, by series id (each id asked for once)."""
    unique = list(dict.fromkeys(series_ids))
    items = table.batch_get([(series_pk(sid), sk) for sid in unique], what="key(s)", projection=projection)
    return {item["pk"].removeprefix(SERIES_PREFIX): item for item in items}
