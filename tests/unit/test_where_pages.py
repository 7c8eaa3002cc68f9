"""Where and why in what on-call reads: the kind line every page of a classified incident opens
with, the SMS's one line of where, the e-mail's table, the JSON document, `incidents show`, and
the incident record that keeps them."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iotwatch.domain.baseline.model import Expectation
from iotwatch.domain.deviation import Transition, score_period
from iotwatch.domain.incidents.model import Incident, Member
from iotwatch.domain.incidents.record import decode_incident, encode_incident, incident_record
from iotwatch.domain.messages.deviation import render
from iotwatch.domain.messages.gsm7 import gsm7_length
from iotwatch.domain.messages.model import Alert, IncidentRef, MessageContext, Notification
from iotwatch.domain.where import (
    Breakdown,
    ClientShare,
    FailureKind,
    FieldBreakdown,
    LookupGap,
    ReasonShare,
    TopClients,
    ValueShare,
)

from iotwatch_cli.incidents import incident_document, render_timeline

from .fakes import DETECTION, MONDAY, PERIOD, make_series

AT = MONDAY + 14 * 3600 + 10 * 60  # 14:10 UTC
SINCE = AT - 2 * PERIOD  # 14:00
CTX = MessageContext("fleet", "IotWatch-Fleet", "eu-west-1", "iot-platform", None, None, None)
CONNECT = make_series("Connect.Success")

OUTAGE = Breakdown(
    since=SINCE,
    looked_up_at=AT,
    disconnected=31_204,
    fields=(
        FieldBreakdown(
            "thingGroupNames",
            (ValueShare("eu-gateways", 29_332, 0.94, 0.96), ValueShare("us-sensors", 1_248, 0.04, 0.01)),
        ),
    ),
    reasons=(
        ReasonShare("CONNECTION_LOST", 27_460, 0.88, 0.20),
        ReasonShare("CLIENT_INITIATED_DISCONNECT", 3_100, 0.10, 0.7),
    ),
)
DEVICES = FailureKind(
    "devices-or-network",
    ("CONNECTION_LOST 88 % of disconnects, normally 20 %", "94 % in eu-gateways"),
    ("the AWS side? traffic down on HTTP and MQTT at once",),
)
AUTH = Breakdown(
    since=SINCE,
    looked_up_at=AT,
    top_clients=(
        TopClients(
            "Connect.AuthError",
            900,
            3,
            (
                ClientShare("gw-017", 410, 0.46),
                ClientShare("gw-112", 250, 0.28),
                ClientShare("gw-201", 160, 0.17),
            ),
        ),
    ),
    gaps=(
        LookupGap(
            "thing groups of the disconnected devices",
            "fleet indexing is off in this account and region",
            "aws iot update-indexing-configuration --thing-indexing-configuration "
            "thingIndexingMode=REGISTRY,thingConnectivityIndexingMode=STATUS",
        ),
    ),
)


def alert(series, *, kind="firing", actual=150.0):
    latest = score_period(AT - PERIOD, actual, Expectation(1000.0, 50.0, "hour-of-week"), DETECTION)
    ended = AT - PERIOD if kind == "resolved" else 0
    return Alert(
        series, Transition(kind, series.id, "critical", SINCE, AT, latest.score, latest, ended=ended)
    )


def ref(**kw):
    base = IncidentRef("251124-1400", AT, SINCE, "critical", 1, 1, 0, failure=DEVICES, where=OUTAGE)
    return replace(base, **kw)


def page(kind="firing", *, series=(CONNECT,), incident=None, topic="oncall-sms"):
    status = "new" if kind == "update" else "deviating"
    alerts = tuple(replace(alert(s, kind=kind), status=status) for s in series)
    return Notification(topic, kind, "critical", AT, alerts, incident or ref())


@pytest.mark.parametrize("kind", ["firing", "escalated", "update", "reminder", "resolved"])
def test_every_page_of_a_classified_incident_opens_with_its_kind(kind):
    message = render(page(kind), CTX)
    first = message.email.splitlines()[0]
    assert first == (
        "Likely kind: devices or their network (CONNECTION_LOST 88 % of disconnects, normally 20 %; "
        "94 % in eu-gateways); against it: the AWS side? traffic down on HTTP and MQTT at once."
    )
    head, _, _ = message.sms.partition(": Likely devices/network. ")
    assert head.split()[2] == "251124-1400", "the kind comes right after the incident's id"
    assert gsm7_length(message.sms) <= 160


def test_an_unclear_kind_says_what_points_each_way():
    unclear = FailureKind(
        "unclear", ("credentials or policy? Connect.AuthError up", "throttling? Connect.Throttle up")
    )
    message = render(page(incident=ref(failure=unclear, where=None)), CTX)
    assert message.email.splitlines()[0] == (
        "Kind unclear: credentials or policy? Connect.AuthError up; throttling? Connect.Throttle up."
    )
    assert "Cause unclear." in message.sms


def test_the_email_table_names_groups_reasons_against_usual_and_what_was_not_looked_up():
    email = render(page(topic="oncall-email"), CTX).email
    assert "Where (looked up at 14:10 UTC, since 14:00):" in email
    assert "  31,204 devices disconnected since 14:00" in email
    lines = email.splitlines()
    header = lines.index("  thing group  devices  share  of group")
    assert lines[header + 1] == "  eu-gateways   29,332   94 %      96 %"
    assert lines[header + 2] == "  us-sensors     1,248  4.0 %     1.0 %"
    assert "    CONNECTION_LOST 88 %, normally 20 % (27,460)" in lines

    auth = render(page(incident=ref(where=AUTH), topic="oncall-email"), CTX).email
    assert "  3 clients make 91 % of Connect.AuthError: gw-017, gw-112, gw-201; from 3 devices" in auth
    assert (
        "  Not looked up: thing groups of the disconnected devices (fleet indexing is off in this account "
        "and region). To turn it on: aws iot update-indexing-configuration" in auth
    )


def test_the_resolved_email_keeps_the_kind_but_not_the_table():
    email = render(page("resolved", topic="oncall-email"), CTX).email
    assert email.startswith("Likely kind: devices or their network")
    assert "Where (looked up" not in email


def test_the_sms_carries_one_line_of_where():
    sms = render(page(), CTX).sms
    assert sms.startswith("CRIT fleet 251124-1400: Likely devices/network. Connect.Success (MQTT) -85%")
    assert "Where: 94% eu-gateways, CONNECTION_LOST 88% (~20%)." in sms
    auth = render(page(incident=ref(where=AUTH)), CTX).sms
    assert "Where: 3 clients 91% of Connect.AuthError" in auth, "who makes it comes first"


def test_the_sms_drops_metrics_then_details_then_where_and_keeps_the_kind():
    many = [make_series(f"Metric{i}.Success") for i in range(4)]
    sms = render(page(series=many), CTX).sms
    assert gsm7_length(sms) <= 160
    assert "+3 more" in sms, "the further metrics go first"
    assert "Likely devices/network." in sms and "Where: 94% eu-gateways" in sms

    long = make_series("Connect.Success", (("Protocol", "MQTT"), ("ThingGroup", "x" * 60)))
    sms = render(page(series=(long,)), CTX).sms
    assert gsm7_length(sms) <= 160
    assert "Details by email" not in sms
    assert "Likely devices/network." in sms, "the label gives way to the kind"
    assert "Where: 94% eu-gateways." in sms, "and to the top group"
    assert "x" * 60 not in sms


@settings(max_examples=60, deadline=None)
@given(
    label=st.text(min_size=1, max_size=120),
    group=st.text(min_size=1, max_size=80),
    client=st.text(min_size=1, max_size=60),
    kind=st.sampled_from(["firing", "escalated", "update", "reminder", "resolved"]),
)
def test_the_sms_stays_one_part_whatever_the_names(label, group, client, kind):
    series = make_series("Connect.Success", (("Protocol", label),))
    where = replace(
        OUTAGE,
        fields=(FieldBreakdown("thingGroupNames", (ValueShare(group, 5, 0.5),)),),
        top_clients=(TopClients("Connect.AuthError", 9, None, (ClientShare(client, 9, 1.0),)),),
    )
    sms = render(page(kind, series=(series,), incident=ref(where=where)), CTX).sms
    assert gsm7_length(sms) <= 160


def test_the_document_carries_the_kind_and_the_breakdown_with_a_schema_version():
    document = render(page(incident=ref(where=AUTH)), CTX).document
    incident = document["incident"]
    assert incident["failure"] == {
        "schema": 1,
        "kind": "devices-or-network",
        "evidence": list(DEVICES.evidence),
        "against": list(DEVICES.against),
    }
    where = json.loads(json.dumps(incident["where"]))
    assert where["schema"] == 1 and where["since"] == SINCE
    assert where["top_clients"][0]["clients"][0] == {"client_id": "gw-017", "value": 410, "share": 0.46}
    assert where["gaps"][0]["fix"].startswith("aws iot update-indexing-configuration")


def test_a_page_without_a_look_up_reads_as_before():
    plain = ref(failure=None, where=None)
    message = render(page(incident=plain, topic="oncall-email"), CTX)
    assert message.email.startswith("CRITICAL: 1 metric(s)")
    assert "failure" not in message.document["incident"] and "where" not in message.document["incident"]
    assert "Likely" not in message.sms


# --- kept in the incident ------------------------------------------------------------------------


def incident(**kw):
    latest = score_period(SINCE, 150.0, Expectation(1000.0, 50.0, "hour-of-week"), DETECTION)
    member = Member(
        CONNECT.id,
        "AWS/IoT",
        "Connect.Success",
        CONNECT.dimensions,
        "Sum",
        PERIOD,
        SINCE,
        AT,
        "critical",
        latest.score,
        latest,
    )
    return Incident("251124-1410", (("Protocol", "any"),), AT, [member], "critical", **kw)


def test_the_incident_record_keeps_breakdowns_and_kind_and_reads_them_back():
    kept = incident(breakdowns=[AUTH, OUTAGE], failure=DEVICES)
    text, packed = encode_incident(kept)
    again = decode_incident(text, packed, revision=2)
    assert again.breakdowns == [AUTH, OUTAGE]
    assert again.failure == DEVICES
    assert again.ref().where == OUTAGE and again.ref().failure == DEVICES


def test_an_incident_stored_before_look_ups_still_loads():
    record = incident_record(incident())
    del record["breakdowns"], record["failure"]
    text = json.dumps(record)
    old = decode_incident(text, None, revision=1)
    assert old.breakdowns == [] and old.failure is None
    assert old.ref().where is None


def test_incidents_show_names_the_kind_and_the_breakdown():
    kept = incident(breakdowns=[OUTAGE], failure=DEVICES)
    text = render_timeline(kept, now=AT + 600, plan_name="fleet")
    assert "  kind      devices or their network (CONNECTION_LOST 88 % of disconnects, normally 20 %" in text
    assert "  eu-gateways   29,332   94 %      96 %" in text
    assert "Protocol=MQTT" in text.splitlines()[0]
    document = incident_document(kept)
    assert document["failure"]["kind"] == "devices-or-network"
    assert document["where"][0]["reasons"][0]["reason"] == "CONNECTION_LOST"
    assert document["group"] == {"Protocol": "MQTT"}
