"""Every IoT rule watched, also rules created after the deploy: the stack deployed from
tests/plans/wildcard-rules.yaml (`TopicMatch` with `RuleName: "*"`, `Failure` with
`RuleName: "*", ActionType: Lambda`), the real evaluator and builder handlers, ListMetrics
on the local endpoint.

moto 5.2.5's ListMetrics honours Namespace, MetricName and Dimensions filters (a name
without a value matches any value, extra keys are returned, as in CloudWatch), ignores
RecentlyActive (iotwatch does not send it), pages at 500 and repeats a metric that has
several datapoints: the adapter keeps exact key sets and de-duplicates client-side, which
these tests rely on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch_harness import HOUR, IotWatch, synthesize
from moto.cloudwatch.exceptions import CloudWatchException
from moto.cloudwatch.models import CloudWatchBackend

from iotwatch_local import fast_metrics
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import DEPLOYED_AT

REPO = Path(__file__).resolve().parents[2]
PLAN_FILE = REPO / "tests" / "plans" / "wildcard-rules.yaml"
PERIOD = 300
SETTLE = 60
T1 = DEPLOYED_AT + SETTLE  # the first evaluator tick after the deploy
TOPIC_MATCH = "AWS/IoT|TopicMatch|RuleName="
LAMBDA_FAILURE = "AWS/IoT|Failure|ActionType=Lambda,RuleName="


@pytest.fixture(scope="module")
def wildcard_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(PLAN_FILE, tmp_path_factory.mktemp("wildcard") / "cdk.out")


@pytest.fixture
def rules_fleet(aws_env: LocalAws, wildcard_assembly: Path, handler_caches: None) -> IotWatch:
    fast_metrics.install()  # in case a nested endpoint stopped before (test_local_harness_reruns.py)
    return IotWatch.deploy(wildcard_assembly, PLAN_FILE)


@pytest.fixture
def list_metrics_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every listing the endpoint starts (first pages only), with its filters as the server saw them."""
    calls: list[dict[str, Any]] = []
    answer: Callable[..., Any] = CloudWatchBackend.list_metrics

    def counting(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        names = ("next_token", "namespace", "metric_name", "dimensions")
        seen = dict(zip(names, args, strict=False)) | kwargs
        if not seen.get("next_token"):  # moto pages at 500 entries, one per datapoint
            calls.append(seen)
        return answer(self, *args, **kwargs)

    monkeypatch.setattr(CloudWatchBackend, "list_metrics", counting)
    yield calls


def _series(metric: str, **dimensions: str) -> Series:
    """A datapoint target: put_traffic uses only its namespace, metric and dimensions."""
    return Series(
        namespace="AWS/IoT",
        metric=metric,
        dimensions=tuple(sorted(dimensions.items())),
        statistic="Sum",
        period=PERIOD,
        detection=DetectionSettings(4.0, 7.0, 2, 2, 20.0, 0.2),
    )


def _traffic(series: Series, start: int, end: int, value: int = 120) -> list[tuple[Series, int, int]]:
    return [(series, ts, value) for ts in range(start, end, PERIOD)]


def _discovery_items(iotwatch: IotWatch) -> dict[str, dict[str, Any]]:
    return {item["sk"]["S"]: item for item in iotwatch.all_items() if item["pk"]["S"] == "DISCOVERY"}


def _values(item: dict[str, Any]) -> list[str]:
    return [dict(dims)["RuleName"] for dims in json.loads(item["dimensions"]["S"])]


def test_rules_are_discovered_cached_picked_up_without_redeploy_and_get_baselines(
    rules_fleet: IotWatch, list_metrics_calls: list[dict[str, Any]]
) -> None:
    iotwatch = rules_fleet
    assert iotwatch.plan.frequency.period_seconds == PERIOD
    assert iotwatch.plan.frequency.settle_seconds == SETTLE
    history = DEPLOYED_AT - 2 * 86400
    later = DEPLOYED_AT + 3 * HOUR
    points = _traffic(_series("Connect.Success", Protocol="MQTT"), history, later, 500)
    for rule in ("rule_a", "rule_b"):
        points += _traffic(_series("TopicMatch", RuleName=rule), history, later)
    points += _traffic(_series("Failure", RuleName="rule_a", ActionType="Lambda"), history, later, 3)
    # what must not be discovered: an extra key, and another ActionType than the plan's
    points += _traffic(_series("TopicMatch", RuleName="rule_x", ActionType="Lambda"), history, later)
    points += _traffic(_series("Failure", RuleName="rule_b", ActionType="Sqs"), history, later, 3)
    iotwatch.put_traffic(points)

    # 1. the first run lists both templates, stores the lists and evaluates what it found
    first = iotwatch.evaluate(T1)
    assert first["series"] == 4, first  # Connect.Success + TopicMatch x2 + Failure/Lambda x1
    assert first["learning"] == 4, "no baseline yet: every series is learning"
    assert len(list_metrics_calls) == 2
    stored = _discovery_items(iotwatch)
    assert sorted(stored) == [
        "AWS/IoT|Failure|ActionType=Lambda,RuleName=*",
        "AWS/IoT|TopicMatch|RuleName=*",
    ]
    assert _values(stored["AWS/IoT|TopicMatch|RuleName=*"]) == ["rule_a", "rule_b"]
    assert _values(stored["AWS/IoT|Failure|ActionType=Lambda,RuleName=*"]) == ["rule_a"]

    # 2. a rule created after the deploy starts publishing
    iotwatch.put_traffic(_traffic(_series("TopicMatch", RuleName="rule_c"), DEPLOYED_AT + 600, later))

    # 3. within the refresh interval the warm evaluator asks nobody: same four series
    within = iotwatch.evaluate(T1 + 30 * 60)
    assert within["series"] == 4
    assert len(list_metrics_calls) == 2

    # 4. an hour after the last listing (event time), rule_c is watched: no redeploy
    after = iotwatch.evaluate(T1 + HOUR)
    assert after["series"] == 5, "the new rule is picked up once the list is an hour old"
    assert after["learning"] == 5
    assert len(list_metrics_calls) == 4
    assert _values(_discovery_items(iotwatch)["AWS/IoT|TopicMatch|RuleName=*"]) == [
        "rule_a",
        "rule_b",
        "rule_c",
    ]

    # 5. the builder lists again and builds a baseline for every rule, the new one too
    built = iotwatch.build_baselines(T1 + HOUR + 5 * 60, scheduled=True)
    assert built["built"] == 5 and built["discovered"] == 4, built
    assert built["without_history"] == []
    baselines = iotwatch.items("BASELINE")
    assert {f"{TOPIC_MATCH}rule_a", f"{TOPIC_MATCH}rule_b", f"{TOPIC_MATCH}rule_c"} <= set(baselines)
    assert f"{LAMBDA_FAILURE}rule_a" in baselines
    assert not [sid for sid in baselines if "rule_x" in sid or "Sqs" in sid], "extra keys, other values: out"

    # 6. the next evaluation scores them all: nothing is learning any more
    scored = iotwatch.evaluate(T1 + HOUR + 10 * 60)
    assert scored["series"] == 5 and scored["learning"] == 0, scored


@pytest.mark.filterwarnings("ignore:Exception\\(CloudWatchException\\) with code Throttling:UserWarning")
def test_a_cold_evaluator_reuses_the_stored_list_and_a_throttled_listmetrics_keeps_it(
    rules_fleet: IotWatch, list_metrics_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from iotwatch_harness import clear_handler_caches

    iotwatch = rules_fleet
    iotwatch.put_traffic(
        _traffic(_series("TopicMatch", RuleName="rule_a"), DEPLOYED_AT - HOUR, DEPLOYED_AT + HOUR)
        + _traffic(_series("TopicMatch", RuleName="rule_b"), DEPLOYED_AT - HOUR, DEPLOYED_AT + HOUR)
    )
    assert iotwatch.evaluate(T1)["series"] == 3  # Connect.Success (no traffic) + two rules
    assert len(list_metrics_calls) == 2

    clear_handler_caches()  # a new container
    assert iotwatch.evaluate(T1 + 5 * 60)["series"] == 3
    assert len(list_metrics_calls) == 2, "a fresh stored list is reused, not listed again"

    throttled_calls: list[str] = []

    def throttled(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        throttled_calls.append("ListMetrics")
        raise CloudWatchException("Throttling", "Rate exceeded")

    monkeypatch.setattr(CloudWatchBackend, "list_metrics", throttled)
    clear_handler_caches()
    stale = iotwatch.evaluate(T1 + 2 * HOUR)  # the stored list is two hours old: listed again
    # asked once, retried once (LIST_METRICS_ATTEMPTS), and the other template not asked
    assert throttled_calls == ["ListMetrics", "ListMetrics"]
    assert stale["series"] == 3, "a throttled ListMetrics falls back to the stored rules, never to none"
    # the stored list is kept as it was, still saying when it was listed
    item = _discovery_items(iotwatch)["AWS/IoT|TopicMatch|RuleName=*"]
    assert _values(item) == ["rule_a", "rule_b"]
    assert int(item["discovered_at"]["N"]) == T1
