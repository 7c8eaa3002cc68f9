"""What each series carries from tick to tick: its alert state (optimistically locked) and its
anomaly-likelihood tracker."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields

from iotwatch.adapters.store.series_items import STATE_SK, TRACKER_SK, read_series_items, series_pk
from iotwatch.adapters.store.table import Repository
from iotwatch.domain.deviation import AlertState
from iotwatch.domain.likelihood import TrackerState


class SeriesStateRepository(Repository):
    def get_states(self, series_ids: Sequence[str]) -> dict[str, AlertState]:
        items = read_series_items(self._table, series_ids, STATE_SK)
        states = {}
        known = {f.name for f in fields(AlertState)}
        for sid, item in items.items():
            # fields a newer or older evaluator wrote (last_notified, unpaged) are left out
            data = {k: v for k, v in json.loads(item["state"]).items() if k in known}
            states[sid] = AlertState(**{**data, "revision": int(item["revision"])})
        return states

    def save_state(self, state: AlertState) -> bool:
        """Writes `state` if nobody else wrote since it was read; False when overtaken."""
        # every field but the revision, which lives in its own attribute for the condition
        payload = {f.name: getattr(state, f.name) for f in fields(AlertState) if f.name != "revision"}
        item = {
            "pk": series_pk(state.series_id),
            "sk": STATE_SK,
            "revision": state.revision + 1,
            "status": state.status,
            "state": json.dumps(payload, separators=(",", ":")),
        }
        return self._table.put_unless_moved(item, seen=state.revision)

    def get_trackers(self, series_ids: Sequence[str]) -> dict[str, TrackerState]:
        items = read_series_items(self._table, series_ids, TRACKER_SK)
        return {sid: TrackerState.from_record(json.loads(item["tracker"])) for sid, item in items.items()}

    def save_trackers(self, trackers: Mapping[str, TrackerState]) -> None:
        """One item per series, unconditionally: a tracker is only read by the next tick of the
        same series, which the run claim already serialises."""
        items = [
            {
                "pk": series_pk(sid),
                "sk": TRACKER_SK,
                "tracker": json.dumps(tracker.to_record(), separators=(",", ":")),
            }
            for sid, tracker in trackers.items()
        ]
        self._table.batch_put(items, what="tracker write(s)")
