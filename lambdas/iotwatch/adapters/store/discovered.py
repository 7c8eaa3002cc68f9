"""Discovered dimension values ("*" in the plan), one item per template: pk DISCOVERY,
sk <template key>, the sorted dimension sets as JSON, when they were listed."""

from __future__ import annotations

import json

from iotwatch.adapters.store.table import Repository
from iotwatch.domain.discovery import DiscoveredValues

DISCOVERY_PK = "DISCOVERY"


class DiscoveredRepository(Repository):
    def list_discovered(self) -> dict[str, DiscoveredValues]:
        """Every template's last discovered values, by template key: one Query (paginated)."""
        return {
            raw["sk"]: DiscoveredValues(
                template=raw["sk"],
                dimensions=tuple(tuple((k, v) for k, v in dims) for dims in json.loads(raw["dimensions"])),
                discovered_at=int(raw["discovered_at"]),
                total=int(raw["total"]),
            )
            for raw in self._table.query("pk = :pk", {":pk": DISCOVERY_PK})
        }

    def put_discovered(self, entry: DiscoveredValues) -> None:
        self._table.put(
            {
                "pk": DISCOVERY_PK,
                "sk": entry.template,
                "discovered_at": int(entry.discovered_at),
                "total": int(entry.total),
                "dimensions": json.dumps(
                    [[list(kv) for kv in d] for d in entry.dimensions], separators=(",", ":")
                ),
            }
        )
