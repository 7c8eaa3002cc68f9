"""Ad-hoc silences (`iotwatch silence add`): pk SILENCE, sk the silence's id."""

from __future__ import annotations

import json
import time
from typing import Any

from iotwatch.adapters.store.table import Item, Repository
from iotwatch.domain.silences import Silence

SILENCE_PK = "SILENCE"
# An ended silence stays listable (`silence list --all`) for a month, then DynamoDB's TTL removes it.
SILENCE_TTL_SECONDS = 30 * 86400


class SilenceRepository(Repository):
    def put_silence(self, silence: Silence) -> None:
        """Creates or replaces the silence with this id (pk SILENCE, sk = id)."""
        self._table.put(_silence_item(silence))

    def list_silences(self, *, now: int | None = None, include_expired: bool = False) -> list[Silence]:
        """Silences that have not ended at `now` (active and future), or all still stored, by start.

        One Query on the SILENCE partition (paginated): the evaluator calls this every run.
        Ended ones are dropped by a filter, not by the key, so they are read (and billed) until
        the TTL removes them; a month of ad-hoc silences is a few KB."""
        values: dict[str, Any] = {":pk": SILENCE_PK}
        ended_filter = None
        if not include_expired:
            values[":now"] = int(time.time()) if now is None else int(now)
            ended_filter = "ends > :now"
        items = self._table.query("pk = :pk", values, filter_expression=ended_filter)
        silences = [_silence_from_item(raw) for raw in items]
        return sorted(silences, key=lambda s: (s.starts, s.ends, s.id))

    def delete_silence(self, silence_id: str) -> bool:
        """Removes the silence; False when there was none with this id."""
        return bool(self._table.delete(SILENCE_PK, silence_id, return_old=True))


def _silence_item(silence: Silence) -> Item:
    return {
        "pk": SILENCE_PK,
        "sk": silence.id,
        "starts": int(silence.starts),
        "ends": int(silence.ends),
        "reason": silence.reason,
        "metrics": json.dumps(list(silence.metrics)),
        "dimensions": json.dumps(dict(silence.dimensions), sort_keys=True),
        "created_by": silence.created_by,
        "created_at": int(silence.created_at),
        "expires_at": int(silence.ends) + SILENCE_TTL_SECONDS,
        **({"incident": silence.incident} if silence.incident is not None else {}),
    }


def _silence_from_item(raw: Item) -> Silence:
    return Silence(
        id=raw["sk"],
        starts=int(raw["starts"]),
        ends=int(raw["ends"]),
        reason=raw["reason"],
        metrics=tuple(json.loads(raw["metrics"])),
        dimensions=json.loads(raw["dimensions"]),
        created_by=raw.get("created_by", "unknown"),
        created_at=int(raw.get("created_at", 0)),
        incident=raw.get("incident"),
    )
