"""A share of attempts on the deployed stack, against the local endpoint (no metric math there:
the share is computed by iotwatch's own code from the parts GetMetricData returns).

Once for the module: the stack of tests/plans/connect-shares.yaml (Connect.Success and the
AuthError share of every connect outcome, MQTT) is deployed; CloudWatch gets the connect
outcomes of a 100,000-device fleet for 14 days at 0.2 % AuthError, then a day at half the
fleet (from midnight, share unchanged), then the full fleet again with an hour in which
AuthError is 30 % of the attempts while Connect.Success stays where it was; the baseline
builder runs at the first midnight. Each test starts from the state right after that.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from iotwatch.domain.ratios import metric_queries
from iotwatch_harness import (
    DAY,
    EVALUATOR_MODULE,
    HOUR,
    REPO,
    Inboxes,
    IotWatch,
    deployed,
    fresh,
    handler_module,
    run_ticks,
    synthesize,
    ticks_between,
)

from iotwatch_local.endpoint import LocalAws
from iotwatch_local.lambda_runtime import function_environment
from iotwatch_local.traffic import Fleet, FleetChange, Incident, generate

PLAN_FILE = REPO / "tests" / "plans" / "connect-shares.yaml"
T0 = calendar.timegm((2026, 11, 16, 0, 0, 0))  # a Monday: baselines are built here
HALF_FLEET = (T0, T0 + DAY)  # a day at half the devices, from midnight
AUTH_FAILURES = (T0 + DAY + 13 * HOUR, T0 + DAY + 14 * HOUR)  # AuthError 30 % of the attempts
# AuthError is 0.2 % of the connect outcomes the simulated fleet makes (local.traffic); x 215 it
# is 30 % of them, with every other outcome as it was
AUTH_FACTOR = 215.0


@pytest.fixture(scope="module")
def shares_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(PLAN_FILE, tmp_path_factory.mktemp("shares") / "cdk.out")


@pytest.fixture(scope="module")
def stack(local_aws: LocalAws, shares_assembly: Path) -> Iterator[IotWatch]:
    with deployed(local_aws, shares_assembly, PLAN_FILE) as iotwatch:
        fleet = Fleet(
            devices=100_000, seed=21, changes=(FleetChange(T0, 0, 0.5), FleetChange(T0 + DAY, 0, 2.0))
        )
        authorization = Incident(
            *AUTH_FAILURES,
            ("Connect.AuthError",),
            factor=AUTH_FACTOR,
            kind="authorization",
            reconnect_burst=False,
        )
        start = T0 - iotwatch.plan.frequency.history_days * DAY
        iotwatch.put_traffic(
            generate(fleet, iotwatch.series, start=start, end=T0 + 2 * DAY, incidents=[authorization])
        )
        built = iotwatch.build_baselines(T0)
        assert (built["built"], built["without_history"]) == (2, [])
        yield iotwatch


@pytest.fixture
def fleet(stack: IotWatch, local_aws: LocalAws) -> Iterator[IotWatch]:
    with fresh(stack, local_aws) as iotwatch:
        yield iotwatch


def _queries_sent(fleet: IotWatch) -> list[list[str]]:
    """The metric names each GetMetricData call of the (cold) evaluator asks for, from now on."""
    module = handler_module(EVALUATOR_MODULE, fleet.evaluator_env)
    with function_environment(fleet.evaluator_env):
        reader = module.setup.dependencies().reader
    sent: list[list[str]] = []
    reader._cloudwatch.meta.events.register(
        "before-parameter-build.cloudwatch.GetMetricData",
        lambda params, **_: sent.append(
            [q["MetricStat"]["Metric"]["MetricName"] for q in params["MetricDataQueries"]]
        ),
    )
    return sent


def test_the_share_pages_when_authorization_fails_for_30_percent_while_connects_look_normal(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    sent = _queries_sent(fleet)
    schedule = ticks_between(fleet, AUTH_FAILURES[0] - HOUR, AUTH_FAILURES[1] + HOUR)
    results = run_ticks(fleet, inboxes, schedule)
    assert all(r["failed_topics"] == [] and r["learning"] == 0 for r in results)

    [firing] = inboxes.of("oncall", "firing")
    [resolved] = inboxes.of("oncall", "resolved")
    assert [r.kind for r in inboxes.received] == ["firing", "resolved"]
    settle = fleet.plan.frequency.settle_seconds
    assert firing.tick == AUTH_FAILURES[0] + fleet.plan.frequency.period_seconds + settle  # its first period
    assert AUTH_FAILURES[1] < resolved.tick <= AUTH_FAILURES[1] + HOUR
    document = firing.document
    [alert] = document["alerts"]  # the share alone: Connect.Success stayed normal
    assert alert["metric"] == "Connect.AuthErrorRate" and alert["severity"] == "critical"
    share = alert["share"]
    assert share["numerator"] == ["Connect.AuthError"] and "Connect.Success" in share["denominator"]
    assert 0.25 <= alert["actual"] <= 0.35 and alert["expected"] < 0.01
    assert share["failed"] == pytest.approx(alert["actual"] * share["attempts"], abs=1)
    # the page says the share and its parts, readable from a phone
    assert firing.envelope["Subject"] == (
        f"[CRITICAL] shares-fleet {document['incident']['id']}: Connect.AuthErrorRate (MQTT) up to "
        f"{round(alert['actual'] * 100)} % (normally 0.2 %)"
    )
    attempts = f"{share['attempts']:,.0f}"
    assert (
        f"AuthError {round(alert['actual'] * 100)} % of {attempts} connection attempts, normally 0.2 %"
        in (document["email"])
    )
    assert f"{share['failed']:,} AuthError of {attempts} connection attempts" in document["email"]
    assert f"{round(alert['actual'] * 100)} % of {attempts} (~0.2 %)" in document["sms"]
    # Connect.Success read through the hour as usual: nothing else moved
    success = next(r for r in results if r["window_end"].startswith("2026-11-17T13:05"))
    assert success["firing"] == 1

    # every tick read the two series' six metrics (Connect.Success once) in one call: the floor
    queries = len(metric_queries(fleet.series))
    assert queries == 6
    warm_up, *ticks = sent  # the first tick also reads the week before, for the trackers
    assert len(ticks) == len(schedule) == len(results)
    assert all(sorted(call) == sorted(warm_up) for call in ticks) and len(set(warm_up)) == queries
    assert len(sent) - 1 == len(schedule) * math.ceil(queries / 500)


def test_half_the_connects_overnight_at_the_same_share_pages_nothing(
    fleet: IotWatch, inboxes: Inboxes
) -> None:
    schedule = ticks_between(fleet, HALF_FLEET[0] + 5 * 60, HALF_FLEET[0] + 14 * HOUR)
    results = run_ticks(fleet, inboxes, schedule)
    assert inboxes.received == []
    assert all(r["published"] == 0 and r["firing"] == 0 and r["learning"] == 0 for r in results)
    # it was judged, not skipped: at half the fleet most periods still have 100 attempts
    cloudwatch = boto3.client("cloudwatch")
    judged = _share_periods(cloudwatch, fleet, *HALF_FLEET)
    assert judged >= 0.6 * (14 * HOUR // fleet.plan.frequency.period_seconds)


def _share_periods(cloudwatch: Any, fleet: IotWatch, start: int, end: int) -> int:
    """Periods of the replayed range whose share the evaluator judged (enough attempts)."""
    from iotwatch.adapters.cloudwatch import CloudWatchMetricReader

    [share] = [s for s in fleet.series if s.ratio is not None]
    data = CloudWatchMetricReader(cloudwatch).read([share], start=start, end=start + 14 * HOUR)
    return len(data[share.id])
