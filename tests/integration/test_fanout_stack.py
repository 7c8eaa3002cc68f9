"""A plan bigger than one shard, on the local endpoint: the scheduled run queues its shards
on the stack's work queue, each shard is delivered to the real handler as SQS would (in any
order, some twice), and on-call receives exactly what one invocation would have sent. The
fleet's problem spreads (issue 12's connectivity problem), so shards see members join an
incident another shard's series opened. The baseline builder fans out the same way, through
its own queue, and stores what one build would have. The incident events such a tick puts on
the bus are put once each, by the invocation that pages (the last test; it lived in
test_events_fanout_stack.py, which deployed this same stack a second time)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
import yaml
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.handlers.settings import ENV_WORK_QUEUE
from iotwatch.service.fanout import shard_count
from iotwatch_harness import (
    DAY,
    DEFAULT_PLAN_FILE,
    HOUR,
    INCIDENT_EVENT_SCHEMA,
    Inboxes,
    IotWatch,
    bus_events_received,
    clear_handler_caches,
    deployed,
    spreading_problem,
    synthesize,
    ticks_between,
)

from iotwatch_cli.incidents import incident_document
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import DEPLOYED_AT, INCIDENT_START
from iotwatch_local.traffic import Fleet, generate

SHARD_SIZE = 3  # the default plan's 9 series in 3 shards
PROBLEM_END = INCIDENT_START + 70 * 60
BUILD_SHARD_SIZE = 4  # and in 3 build shards: 4, 4 and 1


@pytest.fixture(scope="module")
def sharded_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = yaml.safe_load(DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))
    # the nine metrics: shards of shares are cut by the queries they read (test_plan_ratios.py),
    # and a share's news crosses a shard result whole (test_shard_results.py)
    del data["resources"]["ratios"]
    data.pop("devices", None)  # the nine metrics only: no device counts
    data["frequency"]["shard_size"] = SHARD_SIZE
    data["frequency"]["build_shard_size"] = BUILD_SHARD_SIZE
    path = tmp_path_factory.mktemp("sharded") / "plan.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fleet(
    local_aws: LocalAws, sharded_plan: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IotWatch]:
    assembly = synthesize(sharded_plan, tmp_path_factory.mktemp("sharded-cdk") / "cdk.out")
    with deployed(local_aws, assembly, sharded_plan) as iotwatch:
        problem = spreading_problem(INCIDENT_START, PROBLEM_END)
        start = DEPLOYED_AT - iotwatch.plan.frequency.history_days * DAY
        iotwatch.put_traffic(
            generate(Fleet(), iotwatch.series, start=start, end=PROBLEM_END + 2 * HOUR, incidents=problem)
        )
        _build_fanned_out(iotwatch, DEPLOYED_AT)
        yield iotwatch


def _drain(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not got:
            return records
        for message in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            records.append(
                {"messageId": message["MessageId"], "body": message["Body"], "eventSource": "aws:sqs"}
            )


def _build_fanned_out(fleet: IotWatch, ts: int) -> dict[str, Any]:
    """The stack's CREATE_COMPLETE build: the first run queues the shards, each is built."""
    started = fleet.build_baselines(ts)
    assert started["shards"] == 3, started
    for record in _drain(fleet.builder_env[ENV_WORK_QUEUE]):
        assert fleet.build({"Records": [record]}) == {"batchItemFailures": []}
    return started


def _pages(inboxes: Inboxes) -> list[tuple[Any, ...]]:
    return [
        (r.tick, r.topic, r.kind, r.envelope["Subject"], r.document["sms"], r.document["email"])
        for r in inboxes.received
    ]


def _schedule(fleet: IotWatch) -> list[int]:
    return ticks_between(fleet, INCIDENT_START - 1800, PROBLEM_END + HOUR)


def test_a_sharded_run_pages_exactly_as_one_invocation_would(fleet: IotWatch) -> None:
    queue_url = fleet.evaluator_env[ENV_WORK_QUEUE]
    shards = shard_count(len(fleet.series), SHARD_SIZE)
    assert shards == 3
    order = random.Random(7)

    sharded = Inboxes(fleet.topics)
    try:
        for tick in _schedule(fleet):
            result = fleet.evaluate(tick)
            assert result["shards"] == shards, result
            records = _drain(queue_url)
            assert sorted(json.loads(r["body"])["shard"] for r in records) == list(range(shards))
            order.shuffle(records)
            records.append(records[0])  # SQS delivers at least once
            for record in records:
                assert fleet.evaluate({"Records": [record]}) == {"batchItemFailures": []}
            # a retried schedule event is a duplicate run: no second set of shards
            assert fleet.evaluate(tick)["duplicate_run"] is True
            assert _drain(queue_url) == []
            sharded.collect(tick)
    finally:
        sharded.close()
    # one incident: a firing page and a RESOLVED per topic, the joiners in between
    ids = {r.document["incident"]["id"] for r in sharded.received}
    assert len(ids) == 1
    for topic in fleet.topics:
        kinds = [r.kind for r in sharded.of(topic)]
        assert (kinds[0], kinds.count("firing"), kinds[-1], kinds.count("resolved")) == (
            "firing",
            1,
            "resolved",
            1,
        )
    assert "update" in [r.kind for r in sharded.of("oncall-email")]
    kept_sharded = _incidents(fleet)

    # the same ticks from the same state, each in one invocation (no work queue)
    single = _in_one_invocation(fleet, _schedule(fleet))
    assert _pages(sharded) == _pages(single)
    assert _incidents(fleet) == kept_sharded, "the same incident, members and timeline"


def _in_one_invocation(fleet: IotWatch, schedule: list[int]) -> Inboxes:
    """`schedule` from the state right after the bootstrap, each tick in one invocation (no
    work queue): what on-call received."""
    fleet.forget_everything_but_baselines()
    single_env = {**fleet.evaluator_env, ENV_WORK_QUEUE: ""}  # empty: no work queue
    fleet.evaluator_env, saved = single_env, fleet.evaluator_env
    clear_handler_caches()
    single = Inboxes(fleet.topics)
    try:
        for tick in schedule:
            assert "shards" not in fleet.evaluate(tick)
            single.collect(tick)
    finally:
        single.close()
        fleet.evaluator_env = saved
        clear_handler_caches()
    return single


def _incidents(fleet: IotWatch) -> list[dict[str, Any]]:
    store = DynamoStateStore(boto3.client("dynamodb"), fleet.table)
    return [incident_document(i) for i in store.incidents.list_incidents(since=INCIDENT_START - DAY)]


def test_a_message_that_is_not_a_shard_is_dropped_and_a_failing_shard_comes_back(fleet: IotWatch) -> None:
    fleet.forget_everything_but_baselines()
    clear_handler_caches()
    dropped = fleet.evaluate({"Records": [{"messageId": "m-1", "body": "{not json"}]})
    assert dropped == {"batchItemFailures": []}  # no retry can make it readable
    # a shard whose tick was never started cannot finish: it is handed back to SQS
    orphan = json.dumps(
        {"version": 1, "event_time": INCIDENT_START + 60.0, "window_end": 1, "shard": 0, "shards": 2}
    )
    assert fleet.evaluate({"Records": [{"messageId": "m-2", "body": orphan}]}) == {
        "batchItemFailures": [{"itemIdentifier": "m-2"}]
    }


def _run_fanned_out(fleet: IotWatch, inboxes: Inboxes, tick: int, *, hold_back: int | None = None) -> None:
    """One scheduled tick and its shards; `hold_back`: a shard that never gets evaluated."""
    fleet.evaluate(tick)
    for record in _drain(fleet.evaluator_env[ENV_WORK_QUEUE]):
        if json.loads(record["body"])["shard"] != hold_back:
            assert fleet.evaluate({"Records": [record]}) == {"batchItemFailures": []}
    inboxes.collect(tick)


def test_a_tick_whose_shard_never_finishes_pages_nothing_and_the_next_tick_pages_it(fleet: IotWatch) -> None:
    schedule = _schedule(fleet)
    fleet.forget_everything_but_baselines()
    clear_handler_caches()
    probe = Inboxes(fleet.topics)
    try:
        for tick in schedule:
            _run_fanned_out(fleet, probe, tick)
            if probe.received:
                break
    finally:
        probe.close()
    firing_tick = probe.received[0].tick
    first_pages = sorted((r.topic, r.kind) for r in probe.received)
    assert {kind for _, kind in first_pages} == {"firing"}

    fleet.forget_everything_but_baselines()
    clear_handler_caches()
    inboxes = Inboxes(fleet.topics)
    try:
        for tick in schedule:
            if tick < firing_tick:
                _run_fanned_out(fleet, inboxes, tick)
        assert inboxes.received == []
        _run_fanned_out(fleet, inboxes, firing_tick, hold_back=0)  # shard 0 is lost
        assert inboxes.received == [], "a tick that did not finish pages nobody"
        _run_fanned_out(fleet, inboxes, firing_tick + fleet.plan.frequency.period_seconds)
        # nothing moved at the lost tick, so the next one pages the incident as it would have
        assert sorted((r.topic, r.kind) for r in inboxes.received) == first_pages
    finally:
        inboxes.close()


def test_a_fanned_out_build_stores_what_one_build_would_and_one_generation(fleet: IotWatch) -> None:
    from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
    from iotwatch.adapters.store.state_store import DynamoStateStore
    from iotwatch.service.baselines import rebuild_baselines
    from iotwatch_harness import create_state_table

    store = DynamoStateStore(boto3.client("dynamodb"), fleet.table)
    now = DEPLOYED_AT + DAY
    started = fleet.build_baselines(now)
    assert (started["series"], started["shards"]) == (9, 3)
    records = _drain(fleet.builder_env[ENV_WORK_QUEUE])
    bodies = [json.loads(r["body"]) for r in records]
    assert sorted(b["shard"] for b in bodies) == [0, 1, 2]
    assert {b["generation"] for b in bodies} == {started["generation"]}
    random.Random(3).shuffle(records)
    records.insert(1, records[0])  # SQS delivers at least once
    for i, record in enumerate(records):
        assert fleet.build({"Records": [record]}) == {"batchItemFailures": []}
        # the new generation is written once every shard is built, not before
        complete = {json.loads(r["body"])["shard"] for r in records[: i + 1]} == {0, 1, 2}
        assert (store.baselines.baseline_generation() == started["generation"]) is complete

    # the same build in one invocation, into a table of its own
    scratch = DynamoStateStore(boto3.client("dynamodb"), create_state_table("iotwatch-one-build"))
    rebuild_baselines(
        now=now,
        series=fleet.series,
        history_days=fleet.plan.frequency.history_days,
        reader=CloudWatchMetricReader(boto3.client("cloudwatch")),
        store=scratch.baselines,
    )
    ids = [s.id for s in fleet.series]
    fanned, single = store.baselines.get_baselines(ids), scratch.baselines.get_baselines(ids)
    assert set(fanned) == set(ids)
    for sid in ids:
        assert {**fanned[sid].to_record(), "version": 0} == {**single[sid].to_record(), "version": 0}, sid


def test_a_build_shard_of_no_started_build_comes_back_and_a_stranger_is_dropped(fleet: IotWatch) -> None:
    orphan = json.dumps(
        {
            "version": 1,
            "kind": "build",
            "generation": "1-deadbeef",
            "now": float(DEPLOYED_AT),
            "shard": 0,
            "shards": 2,
            "range": {"first": None, "until": None},
        }
    )
    assert fleet.build({"Records": [{"messageId": "b-1", "body": orphan}]}) == {
        "batchItemFailures": [{"itemIdentifier": "b-1"}]
    }
    assert fleet.build({"Records": [{"messageId": "b-2", "body": "[]"}]}) == {"batchItemFailures": []}


def test_a_fanned_out_plan_catches_up_on_missed_ticks_as_one_invocation_would(fleet: IotWatch) -> None:
    """The evaluator is down from 12:56 to 14:21 (no tick runs), while the spreading problem
    comes and goes (13:00 to 14:10). The first tick back dispatches the gap in every shard's
    message; each shard evaluates its series through the missed windows, and the publishing
    shard advances the incident window by window: one `late` page per topic, exactly what a
    single invocation catching up sends."""
    period = fleet.plan.frequency.period_seconds
    before = ticks_between(fleet, INCIDENT_START - HOUR, INCIDENT_START - 300)
    back = ticks_between(fleet, PROBLEM_END + 15 * 60, PROBLEM_END + HOUR)
    queue_url = fleet.evaluator_env[ENV_WORK_QUEUE]

    fleet.forget_everything_but_baselines()
    clear_handler_caches()
    sharded = Inboxes(fleet.topics)
    try:
        for tick in [*before, *back]:
            result = fleet.evaluate(tick)
            records = _drain(queue_url)
            if tick == back[0]:
                gaps = {json.dumps(json.loads(r["body"])["gap"]) for r in records}
                assert len(gaps) == 1 and len(records) == result["shards"], gaps
                gap = json.loads(gaps.pop())
                assert gap["end"] - gap["start"] == back[0] - before[-1] - period
            for record in records:
                assert fleet.evaluate({"Records": [record]}) == {"batchItemFailures": []}
            sharded.collect(tick)
    finally:
        sharded.close()
    assert sorted((r.topic, r.kind) for r in sharded.received) == [
        ("oncall-email", "late"),
        ("oncall-sms", "late"),
    ]
    kept_sharded = _incidents(fleet)

    single = _in_one_invocation(fleet, [*before, *back])
    assert _pages(sharded) == _pages(single)
    assert _incidents(fleet) == kept_sharded


def test_a_sharded_tick_puts_each_transition_once(
    fleet: IotWatch, bus_inbox: str, local_aws: LocalAws
) -> None:
    """The invocation that pages the tick (the last shard to finish) puts the incident events,
    once each, exactly as one invocation would."""
    fleet.forget_everything_but_baselines()
    queue_url = fleet.evaluator_env[ENV_WORK_QUEUE]
    for tick in _schedule(fleet):
        fleet.evaluate(tick)
        records = _drain(queue_url)
        for record in [*records, records[0]]:  # SQS delivers at least once
            assert fleet.evaluate({"Records": [record]}) == {"batchItemFailures": []}
    sharded = bus_events_received(local_aws, bus_inbox)
    for event in sharded:
        jsonschema.validate(event, INCIDENT_EVENT_SCHEMA, cls=jsonschema.Draft202012Validator)
    kinds = [e["detail-type"] for e in sharded]
    assert kinds[0] == "Incident Opened" and kinds[-1] == "Incident Resolved", kinds
    assert kinds.count("Incident Opened") == 1 and kinds.count("Incident Resolved") == 1
    assert len({e["detail"]["dedup_key"] for e in sharded}) == 1

    _in_one_invocation(fleet, _schedule(fleet)).close()
    single = bus_events_received(local_aws, bus_inbox)
    assert [(e["detail-type"], e["detail"]) for e in sharded] == [
        (e["detail-type"], e["detail"]) for e in single
    ]
