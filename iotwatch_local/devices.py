"""A simulated device registry for the local endpoint: things in thing groups, with attributes,
connectivity (connected, timestamp, disconnect reason) and the events AWS IoT would emit.

    fleet = SimulatedFleet(groups=("eu-gateways", "us-sensors"), devices_per_group=100, start=t0)
    fleet.churn(t0, t1, per_device_per_day=2)               # the usual disconnects, for baselines
    lost = fleet.disconnect("eu-gateways", share=0.96, reason="CONNECTION_LOST", at=t_outage)
    fleet.reconnect(lost, at=t_outage + 1800)
    fleet.fail_auth(3, group="us-sensors", start=t_ca, end=t_ca + 900, attempts=40)
    fleet.flood("us-sensors-0007", start=t, end=t + 600, messages=5000)

    with LocalAws() as aws, aws.env():
        aws.serve_fleet(fleet)       # SearchIndex, GetStatistics, GetCardinality,
                                     # GetBucketsAggregation, GetInsightRuleReport (device_apis)
        fleet.now = tick             # the simulated clock the fleet index answers at
        stack = deploy_stack(...)
        emulate_device_rules(stack.template, fleet, boto3.client("cloudwatch"), start=t0, end=t1)
        aws.fail("GetBucketsAggregation", "ThrottlingException")   # fault injection

Everything is kept as history (each thing's connectivity changes, the lifecycle events, the
AWS IoT log lines), so the fleet index can be asked about any moment (`now`) and the topic
rule and fleet metrics emulated over any time range (iotwatch_local.device_rules).
"""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

USUAL_REASONS = {"MQTT_KEEP_ALIVE_TIMEOUT": 0.55, "CONNECTION_LOST": 0.25, "CLIENT_INITIATED_DISCONNECT": 0.2}
LOG_GROUP = "AWSIotLogsV2"


@dataclass
class SimulatedThing:
    name: str  # also its MQTT client id: fleet indexing covers things whose client id is their name
    groups: tuple[str, ...]
    attributes: dict[str, str] = field(default_factory=dict)
    thing_type: str | None = None
    # (epoch ms, connected, disconnect reason), in time order
    history: list[tuple[int, bool, str | None]] = field(default_factory=list)

    def state_at(self, at_ms: int) -> tuple[int, bool, str | None] | None:
        i = bisect.bisect_right(self.history, at_ms, key=lambda change: change[0])
        return self.history[i - 1] if i else None

    def document(self, at_ms: int) -> dict[str, Any]:
        """The thing as the fleet index holds it at `at_ms` (registry and connectivity fields)."""
        doc: dict[str, Any] = {
            "thingName": self.name,
            "thingId": self.name,
            "thingGroupNames": list(self.groups),
        }
        if self.thing_type:
            doc["thingTypeName"] = self.thing_type
        for key, value in self.attributes.items():
            doc[f"attributes.{key}"] = value
        state = self.state_at(at_ms)
        if state is not None:
            ts, connected, reason = state
            doc["connectivity.connected"] = connected
            doc["connectivity.timestamp"] = ts
            doc["connectivity.clientId"] = self.name
            if not connected and reason:
                doc["connectivity.disconnectReason"] = reason
        return doc


@dataclass(frozen=True, order=True)
class LifecycleEvent:
    at: float  # epoch seconds
    topic: str  # "$aws/events/presence/disconnected/<clientId>"
    payload: dict[str, Any] = field(compare=False)


class SimulatedFleet:
    """Things, their connectivity over time, and what AWS IoT publishes and logs about them."""

    def __init__(
        self,
        *,
        groups: Sequence[str] | Mapping[str, int] = ("eu-gateways", "us-sensors"),
        devices_per_group: int = 100,
        attributes: Mapping[str, Mapping[str, str]] | None = None,
        start: int = 0,
        seed: int = 7,
        log_level: str = "ERROR",
    ) -> None:
        sizes = dict(groups) if isinstance(groups, Mapping) else dict.fromkeys(groups, devices_per_group)
        self.things: dict[str, SimulatedThing] = {}
        for group, size in sizes.items():
            for i in range(size):
                name = f"{group}-{i:04d}"
                attrs = dict((attributes or {}).get(group, {}))
                self.things[name] = SimulatedThing(
                    name, (group,), attrs, history=[(start * 1000, True, None)]
                )
        self.events: list[LifecycleEvent] = []
        self.logs: list[dict[str, Any]] = []  # AWS IoT v2 log lines (the AWSIotLogsV2 group)
        self.log_level = log_level  # "DISABLED", "ERROR", "WARN", "INFO", "DEBUG"
        self.now: int = start  # the moment the fleet index answers for (epoch seconds)
        self._rng = random.Random(seed)
        self._version = 0  # bumped by every connectivity change
        self._lock = threading.Lock()  # the endpoint's request threads read, the scenario writes
        self._documents: tuple[tuple[int, int, int], list[dict[str, Any]]] | None = None

    # --- what the fleet index sees ------------------------------------------------------------
    def documents(self, at: int | None = None) -> list[dict[str, Any]]:
        """Every thing as the index holds it at `at` (default `now`); the last answer is kept
        until the moment or the history changes (a page's look-ups ask several times at once)."""
        at_ms = int((self.now if at is None else at) * 1000)
        key = (at_ms, self._version, len(self.things))
        with self._lock:
            if self._documents is None or self._documents[0] != key:
                self._documents = (key, [t.document(at_ms) for t in self.things.values()])
            return self._documents[1]

    def in_group(self, group: str) -> list[str]:
        return [n for n, t in self.things.items() if group in t.groups]

    # --- what happens to devices -------------------------------------------------------------
    def disconnect(
        self,
        group: str | None = None,
        *,
        share: float = 1.0,
        reason: str = "CONNECTION_LOST",
        at: int,
        over: int = 60,
        names: Iterable[str] | None = None,
    ) -> list[str]:
        """Disconnects `share` of `group`'s connected things (or `names`) with `reason`, spread
        over `over` seconds from `at`; returns their names."""
        chosen = list(names) if names is not None else self._pick(group, share, at)
        for name in chosen:
            ts = at + self._rng.uniform(0, over)
            self._change(name, ts, connected=False, reason=reason)
        return chosen

    def reconnect(self, names: Iterable[str], *, at: int, over: int = 60) -> None:
        for name in names:
            self._change(name, at + self._rng.uniform(0, over), connected=True, reason=None)

    def churn(
        self,
        start: int,
        end: int,
        *,
        per_device_per_day: float = 1.0,
        reasons: Mapping[str, float] = USUAL_REASONS,
        down_seconds: int = 90,
    ) -> int:
        """The usual disconnects (and reconnects a little later), at random, so the reason series
        have a normal to learn; returns how many disconnects it made."""
        names = list(self.things)
        count = int(len(names) * per_device_per_day * (end - start) / 86400)
        kinds, weights = list(reasons), list(reasons.values())
        for _ in range(count):
            name = self._rng.choice(names)
            ts = self._rng.uniform(start, end - down_seconds)
            reason = self._rng.choices(kinds, weights)[0]
            self._change(name, ts, connected=False, reason=reason)
            self._change(name, ts + self._rng.uniform(5, down_seconds), connected=True, reason=None)
        return count

    def fail_auth(
        self,
        clients: int | Sequence[str],
        *,
        start: int,
        end: int,
        attempts: int = 20,
        group: str | None = None,
    ) -> list[str]:
        """`clients` devices (a count, taken from `group`, or client ids) lose their session with
        AUTH_ERROR at `start` and then fail `attempts` connects each until `end` (a revoked CA)."""
        names = list(clients) if not isinstance(clients, int) else self._pick(group, 1.0, start)[:clients]
        for name in names:
            if name in self.things:
                self._change(name, start, connected=False, reason="AUTH_ERROR")
            for k in range(attempts):
                ts = start + (end - start) * (k + self._rng.random()) / attempts
                self._connect_failed(name, ts)
        return names

    def flood(
        self, client_id: str, *, start: int, end: int, messages: int, reason: str = "THROTTLED"
    ) -> None:
        """One client publishing far over its limit: `messages` throttled publishes logged."""
        for k in range(messages):
            ts = start + (end - start) * k / max(messages, 1)
            self._log(
                ts,
                "ERROR",
                {"eventType": "Publish-In", "status": "Failure", "clientId": client_id, "reason": reason},
            )

    # --- the record -----------------------------------------------------------------------------
    def lifecycle_events(self, start: float, end: float) -> list[LifecycleEvent]:
        return sorted(e for e in self.events if start <= e.at < end)

    def log_events(self, start: float, end: float) -> list[dict[str, Any]]:
        return [e for e in self.logs if start <= e["_at"] < end]

    # --- inside ---------------------------------------------------------------------------------
    def _pick(self, group: str | None, share: float, at: int) -> list[str]:
        at_ms = at * 1000
        candidates = [
            n
            for n, t in self.things.items()
            if (group is None or group in t.groups) and (t.state_at(at_ms) or (0, False, None))[1]
        ]
        return candidates[: round(len(candidates) * share)]

    def _change(self, name: str, ts: float, *, connected: bool, reason: str | None) -> None:
        thing = self.things[name]
        ms = int(ts * 1000)
        bisect.insort(thing.history, (ms, connected, reason), key=lambda change: change[0])
        self._version += 1
        payload: dict[str, Any] = {
            "clientId": name,
            "timestamp": ms,
            "eventType": "connected" if connected else "disconnected",
            "sessionIdentifier": f"00000000-0000-0000-0000-{self._version:012d}",
            "principalIdentifier": f"cert-{name}",
            "versionNumber": self._version,
        }
        if not connected:
            payload["clientInitiatedDisconnect"] = reason == "CLIENT_INITIATED_DISCONNECT"
            payload["disconnectReason"] = reason
        topic = f"$aws/events/presence/{payload['eventType']}/{name}"
        self.events.append(LifecycleEvent(ts, topic, payload))
        if not connected and reason in ("AUTH_ERROR", "THROTTLED", "SERVER_ERROR", "DUPLICATE_CLIENTID"):
            self._log(
                ts,
                "ERROR",
                {"eventType": "Disconnect", "status": "Failure", "clientId": name, "reason": reason},
            )

    def _connect_failed(self, client_id: str, ts: float) -> None:
        payload = {
            "clientId": client_id,
            "timestamp": int(ts * 1000),
            "eventType": "connect_failed",
            "connectFailureReason": "AUTHORIZATION_FAILED",
            "principalIdentifier": f"cert-{client_id}",
            "sessionIdentifier": "00000000-0000-0000-0000-000000000000",
        }
        self.events.append(LifecycleEvent(ts, f"$aws/events/presence/connect_failed/{client_id}", payload))
        self._log(
            ts,
            "ERROR",
            {
                "eventType": "Connect",
                "status": "Failure",
                "clientId": client_id,
                "reason": "AUTHORIZATION_FAILURE",
            },
        )

    def _log(self, ts: float, level: str, fields: dict[str, Any]) -> None:
        order = ["DEBUG", "INFO", "WARN", "ERROR"]
        if self.log_level == "DISABLED" or order.index(level) < order.index(self.log_level):
            return
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        self.logs.append(
            {
                "_at": ts,
                "timestamp": stamp,
                "logLevel": level,
                "traceId": f"t-{len(self.logs)}",
                "protocol": "MQTT",
                **fields,
            }
        )
