"""One telemetry contract: every metric of iotwatch's own that the dashboard draws or an alarm
watches is one iotwatch.telemetry defines and a handler publishes, under its service's name."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from infra_support import Synth, join_to_text
from iotwatch import telemetry

HANDLERS = Path(telemetry.__file__).parent / "handlers"
SERVICE_OF_HANDLER = {
    "evaluator.py": telemetry.EVALUATOR_SERVICE,
    "baseline_builder.py": telemetry.BASELINE_BUILDER_SERVICE,
    "audit.py": telemetry.AUDIT_SERVICE,
}


def published() -> set[tuple[str, str]]:
    """(metric name, service) of every `metrics.add_metric(**X.datapoint(...))` in the handlers,
    with the service the stack runs that handler as."""
    found: set[tuple[str, str]] = set()
    for module, service in SERVICE_OF_HANDLER.items():
        for node in ast.walk(ast.parse((HANDLERS / module).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
                (spread,) = [k.value for k in node.keywords if k.arg is None]
                assert isinstance(spread, ast.Call) and isinstance(spread.func, ast.Attribute)
                assert isinstance(spread.func.value, ast.Name), ast.dump(spread)
                metric = getattr(telemetry, spread.func.value.id)
                assert metric.service == service, (module, metric)
                found.add((metric.name, service))
    return found


def test_the_handlers_publish_every_metric_of_the_contract_and_no_other() -> None:
    assert published() == {(m.name, m.service) for m in telemetry.OWN_METRICS}


def _dashboard_metrics(s: Synth) -> set[tuple[str, str]]:
    _, dashboard = s.only("AWS::CloudWatch::Dashboard")
    body = json.loads(join_to_text(dashboard["Properties"]["DashboardBody"], placeholder="{}"))
    drawn: set[tuple[str, str]] = set()
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            parts = [p for p in row if not isinstance(p, dict)]
            if parts and parts[0] == s.metrics_namespace:
                _, name, *dimensions = parts
                assert dimensions[0] == telemetry.SERVICE_DIMENSION and len(dimensions) == 2, row
                drawn.add((name, dimensions[1]))
    return drawn


def _alarm_metrics(s: Synth) -> set[tuple[str, str]]:
    watched: set[tuple[str, str]] = set()
    for alarm in s.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        stats: list[dict[str, Any]] = [
            q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q
        ]
        if "MetricName" in props:
            stats.append(props)
        for metric in stats:
            if metric.get("Namespace") == s.metrics_namespace:
                dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
                assert set(dimensions) == {telemetry.SERVICE_DIMENSION}, metric
                watched.add((metric["MetricName"], dimensions[telemetry.SERVICE_DIMENSION]))
    return watched


def test_the_dashboard_and_the_alarms_use_only_metrics_the_handlers_publish(full: Synth) -> None:
    drawn, watched = _dashboard_metrics(full), _alarm_metrics(full)
    assert drawn and watched  # the full plan draws and alarms on iotwatch's own metrics
    assert drawn <= published()
    assert watched == {(telemetry.HEARTBEAT.name, telemetry.HEARTBEAT.service)}
