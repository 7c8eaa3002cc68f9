"""Capability: show each series against its band, on demand. The dashboard's custom widgets
call this function when someone opens the dashboard; it reads the series, its stored
baseline and alert state and returns the chart (lambdas/iotwatch/handlers/band_widget.py).

Nothing per series is published for it: a view costs one metric requested and two small
reads per series drawn, instead of four custom metrics per series every hour.
"""

from __future__ import annotations

from aws_cdk import Duration
from constructs import Construct
from iotwatch.telemetry import BAND_WIDGET_SERVICE

from infra.capability import Capability, FunctionSpec, StackParts
from infra.nag import skip_checkov
from infra.storage import BAND_WIDGET_TABLE_ACTIONS

BAND_WIDGET_HANDLER = "iotwatch.handlers.band_widget.handler"


class BandWidget(Capability):
    def __init__(self, scope: Construct, construct_id: str, *, parts: StackParts) -> None:
        # Sizing: one draw reads one series (a day of 5-minute periods is 288 datapoints, the
        # 63 days CloudWatch keeps are 18,144) and scores each period against the baseline:
        # tens of milliseconds and a few MB (tests/unit/test_band_widget.py draws 63 days).
        # 256 MB keeps the cold start (boto3, two clients) the larger part; 30 s leaves room
        # for a throttled GetMetricData, and the console gives up on a widget sooner anyway.
        super().__init__(
            scope,
            construct_id,
            parts,
            FunctionSpec(
                "BandWidget",
                handler=BAND_WIDGET_HANDLER,
                service_name=BAND_WIDGET_SERVICE,
                purpose="draws a series against its baseline band on the dashboard",
                memory_size=256,
                timeout=Duration.seconds(30),
                table_actions=BAND_WIDGET_TABLE_ACTIONS,
                reads_metrics=True,
                dead_letters=False,
            ),
        )
        skip_checkov(
            self.function,
            "CKV_AWS_116",
            "Only ever invoked synchronously, by the CloudWatch console drawing a custom widget: "
            "Lambda keeps no asynchronous event to dead-letter, and a failed draw shows its reason "
            "in the widget.",
        )
        skip_checkov(
            self.function,
            "CKV_AWS_115",
            "One synchronous invocation per widget on screen: a reserved cap would blank widgets "
            "with a throttling error whenever a dashboard of many series is opened, instead of "
            "drawing them; its duration is tens of milliseconds, so its share of the pool is small.",
        )

    @property
    def function_arn(self) -> str:
        return self.function.function_arn
