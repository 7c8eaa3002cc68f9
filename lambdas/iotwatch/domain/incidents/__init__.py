"""Incidents: one fleet problem, however it spreads, from its first page to its RESOLVED.

`tick` holds the rules (`advance`) and says them in full; `model` the incident and its ids,
`news` what a tick says about a series, `membership` which incident a series joins, `owed`
what each topic is told, `record` the stored form. The names below stay importable from
here for importers that predate the split.
"""

from iotwatch.domain.incidents.model import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_HISTORY_DAYS,
    ID_PATTERN,
    Incident,
    IncidentSettings,
    Member,
    expires_at,
    id_floor,
    incident_id,
    note_failed,
    quote_changes,
)
from iotwatch.domain.incidents.news import SeriesNews, tick_news
from iotwatch.domain.incidents.record import decode_incident, encode_incident
from iotwatch.domain.incidents.tick import Tick, TickIncidents, advance, advance_ticks

__all__ = [
    "DEFAULT_GROUP_INTERVAL",
    "DEFAULT_HISTORY_DAYS",
    "ID_PATTERN",
    "Incident",
    "IncidentSettings",
    "Member",
    "SeriesNews",
    "Tick",
    "TickIncidents",
    "advance",
    "advance_ticks",
    "decode_incident",
    "encode_incident",
    "expires_at",
    "id_floor",
    "incident_id",
    "note_failed",
    "quote_changes",
    "tick_news",
]
