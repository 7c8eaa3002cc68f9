"""Ratio series in the plan: the syntax and its defaults, what `plan validate` says about
shares, misspelt metrics and dimensions and periods, the compiled plan, the cost of reading the
parts, and shards cut by the metric queries a share reads."""

from __future__ import annotations

import io
import json

import pytest
from iotwatch.domain.ratios import metric_queries, query_weight
from iotwatch.domain.sharding import query_weights, shard_key, shard_ranges, weighted
from iotwatch.plan.catalog import OUTCOME_FAMILIES
from iotwatch.plan.cost.estimate import estimate_cost
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import check_plan
from iotwatch.plan.runtime import read_runtime_plan, write_runtime_plan

from iotwatch_cli.main import main

from .conftest import DEFAULT_PLAN_FILE
from .test_plan import by_path, minimal_plan

AUTH_SHARE = {
    "name": "Connect.AuthErrorRate",
    "numerator": ["Connect.AuthError"],
    "dimensions": {"Protocol": "MQTT"},
}


def with_ratios(*ratios, metrics=None, **overrides):
    plan = minimal_plan(**overrides)
    plan["resources"] = {"ratios": list(ratios)}
    if metrics is not None:
        plan["resources"]["metrics"] = metrics
    return plan


def validate(tmp_path, data):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["plan", "validate", str(path)], out, err)
    return code, out.getvalue(), err.getvalue()


# --- the syntax ----------------------------------------------------------------------------------


def test_a_share_of_an_aws_iot_operation_defaults_its_denominator_direction_and_minimum():
    check = check_plan(with_ratios(AUTH_SHARE), environ={})
    assert check.problems == []
    [share] = expand_series(check.plan)
    assert share.metric == "Connect.AuthErrorRate" and share.statistic == "Sum"
    assert share.ratio is not None
    assert share.ratio.numerator == ("Connect.AuthError",)
    assert share.ratio.denominator == OUTCOME_FAMILIES["Connect"]  # every connect outcome
    assert share.ratio.min_denominator == 100
    assert (share.ratio.numerator_label, share.ratio.denominator_label) == (
        "AuthError",
        "connection attempts",
    )
    assert share.detection.direction == "up"  # a share of errors pages when it rises
    assert share.detection.missing_data == "ignore"  # too few attempts: no share, not zero


def test_a_share_is_expanded_per_dimension_value_and_takes_plan_and_entry_settings():
    ratio = {
        "name": "RuleAction.FailureRate",
        "numerator": "Failure",  # one metric may be written without a list
        "dimensions": {"RuleName": ["to_kinesis", "to_s3"], "ActionType": "Kinesis"},
        "min_denominator": 50,
        "period": 600,
        "description": "rule action runs that failed",
        "detection": {"sensitivity": {"warning": 5}, "direction": "both", "above": 0.2},
    }
    plan = load_plan_data(with_ratios(ratio, detection={"min_volume": 10}))
    shares = expand_series(plan)
    assert [s.dimension_map["RuleName"] for s in shares] == ["to_kinesis", "to_s3"]
    for s in shares:
        assert s.ratio is not None and s.ratio.denominator == ("Success", "Failure")
        assert (s.ratio.min_denominator, s.period) == (50, 600)
        assert s.ratio.denominator_label == "rule action runs"
        d = s.detection
        assert (d.warning, d.direction, d.above, d.min_volume) == (5, "both", 0.2, 10)
    # a success share is watched both ways unless said otherwise
    success = {
        "name": "Connect.SuccessRate",
        "numerator": ["Connect.Success"],
        "dimensions": {"Protocol": "MQTT"},
    }
    [watched] = expand_series(load_plan_data(with_ratios(success)))
    assert watched.detection.direction == "both"


def load_plan_data(data):
    check = check_plan(data, environ={})
    assert check.errors == [], check.errors
    assert check.plan is not None
    return check.plan


def test_the_default_plan_watches_the_error_shares_that_matter_up_only(default_plan):
    shares = {s.metric: s for s in expand_series(default_plan) if s.ratio is not None}
    assert set(shares) == {"Connect.AuthErrorRate", "Connect.ThrottleRate", "PublishIn.FailureRate"}
    for s in shares.values():
        assert s.detection.direction == "up"
        assert s.dimensions == (("Protocol", "MQTT"),)
        assert s.ratio is not None and set(s.ratio.numerator) < set(s.ratio.denominator)
    assert shares["Connect.ThrottleRate"].ratio.numerator == ("Connect.Throttle", "Connect.ClientIDThrottle")
    assert shares["PublishIn.FailureRate"].ratio.denominator == OUTCOME_FAMILIES["PublishIn"]
    # Connect.Success and PublishIn.Success are read once for the metric and its shares
    aws_iot = [s for s in expand_series(default_plan) if s.namespace == "AWS/IoT"]  # not the device counts
    assert len(metric_queries(aws_iot)) == 18


def test_plan_validate_prints_each_share_with_its_parts_and_when_it_is_judged():
    out, err = io.StringIO(), io.StringIO()
    assert main(["plan", "validate", str(DEFAULT_PLAN_FILE)], out, err) == 0
    text = out.getvalue()
    assert "Watches 22 series (3 of them shares of attempts):" in text  # 10 of them device counts
    assert (
        "Connect.AuthErrorRate (MQTT)             share: Connect.AuthError / "
        "Connect.{Success, AuthError, ClientError, ClientIDThrottle, ServerError, Throttle}"
    ) in text
    assert "pages when it rises; judged per 5 min with >= 100 connection attempts, >= 20 failed" in text
    assert "PublishIn.FailureRate (MQTT)" in text and ">= 100 inbound publishes" in text


# --- what validate says --------------------------------------------------------------------------


def test_a_misspelt_metric_and_dimension_key_are_each_named_with_their_fix(tmp_path):
    data = minimal_plan(
        resources={"metrics": [{"metric": "Conect.Success", "dimensions": {"Protocl": "MQTT"}}]}
    )
    code, out, _ = validate(tmp_path, data)
    assert code == 0  # warnings: a metric AWS adds later must stay deployable
    assert (
        "resources.metrics[0].metric: 'Conect.Success' is not an AWS/IoT metric AWS documents: did you mean Connect.Success?"
        in out
    )
    assert (
        "resources.metrics[0].dimensions: Connect.Success is not published with dimension(s) Protocl" in out
    )
    assert "(valid keys for Connect.Success: Protocol); rename Protocl to Protocol:" in out


def test_valid_dimension_keys_are_listed_for_rule_metrics_and_protocol_values_checked():
    data = minimal_plan(
        resources={
            "metrics": [
                {"metric": "Failure", "dimensions": {"Rule": "to_s3", "ActionType": "S3"}},
                {"metric": "Ping.Success", "dimensions": {"Protocol": "mqtt"}},
            ]
        }
    )
    problems = by_path(check_plan(data, environ={}))
    [rule] = problems["resources.metrics[0].dimensions"]
    assert "valid keys for Failure: RuleName, ActionType" in rule.message
    assert "rename Rule to RuleName:" in rule.message
    [protocol] = problems["resources.metrics[1].dimensions.Protocol"]
    assert "not 'mqtt': did you mean MQTT? (values are case-sensitive)" in protocol.message


@pytest.mark.parametrize(
    ("entry", "path", "words"),
    [
        (
            {"metric": "Ping.Success", "period": 90},
            "resources.metrics[0].period",
            "60, 120, 300, 600, 900, 1800 or 3600",
        ),
        (
            {"metric": "Battery", "namespace": "Fleet/Devices", "period": 10},
            "resources.metrics[0].period",
            "only for the last 3 hours",
        ),
        (
            {"metric": "Battery", "namespace": "Fleet/Devices", "period": 45},
            "resources.metrics[0].period",
            "1, 5, 10, 20 or 30 s",
        ),
    ],
)
def test_a_period_cloudwatch_does_not_accept_is_an_error_listing_the_accepted_values(entry, path, words):
    check = check_plan(minimal_plan(resources={"metrics": [entry]}), environ={})
    assert check.plan is None
    [problem] = by_path(check)[path]
    assert problem.level == "error" and words in problem.message


def test_periods_beyond_15_days_of_history_must_be_multiples_of_five_minutes():
    data = minimal_plan(
        resources={"metrics": [{"metric": "Ping.Success", "period": 120}]}, frequency={"history_days": 30}
    )
    [problem] = by_path(check_plan(data, environ={}))["resources.metrics[0].period"]
    assert "older than 15 days only at multiples of 300 s" in problem.message
    plan_wide = minimal_plan(frequency={"history_days": 30, "period_seconds": 60})
    [problem] = by_path(check_plan(plan_wide, environ={}))["frequency.period_seconds"]
    assert "use 300, 600, 900, 1800 or 3600, or history_days 15 or less" in problem.message
    assert (
        check_plan(minimal_plan(frequency={"history_days": 14, "period_seconds": 60}), environ={}).errors
        == []
    )
    [bad] = by_path(check_plan(minimal_plan(frequency={"period_seconds": 90}), environ={}))[
        "frequency.period_seconds"
    ]
    assert "multiple of it, e.g. 60, 120, 300" in bad.message


def test_a_share_with_misspelt_parts_and_keys_names_the_fixes():
    share = {
        "name": "Connect.AuthErrorRate",
        "numerator": ["Conect.AuthError"],
        "denominator": ["Connect.Success", "Conect.AuthError"],
        "dimensions": {"Protocl": "MQTT"},
    }
    problems = by_path(check_plan(with_ratios(share), environ={}))
    [numerator] = problems["resources.ratios[0].numerator[0]"]
    assert "did you mean Connect.AuthError?" in numerator.message
    [keys] = problems["resources.ratios[0].dimensions"]
    assert (
        "rename Protocl to Protocol:" in keys.message and "the share would have no attempts" in keys.message
    )


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (
            {"numerator": ["Connect.AuthError"], "denominator": ["Connect.Success"]},
            "denominator",
            "add Connect.AuthError",
        ),
        (
            {"numerator": ["Connect.AuthError"], "denominator": ["Connect.AuthError"]},
            "denominator",
            "always be 100 %",
        ),
        ({"numerator": ["Connect.AuthError", "Failure"]}, "denominator", "required here"),
        ({"name": "Connect.Success"}, "name", "is an AWS/IoT metric"),
        ({"dimensions": {"Protocol": "*"}}, "dimensions.Protocol", "list the values"),
        ({"detection": {"above": 5}}, "detection.above", "0.05 for 5 %"),
        ({"numerator": ["Connect.AuthError", "Connect.AuthError"]}, "numerator", "listed twice"),
        ({"min_denominator": 0}, "min_denominator", "greater than or equal to 1"),
        ({"period": 90}, "period", "multiple of it"),
    ],
)
def test_share_mistakes_are_errors_that_say_what_to_do(change, path, words):
    check = check_plan(with_ratios({**AUTH_SHARE, **change}), environ={})
    assert check.plan is None
    messages = [p.message for p in check.errors if p.path == f"resources.ratios[0].{path}"]
    assert any(words in m for m in messages), check.errors


def test_a_share_of_a_custom_namespace_needs_its_denominator():
    custom = {"name": "Jobs.FailureRate", "namespace": "Fleet/Jobs", "numerator": ["Failed"]}
    [problem] = by_path(check_plan(with_ratios(custom), environ={}))["resources.ratios[0].denominator"]
    assert "required here" in problem.message
    fixed = {**custom, "denominator": ["Failed", "Succeeded"]}
    [share] = expand_series(load_plan_data(with_ratios(fixed)))
    assert share.ratio is not None and share.ratio.denominator_label == "attempts"


def test_a_share_part_published_with_other_dimensions_is_warned_about():
    rules = {
        "name": "Rules.ParseErrorRate",
        "numerator": ["ParseError"],
        "denominator": ["ParseError", "RulesExecuted"],
        "dimensions": {"RuleName": "to_s3"},
    }
    check = check_plan(with_ratios(rules), environ={})
    assert check.errors == []
    [warning] = check.warnings
    assert warning.path == "resources.ratios[0].dimensions"
    assert "RulesExecuted is not published with dimension(s) RuleName" in warning.message


def test_missing_data_on_a_share_is_said_not_to_apply_and_a_plan_of_shares_alone_is_fine():
    check = check_plan(with_ratios({**AUTH_SHARE, "detection": {"missing_data": "breaching"}}), environ={})
    assert check.errors == []
    [warning] = check.warnings
    assert warning.path == "resources.ratios[0].detection.missing_data"
    [share] = expand_series(check.plan)
    assert share.detection.missing_data == "ignore"
    nothing = minimal_plan()
    nothing["resources"] = {}
    assert any("watch at least one metric" in p.message for p in check_plan(nothing, environ={}).errors)


def test_a_plan_wide_limit_is_a_count_that_reaches_metrics_and_never_a_share(tmp_path):
    """`detection.below: 90000` is a count per period: the metrics get it, a share of attempts
    (a fraction) does not, and validate says so; a ratio's own limit still applies."""
    metric = {"metric": "PublishIn.Success", "dimensions": {"Protocol": "MQTT"}}
    rule_share = {
        "name": "RuleAction.FailureRate",
        "numerator": ["Failure"],
        "dimensions": {"RuleName": "to_kinesis", "ActionType": "Kinesis"},
    }
    data = with_ratios(rule_share, AUTH_SHARE | {"detection": {"above": 0.3}}, metrics=[metric])
    data["detection"] = {"below": 90000}
    check = check_plan(data, environ={})
    assert check.errors == []
    [warning] = by_path(check)["detection.below"]
    assert warning.level == "warning" and "not to its ratios" in warning.message
    counts, rule, auth = expand_series(check.plan)
    assert counts.detection.below == 90000
    assert (rule.detection.below, rule.detection.above) == (None, None)
    assert (auth.detection.below, auth.detection.above) == (None, 0.3)
    code, out, _ = validate(tmp_path, data)
    assert code == 0 and "warning: detection.below: 90000 applies to the plan's metrics" in out


def test_a_plan_wide_limit_that_looks_like_a_share_is_said_to_be_a_count():
    data = minimal_plan()
    data["detection"] = {"above": 0.05}
    check = check_plan(data, environ={})
    [warning] = by_path(check)["detection.above"]
    assert (
        "looks like a share" in warning.message and "resources.ratios[i].detection.above" in warning.message
    )


def test_a_share_and_a_metric_of_the_same_name_and_dimensions_are_one_too_many():
    clash = {
        "name": "Errors",
        "namespace": "Fleet/Api",
        "numerator": ["Errors"],
        "denominator": ["Errors", "Calls"],
    }
    data = with_ratios(clash, metrics=[{"metric": "Errors", "namespace": "Fleet/Api"}])
    [problem] = by_path(check_plan(data, environ={}))["resources.ratios[0]"]
    assert "same name and dimensions as resources.metrics[0]" in problem.message


def test_maintenance_windows_and_group_by_see_the_shares_names_and_keys():
    data = with_ratios(AUTH_SHARE)
    data["notify"] = {
        **data["notify"],
        "group_by": ["Protocol"],
        "maintenance_windows": [
            {"name": "ca", "days": ["sun"], "start": "02:00", "end": "03:00", "metrics": ["Connect.Auth*"]}
        ],
    }
    assert check_plan(data, environ={}).problems == []


# --- compiled, costed, sharded -------------------------------------------------------------------


def test_the_compiled_plan_carries_each_share(tmp_path, default_plan):
    path = write_runtime_plan(default_plan, tmp_path)
    compiled = read_runtime_plan(path)
    assert compiled.series == tuple(expand_series(default_plan))
    assert [s.ratio for s in compiled.series if s.ratio is not None] == [
        s.ratio for s in expand_series(default_plan) if s.ratio is not None
    ]
    # a plan compiled before ratios existed loads with none
    data = json.loads(path.read_text())
    data["series"] = [
        {k: v for k, v in s.items() if k != "ratio"} for s in data["series"] if s["ratio"] is None
    ]
    path.write_text(json.dumps(data))
    assert all(s.ratio is None for s in read_runtime_plan(path).series)


def test_plan_cost_counts_the_parts_a_share_reads_at_the_floor():
    metrics = [{"metric": "Connect.Success", "dimensions": {"Protocol": "MQTT"}}]
    plain = load_plan_data(minimal_plan(resources={"metrics": metrics}))
    shared = load_plan_data(with_ratios(AUTH_SHARE, metrics=metrics))
    base, more = estimate_cost(plain), estimate_cost(shared)
    assert (base.queries, more.series, more.queries) == (1, 2, 6)  # Connect.Success read once
    gmd = more.item("CloudWatch GetMetricData")
    assert "6 metric queries (1 shares read their parts)" in gmd.assumption
    assert "1 call(s) per evaluation (the floor, ceil(N/500))" in gmd.assumption
    assert gmd.quantity == 6 * more.evaluations_per_month + 6 * more.baseline_builds_per_month + 300 * (1 + 6)
    # 400 rules' action failure shares: 800 queries, two calls a tick, not one per share
    rules = {
        "name": "RuleAction.FailureRate",
        "numerator": ["Failure"],
        "dimensions": {"RuleName": [f"r{i:03d}" for i in range(400)], "ActionType": "Lambda"},
    }
    many = estimate_cost(load_plan_data(with_ratios(rules)))
    assert (many.series, many.queries) == (400, 800)
    assert "2 call(s) per evaluation" in many.item("CloudWatch GetMetricData").assumption


def test_shards_are_cut_by_the_metric_queries_a_share_reads():
    rules = {
        "name": "RuleAction.FailureRate",
        "numerator": ["Failure"],
        "dimensions": {"RuleName": [f"r{i:04d}" for i in range(1500)], "ActionType": "Lambda"},
    }
    series = expand_series(load_plan_data(with_ratios(rules)))
    assert {query_weight(s) for s in series} == {2}
    ranges = shard_ranges([s.id for s in series], 1000, query_weights(series))
    members = [r.members(series) for r in ranges]
    assert [len(m) for m in members] == [500, 500, 500]  # 1,000 queries each: two whole calls
    assert sum(len(m) for m in members) == len({s.id for s in series})
    assert all(len(metric_queries(m)) <= 1000 for m in members)
    # without weights, the cut is by series, as before
    assert len(shard_ranges([s.id for s in series], 1000)) == 2
    assert sorted(shard_key(s.id) for s in series)[500] == ranges[1].first
    # the builder reads its history in runs of whole calls the same way
    assert [len(run) for run in weighted(series, 100)] == [50] * 30
