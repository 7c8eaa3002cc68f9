"""Which dimension values a metric has: CloudWatch ListMetrics, every page, counted.

ListMetrics answers up to 500 metrics per call (NextToken for the rest), returns every
metric with *at least* the dimensions asked for (extra keys are dropped by
`matching_dimension_sets`), lists only metrics with data in the last two weeks, and shows a
new metric up to 15 minutes after its first datapoint. It has no resource-level permissions:
the functions hold cloudwatch:ListMetrics on Resource '*'.

`RecentlyActive=PT3H` (metrics with data in the last three hours) is left off on purpose:
on AWS/IoT no traffic means no datapoint, so a rule whose traffic stopped three hours ago
would drop out of the list and stop being evaluated, in the middle of the very incident it
should page for (and its alert would never resolve). Both functions list the same two
weeks: the builder keeps building a baseline for what the evaluator evaluates.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iotwatch.domain.discovery import Dimensions, MetricListError, SeriesTemplate, matching_dimension_sets

# A failed listing has a fallback (the last stored values): two attempts in all (one retry),
# not the six a GetMetricData gets, so a throttled ListMetrics costs a run about a second.
LIST_METRICS_ATTEMPTS = 2


class CloudWatchMetricLister:
    def __init__(self, cloudwatch: Any) -> None:
        self._cloudwatch = cloudwatch
        self.calls = 0

    def list_dimension_sets(self, template: SeriesTemplate) -> tuple[tuple[Dimensions, ...], int]:
        """The template's dimension sets (exact key set, sorted, capped) and how many exist."""
        request: dict[str, Any] = {
            "Namespace": template.namespace,
            "MetricName": template.metric,
            "Dimensions": [
                *({"Name": k, "Value": v} for k, v in template.fixed),
                *({"Name": k} for k in template.wildcard),
            ],
        }
        listed: list[dict[str, Any]] = []
        try:
            while True:
                self.calls += 1
                response = self._cloudwatch.list_metrics(**request)
                listed += response.get("Metrics", [])
                token = response.get("NextToken")
                if not token:
                    break
                request["NextToken"] = token
        except (ClientError, BotoCoreError) as exc:
            raise MetricListError(f"ListMetrics {template.key}: {exc}") from exc
        return matching_dimension_sets(template, listed)
