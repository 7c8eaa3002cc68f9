"""Incidents, one item each (pk INCIDENT, sk = the id, which sorts by opening time), kept
`notify.history_days` after they resolve; the ids of the open ones in one small item
(INCIDENTS / OPEN), which every evaluation reads."""

from __future__ import annotations

from typing import Any

from iotwatch.adapters.store.table import Item, Repository, sorted_set
from iotwatch.domain.incidents.feedback import training_window
from iotwatch.domain.incidents.model import Incident, id_floor
from iotwatch.domain.incidents.record import decode_incident, encode_incident

INCIDENT_PK = "INCIDENT"
OPEN_INCIDENTS_PK = "INCIDENTS"
OPEN_INCIDENTS_SK = "OPEN"


class IncidentRepository(Repository):
    def get_open_incidents(self) -> list[Incident]:
        """The open incidents: the OPEN item's ids, then their items (one GetItem, and a
        BatchGetItem only while something is open). An id whose item is missing or resolved
        (a run stopped between the two writes) is left out."""
        item = self._table.get(OPEN_INCIDENTS_PK, OPEN_INCIDENTS_SK)
        ids = sorted(item.get("ids", ())) if item else []
        if not ids:
            return []
        items = self._table.batch_get([(INCIDENT_PK, iid) for iid in ids], what="incident(s)")
        found = {incident.id: incident for incident in map(_incident_from_item, items)}
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
            "pk": INCIDENT_PK,
            "sk": incident.id,
            "revision": incident.revision + 1,
            "status": incident.status,
            "opened_at": incident.opened_at,
            "severity": incident.severity,
            "metrics": sorted_set({m.metric for m in incident.members}),
            **({"incident": text} if text is not None else {"incident_z": packed}),
            **({"expires_at": int(expires_at)} if expires_at is not None else {}),
            **_verdict_attributes(incident),
        }
        if not self._table.put_unless_moved(item, seen=incident.revision):
            return False
        if incident.status == "resolved":
            self._open_ids("DELETE", incident.id)
        return True

    def _open_ids(self, action: str, incident_id: str) -> None:
        self._table.update(
            OPEN_INCIDENTS_PK, OPEN_INCIDENTS_SK, f"{action} ids :id", {":id": sorted_set([incident_id])}
        )

    def get_incident(self, incident_id: str) -> Incident | None:
        item = self._table.get(INCIDENT_PK, incident_id)
        return _incident_from_item(item) if item else None

    def list_incidents(self, *, since: int) -> list[Incident]:
        """Incidents opened at or after `since`, or still open, oldest first: one Query
        (paginated) from the first id `since` allows, plus the open ones opened before it."""
        items = self._table.query(
            "pk = :pk AND sk >= :floor", {":pk": INCIDENT_PK, ":floor": id_floor(since)}
        )
        found = {i.id: i for i in map(_incident_from_item, items)}
        for incident in self.get_open_incidents():
            found.setdefault(incident.id, incident)
        return sorted(found.values(), key=lambda i: (i.opened_at, i.id))

    def marked_windows(self, *, since: int, now: int) -> list[tuple[int, int]]:
        """The periods of incidents opened at or after `since` that on-call marked (a false
        alarm, expected), for training to leave out: one Query (paginated) that returns only
        the marked items' two window attributes."""
        items = self._table.query(
            "pk = :pk AND sk >= :floor",
            {":pk": INCIDENT_PK, ":floor": id_floor(since)},
            filter_expression="attribute_exists(verdict)",
            projection="excluded_from, excluded_until",
        )
        return [
            (int(i["excluded_from"]), int(i.get("excluded_until") or now))
            for i in items
            if "excluded_from" in i
        ]


def _verdict_attributes(incident: Incident) -> dict[str, Any]:
    """A marked incident's verdict and periods as attributes of their own, so the baseline
    builder reads them without the incident (`marked_windows`)."""
    window = training_window(incident)
    if incident.verdict is None or window is None:
        return {}
    start, end = window
    return {
        "verdict": incident.verdict.kind,
        "excluded_from": start,
        **({"excluded_until": end} if end is not None else {}),
    }


def _incident_from_item(raw: Item) -> Incident:
    packed = bytes(raw["incident_z"]) if "incident_z" in raw else None
    return decode_incident(raw.get("incident"), packed, revision=int(raw["revision"]))
