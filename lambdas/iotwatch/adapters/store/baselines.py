"""Baselines (pk SERIES#<id>, sk BASELINE) and the generation a rebuild marks, which lets a
warm evaluator keep the baselines it decoded until the next rebuild."""

from __future__ import annotations

import json
from collections.abc import Sequence

from iotwatch.adapters.store.series_items import BASELINE_SK, read_series_items, series_pk
from iotwatch.adapters.store.table import DynamoTable, Repository
from iotwatch.domain.baseline.model import Baseline

# Written by the builder after a rebuild: a warm evaluator keeps decoded baselines until it changes.
GENERATION_PK = "BASELINES"
GENERATION_SK = "GENERATION"


class BaselineRepository(Repository):
    def __init__(self, table: DynamoTable, *, cache_baselines: bool = False) -> None:
        super().__init__(table)
        # Baselines change once a day but are read every few minutes: with the cache on, a run
        # reads the one generation item and decodes nothing when it has not moved.
        self._cache_baselines = cache_baselines
        self._cached: dict[str, Baseline] = {}
        self._cached_generation: str | None = None

    def get_baselines(self, series_ids: Sequence[str]) -> dict[str, Baseline]:
        if not self._cache_baselines:
            return self._read_baselines(series_ids)
        generation = self.baseline_generation()
        if generation is None:  # never marked (a builder older than the cache): nothing to key on
            return self._read_baselines(series_ids)
        if generation != self._cached_generation:
            self._cached, self._cached_generation = {}, generation
        # series without a baseline yet (learning) are asked for again on every run
        missing = [sid for sid in series_ids if sid not in self._cached]
        if missing:
            self._cached.update(self._read_baselines(missing))
        found = {sid: self._cached[sid] for sid in series_ids if sid in self._cached}
        # Only this request's series stay cached: a container that takes the shards of a big
        # plan in turn would otherwise end up holding every baseline of the plan.
        if len(self._cached) > len(found):
            self._cached = dict(found)
        return found

    def _read_baselines(self, series_ids: Sequence[str]) -> dict[str, Baseline]:
        items = read_series_items(self._table, series_ids, BASELINE_SK)
        return {sid: Baseline.from_record(json.loads(item["record"])) for sid, item in items.items()}

    def get_baseline_versions(self, series_ids: Sequence[str]) -> dict[str, int]:
        """Each stored baseline's version, without reading (or decoding) the baseline."""
        items = read_series_items(self._table, series_ids, BASELINE_SK, projection="pk, version")
        return {sid: int(item["version"]) for sid, item in items.items()}

    def baseline_generation(self) -> str | None:
        item = self._table.get(GENERATION_PK, GENERATION_SK)
        return str(item["generation"]) if item else None

    def mark_baselines_built(self, generation: str) -> None:
        """Called after a rebuild has stored every baseline: warm evaluators drop their cache."""
        self._table.put({"pk": GENERATION_PK, "sk": GENERATION_SK, "generation": generation})

    def put_baseline(self, baseline: Baseline) -> None:
        self._cached.pop(baseline.series_id, None)
        self._table.put(
            {
                "pk": series_pk(baseline.series_id),
                "sk": BASELINE_SK,
                "version": baseline.version,
                "method": baseline.method,
                "built_at": baseline.built_at,
                "record": json.dumps(baseline.to_record(), separators=(",", ":")),
            }
        )
