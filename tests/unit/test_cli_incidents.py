"""`iotwatch incidents` and `incidents show`: what they select and print (no AWS: the store
parts run against the local endpoint in tests/integration)."""

from __future__ import annotations

import io
import json

import pytest
from iotwatch.domain.baseline.model import Expectation
from iotwatch.domain.deviation import AlertState, Transition, score_period
from iotwatch.domain.incidents.model import Incident, IncidentSettings
from iotwatch.domain.incidents.news import SeriesNews
from iotwatch.domain.incidents.tick import advance

from iotwatch_cli.incidents import (
    IncidentsError,
    incident_document,
    normalise_id,
    render_list,
    render_timeline,
    select,
    since_instant,
)
from iotwatch_cli.main import main

from .conftest import DEFAULT_PLAN_FILE
from .fakes import DETECTION, MONDAY, PERIOD, make_series

HOUR = 3600
T0 = MONDAY + 14 * HOUR
CONNECT = make_series("Connect.Success")
RULES = make_series("RulesExecuted", ())


def route(severity: str, metric: str) -> list[str]:
    return ["oncall-email", *(["oncall-sms"] if severity == "critical" else [])]


def _news(series, at: int, kind: str) -> SeriesNews:
    latest = score_period(at - PERIOD, 100.0, Expectation(1000.0, 50.0, "hour-of-week"), DETECTION)
    if kind == "resolved":
        state = AlertState(series.id, last_evaluated=at)
        t = Transition("resolved", series.id, "critical", T0, at, latest.score, latest, ended=at - PERIOD)
    else:
        state = AlertState(series.id, "firing", "critical", T0, latest.score, at)
        t = Transition("firing", series.id, "critical", T0, at, latest.score, latest)
    return SeriesNews(series, state, t, latest)


def _incident(*, resolve: bool) -> Incident:
    opened = advance(
        [], [_news(CONNECT, T0 + PERIOD, "firing")], at=T0 + PERIOD, settings=IncidentSettings(), route=route
    )
    [incident] = opened.changed
    if not resolve:
        return incident
    closed = advance(
        [incident],
        [_news(CONNECT, T0 + HOUR, "resolved")],
        at=T0 + HOUR,
        settings=IncidentSettings(),
        route=route,
    )
    [incident] = closed.changed
    return incident


def test_since_takes_a_duration_back_from_now_or_an_iso_time():
    assert since_instant("7d", now=T0) == T0 - 7 * 86400
    assert since_instant("90m", now=T0) == T0 - 5400
    assert since_instant("2025-11-24T14:00Z", now=0) == T0
    with pytest.raises(IncidentsError, match="--since 'soon'"):
        since_instant("soon", now=T0)
    with pytest.raises(IncidentsError, match="7d, 24h, 90m"):
        since_instant("7x", now=T0)


def test_ids_are_checked_before_anything_is_read():
    assert normalise_id(" #251124-1405 ") == "251124-1405"
    assert normalise_id("251124-1405b") == "251124-1405b"
    with pytest.raises(IncidentsError, match="they look like 261116-1305"):
        normalise_id("i-3f9a")


def test_select_filters_by_metric_glob_newest_first():
    old, new = _incident(resolve=True), _incident(resolve=False)
    new.id, new.opened_at = "251124-1605", T0 + 2 * HOUR
    assert [i.id for i in select([old, new], metric=None)] == ["251124-1605", "251124-1405"]
    assert select([old, new], metric="Publish*") == []
    assert len(select([old, new], metric="Connect.*")) == 2


def test_the_list_says_status_how_long_and_what_with_one_line_each():
    text = render_list(
        [_incident(resolve=False), _incident(resolve=True)], now=T0 + 2 * HOUR, since=T0 - 86400, metric=None
    )
    lines = text.splitlines()
    assert lines[0].split() == [
        "ID",
        "OPENED",
        "(UTC)",
        "STATUS",
        "SEVERITY",
        "LASTED",
        "MEMBERS",
        "GROUP",
        "METRICS",
    ]
    assert "251124-1405  2025-11-24 14:05  open" in lines[1] and "open 2 h" in lines[1]
    assert "resolved  critical  55 min" in lines[2] and "Protocol=MQTT  Connect.Success" in lines[2]
    assert (
        lines[-1] == "2 incident(s) since 2025-11-23 14:00 UTC; 1 open. Timeline: iotwatch incidents show ID"
    )
    assert render_list([], now=T0, since=T0, metric="Ping*") == (
        "No incidents since 2025-11-24 14:00 UTC with a metric matching 'Ping*'."
    )


def test_the_timeline_lists_members_and_every_event_with_its_time():
    text = render_timeline(_incident(resolve=True), now=T0 + 2 * HOUR, plan_name="fleet")
    assert text.startswith("Incident 251124-1405 of plan 'fleet': resolved, critical, Protocol=MQTT")
    assert "  ended     2025-11-24 14:55 UTC, resolved 15:00 (55 min)" in text
    assert "  told      oncall-email, oncall-sms" in text
    assert "Connect.Success (MQTT)  critical  14:00-14:55" in text
    events = text.split("Timeline (UTC):\n")[1].splitlines()
    assert [line.split()[:2] for line in events] == [
        ["14:05", "opened"],
        ["14:05", "joined"],
        ["14:05", "paged"],
        ["15:00", "recovered"],
        ["15:00", "resolved"],
    ]


def test_json_has_iso_times_and_the_whole_timeline():
    document = incident_document(_incident(resolve=True))
    assert document["opened"] == "2025-11-24T14:05:00Z" and document["ended"] == "2025-11-24T14:55:00Z"
    assert document["group"] == {"Protocol": "MQTT"}
    assert document["members"][0]["dimensions"] == {"Protocol": "MQTT"}
    assert [e["kind"] for e in document["timeline"]] == ["opened", "joined", "paged", "recovered", "resolved"]
    assert set(document["topics"]) == {"oncall-email", "oncall-sms"}
    json.dumps(document)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["incidents", "show", "nope"], "is not an incident id"),
        (["incidents", "--since", "someday"], "--since 'someday'"),
    ],
)
def test_bad_input_is_named_before_any_aws_call(argv, message):
    out, err = io.StringIO(), io.StringIO()
    assert main([*argv, "--table", "t", "--plan", str(DEFAULT_PLAN_FILE)], out=out, err=err) == 2
    assert message in err.getvalue() and out.getvalue() == ""
