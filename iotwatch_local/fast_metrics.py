"""An indexed GetMetricData for the local endpoint.

moto 5.2.5 answers a MetricStat query by rescanning every stored datapoint for every
period of the window: 14 days of 5-minute history for nine series (the demo's baseline
bootstrap) takes minutes and times the client out. This answers the same queries with
one pass per query and one bucket per period, with moto's semantics kept: datapoints in
[start, end), one value per non-empty period stamped with the period start, exact
dimension-set match when the query names dimensions, and (moto's known gap) a query
without dimensions summing across every dimension set. Metric math and Metrics Insights
queries still go to moto's own code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend, Dimension, Statistics

from iotwatch_local.patching import CountedPatch


def _fast_get_metric_data(
    self: CloudWatchBackend,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    original = _PATCH.original
    assert original is not None
    if any("MetricStat" not in q for q in queries):
        return original(self, queries, start_time, end_time, scan_by)
    start_time = start_time.replace(microsecond=0)
    end_time = end_time.replace(microsecond=0)
    if start_time >= end_time:  # moto's own validation messages
        return original(self, queries, start_time, end_time, scan_by)

    by_metric: dict[tuple[str, str], list[Any]] = {}
    for datum in self.get_all_metrics():
        if start_time <= datum.timestamp < end_time:
            by_metric.setdefault((datum.namespace, datum.name), []).append(datum)

    results = []
    for query in queries:
        stat_query = query["MetricStat"]
        metric = stat_query["Metric"]
        period = int(stat_query["Period"])
        wanted = sorted(Dimension(name=d["Name"], value=d["Value"]) for d in metric.get("Dimensions", []))
        unit = stat_query.get("Unit")
        buckets: dict[int, list[Any]] = {}
        for datum in by_metric.get((metric["Namespace"], metric["MetricName"]), []):
            if wanted and sorted(datum.dimensions) != wanted:
                continue
            if unit and datum.unit != unit:
                continue
            index = int((datum.timestamp - start_time).total_seconds()) // period
            buckets.setdefault(index, []).append(datum)
        values, timestamps = [], []
        for index in sorted(buckets):
            stamp = start_time + timedelta(seconds=index * period)
            stats = Statistics([stat_query["Stat"]], stamp)
            stats.metric_data = buckets[index]
            values.append(stats.get_statistics_for_type(stat_query["Stat"]))
            timestamps.append(stamp)
        if scan_by == "TimestampDescending":
            values.reverse()
            timestamps.reverse()
        if query.get("ReturnData", True):
            results.append(
                {
                    "id": query["Id"],
                    "label": query.get("Label") or f"{metric['MetricName']} {stat_query['Stat']}",
                    "values": values,
                    "timestamps": timestamps,
                    "status_code": "Complete",
                }
            )
    return results


_PATCH = CountedPatch(CloudWatchBackend, "get_metric_data", _fast_get_metric_data)
install = _PATCH.install
uninstall = _PATCH.uninstall
