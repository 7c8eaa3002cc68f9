"""Capability: show it. A CloudWatch dashboard with each watched metric drawn against the
baseline band the evaluator publishes, and the health of iotwatch itself."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from iotwatch.domain.series import Series
from iotwatch.plan.loader import expand_series
from iotwatch.plan.model import Plan

from infra.naming import METRICS_NAMESPACE, dashboard_name

# What the evaluator publishes per series (namespace IotWatch, one dimension Series=<series.id>).
BAND_DIMENSION = "Series"
EXPECTED_METRIC = "Expected"
BAND_LOWER_METRIC = "BandLower"
BAND_UPPER_METRIC = "BandUpper"
DEVIATION_METRIC = "DeviationScore"

# CloudWatch allows 500 widgets per dashboard; leave room for the header and health rows.
MAX_SERIES_WIDGETS = 480
WIDGETS_PER_ROW = 2
GRAPH_WIDTH = 24 // WIDGETS_PER_ROW
GRAPH_HEIGHT = 6


class FleetDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        functions: Mapping[str, lambda_.IFunction],
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard_name = dashboard_name(plan)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self.dashboard_name,
            default_interval=Duration.days(1),
        )
        series = expand_series(plan)
        drawn = series[:MAX_SERIES_WIDGETS]
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=header_markdown(plan, hidden=len(series) - len(drawn)), width=24, height=6
            )
        )
        graphs = [series_graph(s) for s in drawn]
        for start in range(0, len(graphs), WIDGETS_PER_ROW):
            self.dashboard.add_widgets(*graphs[start : start + WIDGETS_PER_ROW])
        self.dashboard.add_widgets(*health_widgets(functions, dead_letter_queue))


def header_markdown(plan: Plan, *, hidden: int = 0) -> str:
    """Goals, owners and who is notified (topic names and routes only: never a contact)."""
    lines = [f"# iotwatch: {plan.name}", "", "**Goals**", ""]
    lines += [f"- {goal}" for goal in plan.goals]
    lines += ["", f"**Owner team:** {plan.owners.team}"]
    if plan.owners.escalation:
        lines.append(f"**Escalation:** {plan.owners.escalation}")
    if plan.owners.runbook:
        lines.append(f"**Runbook:** [{plan.owners.runbook}]({plan.owners.runbook})")
    lines += ["", "**Notified**", ""]
    for route in plan.notify.routes:
        metrics = "" if route.metrics == ["*"] else f" for {', '.join(route.metrics)}"
        lines.append(f"- `{route.topic}`: {', '.join(route.severities)}{metrics}")
    lines += [
        "",
        f"Each graph: the metric (left axis), the learned baseline band ({METRICS_NAMESPACE} "
        f"{EXPECTED_METRIC}, {BAND_LOWER_METRIC}, {BAND_UPPER_METRIC}) and the deviation score "
        "(right axis) against the warning and critical thresholds.",
    ]
    if hidden:
        lines += ["", f"{hidden} more series are watched but not drawn (dashboard widget limit)."]
    return "\n".join(lines)


def series_graph(series: Series) -> cloudwatch.GraphWidget:
    period = Duration.seconds(series.period)

    def band(metric_name: str, label: str, color: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={BAND_DIMENSION: series.id},
            statistic="Average",
            period=period,
            label=label,
            color=color,
        )

    actual = cloudwatch.Metric(
        namespace=series.namespace,
        metric_name=series.metric,
        dimensions_map=series.dimension_map,
        statistic=series.statistic,
        period=period,
        label=series.label,
        color=cloudwatch.Color.BLUE,
    )
    return cloudwatch.GraphWidget(
        title=series.label,
        width=GRAPH_WIDTH,
        height=GRAPH_HEIGHT,
        left=[
            actual,
            band(EXPECTED_METRIC, "expected", cloudwatch.Color.GREEN),
            band(BAND_LOWER_METRIC, "band lower", cloudwatch.Color.GREY),
            band(BAND_UPPER_METRIC, "band upper", cloudwatch.Color.GREY),
        ],
        right=[band(DEVIATION_METRIC, "deviation score", cloudwatch.Color.ORANGE)],
        right_annotations=[
            cloudwatch.HorizontalAnnotation(value=series.detection.warning, label="warning", color="#ff7f0e"),
            cloudwatch.HorizontalAnnotation(
                value=series.detection.critical, label="critical", color="#d62728"
            ),
        ],
        left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
        right_y_axis=cloudwatch.YAxisProps(min=0, show_units=False, label="score"),
    )


def health_widgets(functions: Mapping[str, lambda_.IFunction], queue: sqs.IQueue) -> list[cloudwatch.IWidget]:
    """Is iotwatch itself working: errors, throttles and durations, and undelivered events."""
    five_minutes = Duration.minutes(5)
    return [
        cloudwatch.GraphWidget(
            title="iotwatch errors and throttles",
            width=8,
            height=GRAPH_HEIGHT,
            left=[
                metric
                for name, fn in functions.items()
                for metric in (
                    fn.metric_errors(period=five_minutes, label=f"{name} errors"),
                    fn.metric_throttles(period=five_minutes, label=f"{name} throttles"),
                )
            ],
        ),
        cloudwatch.GraphWidget(
            title="iotwatch duration (max)",
            width=8,
            height=GRAPH_HEIGHT,
            left=[
                fn.metric_duration(period=five_minutes, statistic="Maximum", label=name)
                for name, fn in functions.items()
            ],
        ),
        cloudwatch.GraphWidget(
            title="Undelivered schedule events (dead-letter queue)",
            width=8,
            height=GRAPH_HEIGHT,
            left=[queue.metric_approximate_number_of_messages_visible(period=five_minutes, label="messages")],
        ),
    ]
