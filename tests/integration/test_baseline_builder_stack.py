"""The real baseline builder handler on a deployed stack: CloudFormation's CREATE_COMPLETE
event bootstraps one baseline per series from the history CloudWatch holds, and the
refresh schedule rebuilds them.

The plan here watches 27 series (one custom metric per gateway), so the batching is
visible: 14 days of 5-minute periods are 4,032 datapoints per series, GetMetricData
returns at most 100,800 per call, so 25 series fit one call and 27 need two.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from iotwatch.domain.baseline.model import METHOD
from iotwatch.domain.slow_change import COMPARE_SECONDS
from iotwatch_harness import DAY, IotWatch, synthesize
from moto.cloudwatch.models import CloudWatchBackend

from iotwatch_local import fast_metrics
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.scenario import DEPLOYED_AT

GATEWAYS = [f"gw-{i:02d}" for i in range(1, 28)]
WIDE_PLAN = textwrap.dedent(
    f"""
    version: 1
    name: wide
    goals: [Notice a gateway that stops forwarding.]
    owners: {{team: platform}}
    resources:
      metrics:
        - metric: MessagesForwarded
          namespace: Fleet/Gateways
          dimensions: {{Gateway: [{", ".join(GATEWAYS)}]}}
    tools: {{dashboard: false}}
    notify:
      topics:
        - name: alerts
          subscribers:
            - email: ops@example.com
      routes:
        - topic: alerts
    """
)
MAX_DATAPOINTS_PER_CALL = 100_800  # GetMetricData's documented limit


@pytest.fixture(scope="module")
def wide_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(plan file, cloud assembly) of the 27-series plan, synthesized once for this module."""
    base = tmp_path_factory.mktemp("wide")
    plan_path = base / "plan.yaml"
    plan_path.write_text(WIDE_PLAN, encoding="utf-8")
    return plan_path, synthesize(plan_path, base / "cdk.out")


@pytest.fixture
def wide(aws_env: LocalAws, wide_plan: tuple[Path, Path], handler_caches: None) -> IotWatch:
    plan_path, assembly = wide_plan
    fast_metrics.install()  # in case a nested endpoint stopped before (test_local_harness_reruns.py)
    return IotWatch.deploy(assembly, plan_path)


@pytest.fixture
def get_metric_data_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Every GetMetricData the endpoint answers, as the server saw it (queries and window)."""
    calls: list[dict[str, Any]] = []
    answer: Callable[..., Any] = CloudWatchBackend.get_metric_data

    def counting(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        names = ("queries", "start_time", "end_time")
        seen = dict(zip(names, args, strict=False)) | {k: v for k, v in kwargs.items() if k in names}
        calls.append(seen)
        return answer(self, *args, **kwargs)

    monkeypatch.setattr(CloudWatchBackend, "get_metric_data", counting)
    yield calls


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def test_stack_create_complete_builds_one_baseline_per_series_from_cloudwatch_history(
    wide: IotWatch, get_metric_data_calls: list[dict[str, Any]]
) -> None:
    period = wide.plan.frequency.period_seconds
    history_days = wide.plan.frequency.history_days
    trained_to = DEPLOYED_AT // period * period
    trained_from = trained_to - history_days * DAY
    assert len(wide.series) == len(GATEWAYS) == 27

    # series i gets 3*i datapoints inside the training window (the first gets none), and one
    # each just before the window and at its (exclusive) end, which must not be learnt from
    inside: dict[str, int] = {}
    points = []
    for i, series in enumerate(wide.series):
        inside[series.id] = 3 * i
        stride = (trained_to - trained_from) // max(3 * i, 1) // period * period
        points += [(series, trained_from + k * stride, 10 + k) for k in range(3 * i)]
        if i:
            points += [(series, trained_from - period, 999), (series, trained_to, 999)]
    wide.put_traffic(points)

    result = wide.build_baselines(DEPLOYED_AT)

    # the batching floor: the history and the week before it (slow change's two-week
    # comparison), ceil(series / floor(100,800 / 6,048)) = ceil(27 / 16) = 2 calls
    read_from = trained_from - COMPARE_SECONDS
    per_series = (trained_to - read_from) // period
    assert per_series == 6048
    floor = math.ceil(len(wide.series) / (MAX_DATAPOINTS_PER_CALL // per_series))
    assert floor == 2
    assert result["get_metric_data_calls"] == floor
    assert len(get_metric_data_calls) == floor, "GetMetricData calls the endpoint answered"
    assert sorted(len(c["queries"]) for c in get_metric_data_calls) == [11, 16]
    for call in get_metric_data_calls:
        assert (_epoch(call["start_time"]), _epoch(call["end_time"])) == (read_from, trained_to)
        assert len(call["queries"]) * per_series <= MAX_DATAPOINTS_PER_CALL

    assert result["built"] == 27
    assert result["without_history"] == [wide.series[0].id]

    items = wide.items("BASELINE")
    assert set(items) == {s.id for s in wide.series}, "one BASELINE item per series, pk SERIES#<id>"
    for series_id, item in items.items():
        record = json.loads(item["record"]["S"])
        assert item["pk"]["S"] == f"SERIES#{series_id}" and item["sk"]["S"] == "BASELINE"
        assert item["method"]["S"] == record["method"] == METHOD
        assert int(item["version"]["N"]) == record["version"] == 1
        assert int(item["built_at"]["N"]) == record["built_at"] == DEPLOYED_AT
        assert (record["trained_from"], record["trained_to"]) == (trained_from, trained_to)
        assert record["series_id"] == series_id
        assert record["period"] == period
        assert record["datapoints"] == inside[series_id], series_id


def test_the_refresh_schedule_rebuilds_with_the_next_version_and_window(
    wide: IotWatch, get_metric_data_calls: list[dict[str, Any]]
) -> None:
    period = wide.plan.frequency.period_seconds
    history_days = wide.plan.frequency.history_days
    gw = wide.series[5]
    first_end = DEPLOYED_AT // period * period
    # one datapoint that only the first window holds, one that only the second holds
    wide.put_traffic([(gw, first_end - history_days * DAY, 40), (gw, first_end + DAY - period, 50)])

    wide.build_baselines(DEPLOYED_AT)
    first = {sid: json.loads(item["record"]["S"]) for sid, item in wide.items("BASELINE").items()}
    result = wide.build_baselines(DEPLOYED_AT + DAY, scheduled=True)

    assert result["built"] == 27
    assert result["get_metric_data_calls"] == 2
    assert len(get_metric_data_calls) == 4
    items = wide.items("BASELINE")
    assert set(items) == set(first), "rebuilt in place: still one item per series"
    for series_id, item in items.items():
        record = json.loads(item["record"]["S"])
        assert int(item["version"]["N"]) == record["version"] == first[series_id]["version"] + 1 == 2
        assert record["trained_from"] == first[series_id]["trained_from"] + DAY
        assert record["trained_to"] == first[series_id]["trained_to"] + DAY
        assert record["built_at"] == DEPLOYED_AT + DAY
    assert first[gw.id]["datapoints"] == 1 and json.loads(items[gw.id]["record"]["S"])["datapoints"] == 1
    assert result["without_history"] == [s.id for s in wide.series if s.id != gw.id]
