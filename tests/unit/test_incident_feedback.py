"""What on-call tells iotwatch about an incident: `incidents ack` (reminders stop until it
escalates), `incidents mark` (its periods leave training), `incidents --stats`, and the ack
and a tick writing the same incident at once without losing either."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from iotwatch.domain.incidents.feedback import (
    FeedbackError,
    acknowledge,
    adopt_feedback,
    mark,
    training_window,
)
from iotwatch.domain.incidents.model import Acknowledgement, Incident, IncidentSettings, Verdict
from iotwatch.domain.incidents.record import decode_incident, encode_incident, incident_record
from iotwatch.domain.incidents.stats import incident_stats, iso_week
from iotwatch.domain.messages.deviation import render
from iotwatch.domain.messages.gsm7 import gsm7_length
from iotwatch.domain.messages.model import MessageContext
from iotwatch.service.baselines import training_exclusions
from iotwatch.service.incident_publishing import _save

from iotwatch_cli import incident_feedback
from iotwatch_cli import incidents as cli
from iotwatch_cli.incident_feedback import record_feedback
from iotwatch_cli.incident_stats import render_stats, stats_document
from iotwatch_cli.main import main

from .conftest import DEFAULT_PLAN_FILE
from .fakes import FakeStore
from .test_incidents import CONNECT, HOUR, PING, PUBLISH_IN, T0, Fleet

WEEK = 7 * 86400


def _worsening(at: int) -> dict:
    """PublishIn.Success: a warning from 14:05, critical from 15:35, back at 16:55."""
    if not T0 < at <= T0 + 170 * 60:
        return {}
    return {PUBLISH_IN: "critical" if at > T0 + 90 * 60 else "warning"}


def _run(*, ack_at: int | None) -> Fleet:
    fleet = Fleet(IncidentSettings(repeat_interval=HOUR))
    for at in range(T0, T0 + 3 * HOUR + 1, 300):
        fleet.tick(at, _worsening(at))
        if at == ack_at:
            [incident] = fleet.stored.values()
            acknowledge(incident, by="ana", at=at + 30, note="looking at the broker")
    return fleet


def test_an_acknowledged_incident_reminds_nobody_until_it_escalates_which_pages_and_clears_it():
    page, escalation = T0 + 5 * 60, T0 + 95 * 60
    unacked = _run(ack_at=None)
    assert unacked.messages("oncall-email") == [
        (page, "oncall-email", "firing"),
        (page + HOUR, "oncall-email", "reminder"),
        (escalation, "oncall-email", "escalated"),
        (escalation + HOUR, "oncall-email", "reminder"),
        (T0 + 175 * 60, "oncall-email", "resolved"),
    ]
    acked = _run(ack_at=T0 + 10 * 60)
    # no reminder while acknowledged; the escalation pages (the SMS topic too) and clears it,
    # so its reminder goes out again
    assert acked.messages("oncall-email") == [
        (page, "oncall-email", "firing"),
        (escalation, "oncall-email", "escalated"),
        (escalation + HOUR, "oncall-email", "reminder"),
        (T0 + 175 * 60, "oncall-email", "resolved"),
    ]
    assert [k for _, _, k in acked.messages("oncall-sms")] == ["firing", "reminder", "resolved"]
    [incident] = acked.stored.values()
    assert incident.acknowledged is None
    lines = [(e.at, e.text) for e in incident.events if e.kind == "acknowledged"]
    assert lines == [
        (T0 + 10 * 60 + 30, "acknowledged by ana: looking at the broker"),
        (escalation, "acknowledgement by ana cleared: it escalated"),
    ]


def test_an_ack_after_the_escalation_keeps_the_reminders_away():
    fleet = _run(ack_at=T0 + 100 * 60)
    assert [k for _, _, k in fleet.messages("oncall-email")] == [
        "firing",
        "reminder",
        "escalated",
        "resolved",
    ]
    [incident] = fleet.stored.values()
    assert incident.acknowledged == Acknowledgement("ana", T0 + 100 * 60 + 30, "looking at the broker")


def test_acks_need_a_name_and_an_open_incident():
    fleet = _run(ack_at=None)
    [incident] = fleet.stored.values()
    with pytest.raises(FeedbackError, match="is resolved"):
        acknowledge(incident, by="ana", at=T0 + 4 * HOUR)
    incident.status = "open"
    with pytest.raises(FeedbackError, match="--by: say who"):
        acknowledge(incident, by="  ", at=T0 + 4 * HOUR)


def test_ack_and_verdict_are_kept_and_records_without_them_still_load():
    fleet = _run(ack_at=T0 + 10 * 60)
    [incident] = fleet.stored.values()
    incident.acknowledged = Acknowledgement("ana", T0 + 600, "on it")
    mark(incident, "expected", at=T0 + 4 * HOUR, by="bo", note="broker upgrade")
    again = decode_incident(encode_incident(incident)[0], None, revision=4)
    assert again.acknowledged == Acknowledgement("ana", T0 + 600, "on it")
    assert again.verdict == Verdict("expected", T0 + 4 * HOUR, "bo", "broker upgrade")
    assert again.events[-1].text == "marked expected by bo: broker upgrade; its periods stay out of training"
    older = incident_record(incident)
    del older["acknowledged"], older["verdict"]
    old = decode_incident(json.dumps(older), None, revision=2)
    assert old.acknowledged is None and old.verdict is None and len(old.events) == len(incident.events)


def test_a_marked_incident_leaves_its_periods_out_of_training():
    fleet = _run(ack_at=None)
    [incident] = fleet.stored.values()
    assert training_window(incident) is None
    mark(incident, "false-alarm", at=T0 + 4 * HOUR)
    assert training_window(incident) == (T0, T0 + 170 * 60)  # first deviating period to first normal one
    incident.status = "open"
    assert training_window(incident) == (T0, None)

    class Marked:
        def __init__(self) -> None:
            self.asked: list[tuple[int, int]] = []

        def marked_windows(self, *, since: int, now: int) -> list[tuple[int, int]]:
            self.asked.append((since, now))
            return [(T0 + WEEK, T0 + WEEK + 600), (T0, T0 + 600)]

    store = Marked()
    planned = [(T0 - WEEK, T0 - WEEK + HOUR)]
    assert training_exclusions(planned, store, now=T0 + 2 * WEEK, history_days=28) == (
        (T0 - WEEK, T0 - WEEK + HOUR),
        (T0, T0 + 600),
        (T0 + WEEK, T0 + WEEK + 600),
    )
    assert store.asked == [(T0 + 2 * WEEK - 28 * 86400, T0 + 2 * WEEK)]
    # a store without incidents (a test double, an old adapter) trains on the plan's windows only
    assert training_exclusions(planned, object(), now=T0, history_days=28) == tuple(planned)


# --- an ack and a tick at once ----------------------------------------------------------------------


def _stored_incident() -> tuple[FakeStore, str]:
    fleet = Fleet()
    fleet.tick(T0, {})
    fleet.tick(T0 + 300, {CONNECT: "warning"})
    [incident] = fleet.stored.values()
    store = FakeStore()
    incident.revision = 0
    assert store.save_incident(incident)
    return store, incident.id


def _ack(incident: Incident) -> str:
    acknowledge(incident, by="ana", at=T0 + 400)
    return "acked"


def test_a_tick_that_lost_the_race_to_an_ack_takes_it_and_writes_again():
    store, iid = _stored_incident()
    tick_copy = store.get_incident(iid)
    assert tick_copy is not None
    tick_copy.note(T0 + 600, "paged", "reminder (warning) to oncall-email", ["oncall-email"])
    assert record_feedback(store, iid, "t", _ack, history_days=400) == "acked"
    assert _save(store, tick_copy, 400)
    stored = store.get_incident(iid)
    assert stored is not None and stored.revision == 3
    assert stored.acknowledged is not None and stored.acknowledged.by == "ana"
    kinds = [e.kind for e in stored.events]
    assert kinds[-2:] == ["acknowledged", "paged"], "both lines, in time order"


def test_an_ack_that_lost_the_race_to_a_tick_applies_itself_to_what_the_tick_wrote():
    store, iid = _stored_incident()
    calls: list[int] = []

    def ack_while_a_tick_writes(incident: Incident) -> str:
        calls.append(incident.revision)
        if len(calls) == 1:  # the tick writes between the CLI's read and its write
            tick_copy = store.get_incident(iid)
            assert tick_copy is not None
            tick_copy.note(T0 + 600, "joined", "Ping.Success joined")
            assert store.save_incident(tick_copy)
        return _ack(incident)

    record_feedback(store, iid, "t", ack_while_a_tick_writes, history_days=400)
    assert calls == [1, 2]
    stored = store.get_incident(iid)
    assert stored is not None and stored.acknowledged is not None
    assert {"joined", "acknowledged"} <= {e.kind for e in stored.events}


def test_two_ticks_racing_still_leave_the_first_write_standing():
    store, iid = _stored_incident()
    first, second = store.get_incident(iid), store.get_incident(iid)
    assert first is not None and second is not None
    first.note(T0 + 600, "joined", "Ping.Success joined")
    assert store.save_incident(first)
    second.note(T0 + 600, "paged", "reminder (warning) to oncall-email", ["oncall-email"])
    assert not adopt_feedback(second, store.get_incident(iid))  # type: ignore[arg-type]
    assert not _save(store, second, 400)
    stored = store.get_incident(iid)
    assert stored is not None and stored.events[-1].text == "Ping.Success joined"


# --- stats ---------------------------------------------------------------------------------------


def _history() -> list[Incident]:
    """Week 48: a Connect.Success outage paged to both topics, acked after 10 min, resolved
    after 30, a false alarm; week 49: Ping.Success, a warning to e-mail only, expected, never acked."""
    fleet = Fleet()
    for at in range(T0, T0 + HOUR, 300):
        fleet.tick(at, {CONNECT: "critical"} if T0 < at <= T0 + 30 * 60 else {})
        if at == T0 + 5 * 60:
            acknowledge(next(iter(fleet.stored.values())), by="ana", at=at + 600)
    later = T0 + WEEK
    for at in range(later, later + HOUR, 300):
        fleet.tick(at, {PING: "warning"} if later < at <= later + 20 * 60 else {})
    first, second = sorted(fleet.stored.values(), key=lambda i: i.opened_at)
    mark(first, "false-alarm", at=T0 + 2 * HOUR)
    mark(second, "expected", at=later + 2 * HOUR)
    return [first, second]


def test_stats_per_metric_and_iso_week():
    rows = incident_stats(_history())
    assert [(r.week, r.metric) for r in rows] == [
        ("2025-W48", "Connect.Success"),
        ("2025-W49", "Ping.Success"),
    ]
    connect, ping = rows
    assert (connect.incidents, connect.pages, connect.false_alarms, connect.expected) == (1, 2, 1, 0)
    assert connect.mean_to_acknowledge == 600 and connect.mean_to_resolve == 30 * 60
    assert (ping.pages, ping.false_alarms, ping.expected, ping.mean_to_acknowledge) == (1, 0, 1, None)
    assert iso_week(T0) == "2025-W48" and iso_week(T0 + 6 * 86400) == "2025-W48"

    table = render_stats(rows, scope="since 2025-11-17 14:00 UTC").splitlines()
    assert table[0].split()[:4] == ["WEEK", "METRIC", "INCIDENTS", "PAGES"]
    assert table[1].split() == ["2025-W48", "Connect.Success", "1", "2", "1", "0", "10", "min", "30", "min"]
    assert table[2].split() == ["2025-W49", "Ping.Success", "1", "1", "0", "1", "-", "20", "min"]
    assert "2 marked" in table[-1]
    document = stats_document(rows)
    assert (
        document[0]["mean_seconds_to_acknowledge"] == 600.0
        and document[1]["mean_seconds_to_acknowledge"] is None
    )


# --- the commands, against the in-memory store ------------------------------------------------------


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    for incident in _history():
        incident.revision = 0
        fake.save_incident(incident)
    for module in (cli, incident_feedback):
        monkeypatch.setattr(module, "open_store", lambda args, plan: (fake, "iotwatch-table"))
    monkeypatch.setattr(cli, "clock", lambda: float(T0 + 2 * WEEK))
    return fake


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--plan", str(DEFAULT_PLAN_FILE)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _stored(store: FakeStore, iid: str) -> Incident:
    found = store.get_incident(iid)
    assert found is not None
    return found


def test_ack_and_mark_through_the_cli(store: FakeStore) -> None:
    first, _ = sorted(store.all_incidents(), key=lambda i: i.opened_at)
    first.status = "open"
    first.revision = 0
    store.stored_incidents.clear()
    store.save_incident(first)
    code, out, err = run("incidents", "ack", first.id, "--by", "bo", "--note", "rebooting the broker")
    assert (code, err) == (0, "")
    assert out.strip() == f"Acknowledged {first.id} as bo: no reminders until it escalates."
    assert _stored(store, first.id).acknowledged == Acknowledgement(
        "bo", T0 + 2 * WEEK, "rebooting the broker"
    )

    code, out, _ = run("incidents", "mark", first.id, "--expected", "--note", "CHG-7")
    assert code == 0 and "its periods stay out of training" in out
    assert _stored(store, first.id).verdict == Verdict("expected", T0 + 2 * WEEK, "", "CHG-7")
    code, out, _ = run("incidents", "show", first.id)
    assert code == 0
    assert "acked     by bo at" in out and "marked    expected: CHG-7 (kept out of training)" in out


def test_the_cli_refuses_what_it_cannot_do_with_exit_2(store: FakeStore) -> None:
    first, _ = sorted(store.all_incidents(), key=lambda i: i.opened_at)
    code, _, err = run("incidents", "ack", first.id, "--by", "bo")
    assert code == 2 and f"incident {first.id} is resolved" in err
    code, _, err = run("incidents", "mark", "251201-0000", "--false-alarm")
    assert code == 2 and "no incident 251201-0000 in table iotwatch-table" in err
    code, _, err = run("incidents", "mark", "nonsense", "--false-alarm")
    assert code == 2 and "is not an incident id" in err
    with pytest.raises(SystemExit) as stopped:  # argparse: one verdict, required
        run("incidents", "mark", first.id, "--false-alarm", "--expected")
    assert stopped.value.code == 2


def test_a_write_that_never_lands_exits_1(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = sorted(store.all_incidents(), key=lambda i: i.opened_at)
    monkeypatch.setattr(store, "save_incident", lambda incident, expires_at=None: False)
    code, _, err = run("incidents", "mark", first.id, "--false-alarm")
    assert code == 1 and "kept changing while it was written" in err


def test_stats_through_the_cli_default_to_twelve_weeks(store: FakeStore) -> None:
    code, out, err = run("incidents", "--stats")
    assert (code, err) == (0, "")
    assert "2025-W48  Connect.Success" in out and "since 2025-09-15 14:00 UTC" in out
    code, out, _ = run("incidents", "--stats", "--since", "6d", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run("incidents", "--stats", "--metric", "Ping.*", "--json")
    document: list[dict[str, Any]] = json.loads(out)
    assert [(r["week"], r["metric"], r["expected"]) for r in document] == [("2025-W49", "Ping.Success", 1)]


# --- a phone is enough ---------------------------------------------------------------------------


def _ctx(plan_name: str = "fleet", dashboard: str | None = "IotWatch-Fleet-Dashboard") -> MessageContext:
    return MessageContext(plan_name, "IotWatch-Fleet", "eu-west-1", "iot-platform", None, None, dashboard)


def test_the_email_links_the_dashboard_at_the_incidents_time_and_says_how_to_ack_or_mark():
    fleet = _run(ack_at=None)
    [firing] = fleet.notifications("firing")
    [resolved] = fleet.notifications("resolved")
    iid = firing.incident.id
    dashboard = (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/"
    )
    opened = render(firing, _ctx()).email
    # an hour before it began to an hour after the page
    assert (
        f"{dashboard}IotWatch-Fleet-Dashboard?start=2025-11-24T13:00:00Z&end=2025-11-24T15:05:00Z" in opened
    )
    assert f"iotwatch incidents ack {iid} --by NAME" in opened and "incidents mark" not in opened
    over = render(resolved, _ctx()).email
    # to an hour after its end (16:50, the first normal period)
    assert "?start=2025-11-24T13:00:00Z&end=2025-11-24T17:50:00Z" in over
    assert f"iotwatch incidents mark {iid} --false-alarm (or --expected)" in over
    assert f"iotwatch incidents show {iid}" in over and "incidents ack" not in over
    assert "#dashboards" not in render(firing, _ctx(dashboard=None)).email


def test_the_sms_has_the_incident_id_as_one_token_and_a_console_link_only_when_it_fits():
    fleet = _run(ack_at=None)
    [resolved] = fleet.notifications("resolved", "oncall-sms")
    [firing] = fleet.notifications("firing", "oncall-sms")
    iid = firing.incident.id
    link = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home#dashboards/dashboard/d"
    short = render(resolved, _ctx("f", "d")).sms
    assert short.endswith(f" {link}") and gsm7_length(short) <= 160
    assert re.search(rf"(^| ){re.escape(iid)}:", short), "the id alone, to type into `incidents ack`"
    long = render(firing, _ctx("f", "d")).sms
    assert "https://" not in long and re.search(rf"(^| ){re.escape(iid)}:", long)
    assert long == render(firing, _ctx("f", None)).sms, "without room the SMS is what it was"
    assert "https://" not in render(resolved, _ctx("f", None)).sms


def test_an_ack_without_a_name_is_refused_before_any_aws_call(default_plan, tmp_path, monkeypatch):
    """`--by ""` is the user's to fix (exit 2, naming the option), not an AWS failure: the network
    is off here, so reaching AWS would fail differently."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "monitoring-plan.yaml").write_text(
        (Path(__file__).parents[2] / "monitoring-plan.yaml").read_text()
    )
    out, err = io.StringIO(), io.StringIO()
    code = main(["incidents", "ack", "261116-1305", "--by", " ", "--table", "t"], out, err)
    assert (code, out.getvalue()) == (2, "")
    assert "--by: say who acknowledges" in err.getvalue()
