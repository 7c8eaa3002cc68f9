"""What on-call reads: subjects, e-mail bodies and SMS for every kind of notification."""

from __future__ import annotations

import json
import string
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iotwatch.domain.baseline.model import Expectation, share_expectation
from iotwatch.domain.deviation import Transition, score_period
from iotwatch.domain.messages.deviation import render
from iotwatch.domain.messages.gsm7 import gsm7_length, to_gsm7
from iotwatch.domain.messages.model import Alert, MessageContext, Notification

from .fakes import DETECTION, MONDAY, PERIOD, make_series, share_series

HOUR = 3600
AT = MONDAY + 14 * HOUR + 10 * 60  # 14:10 UTC
SINCE = AT - 2 * PERIOD  # 14:00 UTC
RUNBOOK = "https://wiki.example.com/iot-platform/runbooks/iotwatch"
CTX = MessageContext(
    plan_name="fleet",
    stack_name="IotWatch-Fleet",
    region="eu-west-1",
    team="iot-platform",
    runbook=RUNBOOK,
    escalation="iot-platform on-call rotation",
    dashboard_name="IotWatch-Fleet-Dashboard",
)
KINDS = ("firing", "escalated", "reminder", "resolved")


def alert(
    series,
    *,
    actual=200.0,
    expected=1000.0,
    scale=50.0,
    kind="firing",
    severity="critical",
    since=SINCE,
    at=AT,
):
    latest = score_period(at - PERIOD, actual, Expectation(expected, scale, "hour-of-week"), DETECTION)
    ended = at - 2 * PERIOD if kind == "resolved" else 0
    return Alert(series, Transition(kind, series.id, severity, since, at, latest.score, latest, ended=ended))


def notify(alerts, *, kind="firing", severity="critical", topic="oncall-sms"):
    return Notification(topic=topic, kind=kind, severity=severity, at=AT, alerts=tuple(alerts))


PUBLISH_IN = make_series("PublishIn.Success", description="Messages devices published to the broker")
CONNECT = make_series("Connect.Success")
RULES = make_series("RulesExecuted", ())


def resolved_alert(series, **kw):
    return alert(series, actual=1000.0, kind="resolved", **kw)


def sample(kind, grouped):
    series = [PUBLISH_IN, CONNECT, RULES] if grouped else [PUBLISH_IN]
    if kind == "resolved":
        alerts = [resolved_alert(s) for s in series]
    else:
        alerts = [alert(s, actual=200.0 + 100 * i) for i, s in enumerate(series)]
    return notify(alerts, kind=kind)


def assert_channel_limits(message):
    assert len(message.subject) < 100
    assert "\n" not in message.subject and "\r" not in message.subject
    assert gsm7_length(message.sms) <= 160  # raises if anything is not GSM-7


@pytest.mark.parametrize("grouped", [False, True], ids=["single", "grouped"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_fits_its_channels(kind, grouped):
    assert_channel_limits(render(sample(kind, grouped), CTX))


@pytest.mark.parametrize("grouped", [False, True], ids=["single", "grouped"])
def test_resolved_says_so_first_everywhere(grouped):
    message = render(sample("resolved", grouped), CTX)
    assert message.subject.startswith("[RESOLVED]")
    assert message.email.startswith("RESOLVED")
    assert message.sms.startswith("RESOLVED")
    assert "normal" in message.sms


@pytest.mark.parametrize(
    ("kind", "severity", "tag"),
    [
        ("firing", "warning", "[WARNING]"),
        ("firing", "critical", "[CRITICAL]"),
        ("escalated", "critical", "[CRITICAL]"),
    ],
)
def test_subject_and_sms_lead_with_severity(kind, severity, tag):
    message = render(
        notify([alert(PUBLISH_IN, severity=severity, kind=kind)], kind=kind, severity=severity), CTX
    )
    assert message.subject.startswith(f"{tag} fleet: PublishIn.Success (MQTT) down 80%")
    assert message.sms.startswith("CRIT fleet:" if severity == "critical" else "WARN fleet:")
    if kind == "escalated":
        assert message.email.startswith("escalated to CRITICAL")


def test_sms_says_the_metric_the_change_and_since_when():
    message = render(notify([alert(PUBLISH_IN)]), CTX)
    assert "PublishIn.Success (MQTT)" in message.sms
    assert "-80%" in message.sms
    assert "200 vs ~1,000" in message.sms
    assert "since 14:00Z" in message.sms


def test_surge_is_reported_as_up_with_a_positive_change():
    message = render(notify([alert(CONNECT, actual=1600.0)]), CTX)
    assert "Connect.Success (MQTT) up 60%" in message.subject
    assert "+60%" in message.sms


def test_grouped_sms_names_the_worst_first_and_counts_the_rest():
    alerts = [alert(s, actual=a) for s, a in [(RULES, 700.0), (PUBLISH_IN, 0.0), (CONNECT, 300.0)]]
    message = render(notify(alerts), CTX)
    assert message.sms.index("PublishIn.Success") < message.sms.index("Connect.Success")
    names = [s.label for s in (RULES, PUBLISH_IN, CONNECT)]
    shown = [n for n in names if n in message.sms]
    rest = len(names) - len(shown)
    assert (f"+{rest} more" in message.sms) == (rest > 0)
    assert "(+2 more)" in message.subject


def test_sms_keeps_the_change_when_a_label_is_long():
    """A thing-group dimension of ~90 characters is ordinary in IoT fleets; the SMS must still
    say how badly the metric moved rather than cut the change off with the label."""
    long_group = "plant-rotterdam-north-hall-b-line-7-packaging-robots-firmware-2-14-canary-group-0042"
    series = make_series("PublishIn.Success", (("ThingGroup", long_group),), namespace="Fleet/Devices")
    message = render(notify([alert(series)]), CTX)
    assert gsm7_length(message.sms) <= 160
    assert "PublishIn.Success" in message.sms
    assert "-80%" in message.sms


labels = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=300
)


@settings(settings.get_profile("slow_properties"), max_examples=150)
@given(
    names=st.lists(st.tuples(labels, labels), min_size=1, max_size=12),
    kind=st.sampled_from(KINDS),
    plan_name=st.from_regex(r"[a-z][a-z0-9-]{0,29}", fullmatch=True),
    actuals=st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=12, max_size=12),
)
def test_channel_limits_hold_for_any_labels(names, kind, plan_name, actuals):
    series = [make_series(metric, (("Site", value),), namespace="Fleet/Devices") for metric, value in names]
    if kind == "resolved":
        alerts = [resolved_alert(s) for s in series]
    else:
        alerts = [alert(s, actual=actuals[i]) for i, s in enumerate(series)]
    ctx = MessageContext(**{**CTX.__dict__, "plan_name": plan_name})
    message = render(notify(alerts, kind=kind), ctx)
    assert_channel_limits(message)
    assert message.sms.startswith(("RESOLVED " if kind == "resolved" else "CRIT ") + plan_name)


def test_email_body_has_everything_on_call_needs():
    message = render(notify([alert(PUBLISH_IN)], topic="oncall-email"), CTX)
    body = message.email
    assert body.startswith("CRITICAL: 1 metric(s) of plan 'fleet'")
    assert "PublishIn.Success (Protocol=MQTT)" in body
    assert "[AWS/IoT, Sum per 5 min]" in body
    assert "now:       200 (14:05-14:10 UTC)" in body
    # expected 1,000 with a 4 x 50 warning band
    assert "expected:  1,000 (normal range 800-1,200)" in body
    assert "change:    -80%, deviation -16.0" in body
    since = datetime.fromtimestamp(SINCE, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"since:     {since} (10 min)" in body
    assert "about:     Messages devices published to the broker" in body
    assert "Owner: iot-platform (escalation: iot-platform on-call rotation)" in body
    # a metric's own runbook (different from the plan's) is named with its metric
    assert f"Runbook (PublishIn.Success): {PUBLISH_IN.runbook}" in body
    # the first screen: a one-line-per-metric table before the details
    table = body.split("Details:")[0]
    assert "PublishIn.Success (MQTT)" in table and "200" in table and "800-1,200" in table and "-80%" in table
    assert (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#metricsV2?graph=" in body
    )
    assert "PublishIn.Success~'Protocol~'MQTT" in body
    assert "#dashboards/dashboard/IotWatch-Fleet-Dashboard" in body
    assert "to topic 'oncall-email'" in body


def test_email_falls_back_to_the_plan_runbook_and_lists_dimensionless_metrics():
    series = make_series("RulesExecuted", (), runbook=None)
    body = render(notify([alert(series)]), CTX).email
    assert "RulesExecuted (no dimensions)" in body
    assert f"Runbook:   {RUNBOOK}" in body.split("Details:")[0]


def test_grouped_email_lists_every_metric():
    body = render(sample("firing", grouped=True), CTX).email
    assert body.startswith("CRITICAL: 3 metric(s)")
    for series in (PUBLISH_IN, CONNECT, RULES):
        assert f"{series.metric} (" in body


def test_resolved_email_reports_the_incident_span():
    message = render(notify([resolved_alert(PUBLISH_IN)], kind="resolved"), CTX)
    start = datetime.fromtimestamp(SINCE, UTC).strftime("%Y-%m-%d %H:%M UTC")
    end = datetime.fromtimestamp(AT - 2 * PERIOD, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"deviated:  {start} to {end} (0 min)" in message.email


def test_sns_message_is_json_with_one_body_per_protocol():
    message = render(sample("firing", grouped=True), CTX)
    body = json.loads(message.sns_message())
    assert {"default", "email", "sms"} <= set(body)
    assert body["email"] == body["default"] == message.email
    assert body["sms"] == message.sms
    assert all(isinstance(value, str) for value in body.values())  # SNS wants plain strings


def test_queues_and_functions_get_a_machine_readable_document():
    notification = sample("firing", grouped=True)
    message = render(notification, CTX)
    body = json.loads(message.sns_message())
    for protocol in ("sqs", "lambda"):
        document = json.loads(body[protocol])
        assert (document["kind"], document["severity"], document["topic"]) == (
            "firing",
            "critical",
            "oncall-sms",
        )
        # worst first: 200, 300 and 400 against 1,000 are -16, -14 and -12 robust units
        assert [a["series"] for a in document["alerts"]] == [PUBLISH_IN.id, CONNECT.id, RULES.id]
        assert document["sms"] == message.sms and document["subject"] == message.subject
        first = document["alerts"][0]
        assert first["dimensions"] == {"Protocol": "MQTT"}
        assert first["expected"] == 1000.0 and first["actual"] == 200.0


@pytest.mark.parametrize("kind", KINDS)
def test_attributes_carry_severity_kind_and_metrics(kind):
    notification = sample(kind, grouped=True)
    attributes = render(notification, CTX).attributes
    assert attributes["severity"] == {"DataType": "String", "StringValue": "critical"}
    assert attributes["kind"] == {"DataType": "String", "StringValue": kind}
    assert attributes["metric"]["DataType"] == "String.Array"
    assert json.loads(attributes["metric"]["StringValue"]) == [a.series.metric for a in notification.alerts]
    assert attributes["plan"]["StringValue"] == "fleet"


def test_attribute_metrics_are_listed_once():
    http = make_series("PublishIn.Success", (("Protocol", "HTTP"),))
    attributes = render(notify([alert(PUBLISH_IN), alert(http)]), CTX).attributes
    assert json.loads(attributes["metric"]["StringValue"]) == ["PublishIn.Success"]


# --- GSM-7 -------------------------------------------------------------------------------------


@given(st.text())
def test_to_gsm7_maps_every_character_to_gsm7(text):
    mapped = to_gsm7(text)
    gsm7_length(mapped)  # raises on any non-GSM-7 character


@given(st.text(alphabet=string.ascii_letters + string.digits + " .,:;!?()-+%/_@'\"#&*<>=", max_size=200))
def test_to_gsm7_leaves_plain_text_alone(text):
    assert to_gsm7(text) == text
    assert gsm7_length(text) == len(text)


@pytest.mark.parametrize(
    ("text", "mapped", "septets"),
    [
        ("a—b", "a-b", 3),
        ("±5σ", "?5sd", 4),
        ("…", "...", 3),
        ("€10", "€10", 4),
        ("[x]", "[x]", 5),
        ("温度", "??", 2),
    ],
)
def test_to_gsm7_examples(text, mapped, septets):
    assert to_gsm7(text) == mapped
    assert gsm7_length(mapped) == septets


def test_gsm7_length_rejects_non_gsm_text():
    with pytest.raises(ValueError):
        gsm7_length("temperature 25°C")


# --- reminders ------------------------------------------------------------------------------------


def reminder(series, *, hours=4, severity="critical", actual=200.0):
    """A reminder sent `hours` after the incident began (at AT)."""
    return alert(series, kind="reminder", severity=severity, actual=actual, since=AT - hours * HOUR)


def test_reminder_says_still_and_for_how_long_everywhere():
    message = render(notify([reminder(PUBLISH_IN)], kind="reminder"), CTX)
    assert message.subject == "[REMINDER CRITICAL] fleet: PublishIn.Success (MQTT) still down 80% after 4 h"
    assert message.email.startswith("REMINDER (CRITICAL): 1 metric(s) of plan 'fleet' are still outside")
    assert message.sms.startswith("CRIT fleet still: PublishIn.Success (MQTT) -80%")
    assert "since 10:10Z (4 h)" in message.sms
    assert message.attributes["kind"]["StringValue"] == "reminder"
    assert message.document["kind"] == "reminder"
    assert_channel_limits(message)


def test_grouped_reminder_keeps_the_count_and_the_limits():
    long_group = "plant-rotterdam-north-hall-b-line-7-packaging-robots-firmware-2-14-canary-group-0042"
    series = [make_series("PublishIn.Success", (("ThingGroup", long_group),)), CONNECT, RULES]
    message = render(notify([reminder(s, hours=27) for s in series], kind="reminder"), CTX)
    assert message.subject.startswith("[REMINDER CRITICAL] fleet: ")
    assert message.subject.endswith("still down 80% after 27 h (+2 more)")
    assert_channel_limits(message)
    assert "still" in message.sms


# --- shares of attempts --------------------------------------------------------------------------

AUTH_SHARE = share_series(description="Connection attempts refused at authentication")


def share_alert(*, kind="firing", actual=0.31, attempts=4210.0):
    expectation = share_expectation(Expectation(0.002, 0.0005, "hour-of-week", False), attempts)
    latest = replace(score_period(AT - PERIOD, actual, expectation, DETECTION), attempts=attempts)
    ended = AT - 2 * PERIOD if kind == "resolved" else 0
    return Alert(
        AUTH_SHARE, Transition(kind, AUTH_SHARE.id, "critical", SINCE, AT, latest.score, latest, ended=ended)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_share_pages_as_a_share_of_its_attempts_in_every_kind(kind):
    alerts = [share_alert(kind=kind, actual=0.002 if kind == "resolved" else 0.31)]
    message = render(notify([*alerts, alert(CONNECT, kind=kind)], kind=kind), CTX)
    assert_channel_limits(message)
    assert "15400%" not in message.email + message.subject + message.sms  # a share is no count
    if kind != "resolved":
        assert "AuthError 31 % of 4,210 connection attempts" in message.email
        assert "1,305 AuthError of 4,210 connection attempts (judged from 100)" in message.email
        assert "31 % of 4,210 (~0.2 %)" in message.sms or kind == "reminder"


def test_a_share_firing_says_the_share_its_parts_and_what_is_normal():
    message = render(notify([share_alert()], topic="oncall-email"), CTX)
    assert message.subject == "[CRITICAL] fleet: Connect.AuthErrorRate (MQTT) up to 31 % (normally 0.2 %)"
    assert message.sms.startswith(
        "CRIT fleet: Connect.AuthErrorRate (MQTT) 31 % of 4,210 (~0.2 %) since 14:00Z."
    )
    email = message.email
    assert "Connect.AuthErrorRate (MQTT)  31 %  0-" in email  # the table: now, normal range, change
    assert "+31 pts" in email  # percentage points: from 0.2 % to 31 % is no +15400%
    assert (
        "[AWS/IoT share Connect.AuthError / Connect.{Success, AuthError, ClientError, Throttle}, per 5 min]"
        in email
    )
    assert (
        "  now:       AuthError 31 % of 4,210 connection attempts, normally 0.2 % (14:05-14:10 UTC)" in email
    )
    assert "  expected:  0.2 % (normal range 0-" in email
    # the console graph is the metric math over the parts, which CloudWatch draws as the share
    graph = next(line for line in email.splitlines() if line.strip().startswith("graph:"))
    assert "expression~'100*2a*28m1*29*2f*28m0*2bm1*2bm2*2bm3*29" in graph  # 100*(m1)/(m0+m1+m2+m3)
    assert "~'Connect.AuthError~'Protocol~'MQTT~(id~'m1~visible~false)" in graph
    [document] = message.document["alerts"]
    assert document["share"] == {
        "numerator": ["Connect.AuthError"],
        "denominator": ["Connect.Success", "Connect.AuthError", "Connect.ClientError", "Connect.Throttle"],
        "min_denominator": 100.0,
        "attempts": 4210.0,
        "failed": 1305,
    }
