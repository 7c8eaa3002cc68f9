"""The dashboard's band widgets on the stack deployed from the default plan: the dashboard as
CloudWatch stores it names one custom widget per series, and the band-widget function,
called as the console calls it, draws each series from what CloudWatch and the table hold:
the outage outside the band, the firing state, the others inside it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.deviation import score_period
from iotwatch.stack_outputs import OUTPUT_DASHBOARD_NAME
from iotwatch_harness import DAY, DEFAULT_PLAN_FILE, HOUR, IotWatch, clear_handler_caches, ticks

from iotwatch_local import fast_metrics
from iotwatch_local.endpoint import LocalAws
from iotwatch_local.events import widget_event
from iotwatch_local.scenario import DEPLOYED_AT, INCIDENT_END, INCIDENT_METRICS, INCIDENT_START
from iotwatch_local.traffic import Fleet, Incident, generate

OUTSIDE = ("#ff7f0e", "#d62728")  # the warning and critical points


@pytest.fixture(scope="module")
def fleet(local_aws: LocalAws, fleet_assembly: Any) -> Iterator[IotWatch]:
    local_aws.reset()
    fast_metrics.install()
    with local_aws.env():
        clear_handler_caches()
        iotwatch = IotWatch.deploy(fleet_assembly, DEFAULT_PLAN_FILE)
        incident = Incident(INCIDENT_START, INCIDENT_END, INCIDENT_METRICS, factor=0.2, reconnect_burst=False)
        start = DEPLOYED_AT - iotwatch.plan.frequency.history_days * DAY
        iotwatch.put_traffic(
            generate(Fleet(), iotwatch.series, start=start, end=INCIDENT_END + HOUR, incidents=[incident])
        )
        iotwatch.build_baselines(DEPLOYED_AT)
        f = iotwatch.plan.frequency
        for tick in ticks(
            INCIDENT_START - 15 * 60,
            INCIDENT_START + 20 * 60,
            period=f.period_seconds,
            settle=f.settle_seconds,
        ):
            iotwatch.evaluate(tick)
        yield iotwatch
        clear_handler_caches()
    local_aws.reset()


def band_widgets(fleet: IotWatch) -> list[dict[str, Any]]:
    name = fleet.stack.outputs[OUTPUT_DASHBOARD_NAME]
    body = json.loads(boto3.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    return [w["properties"] for w in body["widgets"] if w["type"] == "custom"]


def test_every_series_of_the_plan_has_a_widget_that_draws_it_against_its_band(fleet: IotWatch) -> None:
    widgets = band_widgets(fleet)
    assert sorted(w["params"]["series"] for w in widgets) == sorted(s.id for s in fleet.series)
    store = DynamoStateStore(boto3.client("dynamodb"), fleet.table)
    start, end = INCIDENT_START - 2 * HOUR, INCIDENT_START + 20 * 60
    for widget in widgets:
        series = next(s for s in fleet.series if s.id == widget["params"]["series"])
        page = fleet.draw(widget_event(widget["params"], widget["title"], start, end))
        assert page.startswith("<svg"), page[:200]
        # the points outside the band, as the evaluator scores them
        outside = sum(page.count(f"fill='{colour}'/>") for colour in OUTSIDE)
        state = store.series_state.get_states([series.id]).get(series.id)
        if series.metric in INCIDENT_METRICS:
            assert outside >= 3, series.id  # three finished 5-minute periods of the outage
            assert state is not None and state.status == "firing"
            assert re.search(rf"firing {state.severity} since 13:0\dZ", page), page[:400]
        else:
            assert outside == 0, series.id
            assert "firing" not in page[:400]


def test_the_status_line_is_the_last_finished_period_against_the_stored_baseline(fleet: IotWatch) -> None:
    [widget] = [w for w in band_widgets(fleet) if w["title"] == "Ping.Success (MQTT)"]
    series = next(s for s in fleet.series if s.id == widget["params"]["series"])
    end = INCIDENT_START + 20 * 60
    page = fleet.draw(widget_event(widget["params"], widget["title"], end - HOUR, end))
    response = boto3.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": series.namespace,
                        "MetricName": series.metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in series.dimensions],
                    },
                    "Period": series.period,
                    "Stat": series.statistic,
                },
            }
        ],
        StartTime=end - series.period,
        EndTime=end,
    )
    [actual] = response["MetricDataResults"][0]["Values"]
    baseline = DynamoStateStore(boto3.client("dynamodb"), fleet.table).baselines.get_baselines([series.id])[
        series.id
    ]
    score = score_period(
        end - series.period, actual, baseline.expectation_at(end - series.period), series.detection
    )
    assert f"now {actual:,.0f} (normal {score.lower:,.0f}-{score.upper:,.0f})" in page
    assert f"baseline v{baseline.version} ({baseline.method})" in page
