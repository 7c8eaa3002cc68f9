"""DynamoStateStore against the local endpoint: alert state keeps every field it has."""

from __future__ import annotations

import dataclasses

import boto3
from iotwatch.adapters.store import DynamoStateStore
from iotwatch.domain.deviation import AlertState
from iotwatch_harness import create_state_table


def _table() -> DynamoStateStore:
    return DynamoStateStore(boto3.client("dynamodb"), create_state_table("iotwatch-state"))


def test_every_alert_state_field_survives_a_save_and_a_read(aws_env) -> None:
    store = _table()
    # a value different from the default for every field, so a dropped field shows
    state = AlertState(
        series_id="AWS/IoT|Connect.Success|Protocol=MQTT",
        status="firing",
        severity="critical",
        since=1_795_000_000,
        peak_score=-12.5,
        last_evaluated=1_795_000_900,
        revision=0,
        last_notified=1_795_000_600,
        unpaged=True,
    )
    defaults = AlertState(series_id=state.series_id)
    for f in dataclasses.fields(AlertState):
        if f.name not in ("series_id", "revision"):
            assert getattr(state, f.name) != getattr(defaults, f.name), f.name
    assert store.save_state(state)
    read = store.get_states([state.series_id])[state.series_id]
    assert read == dataclasses.replace(state, revision=1)
    # a stale revision is refused: two overlapping runs cannot both advance a series
    assert not store.save_state(state)
    assert store.save_state(read)
