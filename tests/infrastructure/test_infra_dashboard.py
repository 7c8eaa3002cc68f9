"""The CloudWatch dashboard, read back from the DashboardBody JSON of the synthesized template
(an Fn::Join: tokens become their logical ids, see join_to_text)."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from infra_support import (
    ENV_EMAIL,
    ENV_EMAIL_VAR,
    FULL_PLAN,
    LITERAL_EMAIL,
    SMS_PARAMETER,
    Synth,
    join_to_text,
    synthesize_plan,
)
from iotwatch.handlers.log_queries import AUDIT_RECORDED
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import check_plan, load_plan

from infra.dashboard import (
    MAX_METRICS,
    MAX_METRICS_PER_WIDGET,
    MAX_WIDGETS,
    FleetDashboard,
)
from infra.metrics import IotWatchMetrics

pytestmark = pytest.mark.infrastructure

EVALUATOR = "iotwatch.handlers.evaluator.handler"
BUILDER = "iotwatch.handlers.baseline_builder.handler"
AUDIT = "iotwatch.handlers.audit.handler"
BAND_WIDGET = "iotwatch.handlers.band_widget.handler"

_TOOLS = "tools:\n  dashboard: true\n"
assert _TOOLS in FULL_PLAN
AUDIT_PLAN = FULL_PLAN.replace(_TOOLS, "tools:\n  dashboard: true\n  audit: true\n")


_RULES = "    - metric: RulesExecuted\n"
assert _RULES in FULL_PLAN
SHARES_PLAN = FULL_PLAN.replace(
    _RULES,
    _RULES
    + "  ratios:\n"
    + "    - name: Connect.AuthErrorRate\n"
    + "      numerator: [Connect.AuthError]\n"
    + "      dimensions: {Protocol: [MQTT, HTTP]}\n",
)


@pytest.fixture(scope="module")
def shares(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize_plan(
        tmp_path_factory.mktemp("shares-dashboard"), SHARES_PLAN, environ={ENV_EMAIL_VAR: ENV_EMAIL}
    )


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize_plan(
        tmp_path_factory.mktemp("audited-dashboard"), AUDIT_PLAN, environ={ENV_EMAIL_VAR: ENV_EMAIL}
    )


def _body(s: Synth) -> dict[str, Any]:
    _, dashboard = s.only("AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == "iotwatch-test-fleet"
    body: dict[str, Any] = json.loads(
        join_to_text(dashboard["Properties"]["DashboardBody"], placeholder="{}")
    )
    return body


def _graphs(s: Synth) -> dict[str, dict[str, Any]]:
    """Title -> properties of every metric widget (titles are unique)."""
    widgets = [w["properties"] for w in _body(s)["widgets"] if w["type"] == "metric"]
    titles = [w["title"] for w in widgets]
    assert len(titles) == len(set(titles)), titles
    return {w["title"]: w for w in widgets}


def _band_widgets(s: Synth) -> dict[str, dict[str, Any]]:
    """Title -> properties of every custom (band) widget."""
    widgets = [w["properties"] for w in _body(s)["widgets"] if w["type"] == "custom"]
    return {w["title"]: w for w in widgets}


def _rows(graph: dict[str, Any]) -> list[list[Any]]:
    """A graph's metric rows without their trailing options ({label, stat, ...})."""
    return [[part for part in row if not isinstance(part, dict)] for row in graph["metrics"]]


def _header(s: Synth) -> str:
    (header,) = [w["properties"]["markdown"] for w in _body(s)["widgets"] if w["type"] == "text"]
    return str(header)


# --- header ---------------------------------------------------------------------------------------


def test_header_names_goals_owners_and_who_is_notified_with_masked_contacts(full: Synth) -> None:
    header = _header(full)
    for expected in (
        "Know within two periods when devices stop connecting.",
        "Catch the rules engine stalling.",
        "**Owner team:** iot-platform",
        "iot-platform on-call rotation",
        "https://runbooks.example.com/iotwatch",
        "`oncall-email`: warning, critical",
        "`oncall_sms`: critical",
        "alarms on iotwatch itself: `oncall-email`",
        # Contacts as Contact.describe() gives them, each topic with its own subscribers.
        f"`oncall-email`: e-mail `t***@example.com`, e-mail `from env ${ENV_EMAIL_VAR}`",
        f"`oncall_sms`: SMS `from SSM {SMS_PARAMETER}`",
    ):
        assert expected in header, expected
    assert "audit alerts" not in header


def test_no_raw_address_anywhere_in_the_dashboard(full: Synth, audited: Synth) -> None:
    for synth in (full, audited):
        _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
        text = join_to_text(dashboard["Properties"]["DashboardBody"])
        assert LITERAL_EMAIL not in text and ENV_EMAIL not in text
        # Whatever looks like an address is masked; no phone number (E.164) at all.
        addresses = re.findall(r"[^\s`\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", text)
        assert addresses and all(re.fullmatch(r"[^@*]\*\*\*@.+", a) for a in addresses), addresses
        assert not re.search(r"\+\d{8,15}", text)


def test_header_names_the_audit_topics_and_the_operations_topic_when_set(audited: Synth) -> None:
    header = _header(audited)
    assert "audit alerts (IoT control-plane calls): `oncall-email`, `oncall_sms`" in header


# --- the fleet's metrics --------------------------------------------------------------------------


def test_every_series_is_a_band_widget_drawn_by_the_band_function_and_no_metric_is_per_series(
    full: Synth,
) -> None:
    plan = load_plan(full.plan_path, environ={ENV_EMAIL_VAR: ENV_EMAIL}, resolve_env=True)
    series = expand_series(plan)
    assert len(series) == 4  # Connect.Success x2 protocols, PublishIn.Success, RulesExecuted
    widgets = _band_widgets(full)
    assert sorted(widgets) == sorted(s.label for s in series)
    widget_fn, _ = full.function(BAND_WIDGET)
    for s in series:
        widget = widgets[s.label]
        assert widget["endpoint"] == f"{widget_fn}.Arn"
        assert widget["params"] == {"series": s.id}
        assert widget["updateOn"] == {"refresh": True, "resize": True, "timeRange": True}
    # the band lives in the stored baselines, not in a metric: nothing on the dashboard names a series
    _, dashboard = full.only("AWS::CloudWatch::Dashboard")
    text = join_to_text(dashboard["Properties"]["DashboardBody"])
    for band_metric in ("Expected", "BandLower", "BandUpper", "DeviationScore"):
        assert f'"{band_metric}"' not in text
    assert not [g for g in _graphs(full).values() if any("Series" in row for row in _rows(g))]


def test_each_share_is_a_band_widget_too_and_the_widget_function_reads_its_parts(shares: Synth) -> None:
    """The share's widget names the share (the function reads its parts when drawn), beside the
    metrics' widgets; still no metric per series on the dashboard itself."""
    plan = load_plan(shares.plan_path, environ={ENV_EMAIL_VAR: ENV_EMAIL}, resolve_env=True)
    series = expand_series(plan)
    widgets = _band_widgets(shares)
    assert sorted(widgets) == sorted(s.label for s in series)
    drawn = {w["params"]["series"] for w in widgets.values()}
    assert {
        "AWS/IoT|Connect.AuthErrorRate|Protocol=MQTT",
        "AWS/IoT|Connect.AuthErrorRate|Protocol=HTTP",
    } <= drawn
    widget_fn, _ = shares.function(BAND_WIDGET)
    assert {w["endpoint"] for w in widgets.values()} == {f"{widget_fn}.Arn"}
    _, dashboard = shares.only("AWS::CloudWatch::Dashboard")
    assert "Connect.AuthError" not in join_to_text(dashboard["Properties"]["DashboardBody"]).replace(
        "Connect.AuthErrorRate", ""
    )


def test_the_band_function_reads_metrics_and_the_table_and_nothing_else(full: Synth) -> None:
    _, function = full.function(BAND_WIDGET)
    assert (function["Properties"]["MemorySize"], function["Properties"]["Timeout"]) == (256, 30)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    actions = sorted(
        action
        for policy in full.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    )
    writes = [
        a for a in actions if a.startswith("dynamodb:") and ("Put" in a or "Write" in a or "Delete" in a)
    ]
    assert writes == [] and "dynamodb:BatchGetItem" in actions
    assert not {"dynamodb:Scan", "dynamodb:Query", "dynamodb:DescribeTable"} & set(actions)
    assert "cloudwatch:GetMetricData" in actions
    assert not [a for a in actions if a.startswith(("sns:", "sqs:", "kms:"))]


def _expressions(graph: dict[str, Any]) -> list[str]:
    return [
        part["expression"]
        for row in graph["metrics"]
        for part in row
        if isinstance(part, dict) and "expression" in part
    ]


def test_active_incidents_and_notifications(full: Synth) -> None:
    graphs = _graphs(full)
    assert full.metrics_namespace == "IotWatch/test-fleet"
    # counters published only in runs that count something are drawn with 0 in between
    incidents = graphs["Active incidents and notifications"]
    names = ("SeriesFiring", "NotificationsSent", "NotificationsFailed", "DeviationsSilenced")
    assert _expressions(incidents) == [f"FILL({n[0].lower() + n[1:]}, 0)" for n in names]
    assert [r for r in _rows(incidents) if r] == [
        [full.metrics_namespace, name, "service", "iotwatch-evaluator"] for name in names
    ]


def test_open_incidents_and_the_last_ones_from_the_evaluators_incident_log_lines(full: Synth) -> None:
    logs = {w["properties"]["title"]: w["properties"] for w in _body(full)["widgets"] if w["type"] == "log"}
    assert set(logs) == {
        "Series now (last evaluation)",
        "Open incidents (last evaluation)",
        "Incidents (open and resolved; timeline: iotwatch incidents show ID)",
        "GetMetricData calls of the evaluator (per hour)",
    }
    calls = logs.pop("GetMetricData calls of the evaluator (per hour)")
    assert calls["view"] == "timeSeries" and "sum(get_metric_data_calls)" in calls["query"]
    [(evaluator_id, evaluator)] = [full.function(EVALUATOR)]
    [(group_id, group)] = [
        (k, v)
        for k, v in full.resources("AWS::Logs::LogGroup").items()
        if evaluator["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": k}
    ]
    assert group["Type"] == "AWS::Logs::LogGroup" and evaluator_id
    for widget in logs.values():
        # "SOURCE '<log group>' | <query>": the evaluator's own log group, shown as a table
        assert widget["query"].startswith(f"SOURCE '{group_id}' | "), widget["query"]
        assert widget["view"] == "table"
    incidents = logs["Incidents (open and resolved; timeline: iotwatch incidents show ID)"]["query"]
    assert 'filter message = "incident"' in incidents and "by incident" in incidents
    assert "latest(status) as status" in incidents
    assert "latest(incidents_open)" in logs["Open incidents (last evaluation)"]["query"]
    # a fanned-out tick's shards each log their own counts: the table adds up the latest tick's
    now = logs["Series now (last evaluation)"]["query"]
    assert "sum(series) as series" in now and "by window_end" in now and "limit 1" in now
    assert full.resources("Custom::LogRetention") == {}


# --- audit ----------------------------------------------------------------------------------------


def test_audit_widgets_only_with_the_audit_tool(full: Synth, audited: Synth) -> None:
    _, dashboard = full.only("AWS::CloudWatch::Dashboard")
    assert "Audit" not in join_to_text(dashboard["Properties"]["DashboardBody"])
    [by_action] = [
        w["properties"]
        for w in _body(audited)["widgets"]
        if w["type"] == "log" and "control-plane calls by action" in w["properties"]["title"]
    ]
    assert by_action["view"] == "table"
    _, function = audited.function(AUDIT)
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    query = by_action["query"]
    assert query.startswith(f"SOURCE '{log_group}' | ")  # the audit function's own log group
    assert f'filter message = "{AUDIT_RECORDED}"' in query
    assert "by action" in query
    assert "AuditEventsByAction" not in json.dumps(_body(audited))  # no metric per action
    graph = _graphs(audited)["Audit events and alerts (per hour)"]
    assert [r for r in _rows(graph) if r] == [
        [audited.metrics_namespace, name, "service", "iotwatch-audit"]
        for name in ("AuditEvents", "AuditAlerts", "AuditEventsRejected")
    ]
    assert _expressions(graph) == ["FILL(auditAlerts, 0)", "FILL(auditEventsRejected, 0)"]


# --- iotwatch's own health ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "handlers"),
    [("full", (EVALUATOR, BUILDER, BAND_WIDGET)), ("audited", (EVALUATOR, BUILDER, AUDIT, BAND_WIDGET))],
)
def test_health_widgets_cover_every_function(
    variant: str, handlers: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    function_ids = [synth.function(h)[0] for h in handlers]
    assert len(synth.resources("AWS::Lambda::Function")) >= len(function_ids)
    graphs = _graphs(synth)
    for title, metric_names in (
        ("iotwatch invocations", ("Invocations",)),
        ("iotwatch errors and throttles", ("Errors", "Throttles")),
        ("iotwatch duration (max)", ("Duration",)),
    ):
        rows = _rows(graphs[title])
        assert rows == [
            ["AWS/Lambda", m, "FunctionName", fid] for fid in function_ids for m in metric_names
        ], title
    # the evaluator's calls come from its log lines (a log widget); the builder's metric costs
    # only in the hours it builds
    assert _rows(graphs["GetMetricData calls of the baseline builder (per hour)"]) == [
        [synth.metrics_namespace, "GetMetricDataCalls", "service", "iotwatch-baseline-builder"],
    ]
    queue_id, _ = synth.dead_letter_queue()
    assert _rows(graphs["Dead letters (events, audit records, shards)"]) == [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{queue_id}.QueueName"]
    ]


@pytest.mark.parametrize("variant", ["full", "audited"])
def test_alarm_status_widget_lists_every_self_monitoring_alarm(
    variant: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    (widget,) = [w["properties"] for w in _body(synth)["widgets"] if w["type"] == "alarm"]
    alarm_ids = sorted(synth.resources("AWS::CloudWatch::Alarm"))
    assert len(alarm_ids) == (11 if variant == "audited" else 8)
    assert sorted(widget["alarms"]) == [f"{a}.Arn" for a in alarm_ids]


# --- CloudWatch limits ----------------------------------------------------------------------------


def _check_limits(body: dict[str, Any]) -> None:
    widgets = body["widgets"]
    assert len(widgets) <= MAX_WIDGETS
    metrics = [len(w["properties"].get("metrics", [])) for w in widgets if w["type"] == "metric"]
    assert max(metrics) <= MAX_METRICS_PER_WIDGET and sum(metrics) <= MAX_METRICS
    for w in widgets:
        assert w["x"] + w["width"] <= 24 and 1 <= w["height"] <= 1000


@pytest.mark.parametrize("variant", ["full", "audited"])
def test_widgets_stay_on_the_grid_and_within_limits(variant: str, request: pytest.FixtureRequest) -> None:
    _check_limits(_body(request.getfixturevalue(variant)))


def test_a_fleet_too_big_for_one_dashboard_is_drawn_up_to_the_limits_and_says_so() -> None:
    """600 series: the band widgets stop where CloudWatch's 500 widgets would."""
    protocols = ", ".join(f"P{i}" for i in range(600))
    text = FULL_PLAN.replace(
        "dimensions: {Protocol: [MQTT, HTTP]}", f"dimensions: {{Protocol: [{protocols}]}}"
    )
    assert text != FULL_PLAN
    check = check_plan(yaml.safe_load(text), environ={ENV_EMAIL_VAR: ENV_EMAIL}, resolve_env=True)
    assert check.plan is not None, check.problems
    plan = check.plan
    series = expand_series(plan)
    assert len(series) == 602
    app = cdk.App()
    stack = cdk.Stack(app, "DashboardLimits")
    functions = {
        name: lambda_.Function.from_function_arn(
            stack, name.replace(" ", ""), f"arn:aws:lambda:eu-west-1:123456789012:function:fn-{i}"
        )
        for i, name in enumerate(("evaluator", "baseline builder", "audit", "band widget"))
    }
    metrics = IotWatchMetrics(
        plan,
        evaluator=functions["evaluator"],
        baseline_builder=functions["baseline builder"],
        audit=functions["audit"],
        dead_letter_queue=sqs.Queue(stack, "Dlq"),
    )
    FleetDashboard(stack, "Dashboard", plan=plan, metrics=metrics, band_widget=functions["band widget"])
    template = app.synth().get_stack_by_name("DashboardLimits").template
    (dashboard,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.loads(join_to_text(dashboard["Properties"]["DashboardBody"], placeholder="{}"))
    _check_limits(body)
    drawn = [w for w in body["widgets"] if w["type"] == "custom"]
    assert len(body["widgets"]) == MAX_WIDGETS
    assert 480 < len(drawn) < len(series)
    (header,) = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert f"{len(series) - len(drawn)} more series are watched but not drawn" in header
