"""Nothing lost while iotwatch itself is down, on the stack deployed from the default plan.

The outage of issue 15: every evaluator invocation fails from 13:55 to 14:55 (GetMetricData
answers InternalFailure; each tick is tried three times, as Lambda retries an asynchronous
invocation, and then parked in the function's dead-letter queue), and the fleet has a
problem meanwhile. One fleet history holds the scenarios, each on its own day and more than
a week from the others (a tracker learns the week before its first tick):

- day 0: 85 % of the devices drop off from 14:00 to 14:40 (Connect.Success, Ping.Success and
  PublishIn.Success fall), over before iotwatch is back: each routed topic gets one `late`
  page naming the drop and the evaluator's gap;
- day 8: the same drop lasts until 15:30: each topic gets `firing` with its true start at
  14:56, then one RESOLVED;
- day 16: the evaluator is down for 8 hours (no invocation at all), longer than the 6-hour
  catch-up span: the late page says how much was not evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from iotwatch.domain.times import iso_z as iso
from iotwatch_harness import (
    DAY,
    DEFAULT_PLAN_FILE,
    HOUR,
    Inboxes,
    IotWatch,
    Phone,
    dead_letter_queue_of,
    deployed,
    failing_metrics,
    fresh,
    invoke_asynchronously,
    receive_dead_letters,
    run_ticks,
    ticks_between,
)

from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import DEPLOYED_AT, REPLAY_DAY
from iotwatch_local.traffic import Fleet, Incident, generate

DOWN = REPLAY_DAY + 13 * HOUR + 56 * 60  # the first tick that fails (its window ends 13:55)
BACK = REPLAY_DAY + 14 * HOUR + 56 * 60  # the first tick that works again (window 14:55)
DROP = REPLAY_DAY + 14 * HOUR
DROP_END = DROP + 40 * 60
LONG = 8 * DAY  # the drop still running when iotwatch is back
LONG_END = REPLAY_DAY + LONG + 15 * HOUR + 30 * 60
FAR = 16 * DAY  # the outage longer than the catch-up span
CONNECTIVITY = ("Connect.Success", "Ping.Success", "PublishIn.Success")  # devices offline


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws, fleet_assembly: Any) -> Iterator[IotWatch]:
    with deployed(local_aws, fleet_assembly, DEFAULT_PLAN_FILE) as iotwatch:
        start = DEPLOYED_AT - iotwatch.plan.frequency.history_days * DAY
        problems = [
            Incident(DROP, DROP_END, CONNECTIVITY, factor=0.15, reconnect_burst=False),
            Incident(DROP + LONG, LONG_END, CONNECTIVITY, factor=0.15, reconnect_burst=False),
            Incident(DROP + FAR, DROP_END + FAR, CONNECTIVITY, factor=0.15, reconnect_burst=False),
        ]
        iotwatch.put_traffic(
            generate(Fleet(), iotwatch.series, start=start, end=REPLAY_DAY + FAR + DAY, incidents=problems)
        )
        iotwatch.build_baselines(DEPLOYED_AT)
        yield iotwatch


@pytest.fixture
def fleet(stack: IotWatch, local_aws: LocalAws) -> Iterator[IotWatch]:
    with fresh(stack, local_aws) as iotwatch:
        receive_dead_letters(dead_letter_queue_of(iotwatch.stack, iotwatch.evaluator_name))
        yield iotwatch


def _outage(fleet: IotWatch, first: int, last: int) -> list[int]:
    """Every tick in [first, last] fails, retries included, and is dead-lettered."""
    failing = failing_metrics(fleet)
    failed = ticks_between(fleet, first, last)
    for tick in failed:
        result = invoke_asynchronously(
            fleet.stack,
            fleet.evaluator_name,
            lambda event: fleet.evaluate(event, dependencies=failing),
            fleet.tick_event(tick),
            request_id=f"tick-{tick}",
        )
        assert result is None, f"{iso(tick)} should have failed"
    return failed


def _kinds(inboxes: Inboxes, topic: str) -> list[str]:
    return [r.kind for r in inboxes.of(topic)]


def test_a_drop_over_before_iotwatch_recovers_pages_once_late_per_topic(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    phone = Phone(fleet)
    run_ticks(fleet, inboxes, ticks_between(fleet, DOWN - HOUR, DOWN - 300))
    failed = _outage(fleet, DOWN, BACK - 300)
    assert inboxes.collect(DOWN) == []

    recovered = fleet.evaluate(BACK)
    arrived = inboxes.collect(BACK)
    phone.collect(BACK)
    assert recovered["gap_start"] == "2026-11-16T13:55:00+00:00"
    assert recovered["gap_end"] == "2026-11-16T14:55:00+00:00"
    assert (recovered["windows_caught_up"], recovered["not_evaluated_seconds"]) == (12, 0)
    # one late page per routed topic, and the SMS behind its real filter policy gets it too
    assert sorted((r.topic, r.kind) for r in arrived) == [("oncall-email", "late"), ("oncall-sms", "late")]
    assert [kind for _, kind, _ in phone.received] == ["late"]
    for page in arrived:
        attributes = {k: v["Value"] for k, v in page.envelope["MessageAttributes"].items()}
        assert attributes["kind"] == "late" and attributes["severity"] == "critical"
        assert attributes["gap"] == "2026-11-16T13:55:00Z/2026-11-16T14:55:00Z"
        document = page.document
        assert document["since"] == "2026-11-16T14:00:00Z"
        assert {a["metric"] for a in document["alerts"]} <= set(CONNECTIVITY)
        connect = next(a for a in document["alerts"] if a["metric"] == "Connect.Success")
        assert (connect["since"], connect["ended"]) == ("2026-11-16T14:00:00Z", "2026-11-16T14:40:00Z")
        for alert in document["alerts"]:
            assert alert["actual"] < 0.3 * alert["expected"], "the worst period, not the recovered one"
        assert document["incident"]["gap"]["start"] == "2026-11-16T13:55:00Z"
    email = next(r for r in arrived if r.topic == "oncall-email").document["email"]
    first_line = email.splitlines()[0]
    assert first_line.startswith("LATE (CRITICAL): ")
    assert (
        "from 14:00 to 14:40 UTC (40 min); iotwatch could not evaluate from 13:55 to 14:55 UTC" in first_line
    )
    assert "  Connect.Success (MQTT)" in email and "14:00-14:40" in email
    sms = phone.received[0][2]
    assert "14:00-14:40Z" in sms and "13:55-14:55Z" in sms, sms

    # nothing twice: Lambda or EventBridge retrying the recovering run, then the next hour
    again = fleet.evaluate(BACK)
    assert again["duplicate_run"] is True and again["published"] == 0
    run_ticks(fleet, inboxes, ticks_between(fleet, BACK + 300, BACK + HOUR))
    phone.collect(BACK + HOUR)
    assert _kinds(inboxes, "oncall-email") == ["late"] and _kinds(inboxes, "oncall-sms") == ["late"]
    assert len(phone.received) == 1

    # every failed tick waits in the dead-letter queue, with Lambda's error attributes; a
    # replay (runbook §10) of one, now that a newer tick completed, evaluates nothing
    letters = receive_dead_letters(dead_letter_queue_of(fleet.stack, fleet.evaluator_name))
    assert sorted(json.loads(m["Body"])["time"] for m in letters) == [iso(t) for t in failed]
    assert all(
        "GetMetricData is unavailable" in m["MessageAttributes"]["ErrorMessage"]["StringValue"]
        for m in letters
    )
    replayed = fleet.evaluate(json.loads(letters[0]["Body"]))
    assert replayed["superseded"] is True and replayed["published"] == 0
    assert inboxes.collect(BACK + HOUR) == []


def test_a_drop_still_running_at_recovery_pages_firing_with_its_true_start_and_resolves(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    run_ticks(fleet, inboxes, ticks_between(fleet, DOWN + LONG - HOUR, DOWN + LONG - 300))
    _outage(fleet, DOWN + LONG, BACK + LONG - 300)
    fleet.evaluate(BACK + LONG)
    arrived = inboxes.collect(BACK + LONG)
    assert sorted((r.topic, r.kind) for r in arrived) == [
        ("oncall-email", "firing"),
        ("oncall-sms", "firing"),
    ]
    for page in arrived:
        assert page.document["since"] == iso(DROP + LONG)
        assert "Found late: iotwatch could not evaluate from 13:55 to 14:55 UTC" in page.document["email"]
    run_ticks(fleet, inboxes, ticks_between(fleet, BACK + LONG + 300, LONG_END + HOUR))
    for topic in ("oncall-email", "oncall-sms"):
        assert _kinds(inboxes, topic) == ["firing", "resolved"], topic
    resolved = next(r for r in inboxes.of("oncall-email", "resolved")).document
    assert resolved["since"] == iso(DROP + LONG)
    assert resolved["incident"]["ended"] == iso(LONG_END)


def test_a_gap_longer_than_the_catch_up_span_says_how_much_was_not_evaluated(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    span = fleet.plan.frequency.catch_up
    assert span == 6 * HOUR
    last_good = DROP + FAR - 6 * HOUR  # its last tick 07:56; down from then until 15:56
    run_ticks(fleet, inboxes, ticks_between(fleet, last_good - HOUR, last_good))
    back = BACK + FAR + HOUR
    recovered = fleet.evaluate(back)  # no invocation at all in between: the function was gone
    assert recovered["not_evaluated_seconds"] == 2 * HOUR - 300
    assert recovered["windows_caught_up"] == span // 300
    arrived = inboxes.collect(back)
    assert sorted((r.topic, r.kind) for r in arrived) == [("oncall-email", "late"), ("oncall-sms", "late")]
    email = next(r for r in arrived if r.topic == "oncall-email").document
    assert email["incident"]["gap"]["not_evaluated_seconds"] == 2 * HOUR - 300
    assert (
        "iotwatch could not evaluate from 08:00 to 15:55 UTC; it caught up from 09:55 UTC (its catch-up "
        "span): the 1 h 55 min before were not evaluated"
    ) in email["email"]
