"""Per-series baseline metrics in CloudWatch embedded metric format (EMF).

One EMF document per series carries Expected, BandLower, BandUpper and DeviationScore
under the dimension Series=<id>, which is what the dashboard draws as the band. The actual
value rides along as a log property, not a metric: the dashboard draws the AWS/IoT metric
itself, and a fifth custom metric would cost another $0.30 per series and month. Powertools' Metrics flushes one dimension set per document and `single_metric`
one metric per document, so five metrics per series would cost five documents; this
writes one.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from iotwatch.domain.deviation import PeriodScore

NAMESPACE = "IotWatch"
METRICS = ("Expected", "BandLower", "BandUpper", "DeviationScore")


def emf_document(
    series_id: str, score: PeriodScore, *, timestamp_ms: int, service: str, namespace: str = NAMESPACE
) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [["Series"]],
                        "Metrics": [{"Name": name, "Unit": "None"} for name in METRICS],
                    }
                ],
            },
            "Series": series_id,
            "service": service,
            "Actual": score.actual,
            "Expected": round(score.expected, 3),
            "BandLower": round(score.lower, 3),
            "BandUpper": round(score.upper, 3),
            "DeviationScore": round(score.score, 3),
        },
        separators=(",", ":"),
    )


class EmfWriter:
    def __init__(
        self, sink: Callable[[str], None] = print, service: str = "iotwatch", namespace: str = NAMESPACE
    ) -> None:
        self._sink = sink
        self._service = service
        self._namespace = namespace  # the stack sets IotWatch/<plan> (POWERTOOLS_METRICS_NAMESPACE)
        self.documents = 0

    def write(self, series_id: str, score: PeriodScore) -> None:
        self._sink(
            emf_document(
                series_id,
                score,
                timestamp_ms=score.ts * 1000,
                service=self._service,
                namespace=self._namespace,
            )
        )
        self.documents += 1


AUDIT_ACTION_METRIC = "AuditEventsByAction"


def audit_action_document(action: str, *, timestamp_ms: int, namespace: str = NAMESPACE) -> str:
    """One IoT control-plane call, counted under the single dimension Action=<API action>;
    Powertools' Metrics would add its `service` dimension to it, which the dashboard's
    SEARCH by action would then have to repeat."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [["Action"]],
                        "Metrics": [{"Name": AUDIT_ACTION_METRIC, "Unit": "Count"}],
                    }
                ],
            },
            "Action": action,
            AUDIT_ACTION_METRIC: 1,
        },
        separators=(",", ":"),
    )
