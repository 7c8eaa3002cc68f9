"""Alert lifecycle on the stack deployed from the default plan (repeat interval 4 h):
a long incident gives its reminders, and a silence added from the CLI holds the page
until it ends. The real evaluator handler, the real table, SQS inboxes on the topics."""

from __future__ import annotations

import io
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
    deployed,
    fresh,
    run_ticks,
    ticks_between,
)

from iotwatch_cli import silence as silence_cli
from iotwatch_cli.main import main as iotwatch_cli
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import DEPLOYED_AT, INCIDENT_METRICS, INCIDENT_START
from iotwatch_local.traffic import Fleet, Incident, generate

LONG_INCIDENT_END = INCIDENT_START + 5 * HOUR


@pytest.fixture(scope="module")
def long_outage(local_aws: LocalAws, fleet_assembly: Any) -> Iterator[IotWatch]:
    with deployed(local_aws, fleet_assembly, DEFAULT_PLAN_FILE) as iotwatch:
        incident = Incident(
            INCIDENT_START, LONG_INCIDENT_END, INCIDENT_METRICS, factor=0.2, reconnect_burst=False
        )
        start = DEPLOYED_AT - iotwatch.plan.frequency.history_days * DAY
        iotwatch.put_traffic(
            generate(
                Fleet(), iotwatch.series, start=start, end=LONG_INCIDENT_END + HOUR, incidents=[incident]
            )
        )
        iotwatch.build_baselines(DEPLOYED_AT)
        yield iotwatch


@pytest.fixture
def fleet(long_outage: IotWatch, local_aws: LocalAws) -> Iterator[IotWatch]:
    with fresh(long_outage, local_aws) as iotwatch:
        yield iotwatch


def test_a_five_hour_incident_pages_once_reminds_at_the_interval_and_resolves_once(fleet: IotWatch) -> None:
    interval = fleet.plan.notify.repeat_interval
    assert interval == 4 * HOUR  # the default plan's
    inboxes = Inboxes(fleet.topics)
    try:
        run_ticks(fleet, inboxes, ticks_between(fleet, INCIDENT_START - 1800, LONG_INCIDENT_END + 1800))
        for topic in fleet.topics:
            kinds = [r.kind for r in inboxes.of(topic)]
            # 5 h of incident with a 4 h interval: one reminder between the page and the resolve
            assert kinds == ["firing", "reminder", "resolved"], (topic, kinds)
            [firing] = inboxes.of(topic, "firing")
            [reminder] = inboxes.of(topic, "reminder")
            assert reminder.tick - firing.tick == interval
            assert reminder.envelope["Subject"].startswith("[REMINDER")
            assert "still" in reminder.document["sms"]
            assert reminder.envelope["MessageAttributes"]["kind"]["Value"] == "reminder"
    finally:
        inboxes.close()


def test_a_silence_from_the_cli_holds_the_page_and_its_end_pages_once(
    fleet: IotWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    silence_end = INCIDENT_START + 90 * 60
    # the CLI's clock, at the time the on-call engineer would have typed the command
    monkeypatch.setattr(silence_cli, "clock", lambda: float(INCIDENT_START - HOUR))
    out, err = io.StringIO(), io.StringIO()
    code = iotwatch_cli(
        [
            "silence",
            "add",
            "--table",
            fleet.table,
            "--metric",
            "*",
            "--starts",
            iso(INCIDENT_START - HOUR),
            "--until",
            iso(silence_end),
            "--reason",
            "broker upgrade CHG-42",
            "--by",
            "integration-test",
        ],
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    inboxes = Inboxes(fleet.topics)
    try:
        schedule = ticks_between(fleet, INCIDENT_START - 1800, silence_end + 1800)
        results = run_ticks(fleet, inboxes, schedule)
        held = [r for r in results if r.get("silenced")]
        assert held, "the deviation inside the silence is recorded in the run's report"
        assert all(r.tick >= silence_end for r in inboxes.received), [iso(r.tick) for r in inboxes.received]
        for topic in fleet.topics:
            [firing] = inboxes.of(topic, "firing")
            assert firing.tick < silence_end + 2 * fleet.plan.frequency.period_seconds
            # the page tells when the incident really began, not when the silence ended
            assert firing.document["since"] == iso(INCIDENT_START)
            assert [r.kind for r in inboxes.of(topic)] == ["firing"]
    finally:
        inboxes.close()
