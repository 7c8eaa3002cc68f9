"""Plan validation: the default plan is clean, bad plans report every problem at once."""

from __future__ import annotations

import json
import textwrap

import pytest
from iotwatch.plan.catalog import GUIDE_BASELINE_METRICS
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import PlanError, check_plan, load_plan, read_plan_document

from .conftest import DEFAULT_PLAN_FILE


def minimal_plan(**overrides):
    """The smallest valid plan; sections in `overrides` replace the defaults."""
    plan = {
        "version": 1,
        "name": "fleet",
        "goals": ["know when devices stop publishing"],
        "owners": {"team": "iot-platform", "runbook": "https://wiki.example.com/rb"},
        "resources": {"metrics": [{"metric": "PublishIn.Success", "dimensions": {"Protocol": "MQTT"}}]},
        "notify": {
            "topics": [{"name": "oncall", "subscribers": [{"email": "oncall@example.com"}]}],
            "routes": [{"topic": "oncall"}],
        },
    }
    plan.update(overrides)
    return plan


def by_path(check):
    out = {}
    for problem in check.problems:
        out.setdefault(problem.path, []).append(problem)
    return out


# --- the default plan ----------------------------------------------------------------------


def test_default_plan_has_no_problems():
    check = check_plan(read_plan_document(DEFAULT_PLAN_FILE), environ={}, resolve_env=True)
    assert check.errors == []
    assert check.warnings == []
    assert check.plan is not None


def test_default_plan_expands_to_the_guides_nine_baseline_metrics(default_plan):
    # the device signals (tests/unit/test_plan_devices.py) come after the resources
    series = [s for s in expand_series(default_plan) if s.ratio is None and s.namespace == "AWS/IoT"]
    assert sorted(s.metric for s in series) == sorted(GUIDE_BASELINE_METRICS)
    assert len(series) == 9
    assert {s.namespace for s in series} == {"AWS/IoT"}
    for s in series:
        if s.metric == "RulesExecuted":
            assert s.dimensions == ()
        else:
            assert s.dimensions == (("Protocol", "MQTT"),), s.metric
        assert s.statistic == "Sum"
        assert s.period == default_plan.frequency.period_seconds == 300


def test_default_plan_series_use_plan_detection_with_the_delete_shadow_override(default_plan):
    detection = {s.metric: s.detection for s in expand_series(default_plan)}
    base = default_plan.detection
    assert detection["DeleteThingShadow.Accepted"].min_volume == 5
    for metric, settings in detection.items():
        if metric != "DeleteThingShadow.Accepted":
            assert settings.min_volume == base.min_volume == 20
        # everything not overridden comes from the plan's detection section
        assert settings.warning == base.sensitivity.warning
        assert settings.critical == base.sensitivity.critical
        assert settings.pending_periods == base.pending_periods
        assert settings.recovery_periods == base.recovery_periods
        assert settings.min_relative_change == base.min_relative_change


def test_series_ids_are_unique_and_runbook_defaults_to_the_owners(default_plan):
    series = expand_series(default_plan)
    assert len({s.id for s in series}) == len(series)
    assert {s.runbook for s in series} == {default_plan.owners.runbook}


# --- many mistakes, one report --------------------------------------------------------------


def plan_with_many_mistakes():
    return minimal_plan(
        owners={"team": "iot-platform", "runbok": "https://x"},
        resources={
            "metrics": [
                {"metric": "Connect.Success", "dimensions": {"Protocol": "MQTT"}},
                {"metric": "Connect.Success", "dimensions": {"Protocol": "MQTT"}},
                {"metric": "Ping.Success", "dimension": {"Protocol": "MQTT"}},
            ]
        },
        frequency={"evaluation": "rate(5 minute)", "baseline_refresh": "cron(0 3 * * *)"},
        detection={"sensitivity": {"warning": 8, "critical": 5}},
        notify={
            "topics": [
                {
                    "name": "oncall",
                    "subscribers": [{"email": "not-an-address"}, {"sms": "555-0100"}],
                },
                {"name": "oncall", "subscribers": [{"email": "second@example.com"}]},
                {"name": "on call!", "subscribers": [{"email": "third@example.com"}]},
            ],
            "routes": [{"topic": "oncall"}, {"topic": "pagerduty"}],
        },
    )


def test_many_mistakes_are_all_reported_with_field_paths():
    check = check_plan(plan_with_many_mistakes(), environ={})
    assert check.plan is None
    errors = {(p.path, p.message) for p in check.errors}
    paths = {path for path, _ in errors}
    expected_paths = {
        "owners.runbok",  # unknown key
        "resources.metrics[2].dimension",  # unknown key
        "frequency.evaluation",  # rate(5 minute)
        "frequency.baseline_refresh",  # 5-field cron
        "detection.sensitivity",  # critical < warning
        "notify.topics[0].subscribers[0].email",  # invalid e-mail
        "notify.topics[0].subscribers[1].sms",  # not E.164
        "notify.topics[1].name",  # duplicate topic
        "notify.topics[2].name",  # invalid SNS topic name
        "notify.routes[1].topic",  # undefined topic
        "resources.metrics[1]",  # duplicate metric
    }
    assert expected_paths <= paths, expected_paths - paths
    messages = by_path(check)
    assert "rate(5 minutes)" in messages["frequency.evaluation"][0].message
    assert "6 fields" in messages["frequency.baseline_refresh"][0].message
    assert "critical (5)" in messages["detection.sensitivity"][0].message
    assert "duplicate topic 'oncall'" in messages["notify.topics[1].name"][0].message
    assert "not a valid SNS topic name" in messages["notify.topics[2].name"][0].message
    assert "'pagerduty'" in messages["notify.routes[1].topic"][0].message
    assert "resources.metrics[0]" in messages["resources.metrics[1]"][0].message
    assert any("E.164" in p.message for p in messages["notify.topics[0].subscribers[1].sms"])
    assert "e-mail" in messages["notify.topics[0].subscribers[0].email"][0].message


def test_unknown_keys_list_the_keys_allowed_at_that_place():
    check = check_plan(plan_with_many_mistakes(), environ={})
    messages = by_path(check)
    owners = messages["owners.runbok"][0].message
    assert "unknown key 'runbok'" in owners
    assert "allowed keys here: team, runbook, escalation" in owners
    metric = messages["resources.metrics[2].dimension"][0].message
    assert "dimensions" in metric.split("allowed keys here:")[1]


@pytest.mark.parametrize(
    ("section", "bad_key", "path", "must_allow"),
    [
        ({"frequency": {"evalution": "rate(5 minutes)"}}, "evalution", "frequency.evalution", "evaluation"),
        ({"detection": {"pending": 3}}, "pending", "detection.pending", "pending_periods"),
        (
            {
                "notify": {
                    "topics": [{"name": "t", "subscribers": [{"phone": "+15550100"}]}],
                    "routes": [{"topic": "t"}],
                }
            },
            "phone",
            "notify.topics[0].subscribers[0].phone",
            "sms",
        ),
        (
            {"resources": {"metrics": [{"metric": "Ping.Success", "detection": {"min_vol": 3}}]}},
            "min_vol",
            "resources.metrics[0].detection.min_vol",
            "min_volume",
        ),
    ],
)
def test_unknown_key_hint_in_nested_sections(section, bad_key, path, must_allow):
    check = check_plan(minimal_plan(**section), environ={})
    [problem] = [p for p in check.errors if p.path == path]
    assert f"unknown key '{bad_key}'" in problem.message
    allowed = problem.message.split("allowed keys here:")[1]
    assert must_allow in [k.strip() for k in allowed.split(",")]


def test_contact_values_are_masked_in_problem_messages():
    check = check_plan(plan_with_many_mistakes(), environ={})
    text = "\n".join(str(p) for p in check.problems)
    assert "not-an-address" not in text
    assert "555-0100" not in text


def test_literal_phone_number_in_plan_is_warned_about():
    plan = minimal_plan(
        notify={
            "topics": [{"name": "sms", "subscribers": [{"sms": "+15550100"}]}],
            "routes": [{"topic": "sms"}],
        }
    )
    check = check_plan(plan, environ={})
    assert check.errors == []
    assert [p.path for p in check.warnings] == ["notify.topics[0].subscribers[0].sms"]


def test_load_plan_raises_plan_error_listing_every_problem(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_with_many_mistakes()), encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        load_plan(path, environ={})
    error = raised.value
    expected = check_plan(plan_with_many_mistakes(), environ={}).problems
    assert error.problems == expected
    assert str(error).startswith(f"{path}: {len([p for p in expected if p.level == 'error'])} problem(s)")
    for problem in expected:
        assert str(problem) in str(error)


def test_a_plan_that_is_not_a_mapping_is_one_error():
    check = check_plan(["goals"], environ={})
    assert check.plan is None
    assert [p.level for p in check.problems] == ["error"]


# --- metric checks -----------------------------------------------------------------------


def test_misspelt_aws_iot_metric_is_a_warning_not_an_error():
    plan = minimal_plan(
        resources={"metrics": [{"metric": "PublishIn.Sucess", "dimensions": {"Protocol": "MQTT"}}]}
    )
    check = check_plan(plan, environ={})
    assert check.errors == []
    assert check.plan is not None
    [warning] = check.warnings
    assert warning.path == "resources.metrics[0].metric"
    assert "PublishIn.Sucess" in warning.message


def test_custom_namespace_metric_gives_no_warning():
    plan = minimal_plan(
        resources={
            "metrics": [
                {"metric": "BatteryLow", "namespace": "Fleet/Devices", "dimensions": {"Site": "north"}}
            ]
        }
    )
    check = check_plan(plan, environ={})
    assert check.problems == []


def test_dimension_a_metric_does_not_carry_is_a_warning():
    plan = minimal_plan(
        resources={"metrics": [{"metric": "RulesExecuted", "dimensions": {"Protocol": "MQTT"}}]}
    )
    check = check_plan(plan, environ={})
    assert check.errors == []
    assert [p.path for p in check.warnings] == ["resources.metrics[0].dimensions"]


@pytest.mark.parametrize("value", [["MQTT", "*"], ["*"], []])
def test_wildcard_inside_a_list_and_empty_dimension_values_are_errors(value):
    plan = minimal_plan(
        resources={"metrics": [{"metric": "Ping.Success", "dimensions": {"Protocol": value}}]}
    )
    check = check_plan(plan, environ={})
    assert "resources.metrics[0].dimensions.Protocol" in {p.path for p in check.errors}


def test_same_metric_with_different_dimension_values_is_not_a_duplicate():
    plan = minimal_plan(
        resources={
            "metrics": [
                {"metric": "Ping.Success", "dimensions": {"Protocol": "MQTT"}},
                {"metric": "Ping.Success", "dimensions": {"Protocol": "HTTP"}},
            ]
        }
    )
    assert check_plan(plan, environ={}).errors == []


# --- contacts ----------------------------------------------------------------------------


def env_contact_plan(protocol="email", var="ONCALL_EMAIL"):
    return minimal_plan(
        notify={
            "topics": [{"name": "oncall", "subscribers": [{protocol: {"env": var}}]}],
            "routes": [{"topic": "oncall"}],
        }
    )


def test_missing_env_contact_is_fine_until_env_is_resolved():
    plan = env_contact_plan()
    assert check_plan(plan, environ={}).errors == []
    check = check_plan(plan, environ={}, resolve_env=True)
    [error] = check.errors
    assert error.path == "notify.topics[0].subscribers[0].email"
    assert "ONCALL_EMAIL" in error.message
    assert check.plan is None


@pytest.mark.parametrize(
    ("protocol", "secret"),
    [("email", "sec.ret-person_at-example.com"), ("sms", "0044 7700 900123")],
)
def test_invalid_env_contact_is_reported_without_printing_it(protocol, secret):
    plan = env_contact_plan(protocol, "ONCALL_CONTACT")
    for resolve in (False, True):
        check = check_plan(plan, environ={"ONCALL_CONTACT": secret}, resolve_env=resolve)
        [error] = check.errors
        assert error.path == f"notify.topics[0].subscribers[0].{protocol}"
        assert "$ONCALL_CONTACT" in error.message
        everything = "\n".join(str(p) for p in check.problems)
        assert secret not in everything
        # not even a masked fragment of it
        assert secret[:3] not in everything.replace("ONCALL_CONTACT", "")


def test_valid_env_contacts_pass_and_stay_out_of_problems():
    plan = minimal_plan(
        notify={
            "topics": [
                {"name": "mail", "subscribers": [{"email": {"env": "MAIL_TO"}}]},
                {"name": "text", "subscribers": [{"sms": {"env": "SMS_TO"}}]},
            ],
            "routes": [{"topic": "mail"}, {"topic": "text"}],
        }
    )
    environ = {"MAIL_TO": "someone@example.org", "SMS_TO": "+447700900123"}
    check = check_plan(plan, environ=environ, resolve_env=True)
    assert check.problems == []
    assert check.plan is not None
    contacts = [s.contact for t in check.plan.notify.topics for s in t.subscribers]
    assert [(c.source, c.value) for c in contacts] == [("env", "MAIL_TO"), ("env", "SMS_TO")]
    assert all("example.org" not in c.describe() and "7700" not in c.describe() for c in contacts)


def test_ssm_contact_is_accepted():
    plan = minimal_plan(
        notify={
            "topics": [{"name": "text", "subscribers": [{"sms": {"ssm": "/iotwatch/fleet/phone"}}]}],
            "routes": [{"topic": "text"}],
        }
    )
    check = check_plan(plan, environ={}, resolve_env=True)
    assert check.problems == []
    [subscriber] = check.plan.notify.topics[0].subscribers
    assert (subscriber.protocol, subscriber.contact.source, subscriber.contact.value) == (
        "sms",
        "ssm",
        "/iotwatch/fleet/phone",
    )


@pytest.mark.parametrize("bad", [{"env": "1BAD-NAME"}, {"ssm": ""}, {"vault": "x"}])
def test_malformed_contact_references_are_errors(bad):
    plan = minimal_plan(
        notify={"topics": [{"name": "t", "subscribers": [{"email": bad}]}], "routes": [{"topic": "t"}]}
    )
    check = check_plan(plan, environ={})
    assert any(p.path.startswith("notify.topics[0].subscribers[0].email") for p in check.errors)


def test_subscriber_needs_exactly_one_protocol():
    plan = minimal_plan(
        notify={
            "topics": [{"name": "t", "subscribers": [{"email": "a@example.com", "sms": "+15550100"}]}],
            "routes": [{"topic": "t"}],
        }
    )
    check = check_plan(plan, environ={})
    assert any("exactly one" in p.message for p in check.errors)


# --- documents ---------------------------------------------------------------------------


def test_yaml_syntax_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: fleet
            goals:
              - one
            owners: {team: [unclosed
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(PlanError) as raised:
        read_plan_document(path)
    [problem] = raised.value.problems
    assert problem.level == "error"
    assert "not valid YAML at line" in problem.message
    assert str(path) in str(raised.value)
    line = int(problem.message.split("line ")[1].split(",")[0])
    column = int(problem.message.split("column ")[1].split(":")[0])
    # the flow sequence opened on line 5 is never closed: the parser notices at line 5 or after
    assert line >= 5
    assert column >= 1


def test_yaml_indentation_error_points_at_the_offending_line(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("version: 1\nname: fleet\n  goals: x\n", encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        read_plan_document(path)
    assert "line 3, column" in raised.value.problems[0].message


def test_json_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{\n  "version": 1,\n  "name": fleet\n}\n', encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        read_plan_document(path)
    message = raised.value.problems[0].message
    assert "line 3, column 11" in message
    assert str(path) in str(raised.value)


def test_missing_file_is_a_plan_error(tmp_path):
    with pytest.raises(PlanError) as raised:
        read_plan_document(tmp_path / "nope.yaml")
    assert "cannot read" in raised.value.problems[0].message


def test_yaml_and_json_documents_load_the_same_plan(tmp_path, default_plan):
    data = read_plan_document(DEFAULT_PLAN_FILE)
    as_json = tmp_path / "plan.json"
    as_json.write_text(json.dumps(data), encoding="utf-8")
    assert load_plan(as_json, environ={}) == default_plan


# --- expansion and routing ----------------------------------------------------------------


def test_dimension_list_expands_to_one_series_per_value():
    plan = minimal_plan(
        resources={"metrics": [{"metric": "PublishIn.Success", "dimensions": {"Protocol": ["MQTT", "HTTP"]}}]}
    )
    series = expand_series(check_plan(plan, environ={}).plan)
    assert [s.dimensions for s in series] == [(("Protocol", "MQTT"),), (("Protocol", "HTTP"),)]
    assert len({s.id for s in series}) == 2


def test_two_dimension_lists_expand_to_their_cross_product_with_sorted_keys():
    plan = minimal_plan(
        resources={
            "metrics": [
                {
                    "metric": "Temperature",
                    "namespace": "Fleet/Devices",
                    "dimensions": {"Site": ["north", "south", "east"], "Model": ["a", "b"], "Env": "prod"},
                }
            ]
        }
    )
    series = expand_series(check_plan(plan, environ={}).plan)
    assert len(series) == 3 * 2 * 1
    assert {tuple(k for k, _ in s.dimensions) for s in series} == {("Env", "Model", "Site")}
    combos = {(s.dimension_map["Site"], s.dimension_map["Model"]) for s in series}
    assert combos == {(site, model) for site in ("north", "south", "east") for model in ("a", "b")}


def test_detection_overrides_merge_per_metric():
    plan = minimal_plan(
        detection={
            "sensitivity": {"warning": 5, "critical": 9},
            "pending_periods": 3,
            "recovery_periods": 4,
            "min_volume": 50,
            "min_relative_change": 0.3,
        },
        resources={
            "metrics": [
                {"metric": "Ping.Success", "dimensions": {"Protocol": "MQTT"}},
                {
                    "metric": "Connect.Success",
                    "dimensions": {"Protocol": "MQTT"},
                    "detection": {"pending_periods": 1, "min_volume": 2},
                },
                {
                    "metric": "RulesExecuted",
                    "detection": {"sensitivity": {"warning": 3, "critical": 6}},
                },
            ]
        },
    )
    ping, connect, rules = expand_series(check_plan(plan, environ={}).plan)
    assert (ping.detection.warning, ping.detection.critical) == (5, 9)
    assert (ping.detection.pending_periods, ping.detection.recovery_periods) == (3, 4)
    assert (ping.detection.min_volume, ping.detection.min_relative_change) == (50, 0.3)
    # overridden fields change, the rest keep the plan's values
    assert (connect.detection.pending_periods, connect.detection.min_volume) == (1, 2)
    assert (connect.detection.warning, connect.detection.critical) == (5, 9)
    assert (connect.detection.recovery_periods, connect.detection.min_relative_change) == (4, 0.3)
    assert (rules.detection.warning, rules.detection.critical) == (3, 6)
    assert rules.detection.pending_periods == 3


def test_metric_period_and_runbook_override_the_plan():
    plan = minimal_plan(
        resources={
            "metrics": [
                {
                    "metric": "Ping.Success",
                    "dimensions": {"Protocol": "MQTT"},
                    "period": 60,
                    "runbook": "https://rb/ping",
                }
            ]
        }
    )
    [series] = expand_series(check_plan(plan, environ={}).plan)
    assert (series.period, series.runbook) == (60, "https://rb/ping")


def test_topics_for_routes_by_severity(default_plan):
    assert default_plan.topics_for(severity="warning", metric="Ping.Success") == ["oncall-email"]
    assert default_plan.topics_for(severity="critical", metric="Ping.Success") == [
        "oncall-email",
        "oncall-sms",
    ]


def test_topics_for_routes_by_metric_glob_once_per_topic():
    plan = check_plan(
        minimal_plan(
            notify={
                "topics": [{"name": "broker", "subscribers": []}, {"name": "shadow", "subscribers": []}],
                "routes": [
                    {"topic": "broker", "metrics": ["Connect.*", "Publish*"]},
                    {"topic": "shadow", "metrics": ["*ThingShadow.Accepted"], "severities": ["critical"]},
                    {"topic": "broker", "metrics": ["*"], "severities": ["critical"]},
                ],
            }
        ),
        environ={},
    ).plan
    assert plan.topics_for(severity="warning", metric="Connect.Success") == ["broker"]
    assert plan.topics_for(severity="warning", metric="PublishOut.Success") == ["broker"]
    assert plan.topics_for(severity="warning", metric="UpdateThingShadow.Accepted") == []
    assert plan.topics_for(severity="critical", metric="UpdateThingShadow.Accepted") == ["shadow", "broker"]
    assert plan.topics_for(severity="critical", metric="Connect.Success") == ["broker"]
    # glob matching is case-sensitive, like CloudWatch metric names
    assert plan.topics_for(severity="warning", metric="connect.success") == []


def test_missing_route_for_a_severity_is_a_warning():
    plan = minimal_plan(
        notify={
            "topics": [{"name": "t", "subscribers": [{"email": "a@example.com"}]}],
            "routes": [{"topic": "t", "severities": ["critical"]}],
        }
    )
    check = check_plan(plan, environ={})
    assert check.errors == []
    assert any(p.path == "notify.routes" and "'warning'" in p.message for p in check.warnings)


# --- direction and absolute limits --------------------------------------------------------------


def _series_of(plan: dict) -> dict[str, object]:
    check = check_plan(plan, environ={}, resolve_env=True)
    assert check.errors == [], check.errors
    assert check.plan is not None
    return {s.metric: s.detection for s in expand_series(check.plan)}


def test_error_throttle_and_failure_metrics_page_only_when_they_rise():
    metrics = [
        {"metric": "PublishIn.Success", "dimensions": {"Protocol": "MQTT"}},
        {"metric": "RuleMessageThrottled"},
        {"metric": "Connect.AuthNError", "dimensions": {"Protocol": "MQTT"}},
        {"metric": "TopicMatch", "detection": {"direction": "down"}},
    ]
    detection = _series_of(minimal_plan(resources={"metrics": metrics}))
    assert {m: d.direction for m, d in detection.items()} == {  # type: ignore[attr-defined]
        "PublishIn.Success": "both",
        "RuleMessageThrottled": "up",
        "Connect.AuthNError": "up",
        "TopicMatch": "down",
    }


def test_a_plan_wide_direction_applies_unless_a_metric_says_otherwise():
    metrics = [{"metric": "RulesExecuted"}, {"metric": "RuleNotFound", "detection": {"direction": "both"}}]
    plan = minimal_plan(resources={"metrics": metrics}, detection={"direction": "down"})
    detection = _series_of(plan)
    assert detection["RulesExecuted"].direction == "down"  # type: ignore[attr-defined]
    assert detection["RuleNotFound"].direction == "both"  # type: ignore[attr-defined]


def test_limits_are_per_metric_and_must_leave_room_for_normal():
    metrics = [{"metric": "RulesExecuted", "detection": {"above": 5000, "below": 10}}]
    detection = _series_of(minimal_plan(resources={"metrics": metrics}))["RulesExecuted"]
    assert (detection.above, detection.below) == (5000, 10)  # type: ignore[attr-defined]
    bad = minimal_plan(
        resources={"metrics": [{"metric": "RulesExecuted", "detection": {"above": 10, "below": 10}}]}
    )
    errors = check_plan(bad, environ={}, resolve_env=True).errors
    assert any("below (10" in e.message and "less than above" in e.message for e in errors), errors


def test_an_unknown_direction_names_the_choices():
    plan = minimal_plan(detection={"direction": "sideways"})
    errors = check_plan(plan, environ={}, resolve_env=True).errors
    assert errors and errors[0].path == "detection.direction"
    assert "both" in errors[0].message and "up" in errors[0].message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("a: &x 1\nb: *y\n", "found undefined alias 'y'"),
        ("\ta: 1\n", "found character '\\t' that cannot start any token"),
        ("a: [1, 2\nb: 3\n", "expected ',' or ']', but got ':'"),
    ],
)
def test_bad_yaml_is_named_as_the_pure_python_parser_names_it(tmp_path, text: str, named: str) -> None:
    """Plans are parsed by libyaml where PyYAML has it; its messages say less ("found undefined
    alias", no name), so a refused document is parsed again for the message."""
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        read_plan_document(path)
    assert named in str(caught.value)


def test_the_fast_yaml_parser_reads_every_plan_as_the_pure_python_one() -> None:
    import yaml

    for path in [DEFAULT_PLAN_FILE, *sorted(DEFAULT_PLAN_FILE.parent.glob("tests/plans/*.yaml"))]:
        assert read_plan_document(path) == yaml.safe_load(path.read_text(encoding="utf-8")), path


@pytest.mark.parametrize("written", ["2026-02-30", "2026-13-01", "2026-12-25 25:00:00"])
def test_a_date_that_does_not_exist_is_a_yaml_problem_at_its_line_not_a_crash(tmp_path, written):
    # PyYAML builds dates itself: an impossible one raised a bare ValueError from the loader
    path = tmp_path / "plan.yaml"
    path.write_text(
        f"version: 1\nname: fleet\ndetection:\n  holidays:\n    dates: [2026-12-24, {written}]\n",
        encoding="utf-8",
    )
    with pytest.raises(PlanError) as raised:
        read_plan_document(path)
    [problem] = raised.value.problems
    assert (problem.line, problem.column) == (5, 25)
    assert f"{written} is not a real date or time" in problem.message
    assert "write a date that exists" in problem.message
