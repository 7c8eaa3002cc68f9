"""The failure-kind classifier: one case per kind, and the cases where it must say "unclear"."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from iotwatch.domain.failure_kind import FiringSignal, classify, signals_of
from iotwatch.domain.where import (
    FLEET_METRICS_NAMESPACE,
    Breakdown,
    ClientShare,
    FieldBreakdown,
    ReasonShare,
    TopClients,
    ValueShare,
    device_namespace,
)

IOT = "AWS/IoT"
DEVICES = device_namespace("fleet")
MQTT = (("Protocol", "MQTT"),)
HTTP = (("Protocol", "HTTP"),)


@dataclass(frozen=True)
class Change:
    action: str
    at: int = 0


def down(metric, dims=MQTT, namespace=IOT):
    return FiringSignal(metric, namespace, dims, up=False)


def up(metric, dims=MQTT, namespace=IOT):
    return FiringSignal(metric, namespace, dims, up=True)


def breakdown(**kw):
    return Breakdown(since=0, looked_up_at=300, **kw)


ONE_GROUP = FieldBreakdown(
    "thingGroupNames", (ValueShare("eu-gateways", 940, 0.94, 0.96), ValueShare("us-sensors", 60, 0.06, 0.01))
)
SPREAD = FieldBreakdown(
    "thingGroupNames",
    (
        ValueShare("eu-gateways", 350, 0.35),
        ValueShare("us-sensors", 330, 0.33),
        ValueShare("apac", 320, 0.32),
    ),
)
LOST = ReasonShare("CONNECTION_LOST", 880, 0.88, 0.20)


CASES = [
    pytest.param(
        [down("Connect.Success"), up("Disconnect.CONNECTION_LOST", (), DEVICES)],
        breakdown(disconnected=1000, fields=(ONE_GROUP,), reasons=(LOST,)),
        [],
        "devices-or-network",
        "CONNECTION_LOST 88 % of disconnects, normally 20 %",
        id="one group, connection lost",
    ),
    pytest.param(
        [
            down("eu-gateways", (), FLEET_METRICS_NAMESPACE),
            up("Disconnect.MQTT_KEEP_ALIVE_TIMEOUT", (), DEVICES),
        ],
        None,
        [],
        "devices-or-network",
        "Disconnect.MQTT_KEEP_ALIVE_TIMEOUT up",
        id="keep-alive timeouts and one group gauge, no look-up",
    ),
    pytest.param(
        [up("Connect.AuthError")],
        None,
        [Change("UpdateCACertificate")],
        "credentials-or-policy",
        "UpdateCACertificate in CloudTrail before it began",
        id="auth errors after a CA change",
    ),
    pytest.param(
        [down("Connect.Success")],
        breakdown(reasons=(ReasonShare("AUTH_ERROR", 700, 0.7, 0.01),)),
        [Change("DetachPolicy")],
        "credentials-or-policy",
        "AUTH_ERROR 70 % of disconnects, normally 1.0 %",
        id="AUTH_ERROR disconnects after a policy detached",
    ),
    pytest.param(
        [up("Connect.ServerError"), down("Connect.Success"), down("Connect.Success", HTTP)],
        None,
        [],
        "aws-side",
        "Connect.ServerError up",
        id="server errors, both protocols",
    ),
    pytest.param(
        [down("eu-gateways", (), FLEET_METRICS_NAMESPACE), down("us-sensors", (), FLEET_METRICS_NAMESPACE)],
        breakdown(reasons=(ReasonShare("SERVER_INITIATED_DISCONNECT", 900, 0.9, 0.02),), fields=(SPREAD,)),
        [],
        "aws-side",
        "2 groups lost devices at once",
        id="several groups, server-initiated disconnects",
    ),
    pytest.param(
        [up("PublishIn.Throttle"), up("Disconnect.THROTTLED", (), DEVICES)],
        None,
        [],
        "throttling",
        "PublishIn.Throttle up",
        id="throttle family and THROTTLED",
    ),
    pytest.param(
        [up("Failure", (("RuleName", "to_s3"), ("ActionType", "S3")))],
        None,
        [],
        "rules-engine",
        "Failure up for rule to_s3 while PublishIn is normal",
        id="action failures, PublishIn normal",
    ),
    pytest.param(
        [up("PublishIn.Throttle")],
        breakdown(
            top_clients=(
                TopClients("PublishIn.Throttle", 10_000, 1, (ClientShare("sensor-0042", 9_500, 0.95),)),
            )
        ),
        [],
        "rogue-device",
        "sensor-0042 makes 95 % of PublishIn.Throttle",
        id="one device flooding",
    ),
]


@pytest.mark.parametrize(("firing", "found", "changes", "kind", "evidence"), CASES)
def test_each_kind_is_named_with_its_evidence(firing, found, changes, kind, evidence):
    verdict = classify(firing, found, changes)
    assert verdict.kind == kind
    assert evidence in verdict.evidence


def test_a_few_devices_failing_auth_after_a_ca_change_is_credentials_not_a_rogue_device():
    clients = TopClients(
        "Connect.AuthError",
        900,
        3,
        (ClientShare("a", 400, 0.44), ClientShare("b", 250, 0.28), ClientShare("c", 170, 0.19)),
    )
    verdict = classify(
        [up("Connect.AuthError")], breakdown(top_clients=(clients,)), [Change("UpdateCACertificate")]
    )
    assert verdict.kind == "credentials-or-policy"
    assert any(line.startswith("one rogue device?") for line in verdict.against)


def test_connections_lost_while_the_broker_errors_point_to_the_aws_side():
    verdict = classify(
        [up("Connect.ServerError"), up("Disconnect.CONNECTION_LOST", (), DEVICES)],
        breakdown(fields=(ONE_GROUP,)),
    )
    assert verdict.kind == "aws-side"
    assert verdict.evidence == ("Connect.ServerError up",)
    assert "devices or their network? Disconnect.CONNECTION_LOST up" in verdict.against


def test_rule_failures_while_publish_in_is_down_too_do_not_blame_the_rules_engine():
    verdict = classify([up("Failure", (("RuleName", "to_s3"),)), down("PublishIn.Success")])
    assert verdict.kind == "unclear"
    assert (
        "the rules engine or a downstream action? Failure up for rule to_s3, but PublishIn is down too"
        in (verdict.against)
    )


@pytest.mark.parametrize(
    ("firing", "found", "each_way"),
    [
        pytest.param(
            [down("Connect.Success"), down("PublishIn.Success")],
            None,
            (),
            id="a drop alone, nothing looked up",
        ),
        pytest.param(
            [up("Connect.AuthError"), up("Connect.Throttle")],
            None,
            ("credentials or policy? Connect.AuthError up", "throttling? Connect.Throttle up"),
            id="two kinds equally strong",
        ),
        pytest.param(
            [down("Connect.Success"), down("Connect.Success", HTTP)],
            breakdown(gaps=()),
            ("the AWS side? traffic down on HTTP and MQTT at once",),
            id="one weak clue is not enough",
        ),
    ],
)
def test_unclear_says_what_points_each_way(firing, found, each_way):
    verdict = classify(firing, found)
    assert verdict.kind == "unclear"
    assert set(verdict.evidence) == set(each_way)
    if not each_way:
        assert verdict.against, "an unclear verdict without clues says why"


def test_many_devices_behind_auth_errors_weigh_against_a_rogue_device():
    fleet_wide = TopClients("Connect.AuthError", 9000, 4100, (ClientShare("a", 2, 0.0002),))
    verdict = classify([up("Connect.AuthError")], breakdown(top_clients=(fleet_wide,)))
    assert verdict.kind == "credentials-or-policy"
    assert "one rogue device? Connect.AuthError from 4,100 devices" in verdict.against


def test_members_become_signals_with_their_direction():
    @dataclass
    class M:
        metric: str
        namespace: str
        dimensions: tuple
        peak_score: float

    [drop, rise] = signals_of([M("Connect.Success", IOT, MQTT, -6.0), M("Connect.AuthError", IOT, MQTT, 5.0)])
    assert (drop.up, rise.up) == (False, True)
    assert drop.dimensions == MQTT
