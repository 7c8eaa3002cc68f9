"""Watching every value of a dimension ("*"): the plan, the pure discovery functions, the
cache policy (time as a parameter), the ListMetrics adapter and the handlers' `_series`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError
from iotwatch.adapters.discovery import CloudWatchMetricLister
from iotwatch.domain.discovery import (
    MAX_SERIES_PER_TEMPLATE,
    Dimensions,
    DiscoveredValues,
    MetricListError,
    SeriesTemplate,
    discovered_series,
    matching_dimension_sets,
    needs_refresh,
)
from iotwatch.handlers import baseline_builder, evaluator
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.loader import check_plan
from iotwatch.plan.model.resources import MAX_WILDCARD_TEMPLATES
from iotwatch.plan.runtime import compile_runtime_plan, read_runtime_plan, runtime_plan, write_runtime_plan
from iotwatch.service import ports
from iotwatch.service.discovery import (
    BUILDER_REFRESH_SECONDS,
    EVALUATOR_REFRESH_SECONDS,
    SeriesDiscovery,
)

from iotwatch_cli.main import main

from .fakes import DETECTION, make_series
from .test_plan import minimal_plan

HOUR = 3600
T0 = 1_795_000_000  # any instant: the policy only compares ages


def plan_with(*metrics: dict[str, Any], **overrides: Any) -> Any:
    return minimal_plan(resources={"metrics": list(metrics)}, **overrides)


def checked(*metrics: dict[str, Any]) -> Any:
    check = check_plan(plan_with(*metrics), environ={})
    assert check.errors == [], check.errors
    return check.plan


def template(
    metric: str = "TopicMatch",
    wildcard: tuple[str, ...] = ("RuleName",),
    fixed: Dimensions = (),
    *,
    namespace: str = "AWS/IoT",
    runbook: str | None = "https://wiki.example.com/rules",
    description: str | None = "matched messages per rule",
) -> SeriesTemplate:
    return SeriesTemplate(
        namespace=namespace,
        metric=metric,
        fixed=fixed,
        wildcard=wildcard,
        statistic="Sum",
        period=300,
        detection=DETECTION,
        runbook=runbook,
        description=description,
    )


def listed(metric: str, **dimensions: str) -> dict[str, Any]:
    """One entry of ListMetrics' `Metrics`."""
    return {
        "Namespace": "AWS/IoT",
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }


# --- the plan -----------------------------------------------------------------------------------


def test_a_star_value_is_a_template_not_a_series():
    plan = checked(
        {"metric": "Connect.Success", "dimensions": {"Protocol": "MQTT"}},
        {
            "metric": "TopicMatch",
            "dimensions": {"RuleName": "*"},
            "runbook": "https://wiki.example.com/rules",
            "description": "matched messages per rule",
            "detection": {"min_volume": 5},
        },
    )
    assert [s.metric for s in expand_series(plan)] == ["Connect.Success"]
    [t] = expand_templates(plan)
    assert (t.namespace, t.metric, t.fixed, t.wildcard) == ("AWS/IoT", "TopicMatch", (), ("RuleName",))
    assert t.key == "AWS/IoT|TopicMatch|RuleName=*"
    assert t.runbook == "https://wiki.example.com/rules"
    assert t.description == "matched messages per rule"
    assert t.detection.min_volume == 5 and t.period == 300 and t.statistic == "Sum"


def test_fixed_keys_beside_a_star_expand_into_one_template_per_listed_value():
    plan = checked(
        {"metric": "Failure", "dimensions": {"RuleName": "*", "ActionType": ["Lambda", "Sqs"]}},
    )
    templates = expand_templates(plan)
    assert [t.fixed for t in templates] == [(("ActionType", "Lambda"),), (("ActionType", "Sqs"),)]
    assert [t.key for t in templates] == [
        "AWS/IoT|Failure|ActionType=Lambda,RuleName=*",
        "AWS/IoT|Failure|ActionType=Sqs,RuleName=*",
    ]
    assert templates[0].label == "Failure (every RuleName, Lambda)"
    # the runbook falls back to the owners' runbook like a series' does
    assert templates[0].runbook == "https://wiki.example.com/rb"


def test_star_inside_a_list_is_an_error_that_says_how_to_write_it():
    check = check_plan(
        plan_with({"metric": "TopicMatch", "dimensions": {"RuleName": ["rule_a", "*"]}}), environ={}
    )
    [problem] = [p for p in check.errors if p.path == "resources.metrics[0].dimensions.RuleName"]
    assert 'write RuleName: "*" on its own' in problem.message
    assert check.plan is None


def test_a_star_inside_a_value_is_matched_literally_with_a_warning():
    check = check_plan(plan_with({"metric": "TopicMatch", "dimensions": {"RuleName": "prod_*"}}), environ={})
    assert check.errors == []
    [warning] = check.warnings
    assert warning.path == "resources.metrics[0].dimensions.RuleName"
    assert "matched literally" in warning.message
    assert expand_templates(check.plan) == []
    assert [s.dimensions for s in expand_series(check.plan)] == [(("RuleName", "prod_*"),)]


def test_a_star_on_a_key_the_metric_does_not_carry_warns_that_nothing_would_be_discovered():
    check = check_plan(plan_with({"metric": "RulesExecuted", "dimensions": {"RuleName": "*"}}), environ={})
    [warning] = check.warnings
    assert warning.path == "resources.metrics[0].dimensions"
    assert "ListMetrics would discover nothing" in warning.message


def test_at_most_a_bounded_number_of_wildcard_templates():
    actions = [f"Action{i}" for i in range(MAX_WILDCARD_TEMPLATES)]
    at_limit = plan_with({"metric": "Failure", "dimensions": {"RuleName": "*", "ActionType": actions}})
    assert check_plan(at_limit, environ={}).errors == []
    over = plan_with(
        {"metric": "Failure", "dimensions": {"RuleName": "*", "ActionType": actions}},
        {"metric": "TopicMatch", "dimensions": {"RuleName": "*"}},
    )
    [error] = check_plan(over, environ={}).errors
    assert error.path == "resources.metrics"
    assert f"{MAX_WILDCARD_TEMPLATES + 1} metrics watch every value" in error.message
    assert f"at most {MAX_WILDCARD_TEMPLATES}" in error.message


def test_the_same_star_metric_twice_is_a_duplicate_but_a_star_beside_one_value_is_not():
    star = {"metric": "TopicMatch", "dimensions": {"RuleName": "*"}}
    check = check_plan(plan_with(star, dict(star)), environ={})
    assert [p.path for p in check.errors] == ["resources.metrics[1]"]
    one = {"metric": "TopicMatch", "dimensions": {"RuleName": "rule_a"}, "detection": {"min_volume": 1}}
    assert check_plan(plan_with(star, one), environ={}).errors == []


def test_plan_validate_summary_says_which_values_are_discovered(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(
        json.dumps(
            plan_with(
                {"metric": "Connect.Success", "dimensions": {"Protocol": "MQTT"}},
                {"metric": "TopicMatch", "dimensions": {"RuleName": "*"}},
                {"metric": "Failure", "dimensions": {"RuleName": "*", "ActionType": "Lambda"}},
            )
        ),
        encoding="utf-8",
    )
    assert main(["plan", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Watches 1 series, and every value of a dimension for 2 metric(s):" in out
    assert "TopicMatch (every RuleName)" in out
    assert "Failure (every RuleName, Lambda)" in out
    assert out.count("every value of RuleName (discovered)") == 2
    assert "learning until the next build" in out


# --- the compiled plan --------------------------------------------------------------------------


def test_templates_survive_plan_json_and_an_older_plan_json_loads_without_them(tmp_path):
    plan = checked(
        {"metric": "Connect.Success", "dimensions": {"Protocol": "MQTT"}},
        {"metric": "Failure", "dimensions": {"RuleName": "*", "ActionType": "Lambda"}, "runbook": "rb"},
    )
    shipped = read_runtime_plan(write_runtime_plan(plan, tmp_path))
    assert shipped.discover == tuple(expand_templates(plan)) == runtime_plan(plan).discover
    assert shipped.series == tuple(expand_series(plan))

    older = compile_runtime_plan(plan)
    del older["discover"]
    (tmp_path / "old.json").write_text(json.dumps(older), encoding="utf-8")
    assert read_runtime_plan(tmp_path / "old.json").discover == ()


# --- the pure functions -------------------------------------------------------------------------


def test_only_metrics_with_exactly_the_templates_keys_are_kept_sorted_and_once():
    found, total = matching_dimension_sets(
        template(),
        [
            listed("TopicMatch", RuleName="rule_b"),
            listed("TopicMatch", RuleName="rule_a"),
            listed("TopicMatch", RuleName="rule_b"),  # ListMetrics (and moto) may repeat one
            listed("TopicMatch", RuleName="rule_c", ActionType="Lambda"),  # an extra key
            listed("TopicMatch"),  # fewer keys
            listed("ParseError", RuleName="rule_x"),  # another metric
            {**listed("TopicMatch", RuleName="rule_y"), "Namespace": "Custom/IoT"},
        ],
    )
    assert found == ((("RuleName", "rule_a"),), (("RuleName", "rule_b"),))
    assert total == 2


def test_fixed_values_beside_a_star_must_match():
    lambda_failures = template("Failure", fixed=(("ActionType", "Lambda"),))
    found, _ = matching_dimension_sets(
        lambda_failures,
        [
            listed("Failure", RuleName="rule_a", ActionType="Lambda"),
            listed("Failure", ActionType="Sqs", RuleName="rule_a"),
            listed("Failure", RuleName="rule_b", ActionType="Lambda"),
            listed("Failure", RuleName="rule_c"),
        ],
    )
    assert found == (
        (("ActionType", "Lambda"), ("RuleName", "rule_a")),
        (("ActionType", "Lambda"), ("RuleName", "rule_b")),
    )


def test_two_star_keys_discover_every_combination():
    both = template("Failure", wildcard=("ActionType", "RuleName"))
    found, _ = matching_dimension_sets(
        both,
        [listed("Failure", RuleName="r", ActionType="Lambda"), listed("Failure", RuleName="r")],
    )
    assert found == ((("ActionType", "Lambda"), ("RuleName", "r")),)


def test_a_template_watches_at_most_the_cap_in_sorted_order():
    many = [
        listed("TopicMatch", RuleName=f"rule_{i:04d}") for i in reversed(range(MAX_SERIES_PER_TEMPLATE + 7))
    ]
    found, total = matching_dimension_sets(template(), many)
    assert total == MAX_SERIES_PER_TEMPLATE + 7
    assert len(found) == MAX_SERIES_PER_TEMPLATE
    assert found[0] == (("RuleName", "rule_0000"),)
    assert DiscoveredValues("k", found, T0, total).left_out == 7


def test_discovered_series_carry_the_templates_settings_in_stable_order_without_the_plans_own():
    topic = template()
    failures = template("Failure", fixed=(("ActionType", "Lambda"),), runbook=None, description=None)
    own = make_series("TopicMatch", (("RuleName", "rule_a"),), runbook="https://own", description="own")
    found = {
        topic.key: DiscoveredValues(topic.key, ((("RuleName", "rule_a"),), (("RuleName", "rule_b"),)), T0, 2),
        failures.key: DiscoveredValues(
            failures.key, ((("ActionType", "Lambda"), ("RuleName", "rule_a")),), T0, 1
        ),
    }
    series = discovered_series([topic, failures, topic], found, concrete=[own])
    assert [s.id for s in series] == [
        "AWS/IoT|TopicMatch|RuleName=rule_b",
        "AWS/IoT|Failure|ActionType=Lambda,RuleName=rule_a",
    ]
    rule_b, failure = series
    assert rule_b.runbook == "https://wiki.example.com/rules"
    assert rule_b.description == "matched messages per rule"
    assert rule_b.detection == DETECTION and rule_b.period == 300 and rule_b.statistic == "Sum"
    assert failure.runbook is None and failure.label == "Failure (Lambda, rule_a)"
    # a template without a list yet adds nothing
    assert discovered_series([topic], {}, concrete=[own]) == []


@pytest.mark.parametrize(
    ("age", "refresh_after", "expected"),
    [(0, HOUR, False), (HOUR - 1, HOUR, False), (HOUR, HOUR, True), (-600, HOUR, False), (0, 0, True)],
)
def test_needs_refresh_by_age(age, refresh_after, expected):
    entry = DiscoveredValues("k", (), T0, 0)
    assert needs_refresh(entry, now=T0 + age, refresh_after=refresh_after) is expected
    assert needs_refresh(None, now=T0, refresh_after=refresh_after) is True


# --- the cache policy ---------------------------------------------------------------------------


class FakeLister:
    """ListMetrics in memory: the dimension sets each template has now, or an error."""

    def __init__(self, values: dict[str, list[Dimensions]] | None = None) -> None:
        self.values = values or {}
        self.calls = 0
        self.failing = False

    def list_dimension_sets(self, t: SeriesTemplate) -> tuple[tuple[Dimensions, ...], int]:
        self.calls += 1
        if self.failing:
            raise MetricListError(f"ListMetrics {t.key}: Throttling: Rate exceeded")
        found = tuple(sorted(self.values.get(t.key, [])))
        return found, len(found)


class FakeDiscoveryStore:
    def __init__(self) -> None:
        self.items: dict[str, DiscoveredValues] = {}
        self.reads = 0
        self.writes = 0

    def list_discovered(self) -> dict[str, DiscoveredValues]:
        self.reads += 1
        return dict(self.items)

    def put_discovered(self, entry: DiscoveredValues) -> None:
        self.writes += 1
        self.items[entry.template] = entry


# checked by `mypy tests/unit/test_discovery.py`: the fakes implement the service's ports
_lister: ports.MetricLister = FakeLister()
_discovery_store: ports.DiscoveryStore = FakeDiscoveryStore()

RULES = template()
CONNECT = make_series("Connect.Success")


def rules(*names: str) -> list[Dimensions]:
    return [(("RuleName", n),) for n in names]


def discovery(lister: FakeLister, store: FakeDiscoveryStore, refresh_after: int = EVALUATOR_REFRESH_SECONDS):
    return SeriesDiscovery(
        series=[CONNECT], templates=[RULES], lister=lister, store=store, refresh_after=refresh_after
    )


def ids(series: Sequence[Any]) -> list[str]:
    return [s.id for s in series]


def test_first_run_lists_stores_and_adds_the_discovered_series():
    lister, store = FakeLister({RULES.key: rules("rule_b", "rule_a")}), FakeDiscoveryStore()
    report = discovery(lister, store).resolve(now=T0)
    assert ids(report.series) == [
        CONNECT.id,
        "AWS/IoT|TopicMatch|RuleName=rule_a",
        "AWS/IoT|TopicMatch|RuleName=rule_b",
    ]
    assert report.discovered == 2 and report.listed == [RULES.key] and report.list_metrics_calls == 1
    assert store.items[RULES.key] == DiscoveredValues(RULES.key, tuple(rules("rule_a", "rule_b")), T0, 2)


def test_a_fresh_list_in_memory_costs_no_io_and_a_new_value_waits_for_the_interval():
    lister, store = FakeLister({RULES.key: rules("rule_a")}), FakeDiscoveryStore()
    warm = discovery(lister, store)
    warm.resolve(now=T0)
    lister.values[RULES.key] = rules("rule_a", "rule_c")  # a rule created after the first listing
    report = warm.resolve(now=T0 + HOUR - 1)
    assert report.discovered == 1 and report.list_metrics_calls == 0
    assert (lister.calls, store.reads, store.writes) == (1, 1, 1)
    later = warm.resolve(now=T0 + HOUR)
    assert later.discovered == 2 and later.listed == [RULES.key]
    assert "AWS/IoT|TopicMatch|RuleName=rule_c" in ids(later.series)
    assert store.items[RULES.key].discovered_at == T0 + HOUR


def test_a_cold_container_takes_a_fresh_list_from_the_table_without_listing():
    lister, store = FakeLister({RULES.key: rules("rule_a", "rule_b")}), FakeDiscoveryStore()
    discovery(lister, store).resolve(now=T0)
    cold = discovery(lister, store).resolve(now=T0 + 600)
    assert cold.discovered == 2 and cold.from_table == [RULES.key] and cold.listed == []
    assert lister.calls == 1


def test_a_list_another_function_refreshed_is_preferred_over_an_older_one_in_memory():
    lister, store = FakeLister({RULES.key: rules("rule_a")}), FakeDiscoveryStore()
    warm = discovery(lister, store)
    warm.resolve(now=T0)
    # the builder listed again at T0 + 50 min and found rule_b
    store.items[RULES.key] = DiscoveredValues(RULES.key, tuple(rules("rule_a", "rule_b")), T0 + 3000, 2)
    report = warm.resolve(now=T0 + HOUR + 60)
    assert report.from_table == [RULES.key] and report.listed == [] and report.discovered == 2
    assert lister.calls == 1


def test_the_builder_lists_on_every_run():
    lister, store = FakeLister({RULES.key: rules("rule_a")}), FakeDiscoveryStore()
    builder = discovery(lister, store, refresh_after=BUILDER_REFRESH_SECONDS)
    builder.resolve(now=T0)
    lister.values[RULES.key] = rules("rule_a", "rule_b")
    report = builder.resolve(now=T0 + 1)
    assert report.listed == [RULES.key] and report.discovered == 2 and lister.calls == 2


def test_a_failed_listing_keeps_the_last_stored_values_however_old():
    lister, store = FakeLister({RULES.key: rules("rule_a", "rule_b")}), FakeDiscoveryStore()
    discovery(lister, store).resolve(now=T0)
    lister.failing = True
    cold = discovery(lister, store)
    report = cold.resolve(now=T0 + 5 * HOUR)
    assert report.discovered == 2, "a throttled ListMetrics must not mean 'no rules'"
    assert report.stale == {RULES.key: 5 * HOUR}
    assert "Throttling" in report.failed[RULES.key]
    assert report.missing == [] and report.listed == []
    assert store.items[RULES.key].discovered_at == T0, "the old list is not re-stamped as fresh"
    # tried again on the next run, and recovers
    lister.failing = False
    lister.values[RULES.key] = rules("rule_a", "rule_b", "rule_c")
    again = cold.resolve(now=T0 + 5 * HOUR + 300)
    assert again.discovered == 3 and again.listed == [RULES.key] and again.failed == {}


def test_after_one_failed_listing_a_run_lists_no_other_template_and_keeps_their_lists():
    failures = template("Failure", fixed=(("ActionType", "Lambda"),))
    lister = FakeLister(
        {RULES.key: rules("rule_a"), failures.key: [(("ActionType", "Lambda"), ("RuleName", "r"))]}
    )
    store = FakeDiscoveryStore()

    def both() -> SeriesDiscovery:
        return SeriesDiscovery(
            series=[CONNECT],
            templates=[RULES, failures],
            lister=lister,
            store=store,
            refresh_after=EVALUATOR_REFRESH_SECONDS,
        )

    assert both().resolve(now=T0).discovered == 2
    lister.failing = True
    report = both().resolve(now=T0 + 2 * HOUR)
    assert report.list_metrics_calls == 1, "a throttled account is not asked once per template"
    assert report.stale == {RULES.key: 2 * HOUR, failures.key: 2 * HOUR}
    assert report.failed[failures.key].startswith("not listed this run after: ListMetrics")
    assert report.discovered == 2


def test_a_failed_first_listing_is_reported_missing_and_the_plans_own_series_are_still_watched():
    lister, store = FakeLister(), FakeDiscoveryStore()
    lister.failing = True
    report = discovery(lister, store).resolve(now=T0)
    assert ids(report.series) == [CONNECT.id]
    assert report.missing == [RULES.key] and report.stale == {}
    assert store.items == {}, "nothing stored: the next run lists again"


def test_a_plan_without_templates_never_touches_listmetrics_or_the_table():
    lister, store = FakeLister(), FakeDiscoveryStore()
    report = SeriesDiscovery(
        series=[CONNECT], templates=[], lister=lister, store=store, refresh_after=0
    ).resolve(now=T0)
    assert report.series == (CONNECT,)
    assert (lister.calls, store.reads) == (0, 0)


# --- the ListMetrics adapter --------------------------------------------------------------------


class StubCloudWatch:
    def __init__(self, pages: list[dict[str, Any]], error: Exception | None = None) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []
        self.error = error

    def list_metrics(self, **request: Any) -> dict[str, Any]:
        self.requests.append(dict(request))
        if self.error is not None:
            raise self.error
        return self.pages[len(self.requests) - 1]


def test_lister_follows_every_page_counts_calls_and_asks_for_the_keys_and_fixed_values():
    cloudwatch = StubCloudWatch(
        [
            {"Metrics": [listed("Failure", RuleName="b", ActionType="Lambda")], "NextToken": "t1"},
            {"Metrics": [listed("Failure", RuleName="a", ActionType="Lambda")], "NextToken": "t2"},
            {"Metrics": [listed("Failure", RuleName="c", ActionType="Sqs")]},
        ]
    )
    lister = CloudWatchMetricLister(cloudwatch)
    found, total = lister.list_dimension_sets(template("Failure", fixed=(("ActionType", "Lambda"),)))
    assert [dict(d)["RuleName"] for d in found] == ["a", "b"] and total == 2
    assert lister.calls == 3
    first, second, third = cloudwatch.requests
    assert first == {
        "Namespace": "AWS/IoT",
        "MetricName": "Failure",
        "Dimensions": [{"Name": "ActionType", "Value": "Lambda"}, {"Name": "RuleName"}],
    }
    assert "RecentlyActive" not in first, "a rule that went quiet must stay watched (see adapter docstring)"
    assert second["NextToken"] == "t1" and third["NextToken"] == "t2"


def test_lister_turns_a_throttling_error_into_a_metric_list_error():
    throttled = ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "ListMetrics")
    lister = CloudWatchMetricLister(StubCloudWatch([], error=throttled))
    with pytest.raises(MetricListError, match="Throttling"):
        lister.list_dimension_sets(template())
    assert lister.calls == 1


# --- the handlers -------------------------------------------------------------------------------


@pytest.fixture
def wildcard_task_root(tmp_path, monkeypatch):
    plan = checked(
        {"metric": "Connect.Success", "dimensions": {"Protocol": "MQTT"}},
        {"metric": "TopicMatch", "dimensions": {"RuleName": "*"}},
    )
    write_runtime_plan(plan, tmp_path)
    monkeypatch.setenv("IOTWATCH_TABLE", "iotwatch-fleet-state")
    monkeypatch.setenv("IOTWATCH_TOPICS", json.dumps({"oncall": "arn:aws:sns:eu-west-1:123456789012:x"}))
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.delenv("IOTWATCH_PLAN_FILE", raising=False)
    for module in (evaluator, baseline_builder):
        module.setup.reset()
    yield plan
    for module in (evaluator, baseline_builder):
        module.setup.reset()  # `discovery` is the test's, restored by monkeypatch


@pytest.mark.parametrize("module", [evaluator, baseline_builder], ids=["evaluator", "builder"])
def test_handlers_series_add_the_discovered_ones_as_of_the_given_time(
    wildcard_task_root, monkeypatch, module
):
    lister, store = FakeLister(), FakeDiscoveryStore()
    [topic] = expand_templates(wildcard_task_root)
    lister.values[topic.key] = rules("rule_a")
    settings = module.setup.settings()
    refresh = EVALUATOR_REFRESH_SECONDS if module is evaluator else BUILDER_REFRESH_SECONDS
    shared = SeriesDiscovery(
        series=settings.plan.series,
        templates=settings.plan.discover,
        lister=lister,
        store=store,
        refresh_after=refresh,
    )
    monkeypatch.setattr(module.setup, "discovery", lambda discoverer: shared)
    assert [s.id for s in module.setup.series(T0)] == [
        "AWS/IoT|Connect.Success|Protocol=MQTT",
        "AWS/IoT|TopicMatch|RuleName=rule_a",
    ]
    lister.values[topic.key] = rules("rule_a", "rule_c")
    expected_soon = 2 if module is evaluator else 3  # the evaluator waits for the interval
    assert len(module.setup.series(T0 + 600)) == expected_soon
    assert len(module.setup.series(T0 + HOUR)) == 3


def test_handlers_series_is_the_plans_own_without_stars(task_root_default):
    assert evaluator.setup.series(T0) == evaluator.setup.settings().plan.series
    assert baseline_builder.setup.series(T0) == baseline_builder.setup.settings().plan.series


@pytest.fixture
def task_root_default(tmp_path, monkeypatch, default_plan):
    write_runtime_plan(default_plan, tmp_path)
    monkeypatch.setenv("IOTWATCH_TABLE", "iotwatch-fleet-state")
    monkeypatch.setenv("IOTWATCH_TOPICS", "{}")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.delenv("IOTWATCH_PLAN_FILE", raising=False)

    def boom(discoverer: str) -> Any:
        raise AssertionError("a plan without '*' must not build the discovery (boto3 clients)")

    for module in (evaluator, baseline_builder):
        module.setup.reset()
        monkeypatch.setattr(module.setup, "discovery", boom)
    yield
    for module in (evaluator, baseline_builder):
        module.setup.reset()
