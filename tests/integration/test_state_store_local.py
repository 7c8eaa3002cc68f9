"""DynamoStateStore against the local endpoint: alert state and incidents keep every field they have."""

from __future__ import annotations

import dataclasses
import json

import boto3
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.deviation import AlertState, PeriodScore
from iotwatch.domain.incidents.model import Incident, Member, incident_id
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
    )
    defaults = AlertState(series_id=state.series_id)
    for f in dataclasses.fields(AlertState):
        if f.name not in ("series_id", "revision"):
            assert getattr(state, f.name) != getattr(defaults, f.name), f.name
    assert store.series_state.save_state(state)
    read = store.series_state.get_states([state.series_id])[state.series_id]
    assert read == dataclasses.replace(state, revision=1)
    # a stale revision is refused: two overlapping runs cannot both advance a series
    assert not store.series_state.save_state(state)
    assert store.series_state.save_state(read)


def test_a_state_written_before_incidents_reads_without_its_paging_fields(aws_env) -> None:
    store = _table()
    series_id = "AWS/IoT|Connect.Success|Protocol=MQTT"
    old = {
        "series_id": series_id,
        "status": "firing",
        "severity": "critical",
        "since": 1_795_000_000,
        "peak_score": -9.0,
        "last_evaluated": 1_795_000_900,
        "last_notified": 1_795_000_600,
        "unpaged": False,
    }
    boto3.client("dynamodb").put_item(
        TableName=store.table.name,
        Item={
            "pk": {"S": f"SERIES#{series_id}"},
            "sk": {"S": "STATE"},
            "revision": {"N": "4"},
            "status": {"S": "firing"},
            "state": {"S": json.dumps(old)},
        },
    )
    read = store.series_state.get_states([series_id])[series_id]
    assert (read.status, read.since, read.revision) == ("firing", 1_795_000_000, 4)


def _incident(opened_at: int, *, members: int = 1) -> Incident:
    latest = PeriodScore(opened_at - 300, 10.0, 100.0, 80.0, 120.0, -18.0, -0.9, "critical", "hour-of-week")
    return Incident(
        id=incident_id(opened_at),
        group=(("Protocol", "MQTT"),),
        opened_at=opened_at,
        members=[
            Member(
                f"AWS/IoT|M{i}|Protocol=MQTT",
                "AWS/IoT",
                f"M{i}",
                (("Protocol", "MQTT"),),
                "Sum",
                300,
                opened_at - 300,
                opened_at,
                "critical",
                -18.0,
                latest,
            )
            for i in range(members)
        ],
        severity="critical",
    )


def test_incidents_are_listed_open_while_open_and_kept_with_their_ttl_once_resolved(aws_env) -> None:
    store = _table()
    first, second = _incident(1_795_000_200), _incident(1_795_003_800)
    assert store.incidents.get_open_incidents() == []
    assert store.incidents.save_incident(first) and store.incidents.save_incident(second)
    assert [i.id for i in store.incidents.get_open_incidents()] == [first.id, second.id]
    # a stale copy is refused, as for alert state
    assert not store.incidents.save_incident(first)
    [read, _] = store.incidents.get_open_incidents()
    assert read.revision == 1 and read.members == first.members
    read.status, read.resolved_at = "resolved", 1_795_001_000
    assert store.incidents.save_incident(read, expires_at=1_795_001_000 + 400 * 86400)
    assert [i.id for i in store.incidents.get_open_incidents()] == [second.id]
    item = boto3.client("dynamodb").get_item(
        TableName=store.table.name, Key={"pk": {"S": "INCIDENT"}, "sk": {"S": first.id}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == 1_795_001_000 + 400 * 86400
    # listing: by opening time, from `since`, with what is still open
    assert [i.id for i in store.incidents.list_incidents(since=1_795_000_000)] == [first.id, second.id]
    assert [i.id for i in store.incidents.list_incidents(since=1_795_003_000)] == [second.id]
    assert [i.id for i in store.incidents.list_incidents(since=1_795_010_000)] == [second.id], "still open"
    assert store.incidents.get_incident(first.id).status == "resolved"
    assert store.incidents.get_incident("261116-0000") is None


def test_an_incident_too_big_for_one_item_as_text_is_stored_compressed(aws_env) -> None:
    store = _table()
    huge = _incident(1_795_000_200, members=2000)
    assert store.incidents.save_incident(huge)
    item = boto3.client("dynamodb").get_item(
        TableName=store.table.name, Key={"pk": {"S": "INCIDENT"}, "sk": {"S": huge.id}}
    )["Item"]
    assert "incident_z" in item and "incident" not in item
    [read] = store.incidents.get_open_incidents()
    assert len(read.members) == 2000


class _History:
    """A CloudWatch reader with a flat week of 5-minute counts for every series."""

    def __init__(self, level: float) -> None:
        self.level = level

    def read(self, series, *, start, end):
        return {s.id: [(ts, self.level) for ts in range(start, end, 300)] for s in series}


def test_a_warm_evaluator_reads_baselines_once_per_rebuild(aws_env) -> None:
    from iotwatch.domain.series import DetectionSettings, Series
    from iotwatch.service.baselines import rebuild_baselines

    detection = DetectionSettings(4.0, 7.0, 2, 2, 20.0, 0.2)
    series = [Series("AWS/IoT", f"M{i}", (), "Sum", 300, detection) for i in range(3)]
    ids = [s.id for s in series]
    table = create_state_table("iotwatch-cache")
    builder = DynamoStateStore(boto3.client("dynamodb"), table)
    warm = DynamoStateStore(boto3.client("dynamodb"), table, cache_baselines=True)
    now = 1_795_000_000

    rebuild_baselines(now=now, series=series, history_days=7, reader=_History(100.0), store=builder.baselines)
    first = warm.baselines.get_baselines(ids)
    assert set(first) == set(ids)
    before = warm.requests
    assert warm.baselines.get_baselines(ids) == first
    assert warm.requests - before == 1  # the generation item only: nothing decoded again

    rebuild_baselines(
        now=now + 86400, series=series, history_days=7, reader=_History(500.0), store=builder.baselines
    )
    rebuilt = warm.baselines.get_baselines(ids)
    assert all(rebuilt[sid].version == first[sid].version + 1 for sid in ids)
    assert rebuilt != first

    # a series without a baseline (still learning) is asked for on every run, and picked up
    newcomer = Series("AWS/IoT", "New", (), "Sum", 300, detection)
    assert newcomer.id not in warm.baselines.get_baselines([*ids, newcomer.id])
    builder.baselines.put_baseline(
        rebuilt[ids[0]].__class__.from_record({**rebuilt[ids[0]].to_record(), "series_id": newcomer.id})
    )
    assert newcomer.id in warm.baselines.get_baselines([*ids, newcomer.id])

    # a container that takes another shard keeps only that shard's baselines, not both
    before = warm.requests
    assert set(warm.baselines.get_baselines(ids[:1])) == {ids[0]}
    assert warm.requests - before == 1  # still cached
    before = warm.requests
    assert set(warm.baselines.get_baselines(ids[1:])) == set(ids[1:])
    assert warm.requests - before == 2  # dropped when the other shard came: read again


def test_trackers_of_more_series_than_one_batch_survive_a_save_and_a_read(aws_env) -> None:
    import json
    import random

    from iotwatch.domain.likelihood import TrackerState, advance

    store = _table()
    rng = random.Random(5)
    trackers = {}
    for i in range(60):  # three BatchWriteItem calls
        tracker = TrackerState()
        for k in range(150):
            advance(tracker, k * 300, 100.0 + i + rng.gauss(0, 3))
        tracker.next_ts = 150 * 300
        tracker.verdicts = {149 * 300: "drop", 148 * 300: ""}
        trackers[f"AWS/IoT|RuleMessageThrottled|RuleName=rule_{i}"] = tracker
    store.series_state.save_trackers(trackers)
    read = store.series_state.get_trackers(list(trackers))
    assert set(read) == set(trackers)
    for sid, tracker in trackers.items():
        # what the evaluator keeps: the record, which leaves out only what it can derive
        assert read[sid].to_record() == json.loads(json.dumps(tracker.to_record())), sid
    assert store.series_state.get_trackers(["AWS/IoT|never-seen|"]) == {}
