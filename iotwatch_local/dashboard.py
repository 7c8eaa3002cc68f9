"""The deployed dashboard as on-call opens it: every band widget drawn by the band-widget
function in-process, as the CloudWatch console would ask it, into one HTML page."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from iotwatch.domain.times import iso_z as iso
from iotwatch.stack_outputs import OUTPUT_DASHBOARD_NAME

from iotwatch_local.events import widget_event
from iotwatch_local.lambda_runtime import LocalLambdaContext, cold_start, function_environment, logs_into


def draw_dashboard(stack: Any, path: Path, log: TextIO, *, start: int, end: int) -> dict[str, Any]:
    """Every band widget of the deployed dashboard, drawn by the band-widget function as the
    console would, into one HTML page; which of them show periods outside their band."""
    import boto3

    name = stack.outputs.get(OUTPUT_DASHBOARD_NAME)
    if name is None:
        return {"widgets": 0}
    body = json.loads(boto3.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    widgets = [w["properties"] for w in body["widgets"] if w["type"] == "custom"]
    environ = stack.handler_environ("BandWidget")
    with function_environment(environ), contextlib.redirect_stdout(log):
        from iotwatch.handlers import band_widget
    cold_start(band_widget)
    context = LocalLambdaContext(function_name=environ["AWS_LAMBDA_FUNCTION_NAME"], aws_request_id="draw")
    draw: Callable[..., str] = band_widget.handler
    drawn = []
    for widget in widgets:
        with function_environment(environ), contextlib.redirect_stdout(log), logs_into(log, band_widget):
            page = draw(widget_event(widget["params"], widget["title"], start, end), context)
        drawn.append((widget["title"], page))
    cells = "".join(
        f"<div style='display:inline-block;margin:8px;vertical-align:top'><b>{title}</b><br>{page}</div>"
        for title, page in drawn
    )
    path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{name}</title>"
        f"<body style='font-family:sans-serif'><h2>{name}: each series against its band, "
        f"{iso(start)[:16]} to {iso(end)[11:16]} UTC</h2>{cells}</body>\n",
        encoding="utf-8",
    )
    outside = [t for t, page in drawn if "fill='#d62728'/>" in page or "fill='#ff7f0e'/>" in page]
    return {
        "widgets": len(drawn),
        "drawn": sum(1 for _, page in drawn if page.startswith("<svg")),
        "outside_band": outside,
        "path": str(path),
    }
