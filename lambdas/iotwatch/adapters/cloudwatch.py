"""Reading AWS/IoT datapoints with GetMetricData: as few calls as the API allows.

One call carries up to 500 queries and 100,800 datapoints, so N series cost
ceil(N / 500) calls per evaluation (more only when a long history read hits the
datapoint budget). A ratio series is read as its parts (`domain.ratios`): every distinct
metric query of a read is asked once, so N is the number of queries, and the shares are
computed from the answers. A partial answer (NextToken / PartialData) is followed to the
end, never taken as a drop to zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from iotwatch.domain.metric_calls import Datapoints, plan_batches
from iotwatch.domain.ratios import combine, metric_queries, query_key
from iotwatch.domain.series import Series


class MetricReadError(RuntimeError):
    """CloudWatch answered a query with an error: the data is unknown, not zero."""


FAILED_STATUSES = frozenset({"InternalError", "Forbidden"})


class CloudWatchMetricReader:
    def __init__(self, cloudwatch: Any) -> None:
        self._cloudwatch = cloudwatch
        self.calls = 0

    def read(self, series: Sequence[Series], *, start: int, end: int) -> Datapoints:
        """Each series' datapoints in [start, end), by series id (a ratio's attempts beside it)."""
        queries = metric_queries(series)
        result: Datapoints = {query_key(q): [] for q in queries}
        for batch in plan_batches(queries, start=start, end=end):
            self._read_batch(batch, start=start, end=end, result=result)
        for points in result.values():
            points.sort()
        return combine(series, result)

    def _read_batch(self, batch: Sequence[Series], *, start: int, end: int, result: Datapoints) -> None:
        ids = {f"m{i}": query_key(s) for i, s in enumerate(batch)}
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": s.namespace,
                        "MetricName": s.metric,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in s.dimensions],
                    },
                    "Period": s.period,
                    "Stat": s.statistic,
                },
                "ReturnData": True,
            }
            for query_id, s in zip(ids, batch, strict=True)
        ]
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(start, UTC),
            "EndTime": datetime.fromtimestamp(end, UTC),
            "ScanBy": "TimestampAscending",
        }
        seen: dict[str, dict[int, float]] = {sid: {} for sid in ids.values()}
        failed: dict[str, str] = {}
        while True:
            response = self._cloudwatch.get_metric_data(**request)
            self.calls += 1
            for item in response.get("MetricDataResults", []):
                series_id = ids.get(item["Id"])
                if series_id is None:
                    continue
                if item.get("StatusCode") in FAILED_STATUSES:
                    messages = "; ".join(m.get("Value", "") for m in item.get("Messages", []))
                    failed[series_id] = f"{item['StatusCode']}{': ' + messages if messages else ''}"
                for ts, value in zip(item.get("Timestamps", []), item.get("Values", []), strict=False):
                    seen[series_id][int(ts.timestamp())] = float(value)
            token = response.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        if failed:
            # Fail the run (it is retried) rather than score unknown data as a silent fleet.
            listing = ", ".join(f"{sid} ({why})" for sid, why in failed.items())
            raise MetricReadError(f"GetMetricData failed for {len(failed)} metric query(ies): {listing}")
        for series_id, points in seen.items():
            result[series_id].extend((ts, v) for ts, v in points.items() if start <= ts < end)
