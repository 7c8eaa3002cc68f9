"""Incidents on the deployed stack, driven by scheduled events: the real evaluator handler, the
real table, SQS inboxes on the topics (one of them behind the SMS subscription's filter policy,
as an SMS subscriber receives), and `iotwatch incidents` reading what was kept.

The plan is the default one with Connect.Success and PublishIn.Success over HTTP as well, so
two dimension sets can break at once. One fleet history holds every scenario, each on its own
day and more than a week from the others (each tick's likelihood tracker learns the week
before it, which then holds no other scenario):

- day 0, 14:00: the spreading problem of issue 12 (Connect.Success over MQTT falls 85 % at
  14:00, PublishIn.Success at 14:15, Ping.Success and PublishOut.Success at 14:30; all back at
  15:10);
- day 8, 10:00: Connect.Success and PublishIn.Success over MQTT, and PublishIn.Success over
  HTTP from 10:10 (one incident: the protocol is set aside when grouping);
- day 16, 14:00: PublishIn.Success over MQTT falls a little (warning), then a lot (critical).
"""

from __future__ import annotations

import io
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.times import iso_z as iso
from iotwatch_harness import (
    DAY,
    DEFAULT_PLAN_FILE,
    HOUR,
    Inboxes,
    IotWatch,
    Phone,
    deployed,
    evaluate_concurrently,
    fresh,
    run_ticks,
    spreading_problem,
    synthesize,
    ticks_between,
)

from iotwatch_cli import incidents as incidents_cli
from iotwatch_cli import silence as silence_cli
from iotwatch_cli.main import main as iotwatch_cli
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import DEPLOYED_AT, REPLAY_DAY
from iotwatch_local.traffic import Fleet, Incident, generate

SPREAD = REPLAY_DAY + 14 * HOUR  # day 0, 14:00 UTC
SPREAD_END = SPREAD + 70 * 60
TWO = REPLAY_DAY + 8 * DAY + 10 * HOUR
TWO_END = TWO + 40 * 60
WORSE = REPLAY_DAY + 16 * DAY + 14 * HOUR
WORSE_END = WORSE + HOUR
GROUP_INTERVAL = 15 * 60


@pytest.fixture(scope="module")
def two_protocol_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = yaml.safe_load(DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))
    for metric in data["resources"]["metrics"]:
        if metric["metric"] in ("Connect.Success", "PublishIn.Success"):
            metric["dimensions"] = {"Protocol": ["MQTT", "HTTP"]}
    path = tmp_path_factory.mktemp("two-protocols") / "plan.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _stories() -> list[Incident]:
    return [
        *spreading_problem(SPREAD, SPREAD_END),
        Incident(TWO, TWO_END, ("Connect.Success", "PublishIn.Success"), factor=0.15, reconnect_burst=False),
        Incident(
            TWO + 10 * 60, TWO_END + 10 * 60, ("PublishIn.Success",), factor=0.15, reconnect_burst=False
        ),
        Incident(WORSE, WORSE + 30 * 60, ("PublishIn.Success",), factor=0.7, reconnect_burst=False),
        Incident(WORSE + 30 * 60, WORSE_END, ("PublishIn.Success",), factor=0.15, reconnect_burst=False),
    ]


@pytest.fixture(scope="module")
def stack(
    local_aws: LocalAws, two_protocol_plan: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IotWatch]:
    assembly = synthesize(two_protocol_plan, tmp_path_factory.mktemp("two-protocols-cdk") / "cdk.out")
    with deployed(local_aws, assembly, two_protocol_plan) as iotwatch:
        start = DEPLOYED_AT - iotwatch.plan.frequency.history_days * DAY
        stories = _stories()
        by_protocol = {
            # the two-problem day: Connect and PublishIn break over MQTT, PublishIn over HTTP
            "MQTT": [s for s in stories if s.start != TWO + 10 * 60],
            "HTTP": [s for s in stories if s.start == TWO + 10 * 60],
        }
        for protocol, incidents in by_protocol.items():
            series = [s for s in iotwatch.series if s.dimension_map.get("Protocol", "MQTT") == protocol]
            iotwatch.put_traffic(
                generate(Fleet(), series, start=start, end=WORSE_END + 2 * HOUR, incidents=incidents)
            )
        iotwatch.build_baselines(DEPLOYED_AT)
        yield iotwatch


@pytest.fixture
def fleet(stack: IotWatch, local_aws: LocalAws) -> Iterator[IotWatch]:
    with fresh(stack, local_aws) as iotwatch:
        yield iotwatch


def _drive(fleet: IotWatch, inboxes: Inboxes, phone: Phone, times: list[int]) -> list[dict[str, Any]]:
    results = []
    for tick in times:
        results.append(fleet.evaluate(tick))
        inboxes.collect(tick)
        phone.collect(tick)
    return results


def _story(inboxes: Inboxes) -> list[tuple[str, str, str, list[str]]]:
    """What arrived, for assertion messages: (time, topic, kind, metric:status...)."""
    return [
        (iso(r.tick)[11:16], r.topic, r.kind, [f"{a['metric']}:{a['status']}" for a in r.document["alerts"]])
        for r in inboxes.received
    ]


def _kinds(inboxes: Inboxes, topic: str) -> list[str]:
    return [r.kind for r in inboxes.of(topic)]


def _incident_ids(inboxes: Inboxes) -> set[str]:
    return {r.document["incident"]["id"] for r in inboxes.received}


def _assert_spreading_counts(inboxes: Inboxes, phone: Phone) -> None:
    """What issue 12 asks of the spreading problem: one incident; one firing page per topic;
    at most one update e-mail per group interval; one RESOLVED per topic after the last
    member; the phone rings twice. (Connect.Success alone is a warning: e-mail hears of the
    escalation when PublishIn joins; the SMS topic's firing page is that escalation.)"""
    assert len(_incident_ids(inboxes)) == 1, _incident_ids(inboxes)
    for topic in ("oncall-email", "oncall-sms"):
        kinds = _kinds(inboxes, topic)
        assert kinds[0] == "firing" and kinds[-1] == "resolved", _story(inboxes)
        assert Counter(kinds)["firing"] == 1 and Counter(kinds)["resolved"] == 1, (topic, kinds)
        assert set(kinds) <= {"firing", "escalated", "update", "resolved"}, (topic, kinds)
        assert Counter(kinds)["escalated"] <= 1, (topic, kinds)
        updates = [r.tick for r in inboxes.of(topic, "update")]
        assert all(b - a >= GROUP_INTERVAL for a, b in itertools.pairwise(updates)), updates
        [firing] = inboxes.of(topic, "firing")
        assert not updates or updates[0] - firing.tick >= GROUP_INTERVAL
        [resolved] = inboxes.of(topic, "resolved")
        assert resolved.tick > SPREAD_END
        assert {a["metric"] for a in resolved.document["alerts"]} == {
            "Connect.Success",
            "PublishIn.Success",
            "Ping.Success",
            "PublishOut.Success",
        }
    assert inboxes.of("oncall-email", "update"), "the joiners were told by e-mail"
    assert [kind for _, kind, _ in phone.received] == ["firing", "resolved"], phone.received


# --------------------------------------------------------------------------------------------
# the spreading problem


@dataclass
class CleanSpread:
    """The spreading problem replayed once from a fresh state with nothing failing: what
    arrived, and what the CLI printed of it right after (before another test forgets it)."""

    results: list[dict[str, Any]]
    inboxes: Inboxes
    phone: Phone
    listing: str
    timelines: dict[str, str]


@pytest.fixture(scope="module")
def clean_spread(stack: IotWatch, local_aws: LocalAws) -> CleanSpread:
    """Once per module: the spreading test asserts on this run and the failed-publish test
    compares its own run with it (one replay of the schedule fewer)."""
    with fresh(stack, local_aws) as fleet:
        inboxes, phone = Inboxes(fleet.topics), Phone(fleet)
        try:
            results = _drive(fleet, inboxes, phone, ticks_between(fleet, SPREAD - HOUR, SPREAD_END + HOUR))
        finally:
            inboxes.close()
        listing = _cli(fleet, "incidents", "--since", iso(SPREAD - HOUR))
        timelines = {i: _cli(fleet, "incidents", "show", i) for i in _incident_ids(inboxes)}
    return CleanSpread(results, inboxes, phone, listing, timelines)


def test_a_spreading_problem_pages_once_per_topic_and_resolves_once(clean_spread: CleanSpread) -> None:
    inboxes, phone = clean_spread.inboxes, clean_spread.phone
    assert all(r["failed_topics"] == [] for r in clean_spread.results)
    _assert_spreading_counts(inboxes, phone)

    [firing] = inboxes.of("oncall-email", "firing")
    incident = firing.document["incident"]["id"]
    assert firing.document["since"] == iso(SPREAD)
    assert [a["metric"] for a in firing.document["alerts"]] == ["Connect.Success"]
    # every later member was announced once: by the escalation (PublishIn) or an update
    told = [
        a["metric"]
        for r in inboxes.of("oncall-email")
        if r.kind in ("escalated", "update")
        for a in r.document["alerts"]
        if (r.kind == "escalated" and a["metric"] != "Connect.Success") or a["status"] == "new"
    ]
    assert sorted(told) == ["Ping.Success", "PublishIn.Success", "PublishOut.Success"], _story(inboxes)
    [resolved] = inboxes.of("oncall-email", "resolved")
    spans = {a["metric"]: (a["since"], a["ended"]) for a in resolved.document["alerts"]}
    assert spans["Connect.Success"][0] == iso(SPREAD)
    assert spans["PublishIn.Success"][0] == iso(SPREAD + 15 * 60)
    assert spans["Ping.Success"][0] == iso(SPREAD + 30 * 60)
    assert {end for _, end in spans.values()} == {iso(SPREAD_END)}
    for received in inboxes.received:
        assert received.envelope["MessageAttributes"]["incident"]["Value"] == incident
        assert incident in received.envelope["Subject"] and incident in received.document["sms"]

    # and the history: the list and the timeline, as on-call reads them from the CLI
    [row] = [line for line in clean_spread.listing.splitlines() if line.startswith(incident)]
    assert "resolved" in row and "critical" in row and "Protocol=MQTT" in row
    timeline = clean_spread.timelines[incident]
    assert f"Incident {incident} of plan 'fleet': resolved, critical, Protocol=MQTT" in timeline
    assert "firing (warning) to oncall-email" in timeline, timeline
    assert (
        "firing (critical) to oncall-sms" in timeline and "escalated (critical) to oncall-email" in timeline
    )
    assert "RESOLVED to oncall-email, oncall-sms" in timeline
    assert timeline.count(" joined ") >= 4


def test_retried_and_overlapping_ticks_change_none_of_the_counts(fleet: IotWatch, inboxes: Inboxes) -> None:
    phone = Phone(fleet)
    for tick in ticks_between(fleet, SPREAD - HOUR, SPREAD_END + HOUR):
        if tick % (3 * 300) < 300:  # every third tick: two containers at once
            outcomes = evaluate_concurrently(fleet, tick)
            assert sorted(o["duplicate_run"] for o in outcomes) == [False, True]
        else:
            fleet.evaluate(tick)
            assert fleet.evaluate(tick)["duplicate_run"] is True  # the same event again
        inboxes.collect(tick)
        phone.collect(tick)
    _assert_spreading_counts(inboxes, phone)


def test_a_failed_publish_on_a_join_and_on_the_resolve_tick_loses_nothing_and_doubles_nothing(
    clean_spread: CleanSpread, fleet: IotWatch, inboxes: Inboxes
) -> None:
    reference = clean_spread.inboxes  # the same schedule, nothing failing
    [first_update] = reference.of("oncall-email", "update")[:1]
    [resolve] = reference.of("oncall-email", "resolved")
    expected = {topic: _kinds(reference, topic) for topic in fleet.topics}

    phone = Phone(fleet)
    sns = boto3.client("sns")
    for tick in ticks_between(fleet, SPREAD - HOUR, SPREAD_END + HOUR):
        failing = {first_update.tick: ["oncall-email"], resolve.tick: list(fleet.topics)}.get(tick, [])
        saved = {
            name: sns.get_topic_attributes(TopicArn=fleet.topics[name])["Attributes"] for name in failing
        }
        for name in failing:
            sns.delete_topic(TopicArn=fleet.topics[name])
        try:
            if failing:
                with pytest.raises(RuntimeError, match="could not publish"):
                    fleet.evaluate(tick)
            else:
                fleet.evaluate(tick)
        finally:
            for name, attributes in saved.items():
                kept = {k: attributes[k] for k in ("KmsMasterKeyId", "DisplayName") if attributes.get(k)}
                sns.create_topic(Name=fleet.topics[name].rsplit(":", 1)[-1], Attributes=kept)
                inboxes.subscribe(name)
                if name == "oncall-sms":
                    phone = _resubscribed(fleet, phone)
        inboxes.collect(tick)
        phone.collect(tick)
    # after the last tick, the next one delivers what the resolve tick could not
    after = ticks_between(fleet, SPREAD_END + HOUR + 1, SPREAD_END + HOUR + 300)
    run_ticks(fleet, inboxes, after)
    phone.collect(after[-1])

    for topic in fleet.topics:
        assert _kinds(inboxes, topic) == expected[topic], topic
    late = inboxes.of("oncall-email", "update")[0]
    assert late.tick == first_update.tick + fleet.plan.frequency.period_seconds, "delivered by the next run"
    _assert_spreading_counts(inboxes, phone)
    # the timeline says what happened
    [incident] = [i for i in _incidents(fleet) if i["id"] in _incident_ids(inboxes)]
    failed = [e for e in incident["timeline"] if e["kind"] == "failed"]
    assert [e["topics"] for e in failed] == [["oncall-email"], ["oncall-email"], ["oncall-sms"]]


def _resubscribed(fleet: IotWatch, phone: Phone) -> Phone:
    """The SMS topic was deleted and made again: its subscriptions went with it."""
    again = Phone(fleet)
    again.received = phone.received
    return again


def _cli(fleet: IotWatch, *argv: str) -> str:
    """`iotwatch ARGV --table <the stack's> --plan <default>`: what it printed (it must succeed)."""
    out, err = io.StringIO(), io.StringIO()
    code = iotwatch_cli([*argv, "--table", fleet.table, "--plan", str(DEFAULT_PLAN_FILE)], out=out, err=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def _incidents(fleet: IotWatch) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(_cli(fleet, "incidents", "--since", iso(REPLAY_DAY), "--json"))
    return found


# --------------------------------------------------------------------------------------------
# one problem over two protocols


def test_a_problem_over_mqtt_and_http_is_one_incident_and_http_joins_it_as_an_update(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    phone = Phone(fleet)
    _drive(fleet, inboxes, phone, ticks_between(fleet, TWO - HOUR, TWO_END + HOUR))
    ids = sorted(_incident_ids(inboxes))
    assert len(ids) == 1, [(r.tick, r.topic, r.kind, r.document["incident"]["id"]) for r in inboxes.received]
    for topic in fleet.topics:  # the SMS subscription's filter drops the update (the phone below)
        assert [r.kind for r in inboxes.of(topic)] == ["firing", "update", "resolved"], _story(inboxes)
    [firing] = inboxes.of("oncall-email", "firing")
    assert {a["dimensions"].get("Protocol") for a in firing.document["alerts"]} == {"MQTT"}
    [update] = inboxes.of("oncall-email", "update")
    joined = [a for a in update.document["alerts"] if a["status"] == "new"]
    assert [(a["metric"], a["dimensions"].get("Protocol")) for a in joined] == [("PublishIn.Success", "HTTP")]
    assert [kind for _, kind, _ in phone.received] == ["firing", "resolved"]
    listed = {i["id"]: i for i in _incidents(fleet)}
    assert listed[ids[0]]["group"]["Protocol"] == "MQTT+HTTP"


# --------------------------------------------------------------------------------------------
# escalation


def test_an_escalation_pages_sms_once(fleet: IotWatch, inboxes: Inboxes) -> None:
    phone = Phone(fleet)
    _drive(fleet, inboxes, phone, ticks_between(fleet, WORSE - HOUR, WORSE_END + HOUR))
    assert len(_incident_ids(inboxes)) == 1
    assert _kinds(inboxes, "oncall-email") == ["firing", "escalated", "resolved"]
    assert _kinds(inboxes, "oncall-sms") == ["firing", "resolved"]
    [warning] = inboxes.of("oncall-email", "firing")
    assert warning.document["severity"] == "warning"
    [sms] = inboxes.of("oncall-sms", "firing")
    assert sms.tick > WORSE + 30 * 60 and sms.document["severity"] == "critical"
    assert sms.document["incident"]["escalated_from"] == "warning"
    assert [kind for _, kind, _ in phone.received] == ["firing", "resolved"]


# --------------------------------------------------------------------------------------------
# a silence on the incident, from the CLI


def test_a_silence_added_for_the_incident_holds_its_updates_and_lets_the_resolve_through(
    fleet: IotWatch, inboxes: Inboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = Phone(fleet)
    schedule = ticks_between(fleet, SPREAD - HOUR, SPREAD_END + HOUR)
    first_page = next(
        i for i, tick in enumerate(schedule) if _drive(fleet, inboxes, phone, [tick]) and inboxes.received
    )
    assert [r.kind for r in inboxes.received] == ["firing"], _story(inboxes)  # e-mail, warning: SMS not yet
    [opened] = inboxes.of("oncall-email", "firing")
    incident = opened.document["incident"]["id"]
    held_until = SPREAD + 50 * 60
    # on-call acknowledges from the phone: a silence on the incident until 14:50
    monkeypatch.setattr(silence_cli, "clock", lambda: float(opened.tick + 60))
    out, err = io.StringIO(), io.StringIO()
    argv = ["silence", "add", "--incident", incident, "--until", iso(held_until), "--reason", "on it",
            "--by", "integration-test", "--table", fleet.table, "--plan", str(DEFAULT_PLAN_FILE)]  # fmt: skip
    assert iotwatch_cli(argv, out=out, err=err) == 0, err.getvalue()
    assert f"  incident    {incident}" in out.getvalue()
    # a made-up incident is refused, with what to do
    argv[3] = "261116-0001"
    assert iotwatch_cli(argv, out=io.StringIO(), err=err) == 2
    assert "incident 261116-0001 is not in" in err.getvalue()

    _drive(fleet, inboxes, phone, schedule[first_page + 1 :])
    held = [r for r in inboxes.received if opened.tick < r.tick < held_until]
    assert held == [], _story(inboxes)
    resumed = [r.kind for r in inboxes.of("oncall-email") if r.tick >= held_until]
    assert resumed[0] in ("update", "escalated") and resumed[-1] == "resolved", _story(inboxes)
    assert Counter(_kinds(inboxes, "oncall-email"))["resolved"] == 1
    [kept] = [i for i in _incidents(fleet) if i["id"] == incident]
    held_notes = [e["text"] for e in kept["timeline"] if e["kind"] == "silenced"]
    assert len(held_notes) == 2 and held_notes[0].startswith("pages held by silence s-"), held_notes
    assert "(on it)" in held_notes[0] and held_notes[1].endswith("over: pages resume")


# --------------------------------------------------------------------------------------------
# on-call's word from the CLI: ack, mark, stats


def test_on_call_acks_marks_and_reads_the_stats_from_the_cli(
    fleet: IotWatch, inboxes: Inboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = Phone(fleet)
    schedule = ticks_between(fleet, WORSE - HOUR, WORSE_END + HOUR)
    first_page = next(
        i for i, tick in enumerate(schedule) if _drive(fleet, inboxes, phone, [tick]) and inboxes.received
    )
    [opened] = inboxes.of("oncall-email", "firing")  # the warning
    incident = opened.document["incident"]["id"]
    acked_at = opened.tick + 120
    monkeypatch.setattr(incidents_cli, "clock", lambda: float(acked_at))
    said = _cli(fleet, "incidents", "ack", incident, "--by", "ana", "--note", "on it")
    assert said.strip() == f"Acknowledged {incident} as ana: no reminders until it escalates."
    [kept] = [i for i in _incidents(fleet) if i["id"] == incident]
    assert kept["acknowledged"] == {"by": "ana", "time": iso(acked_at), "note": "on it"}

    # the ticks after it keep the ack; the escalation pages again and clears it
    _drive(fleet, inboxes, phone, schedule[first_page + 1 :])
    assert _kinds(inboxes, "oncall-email") == ["firing", "escalated", "resolved"], _story(inboxes)
    assert [kind for _, kind, _ in phone.received] == ["firing", "resolved"]
    [kept] = [i for i in _incidents(fleet) if i["id"] == incident]
    assert kept["acknowledged"] is None
    acks = [e["text"] for e in kept["timeline"] if e["kind"] == "acknowledged"]
    assert acks == ["acknowledged by ana: on it", "acknowledgement by ana cleared: it escalated"]

    # over: it was a load test; its periods leave training
    marked_at = schedule[-1] + 600
    monkeypatch.setattr(incidents_cli, "clock", lambda: float(marked_at))
    said = _cli(fleet, "incidents", "mark", incident, "--false-alarm", "--note", "load test")
    assert "its periods stay out of training" in said
    [kept] = [i for i in _incidents(fleet) if i["id"] == incident]
    assert kept["verdict"] == {"kind": "false-alarm", "by": "", "time": iso(marked_at), "note": "load test"}
    store = DynamoStateStore(boto3.client("dynamodb"), fleet.table)
    # what the baseline builder reads: the member's first deviating period to its first normal one
    [(start, end)] = store.incidents.marked_windows(since=WORSE - DAY, now=marked_at)
    assert (iso(start), iso(end)) == (kept["since"], kept["ended"])

    stats = json.loads(_cli(fleet, "incidents", "--stats", "--since", iso(WORSE - HOUR), "--json"))
    assert [r["metric"] for r in stats] == ["PublishIn.Success"]
    [row] = stats
    opened_at = _epoch(kept["opened"])
    # the warning to e-mail, then the SMS topic's first page and e-mail's escalation
    assert (row["incidents"], row["pages"], row["false_alarms"], row["expected"]) == (1, 3, 1, 0)
    assert row["mean_seconds_to_acknowledge"] == acked_at - opened_at
    assert row["mean_seconds_to_resolve"] == _epoch(kept["resolved"]) - opened_at
    table = _cli(fleet, "incidents", "--stats", "--since", iso(WORSE - HOUR))
    assert "PublishIn.Success" in table and "1 marked" in table


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
