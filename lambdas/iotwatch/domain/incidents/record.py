"""The stored form of an incident: a versioned JSON record, compressed when it grows large."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from iotwatch.domain.deviation import PeriodScore
from iotwatch.domain.evaluation import Gap
from iotwatch.domain.incidents.model import (
    Acknowledgement,
    Event,
    Incident,
    Member,
    QuotedChange,
    TopicLog,
    Verdict,
)

# --- records (the stored form) ------------------------------------------------------------------

RECORD_VERSION = 1


def incident_record(incident: Incident) -> dict[str, Any]:
    data = asdict(incident)
    data["version"] = RECORD_VERSION
    return data


def incident_from_record(data: Mapping[str, Any]) -> Incident:
    members = [
        Member(
            **{
                **m,
                "dimensions": tuple((k, v) for k, v in m["dimensions"]),
                "latest": PeriodScore(**m["latest"]),
                "worst": PeriodScore(**m["worst"]) if m.get("worst") else None,
            }
        )
        for m in data["members"]
    ]
    found_late = data.get("found_late")
    return Incident(
        id=data["id"],
        group=tuple((k, v) for k, v in data["group"]),
        opened_at=int(data["opened_at"]),
        members=members,
        severity=data["severity"],
        status=data["status"],
        paged_severity=data.get("paged_severity"),
        topics={name: TopicLog(**log) for name, log in data.get("topics", {}).items()},
        events=[
            Event(e["at"], e["kind"], e["text"], tuple(e.get("topics", ()))) for e in data.get("events", [])
        ],
        quoted=[QuotedChange(**q) for q in data.get("quoted", [])],
        resolved_at=data.get("resolved_at"),
        held_by=data.get("held_by"),
        found_late=Gap(**found_late) if found_late else None,
        **_where_fields(data),
        # records written before `incidents ack` and `mark` have neither
        acknowledged=Acknowledgement(**data["acknowledged"]) if data.get("acknowledged") else None,
        verdict=Verdict(**data["verdict"]) if data.get("verdict") else None,
        revision=int(data.get("revision", 0)),
    )


def _where_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The look-ups and the failure kind, when the record has them (records written before
    iotwatch looked anything up do not); loaded only then, so a quiet tick imports nothing."""
    if not data.get("breakdowns") and not data.get("failure"):
        return {}
    from iotwatch.domain.where import breakdown_from_record, failure_kind_from_record

    failure = data.get("failure")
    return {
        "breakdowns": [breakdown_from_record(b) for b in data.get("breakdowns") or ()],
        "failure": failure_kind_from_record(failure) if failure else None,
    }


def copy_incident(incident: Incident) -> Incident:
    """A deep copy, through the record (what the store would give back)."""
    return incident_from_record(incident_record(incident))


# DynamoDB items hold 400 KB: an incident of a thousand members is stored compressed.
COMPRESS_ABOVE = 300_000


def encode_incident(incident: Incident) -> tuple[str | None, bytes | None]:
    """(JSON text, None), or (None, zlib-compressed JSON) when the text would be too big."""
    text = json.dumps(incident_record(replace(incident, revision=0)), separators=(",", ":"))
    if len(text.encode("utf-8")) <= COMPRESS_ABOVE:
        return text, None
    return None, zlib.compress(text.encode("utf-8"), 9)


def decode_incident(text: str | None, packed: bytes | None, *, revision: int) -> Incident:
    raw = text if text is not None else zlib.decompress(packed or b"").decode("utf-8")
    incident = incident_from_record(json.loads(raw))
    incident.revision = revision
    return incident
