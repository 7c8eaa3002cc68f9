"""The evaluator scale bench (bench/evaluator_scale.py) can fail: a run at 100 series on the
canned AWS clients must read with the fewest GetMetricData calls and page for the injected
deviations, and the canned clients refuse what the real services would."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest

from .conftest import DEFAULT_PLAN_FILE, REPO_ROOT

if str(REPO_ROOT) not in sys.path:  # `bench` lives beside the package, not in it
    sys.path.insert(0, str(REPO_ROOT))

from bench import evaluator_scale, fanout_scale
from bench.canned_aws import CannedCloudWatch


def test_evaluator_at_100_series_reads_at_the_floor_and_pages():
    world = evaluator_scale.build_world(100, str(DEFAULT_PLAN_FILE))
    figures = evaluator_scale.measure_size(world, runs=1, trace_memory=False)
    assert figures["get_metric_data_floor"] == 1
    assert figures["get_metric_data_calls"] == figures["get_metric_data_floor"]
    assert figures["get_metric_data_at_floor"] is True
    publishes = figures["sns_publishes"]
    assert isinstance(publishes, int) and publishes > 0
    assert figures["firing"] == len(world.deviating) > 0
    # claim, outbox, silences, one BatchGetItem each for baselines and states, the firing states
    requests = figures["dynamodb_requests"]
    assert isinstance(requests, int) and requests >= 5 + len(world.deviating)


def test_the_evaluator_reads_shares_with_their_parts_at_the_floor_of_the_metric_queries():
    """600 series, every busy rule action's failure share among them: a share reads the rule's
    Success and Failure, which are read once for both, so the calls follow the metric queries."""
    world = evaluator_scale.build_world(600, str(DEFAULT_PLAN_FILE), shares=True)
    figures = evaluator_scale.measure_size(world, runs=1, trace_memory=False)
    shares = figures["shares"]
    assert isinstance(shares, int) and shares > 100
    assert figures["metric_queries"] == 600 - shares  # nothing read twice
    assert figures["get_metric_data_calls"] == figures["get_metric_data_floor"] == 1
    assert figures["firing"] == len(world.deviating) > 0  # and no share pages on steady traffic


def test_canned_cloudwatch_refuses_more_than_500_queries():
    query = {
        "Id": "m0",
        "MetricStat": {
            "Metric": {"Namespace": "AWS/IoT", "MetricName": "RulesExecuted", "Dimensions": []},
            "Period": 300,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }
    start = datetime(2026, 3, 16, tzinfo=UTC)
    with pytest.raises(Exception, match="queries"):
        CannedCloudWatch().get_metric_data(
            MetricDataQueries=[query] * 501, StartTime=start, EndTime=start, ScanBy="TimestampAscending"
        )


def test_fanned_out_runs_read_at_the_floor_and_finish_their_tick_and_build(tmp_path):
    """1,200 series in shards of 500: the evaluator's 3 shards read in ceil(1,200 / 500) = 3
    calls and the last pages for the tick; the builder's shards of 496 (whole calls of 16
    series: 14 days of history and the week before it for slow change) read at the floor and
    the last (208 series) marks the build."""
    fleet = fanout_scale.fleet_of(
        1_200, str(DEFAULT_PLAN_FILE), tmp_path, shard_size=500, build_shard_size=496
    )
    evaluator = fanout_scale.measure_evaluator(fleet, full=True)
    assert evaluator["shards"] == 3 and evaluator["tick.measured_shards"] == 3
    assert evaluator["tick.get_metric_data_calls"] == evaluator["tick.get_metric_data_floor"] == 3
    assert evaluator["sns_publishes"] > 0
    assert evaluator["shard.log_bytes"] < 4_000  # a quiet shard logs its summary, not its 500 series
    builder = fanout_scale.measure_builder(fleet)
    assert builder["shards"] == 3
    assert builder["shard.get_metric_data_calls"] == 13  # 208 series of 6,048 points: 16 a call
    assert builder["build.get_metric_data_calls"] == builder["build.get_metric_data_floor"] == 75
