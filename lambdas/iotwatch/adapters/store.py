"""Everything iotwatch keeps, in one DynamoDB table: per series (pk SERIES#<id>: BASELINE,
STATE, TRACKER), runs and shards, the outbox, silences, audit calls and incidents."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from botocore.exceptions import ClientError

from iotwatch.domain.audit import RecordedCall
from iotwatch.domain.baseline import Baseline
from iotwatch.domain.deviation import AlertState
from iotwatch.domain.discovery import DiscoveredValues
from iotwatch.domain.incidents import Incident, decode_incident, encode_incident, id_floor
from iotwatch.domain.likelihood import TrackerState
from iotwatch.domain.silences import Silence

BATCH_GET_LIMIT = 100
MAX_BATCH_ATTEMPTS = 8


class StoreThrottledError(RuntimeError):
    pass


BASELINE_SK = "BASELINE"
STATE_SK = "STATE"
TRACKER_SK = "TRACKER"  # the anomaly-likelihood tracker, written every tick (see likelihood)
BATCH_WRITE_LIMIT = 25


def series_pk(series_id: str) -> str:
    return f"SERIES#{series_id}"


RUN_PK = "RUN"
RUN_MARKER_TTL_SECONDS = 2 * 86400
# The newest window a run completed: where a run after an outage starts catching up.
COMPLETED_KEY = {"pk": {"S": RUN_PK}, "sk": {"S": "COMPLETED"}}


TICK_PREFIX = "TICK#"
BUILD_PREFIX = "BUILD#"  # a fanned-out baseline build: pk BUILD#<generation>, sk BUILD

OUTBOX_PK = "OUTBOX"
OUTBOX_TTL_SECONDS = 7 * 86400


SILENCE_PK = "SILENCE"
# An ended silence stays listable (`silence list --all`) for a month, then DynamoDB's TTL removes it.
SILENCE_TTL_SECONDS = 30 * 86400


# Discovered dimension values ("*" in the plan), one item per template: pk DISCOVERY,
# sk <template key>, the sorted dimension sets as JSON, when they were listed.
DISCOVERY_PK = "DISCOVERY"


# Control-plane calls, one partition per UTC day so "the hour before an incident" is one or
# two Queries: pk AUDIT#2026-11-16, sk <ISO time>#<eventID>.
AUDIT_PK_PREFIX = "AUDIT#"
DAY_SECONDS = 86400


def audit_partition(at: int) -> str:
    return AUDIT_PK_PREFIX + time.strftime("%Y-%m-%d", time.gmtime(at))


def audit_sort_prefix(at: int) -> str:
    """The part of a call's sort key that orders it in time: '2026-11-16T12:56:00Z#'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ#", time.gmtime(at))


def audit_key(call: RecordedCall) -> dict[str, dict[str, str]]:
    return {"pk": {"S": audit_partition(call.at)}, "sk": {"S": audit_sort_prefix(call.at) + call.event_id}}


@dataclass(frozen=True)
class OutboxItem:
    """A message a topic still owes on-call: rendered when its publish failed, sent later."""

    key: str
    topic: str
    subject: str
    message: str
    attributes: dict[str, dict[str, str]]
    first_attempt: int


class StateStore(Protocol):
    def claim_run(self, window_end: int) -> bool: ...
    def list_silences(self, *, now: int | None = None, include_expired: bool = False) -> list[Silence]: ...
    def release_run(self, window_end: int) -> None: ...
    def last_completed(self) -> int | None: ...
    def complete_run(self, window_end: int) -> None: ...
    def put_outbox(self, item: OutboxItem) -> None: ...
    def list_outbox(self) -> list[OutboxItem]: ...
    def delete_outbox(self, key: str) -> None: ...
    def get_baselines(self, series_ids: Sequence[str]) -> dict[str, Baseline]: ...
    def put_baseline(self, baseline: Baseline) -> None: ...
    def get_baseline_versions(self, series_ids: Sequence[str]) -> dict[str, int]: ...
    def get_states(self, series_ids: Sequence[str]) -> dict[str, AlertState]: ...
    def save_state(self, state: AlertState) -> bool: ...
    def get_trackers(self, series_ids: Sequence[str]) -> dict[str, TrackerState]: ...
    def save_trackers(self, trackers: Mapping[str, TrackerState]) -> None: ...
    def list_audit_calls(self, *, start: int, end: int) -> list[RecordedCall]: ...
    def get_open_incidents(self) -> list[Incident]: ...
    def save_incident(self, incident: Incident, *, expires_at: int | None = None) -> bool: ...


# Incidents, one item each (pk INCIDENT, sk = the id, which sorts by opening time), kept
# `notify.history_days` after they resolve; the ids of the open ones in one small item, which
# every evaluation reads.
INCIDENT_PK = "INCIDENT"
OPEN_INCIDENTS_KEY = {"pk": {"S": "INCIDENTS"}, "sk": {"S": "OPEN"}}


# Written by the builder after a rebuild: a warm evaluator keeps decoded baselines until it changes.
GENERATION_PK = "BASELINES"
GENERATION_SK = "GENERATION"


class DynamoStateStore:
    def __init__(self, dynamodb: Any, table_name: str, *, cache_baselines: bool = False) -> None:
        self._db = dynamodb
        self._table = table_name
        self.requests = 0
        # Baselines change once a day but are read every few minutes: with the cache on, a run
        # reads the one generation item and decodes nothing when it has not moved.
        self._cache_baselines = cache_baselines
        self._cached: dict[str, Baseline] = {}
        self._cached_generation: str | None = None

    # -- evaluation runs ---------------------------------------------------------------------
    def claim_run(self, window_end: int) -> bool:
        """True for the first run that evaluates the window ending at `window_end`; a
        retried or overlapping invocation of the same tick gets False and sends nothing."""
        return self._put_new(
            {
                "pk": {"S": RUN_PK},
                "sk": {"S": f"EVALUATION#{window_end}"},
                "expires_at": {"N": str(window_end + RUN_MARKER_TTL_SECONDS)},
            }
        )

    def release_run(self, window_end: int) -> None:
        """Lets a retry of a failed run evaluate the same window again."""
        self.requests += 1
        self._db.delete_item(
            TableName=self._table, Key={"pk": {"S": RUN_PK}, "sk": {"S": f"EVALUATION#{window_end}"}}
        )

    def last_completed(self) -> int | None:
        """The end of the newest window a run evaluated to the end (states saved, incidents
        advanced); None before the first one. A run that finds older ones missed catches up."""
        self.requests += 1
        item = self._db.get_item(TableName=self._table, Key=COMPLETED_KEY, ConsistentRead=True).get("Item")
        return int(item["window_end"]["N"]) if item else None

    def complete_run(self, window_end: int) -> None:
        """Moves the completed mark forward to `window_end` (never back: an old event retried
        late completes nothing newer)."""
        self.requests += 1
        try:
            self._db.update_item(
                TableName=self._table,
                Key=COMPLETED_KEY,
                UpdateExpression="SET window_end = :end",
                ConditionExpression="attribute_not_exists(window_end) OR window_end < :end",
                ExpressionAttributeValues={":end": {"N": str(window_end)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    # -- fanned-out runs ---------------------------------------------------------------------
    # One tick of a plan too big for one invocation: TICK#<window end> holds the shard count
    # and the set of shards done, one item per shard result, and the claim to publish.
    def start_fanout(self, window_end: int, shards: int) -> None:
        self._start_set(
            f"{TICK_PREFIX}{window_end}", "TICK", shards, expires_at=window_end + RUN_MARKER_TTL_SECONDS
        )

    def get_shard_result(self, window_end: int, shard: int) -> str | None:
        self.requests += 1
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"{TICK_PREFIX}{window_end}"}, "sk": {"S": f"SHARD#{shard:05d}"}},
            ConsistentRead=True,
        ).get("Item")
        return item["result"]["S"] if item else None

    def put_shard_result(self, window_end: int, shard: int, result: str) -> bool:
        """Keeps the first result written for a shard; False when one was already kept."""
        return self._put_new(
            {
                "pk": {"S": f"{TICK_PREFIX}{window_end}"},
                "sk": {"S": f"SHARD#{shard:05d}"},
                "result": {"S": result},
                "expires_at": {"N": str(window_end + RUN_MARKER_TTL_SECONDS)},
            }
        )

    def fanout_shards(self, window_end: int) -> int | None:
        """How many shards the tick was split into; None when no run started it."""
        return self._set_size(f"{TICK_PREFIX}{window_end}", "TICK")

    def finish_shard(self, window_end: int, shard: int) -> tuple[int, int]:
        """Marks `shard` done (idempotent: a set, not a counter); returns (done, shards)."""
        return self._finish_in_set(f"{TICK_PREFIX}{window_end}", "TICK", shard)

    # -- fanned-out baseline builds ----------------------------------------------------------
    # BUILD#<generation> / BUILD: the shard count and the set of shards done; the shard that
    # completes the set writes the generation, so warm evaluators re-read every new baseline.
    def start_build(self, generation: str, shards: int, *, expires_at: int) -> None:
        self._start_set(f"{BUILD_PREFIX}{generation}", "BUILD", shards, expires_at=expires_at)

    def build_shards(self, generation: str) -> int | None:
        return self._set_size(f"{BUILD_PREFIX}{generation}", "BUILD")

    def finish_build_shard(self, generation: str, shard: int) -> tuple[int, int]:
        return self._finish_in_set(f"{BUILD_PREFIX}{generation}", "BUILD", shard)

    def _start_set(self, pk: str, sk: str, shards: int, *, expires_at: int) -> None:
        self.requests += 1
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": pk},
                "sk": {"S": sk},
                "shards": {"N": str(shards)},
                "expires_at": {"N": str(expires_at)},
            },
        )

    def _set_size(self, pk: str, sk: str) -> int | None:
        self.requests += 1
        item = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return int(item["shards"]["N"]) if item else None

    def _finish_in_set(self, pk: str, sk: str, shard: int) -> tuple[int, int]:
        self.requests += 1
        response = self._db.update_item(
            TableName=self._table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression="ADD done :shard",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":shard": {"SS": [str(shard)]}},
            ReturnValues="ALL_NEW",
        )
        item = response["Attributes"]
        return len(item.get("done", {}).get("SS", [])), int(item.get("shards", {}).get("N", "0"))

    def list_shard_results(self, window_end: int) -> list[str]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :shard)",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"{TICK_PREFIX}{window_end}"},
                ":shard": {"S": "SHARD#"},
            },
            "ConsistentRead": True,
        }
        return [raw["result"]["S"] for raw in self._query(request)]

    def claim_publish(self, window_end: int) -> bool:
        """True for the one invocation that pages for a fanned-out tick."""
        return self._put_new(
            {
                "pk": {"S": f"{TICK_PREFIX}{window_end}"},
                "sk": {"S": "PUBLISH"},
                "expires_at": {"N": str(window_end + RUN_MARKER_TTL_SECONDS)},
            }
        )

    def release_publish(self, window_end: int) -> None:
        self.requests += 1
        self._db.delete_item(
            TableName=self._table, Key={"pk": {"S": f"{TICK_PREFIX}{window_end}"}, "sk": {"S": "PUBLISH"}}
        )

    # -- outbox ------------------------------------------------------------------------------
    def put_outbox(self, item: OutboxItem) -> None:
        self.requests += 1
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": OUTBOX_PK},
                "sk": {"S": item.key},
                "topic": {"S": item.topic},
                "subject": {"S": item.subject},
                "message": {"S": item.message},
                "attributes": {"S": json.dumps(item.attributes)},
                "first_attempt": {"N": str(item.first_attempt)},
                "expires_at": {"N": str(item.first_attempt + OUTBOX_TTL_SECONDS)},
            },
        )

    def list_outbox(self) -> list[OutboxItem]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": OUTBOX_PK}},
            "ConsistentRead": True,
        }
        return [
            OutboxItem(
                key=raw["sk"]["S"],
                topic=raw["topic"]["S"],
                subject=raw["subject"]["S"],
                message=raw["message"]["S"],
                attributes=json.loads(raw["attributes"]["S"]),
                first_attempt=int(raw["first_attempt"]["N"]),
            )
            for raw in self._query(request)
        ]

    def delete_outbox(self, key: str) -> None:
        self.requests += 1
        self._db.delete_item(TableName=self._table, Key={"pk": {"S": OUTBOX_PK}, "sk": {"S": key}})

    # -- silences ----------------------------------------------------------------------------
    def put_silence(self, silence: Silence) -> None:
        """Creates or replaces the silence with this id (pk SILENCE, sk = id)."""
        self.requests += 1
        self._db.put_item(TableName=self._table, Item=_silence_item(silence))

    def list_silences(self, *, now: int | None = None, include_expired: bool = False) -> list[Silence]:
        """Silences that have not ended at `now` (active and future), or all still stored, by start.

        One Query on the SILENCE partition (paginated): the evaluator calls this every run.
        Ended ones are dropped by a filter, not by the key, so they are read (and billed) until
        the TTL removes them; a month of ad-hoc silences is a few KB."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": SILENCE_PK}},
            "ConsistentRead": True,
        }
        if not include_expired:
            at = int(time.time()) if now is None else int(now)
            request["FilterExpression"] = "ends > :now"
            request["ExpressionAttributeValues"][":now"] = {"N": str(at)}
        silences = [_silence_from_item(raw) for raw in self._query(request)]
        return sorted(silences, key=lambda s: (s.starts, s.ends, s.id))

    def delete_silence(self, silence_id: str) -> bool:
        """Removes the silence; False when there was none with this id."""
        self.requests += 1
        response = self._db.delete_item(
            TableName=self._table,
            Key={"pk": {"S": SILENCE_PK}, "sk": {"S": silence_id}},
            ReturnValues="ALL_OLD",
        )
        return bool(response.get("Attributes"))

    # -- discovered series ---------------------------------------------------------------------
    def list_discovered(self) -> dict[str, DiscoveredValues]:
        """Every template's last discovered values, by template key: one Query (paginated)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": DISCOVERY_PK}},
            "ConsistentRead": True,
        }
        return {
            raw["sk"]["S"]: DiscoveredValues(
                template=raw["sk"]["S"],
                dimensions=tuple(
                    tuple((k, v) for k, v in dims) for dims in json.loads(raw["dimensions"]["S"])
                ),
                discovered_at=int(raw["discovered_at"]["N"]),
                total=int(raw["total"]["N"]),
            )
            for raw in self._query(request)
        }

    def put_discovered(self, entry: DiscoveredValues) -> None:
        self.requests += 1
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": DISCOVERY_PK},
                "sk": {"S": entry.template},
                "discovered_at": {"N": str(int(entry.discovered_at))},
                "total": {"N": str(int(entry.total))},
                "dimensions": {
                    "S": json.dumps([[list(kv) for kv in d] for d in entry.dimensions], separators=(",", ":"))
                },
            },
        )

    # -- baselines ---------------------------------------------------------------------------
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
        items = self._batch_get(series_ids, BASELINE_SK)
        return {sid: Baseline.from_record(json.loads(item["record"]["S"])) for sid, item in items.items()}

    def get_baseline_versions(self, series_ids: Sequence[str]) -> dict[str, int]:
        """Each stored baseline's version, without reading (or decoding) the baseline."""
        items = self._batch_get(series_ids, BASELINE_SK, projection="pk, version")
        return {sid: int(item["version"]["N"]) for sid, item in items.items()}

    def baseline_generation(self) -> str | None:
        self.requests += 1
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": GENERATION_PK}, "sk": {"S": GENERATION_SK}},
            ConsistentRead=True,
        ).get("Item")
        return item["generation"]["S"] if item else None

    def mark_baselines_built(self, generation: str) -> None:
        """Called after a rebuild has stored every baseline: warm evaluators drop their cache."""
        self.requests += 1
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": GENERATION_PK},
                "sk": {"S": GENERATION_SK},
                "generation": {"S": generation},
            },
        )

    def put_baseline(self, baseline: Baseline) -> None:
        self._cached.pop(baseline.series_id, None)
        self.requests += 1
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": series_pk(baseline.series_id)},
                "sk": {"S": BASELINE_SK},
                "version": {"N": str(baseline.version)},
                "method": {"S": baseline.method},
                "built_at": {"N": str(baseline.built_at)},
                "record": {"S": json.dumps(baseline.to_record(), separators=(",", ":"))},
            },
        )

    # -- alert state -------------------------------------------------------------------------
    def get_states(self, series_ids: Sequence[str]) -> dict[str, AlertState]:
        items = self._batch_get(series_ids, STATE_SK)
        states = {}
        known = {f.name for f in fields(AlertState)}
        for sid, item in items.items():
            # fields a newer or older evaluator wrote (last_notified, unpaged) are left out
            data = {k: v for k, v in json.loads(item["state"]["S"]).items() if k in known}
            states[sid] = AlertState(**{**data, "revision": int(item["revision"]["N"])})
        return states

    def save_state(self, state: AlertState) -> bool:
        """Writes `state` if nobody else wrote since it was read; False when overtaken."""
        # every field but the revision, which lives in its own attribute for the condition
        payload = {f.name: getattr(state, f.name) for f in fields(AlertState) if f.name != "revision"}
        self.requests += 1
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": series_pk(state.series_id)},
                    "sk": {"S": STATE_SK},
                    "revision": {"N": str(state.revision + 1)},
                    "status": {"S": state.status},
                    "state": {"S": json.dumps(payload, separators=(",", ":"))},
                },
                ConditionExpression="attribute_not_exists(pk) OR revision = :seen",
                ExpressionAttributeValues={":seen": {"N": str(state.revision)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- anomaly-likelihood trackers ------------------------------------------------------------
    def get_trackers(self, series_ids: Sequence[str]) -> dict[str, TrackerState]:
        items = self._batch_get(series_ids, TRACKER_SK)
        return {
            sid: TrackerState.from_record(json.loads(item["tracker"]["S"])) for sid, item in items.items()
        }

    def save_trackers(self, trackers: Mapping[str, TrackerState]) -> None:
        """One item per series, unconditionally: a tracker is only read by the next tick of the
        same series, which the run claim already serialises."""
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": series_pk(sid)},
                        "sk": {"S": TRACKER_SK},
                        "tracker": {"S": json.dumps(tracker.to_record(), separators=(",", ":"))},
                    }
                }
            }
            for sid, tracker in trackers.items()
        ]

        def write(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            response = self._db.batch_write_item(RequestItems={self._table: pending})
            return list(response.get("UnprocessedItems", {}).get(self._table, []))

        for i in range(0, len(requests), BATCH_WRITE_LIMIT):
            self._until_processed(requests[i : i + BATCH_WRITE_LIMIT], write, "tracker write(s)")

    # -- incidents -----------------------------------------------------------------------------
    def get_open_incidents(self) -> list[Incident]:
        """The open incidents: the OPEN item's ids, then their items (one GetItem, and a
        BatchGetItem only while something is open). An id whose item is missing or resolved
        (a run stopped between the two writes) is left out."""
        self.requests += 1
        item = self._db.get_item(TableName=self._table, Key=OPEN_INCIDENTS_KEY, ConsistentRead=True).get(
            "Item"
        )
        ids = sorted(item.get("ids", {}).get("SS", [])) if item else []
        if not ids:
            return []
        found: dict[str, Incident] = {}

        def read(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            response = self._db.batch_get_item(
                RequestItems={self._table: {"Keys": pending, "ConsistentRead": True}}
            )
            for raw in response.get("Responses", {}).get(self._table, []):
                incident = _incident_from_item(raw)
                found[incident.id] = incident
            return list(response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", []))

        for i in range(0, len(ids), BATCH_GET_LIMIT):
            keys = [{"pk": {"S": INCIDENT_PK}, "sk": {"S": iid}} for iid in ids[i : i + BATCH_GET_LIMIT]]
            self._until_processed(keys, read, "incident(s)")
        return [found[iid] for iid in ids if iid in found and found[iid].status == "open"]

    def save_incident(self, incident: Incident, *, expires_at: int | None = None) -> bool:
        """Writes `incident` if nobody wrote it since it was read (revision), then keeps the
        OPEN item in step: an incident is listed there before its first write and taken off
        after the write that resolves it, so a run stopped in between leaves at worst an id
        that points at a resolved (or missing) incident, which readers skip."""
        if incident.status == "open" and incident.revision == 0:
            self._open_ids("ADD", incident.id)
        text, packed = encode_incident(incident)
        item: dict[str, Any] = {
            "pk": {"S": INCIDENT_PK},
            "sk": {"S": incident.id},
            "revision": {"N": str(incident.revision + 1)},
            "status": {"S": incident.status},
            "opened_at": {"N": str(incident.opened_at)},
            "severity": {"S": incident.severity},
            "metrics": {"SS": sorted({m.metric for m in incident.members})},
            **({"incident": {"S": text}} if text is not None else {"incident_z": {"B": packed}}),
            **({"expires_at": {"N": str(int(expires_at))}} if expires_at is not None else {}),
        }
        self.requests += 1
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR revision = :seen",
                ExpressionAttributeValues={":seen": {"N": str(incident.revision)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        if incident.status == "resolved":
            self._open_ids("DELETE", incident.id)
        return True

    def _open_ids(self, action: str, incident_id: str) -> None:
        self.requests += 1
        self._db.update_item(
            TableName=self._table,
            Key=OPEN_INCIDENTS_KEY,
            UpdateExpression=f"{action} ids :id",
            ExpressionAttributeValues={":id": {"SS": [incident_id]}},
        )

    def get_incident(self, incident_id: str) -> Incident | None:
        self.requests += 1
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": {"S": INCIDENT_PK}, "sk": {"S": incident_id}},
            ConsistentRead=True,
        ).get("Item")
        return _incident_from_item(item) if item else None

    def list_incidents(self, *, since: int) -> list[Incident]:
        """Incidents opened at or after `since`, or still open, oldest first: one Query
        (paginated) from the first id `since` allows, plus the open ones opened before it."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk >= :floor",
            "ExpressionAttributeValues": {":pk": {"S": INCIDENT_PK}, ":floor": {"S": id_floor(since)}},
            "ConsistentRead": True,
        }
        found = {i.id: i for i in map(_incident_from_item, self._query(request))}
        for incident in self.get_open_incidents():
            found.setdefault(incident.id, incident)
        return sorted(found.values(), key=lambda i: (i.opened_at, i.id))

    # -- control-plane audit -------------------------------------------------------------------
    def record_audit_call(
        self, call: RecordedCall, *, expires_at: int, owed: Sequence[str] = (), now: float = 0.0
    ) -> bool:
        """Keeps `call`; False when it was already recorded (EventBridge delivers at least once,
        so a second delivery of the same CloudTrail event must not page again).

        `owed`: the topics its page goes to, each taken off (`audit_topic_done`) once it was
        published or kept in the outbox; the record is claimed by this invocation at `now`
        (wall clock), so a retry can tell a live attempt from a failed one (`resume_audit_call`)."""
        payload = {
            "action": call.action,
            "who": call.who,
            "principal_arn": call.principal_arn,
            "key_parameters": dict(call.key_parameters),
            "source_ip": call.source_ip,
            "region": call.region,
            "account": call.account,
            "error": call.error,
            "severity": call.severity,
            "sensitive": call.sensitive,
        }
        return self._put_new(
            {
                **audit_key(call),
                "at": {"N": str(call.at)},
                "action": {"S": call.action},
                "call": {"S": json.dumps(payload, separators=(",", ":"))},
                "expires_at": {"N": str(int(expires_at))},
                **({"owed": {"SS": sorted(set(owed))}, "claimed_at": {"N": f"{now:.3f}"}} if owed else {}),
            }
        )

    def resume_audit_call(self, call: RecordedCall, *, now: float, stale_after: float) -> list[str] | None:
        """The topics a recorded call still owes a page, when no live invocation is paging them:
        the attempt that claimed it released it after failing, or claimed it over `stale_after`
        seconds ago (it timed out). Claims it for this invocation; None when nothing is owed or
        another invocation is at it (EventBridge's second delivery while the first pages)."""
        self.requests += 1
        try:
            response = self._db.update_item(
                TableName=self._table,
                Key=audit_key(call),
                UpdateExpression="SET claimed_at = :now",
                ConditionExpression="attribute_exists(owed) AND claimed_at < :stale",
                ExpressionAttributeValues={
                    ":now": {"N": f"{now:.3f}"},
                    ":stale": {"N": f"{now - stale_after:.3f}"},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return sorted(response["Attributes"].get("owed", {}).get("SS", []))

    def audit_topic_done(self, call: RecordedCall, topic: str) -> None:
        """`topic` got its page (or holds it in the outbox): a retry does not page it again."""
        self.requests += 1
        self._db.update_item(
            TableName=self._table,
            Key=audit_key(call),
            UpdateExpression="DELETE owed :topic",
            ExpressionAttributeValues={":topic": {"SS": [topic]}},
        )

    def release_audit_call(self, call: RecordedCall) -> None:
        """Lets Lambda's retry (or a replay from the dead letters) page what is still owed now,
        without waiting for the claim to go stale."""
        self.requests += 1
        self._db.update_item(
            TableName=self._table,
            Key=audit_key(call),
            UpdateExpression="SET claimed_at = :never",
            ConditionExpression="attribute_exists(owed)",
            ExpressionAttributeValues={":never": {"N": "0"}},
        )

    def list_audit_calls(self, *, start: int, end: int) -> list[RecordedCall]:
        """Calls made in [start, end], oldest first: one Query per UTC day touched."""
        calls: list[RecordedCall] = []
        first_day = start - start % DAY_SECONDS
        for day in range(first_day, end + 1, DAY_SECONDS):
            low, high = max(start, day), min(end, day + DAY_SECONDS - 1)
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {
                    ":pk": {"S": audit_partition(low)},
                    ":low": {"S": audit_sort_prefix(low)},
                    ":high": {"S": audit_sort_prefix(high) + "\uffff"},
                },
            }
            calls += [_call_from_item(raw) for raw in self._query(request)]
        return calls

    # -- helpers -----------------------------------------------------------------------------
    def _query(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item a Query answers, page after page (one request each)."""
        while True:
            self.requests += 1
            response = self._db.query(**request)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Writes `item` unless one with its key exists: False then (someone got there first)."""
        self.requests += 1
        try:
            self._db.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _batch_get(
        self, series_ids: Sequence[str], sk: str, *, projection: str | None = None
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(series_ids))

        def read(pending: list[dict[str, Any]]) -> list[dict[str, Any]]:
            request: dict[str, Any] = {"Keys": pending, "ConsistentRead": True}
            if projection:
                request["ProjectionExpression"] = projection
            response = self._db.batch_get_item(RequestItems={self._table: request})
            for item in response.get("Responses", {}).get(self._table, []):
                found[item["pk"]["S"].removeprefix("SERIES#")] = item
            return list(response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", []))

        for i in range(0, len(unique), BATCH_GET_LIMIT):
            keys = [{"pk": {"S": series_pk(sid)}, "sk": {"S": sk}} for sid in unique[i : i + BATCH_GET_LIMIT]]
            self._until_processed(keys, read, "key(s)")
        return found

    def _until_processed(
        self,
        pending: list[dict[str, Any]],
        send: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
        what: str,
    ) -> None:
        """Sends a batch and what DynamoDB left unprocessed again, with backoff; gives up (the
        run is retried) after MAX_BATCH_ATTEMPTS."""
        attempt = 0
        while pending:
            self.requests += 1
            pending = send(pending)
            attempt += 1
            if pending and attempt >= MAX_BATCH_ATTEMPTS:
                raise StoreThrottledError(
                    f"DynamoDB left {len(pending)} {what} unprocessed after {attempt} attempts; the run is retried"
                )
            if pending:
                time.sleep(min(0.05 * 2**attempt, 1.0))


def _silence_item(silence: Silence) -> dict[str, Any]:
    return {
        "pk": {"S": SILENCE_PK},
        "sk": {"S": silence.id},
        "starts": {"N": str(int(silence.starts))},
        "ends": {"N": str(int(silence.ends))},
        "reason": {"S": silence.reason},
        "metrics": {"S": json.dumps(list(silence.metrics))},
        "dimensions": {"S": json.dumps(dict(silence.dimensions), sort_keys=True)},
        "created_by": {"S": silence.created_by},
        "created_at": {"N": str(int(silence.created_at))},
        "expires_at": {"N": str(int(silence.ends) + SILENCE_TTL_SECONDS)},
        **({"incident": {"S": silence.incident}} if silence.incident is not None else {}),
    }


def _silence_from_item(raw: dict[str, Any]) -> Silence:
    return Silence(
        id=raw["sk"]["S"],
        starts=int(raw["starts"]["N"]),
        ends=int(raw["ends"]["N"]),
        reason=raw["reason"]["S"],
        metrics=tuple(json.loads(raw["metrics"]["S"])),
        dimensions=json.loads(raw["dimensions"]["S"]),
        created_by=raw.get("created_by", {}).get("S", "unknown"),
        created_at=int(raw.get("created_at", {}).get("N", "0")),
        incident=raw["incident"]["S"] if "incident" in raw else None,
    )


def _incident_from_item(raw: dict[str, Any]) -> Incident:
    text = raw["incident"]["S"] if "incident" in raw else None
    packed = raw["incident_z"]["B"] if "incident_z" in raw else None
    return decode_incident(text, packed, revision=int(raw["revision"]["N"]))


def _call_from_item(raw: dict[str, Any]) -> RecordedCall:
    data = json.loads(raw["call"]["S"])
    return RecordedCall(
        at=int(raw["at"]["N"]),
        event_id=raw["sk"]["S"].split("#", 1)[1],
        action=data["action"],
        who=data["who"],
        principal_arn=data.get("principal_arn"),
        key_parameters=data.get("key_parameters", {}),
        source_ip=data.get("source_ip"),
        region=data.get("region"),
        account=data.get("account"),
        error=data.get("error"),
        severity=data.get("severity"),
        sensitive=bool(data.get("sensitive")),
    )
