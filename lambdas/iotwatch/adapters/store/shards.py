"""Fanned-out work: a big tick's shards (their results, the set done, the claim to page) and
a fanned-out baseline build's set of shards done."""

from __future__ import annotations

from iotwatch.adapters.store.runs import RUN_MARKER_TTL_SECONDS
from iotwatch.adapters.store.table import Repository, sorted_set

TICK_PREFIX = "TICK#"
BUILD_PREFIX = "BUILD#"  # a fanned-out baseline build: pk BUILD#<generation>, sk BUILD
SHARD_PREFIX = "SHARD#"


def _tick_pk(window_end: int) -> str:
    return f"{TICK_PREFIX}{window_end}"


def _shard_sk(shard: int) -> str:
    return f"{SHARD_PREFIX}{shard:05d}"


class ShardRepository(Repository):
    # One tick of a plan too big for one invocation: TICK#<window end> holds the shard count
    # and the set of shards done, one item per shard result, and the claim to publish.
    def start_fanout(self, window_end: int, shards: int) -> None:
        self._start_set(_tick_pk(window_end), "TICK", shards, expires_at=window_end + RUN_MARKER_TTL_SECONDS)

    def get_shard_result(self, window_end: int, shard: int) -> str | None:
        item = self._table.get(_tick_pk(window_end), _shard_sk(shard))
        return str(item["result"]) if item else None

    def put_shard_result(self, window_end: int, shard: int, result: str) -> bool:
        """Keeps the first result written for a shard; False when one was already kept."""
        return self._table.put_new(
            {
                "pk": _tick_pk(window_end),
                "sk": _shard_sk(shard),
                "result": result,
                "expires_at": window_end + RUN_MARKER_TTL_SECONDS,
            }
        )

    def fanout_shards(self, window_end: int) -> int | None:
        """How many shards the tick was split into; None when no run started it."""
        return self._set_size(_tick_pk(window_end), "TICK")

    def finish_shard(self, window_end: int, shard: int) -> tuple[int, int]:
        """Marks `shard` done (idempotent: a set, not a counter); returns (done, shards)."""
        return self._finish_in_set(_tick_pk(window_end), "TICK", shard)

    def list_shard_results(self, window_end: int) -> list[str]:
        items = self._table.query(
            "pk = :pk AND begins_with(sk, :shard)", {":pk": _tick_pk(window_end), ":shard": SHARD_PREFIX}
        )
        return [str(item["result"]) for item in items]

    def claim_publish(self, window_end: int) -> bool:
        """True for the one invocation that pages for a fanned-out tick."""
        return self._table.put_new(
            {"pk": _tick_pk(window_end), "sk": "PUBLISH", "expires_at": window_end + RUN_MARKER_TTL_SECONDS}
        )

    def release_publish(self, window_end: int) -> None:
        self._table.delete(_tick_pk(window_end), "PUBLISH")

    # BUILD#<generation> / BUILD: the shard count and the set of shards done; the shard that
    # completes the set writes the generation, so warm evaluators re-read every new baseline.
    def start_build(self, generation: str, shards: int, *, expires_at: int) -> None:
        self._start_set(f"{BUILD_PREFIX}{generation}", "BUILD", shards, expires_at=expires_at)

    def build_shards(self, generation: str) -> int | None:
        return self._set_size(f"{BUILD_PREFIX}{generation}", "BUILD")

    def finish_build_shard(self, generation: str, shard: int) -> tuple[int, int]:
        return self._finish_in_set(f"{BUILD_PREFIX}{generation}", "BUILD", shard)

    def _start_set(self, pk: str, sk: str, shards: int, *, expires_at: int) -> None:
        self._table.put({"pk": pk, "sk": sk, "shards": shards, "expires_at": expires_at})

    def _set_size(self, pk: str, sk: str) -> int | None:
        item = self._table.get(pk, sk)
        return int(item["shards"]) if item else None

    def _finish_in_set(self, pk: str, sk: str, shard: int) -> tuple[int, int]:
        item = self._table.update(
            pk,
            sk,
            "ADD done :shard",
            {":shard": sorted_set([str(shard)])},
            condition="attribute_exists(pk)",
            return_new=True,
        )
        return len(item.get("done", ())), int(item.get("shards", 0))
