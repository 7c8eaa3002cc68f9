"""Capability: show it. A CloudWatch dashboard, top to bottom:

1. the plan: goals, owners, who is notified (topic names, masked subscribers, routes);
2. now: series firing, notifications sent/failed/silenced, the self-monitoring alarms; the
   last evaluation's series, the open incidents and the last ones (Logs Insights on the
   evaluator's `evaluation complete` and `incident` lines);
3. each watched series against its baseline band: a custom widget per series, drawn by the
   band-widget function from GetMetricData and the stored baseline when someone looks (no
   custom metric per series); a metric watched for every value of a dimension ("*") as one
   SEARCH graph of all its values;
4. with `tools.audit`: IoT control-plane calls by action (a Logs Insights query of the audit
   function's log, run when viewed), audit events and alerts;
5. iotwatch's own health: invocations, errors, throttles, duration per function,
   GetMetricData calls (the evaluator's from its log lines), undelivered events.

CloudWatch limits a dashboard to 500 widgets and 2,500 metrics (500 per widget): the series
widgets get what the other widgets leave, and the header says how many series are not drawn.
Counters the functions publish only when they count something (firing, notifications,
silenced, audit alerts) are drawn through FILL(m, 0), so a quiet period reads 0, not "no data".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from iotwatch.domain.discovery import SeriesTemplate
from iotwatch.domain.series import Series
from iotwatch.handlers.log_queries import (
    AUDIT_BY_ACTION_QUERY,
    EVALUATOR_CALLS_QUERY,
    INCIDENTS_QUERY,
    OPEN_INCIDENTS_QUERY,
    SERIES_NOW_QUERY,
)
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.model.notify import SEVERITIES
from iotwatch.plan.model.plan import Plan
from iotwatch.telemetry import (
    AUDIT_ALERTS,
    AUDIT_EVENTS,
    AUDIT_EVENTS_REJECTED,
    BUILDER_GET_METRIC_DATA_CALLS,
    DEVIATIONS_SILENCED,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_SENT,
    SERIES_FIRING,
    OwnMetric,
)

from infra.metrics import DRAWN_PERIOD, HOUR, FunctionMetrics, IotWatchMetrics
from infra.naming import dashboard_name

# What the band widget is told: the series it draws (service.band_widget.SERIES_PARAM).
BAND_SERIES_PARAM = "series"

# CloudWatch dashboard quotas.
MAX_WIDGETS = 500
MAX_METRICS = 2500
MAX_METRICS_PER_WIDGET = 500

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
        metrics: IotWatchMetrics,
        band_widget: lambda_.IFunction,
        audit_log_group: logs.ILogGroup | None = None,
        alarms: Sequence[cloudwatch.IAlarm] = (),
    ) -> None:
        """`metrics`: iotwatch's own, drawn in the health rows; `band_widget`: the function
        that draws each series against its band (and is drawn in the health rows); `audit_log_group`: the audit function's log,
        which the calls-by-action table queries (with `tools.audit`)."""
        super().__init__(scope, construct_id)
        self.dashboard_name = dashboard_name(plan)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self.dashboard_name,
            default_interval=Duration.days(1),
        )
        rows: list[list[cloudwatch.IWidget]] = [
            now_widgets(metrics, alarms) + incident_widgets(metrics.evaluator.function),
            audit_widgets(metrics, audit_log_group)
            if plan.tools.audit and audit_log_group is not None
            else [],
            *health_widgets(metrics, metrics.functions(band_widget)),
        ]
        # A "*" metric's values are only known while running: one SEARCH graph each, drawn
        # before the per-series widgets share what is left.
        discovered = [discovered_graph(t) for t in expand_templates(plan)]
        fixed = [w for row in rows for w in row] + discovered
        series = expand_series(plan)
        drawn = series[: series_capacity(self, fixed)]
        header = header_markdown(plan, hidden=len(series) - len(drawn))
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(markdown=header, width=24, height=header_height(header))
        )
        self.dashboard.add_widgets(*rows[0])
        graphs: list[cloudwatch.IWidget] = [band_widget_for(s, band_widget) for s in drawn]
        graphs += discovered
        for start in range(0, len(graphs), WIDGETS_PER_ROW):
            self.dashboard.add_widgets(*graphs[start : start + WIDGETS_PER_ROW])
        for row in rows[1:]:
            if row:
                self.dashboard.add_widgets(*row)


def metric_count(scope: Construct, widget: cloudwatch.IWidget) -> int:
    """Metrics and expressions one widget puts on the dashboard, as CloudWatch counts them."""
    count = 0
    for rendered in Stack.of(scope).resolve(widget.to_json()):
        count += len(rendered.get("properties", {}).get("metrics", []))
    return count


def series_capacity(scope: Construct, fixed: Sequence[cloudwatch.IWidget]) -> int:
    """How many series graphs fit next to the header and the `fixed` widgets."""
    counts = [metric_count(scope, w) for w in fixed]
    assert all(c <= MAX_METRICS_PER_WIDGET for c in counts), counts
    assert sum(counts) <= MAX_METRICS, counts
    # a band widget holds no metric: only the widget count limits them
    return max(0, MAX_WIDGETS - 1 - len(fixed))


def _code(text: str) -> str:
    """Inline code: masked contacts hold '*', which markdown would read as emphasis."""
    return "`" + text.replace("`", "'") + "`"


def header_markdown(plan: Plan, *, hidden: int = 0) -> str:
    """Goals, owners and who is notified. Contacts only as Contact.describe() gives them
    (masked literals, the env variable or SSM parameter a contact comes from): never an address."""
    lines = [f"# iotwatch: {plan.name}", "", "**Goals**", ""]
    lines += [f"- {goal}" for goal in plan.goals]
    lines += ["", f"**Owner team:** {plan.owners.team}"]
    if plan.owners.escalation:
        lines.append(f"**Escalation:** {plan.owners.escalation}")
    if plan.owners.runbook:
        lines.append(f"**Runbook:** [{plan.owners.runbook}]({plan.owners.runbook})")
    lines += ["", "**Notified** (topic: severities, metrics)", ""]
    for route in plan.notify.routes:
        metrics = "" if route.metrics == ["*"] else f" for {', '.join(route.metrics)}"
        lines.append(f"- `{route.topic}`: {', '.join(route.severities)}{metrics}")
    if plan.tools.audit:
        audit = [t for s in SEVERITIES for t in plan.audit_topics_for(s)]
        lines.append(
            f"- audit alerts (IoT control-plane calls): {', '.join(_code(t) for t in dict.fromkeys(audit))}"
        )
    lines.append(f"- alarms on iotwatch itself: `{plan.notify.operations}`")
    lines += ["", "**Subscribers**", ""]
    for topic in plan.notify.topics:
        who = [
            f"{ {'email': 'e-mail', 'sms': 'SMS'}.get(s.protocol, s.protocol) } {_code(s.describe())}"
            for s in topic.subscribers
        ]
        lines.append(f"- `{topic.name}`: {', '.join(who) if who else 'none'}")
    lines += [
        "",
        "Each series widget: the metric (blue), what its baseline expects (dashed) and the normal "
        "range (green, the warning sensitivity), periods outside it (orange: warning, red: critical) "
        "and how long it has been firing (shaded), drawn by iotwatch's band-widget function when you "
        "look (your role needs lambda:InvokeFunction on it).",
    ]
    if expand_templates(plan):
        lines += [
            "",
            "A metric watched for every value of a dimension ('*') is one graph of every value "
            "CloudWatch has (a SEARCH): its values are discovered while running, so no band is drawn.",
        ]
    if hidden:
        lines += ["", f"{hidden} more series are watched but not drawn (dashboard widget limit)."]
    return "\n".join(lines)


def header_height(markdown: str) -> int:
    return min(max(6, math.ceil(len(markdown.splitlines()) * 0.45)), 18)


_SEARCH_NAME = re.compile(r"^[A-Za-z0-9/]+$")


def _search_name(name: str) -> str:
    """A namespace or dimension name in a SEARCH schema: in double quotes unless plain."""
    return name if _SEARCH_NAME.match(name) else '"' + name.replace('"', '\\"') + '"'


def search_expression(template: SeriesTemplate) -> str:
    """Every series of `template` as CloudWatch has them: the schema {namespace, keys...} matches
    exactly that dimension set (like discovery), the fixed values are exact-match terms."""
    schema = ",".join(_search_name(n) for n in (template.namespace, *sorted(template.dimension_keys)))
    terms = [f"MetricName={_quoted(template.metric)}"]
    terms += [f"{_search_name(k)}={_quoted(v)}" for k, v in template.fixed]
    return f"SEARCH('{{{schema}}} {' '.join(terms)}', '{template.statistic}', {template.period})"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'") + '"'


def discovered_graph(template: SeriesTemplate) -> cloudwatch.GraphWidget:
    """One line per discovered value (up to the 500 a SEARCH returns), no band."""
    return cloudwatch.GraphWidget(
        title=f"{template.label}, discovered",
        width=GRAPH_WIDTH,
        height=GRAPH_HEIGHT,
        left=[cloudwatch.SearchExpression(expression=search_expression(template), label="")],
        left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
    )


def band_widget_for(series: Series, function: lambda_.IFunction) -> cloudwatch.CustomWidget:
    """One series against its band, drawn by the band-widget function for the dashboard's time range."""
    return cloudwatch.CustomWidget(
        function_arn=function.function_arn,
        title=series.label,
        width=GRAPH_WIDTH,
        height=GRAPH_HEIGHT,
        params={BAND_SERIES_PARAM: series.id},
        update_on_refresh=True,
        update_on_resize=True,
        update_on_time_range_change=True,
    )


def filled(metric: cloudwatch.Metric, label: str, color: str | None = None) -> cloudwatch.MathExpression:
    """A counter published only when it counts something, with 0 in the periods without it."""
    key = metric.metric_name[:1].lower() + metric.metric_name[1:]  # unique within a graph
    return cloudwatch.MathExpression(
        expression=f"FILL({key}, 0)",
        using_metrics={key: metric},
        label=label,
        color=color,
        period=metric.period,
    )


def now_widgets(metrics: IotWatchMetrics, alarms: Sequence[cloudwatch.IAlarm]) -> list[cloudwatch.IWidget]:
    """Active incidents, what was sent about them, and the state of the self-monitoring alarms."""
    # drawn at the period one evaluation falls into, as its alarms evaluate it
    period = metrics.evaluator.run_period

    def evaluator(
        metric: OwnMetric, statistic: str, label: str, color: str | None = None
    ) -> cloudwatch.Metric:
        return metrics.own(metric, statistic=statistic, period=period, label=label, color=color)

    widgets: list[cloudwatch.IWidget] = [
        cloudwatch.GraphWidget(
            title="Active incidents and notifications",
            width=9 if alarms else 18,
            height=GRAPH_HEIGHT,
            left=[
                filled(evaluator(SERIES_FIRING, "Maximum", "firing"), "series firing", cloudwatch.Color.RED)
            ],
            right=[
                filled(evaluator(metric, "Sum", label), label, color)
                for metric, label, color in (
                    (NOTIFICATIONS_SENT, "notifications sent", cloudwatch.Color.BLUE),
                    (NOTIFICATIONS_FAILED, "notifications failed", cloudwatch.Color.PURPLE),
                    (DEVIATIONS_SILENCED, "deviations silenced", cloudwatch.Color.GREY),
                )
            ],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False, label="series"),
            right_y_axis=cloudwatch.YAxisProps(min=0, show_units=False, label="messages"),
        ),
    ]
    if alarms:
        widgets.append(
            cloudwatch.AlarmStatusWidget(
                title="iotwatch self-monitoring alarms",
                alarms=list(alarms),
                width=9,
                height=GRAPH_HEIGHT,
                sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
            )
        )
    return widgets


def incident_widgets(evaluator: lambda_.IFunction) -> list[cloudwatch.IWidget]:
    """The last evaluation's series (evaluated, learning, firing), how many incidents are open
    now, and every incident of the dashboard's time range with its status, severity, group
    and members (its timeline: `iotwatch incidents show ID`)."""
    logs = [_log_group_name(evaluator)]

    def table(title: str, query: Sequence[str], width: int) -> cloudwatch.LogQueryWidget:
        return cloudwatch.LogQueryWidget(
            title=title,
            log_group_names=logs,
            query_lines=list(query),
            view=cloudwatch.LogQueryVisualizationType.TABLE,
            width=width,
            height=GRAPH_HEIGHT,
        )

    return [
        table("Series now (last evaluation)", SERIES_NOW_QUERY, 8),
        table("Open incidents (last evaluation)", OPEN_INCIDENTS_QUERY, 4),
        table("Incidents (open and resolved; timeline: iotwatch incidents show ID)", INCIDENTS_QUERY, 12),
    ]


def _log_group_name(function: lambda_.IFunction) -> str:
    """The function's own log group (infra.functions gives each one); an imported function
    logs to Lambda's default group."""
    group = getattr(function, "log_group", None)
    return group.log_group_name if group is not None else f"/aws/lambda/{function.function_name}"


def audit_widgets(metrics: IotWatchMetrics, audit_log_group: logs.ILogGroup) -> list[cloudwatch.IWidget]:
    """IoT control-plane calls by API action (a Logs Insights query of the audit function's
    log, run when the dashboard is viewed: no metric per action) and what the audit function
    made of them."""

    def audit(metric: OwnMetric, label: str, color: str | None = None) -> cloudwatch.Metric:
        return metrics.own(metric, statistic="Sum", period=HOUR, label=label, color=color)

    return [
        cloudwatch.LogQueryWidget(
            title="IoT control-plane calls by action (CloudTrail, in the dashboard's time range)",
            width=16,
            height=GRAPH_HEIGHT,
            log_group_names=[audit_log_group.log_group_name],
            query_lines=list(AUDIT_BY_ACTION_QUERY),
            view=cloudwatch.LogQueryVisualizationType.TABLE,
        ),
        cloudwatch.GraphWidget(
            title="Audit events and alerts (per hour)",
            width=8,
            height=GRAPH_HEIGHT,
            left=[
                audit(AUDIT_EVENTS, "events judged"),
                filled(audit(AUDIT_ALERTS, "alerts sent"), "alerts sent", cloudwatch.Color.RED),
                filled(
                    audit(AUDIT_EVENTS_REJECTED, "events rejected"), "events rejected", cloudwatch.Color.GREY
                ),
            ],
            left_y_axis=cloudwatch.YAxisProps(min=0, show_units=False),
        ),
    ]


def health_widgets(
    metrics: IotWatchMetrics, functions: Sequence[FunctionMetrics]
) -> list[list[cloudwatch.IWidget]]:
    """Is iotwatch itself working: two rows of graphs, every function at DRAWN_PERIOD."""
    return [
        [
            cloudwatch.GraphWidget(
                title="iotwatch invocations",
                width=8,
                height=GRAPH_HEIGHT,
                left=[fn.invocations(period=DRAWN_PERIOD, label=fn.name) for fn in functions],
            ),
            cloudwatch.GraphWidget(
                title="iotwatch errors and throttles",
                width=8,
                height=GRAPH_HEIGHT,
                left=[
                    metric
                    for fn in functions
                    for metric in (
                        fn.errors(period=DRAWN_PERIOD, label=f"{fn.name} errors"),
                        fn.throttles(period=DRAWN_PERIOD, label=f"{fn.name} throttles"),
                    )
                ],
            ),
            cloudwatch.GraphWidget(
                title="iotwatch duration (max)",
                width=8,
                height=GRAPH_HEIGHT,
                left=[fn.longest_run(period=DRAWN_PERIOD, label=fn.name) for fn in functions],
            ),
        ],
        [
            cloudwatch.LogQueryWidget(
                title="GetMetricData calls of the evaluator (per hour)",
                log_group_names=[_log_group_name(metrics.evaluator.function)],
                query_lines=list(EVALUATOR_CALLS_QUERY),
                view=cloudwatch.LogQueryVisualizationType.LINE,
                width=6,
                height=GRAPH_HEIGHT,
            ),
            cloudwatch.GraphWidget(
                # the builder's metric costs only in the hours it builds
                title="GetMetricData calls of the baseline builder (per hour)",
                width=6,
                height=GRAPH_HEIGHT,
                left=[
                    metrics.own(
                        BUILDER_GET_METRIC_DATA_CALLS, statistic="Sum", period=HOUR, label="baseline builder"
                    ),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Dead letters (events, audit records, shards)",
                width=12,
                height=GRAPH_HEIGHT,
                left=[metrics.dead_letters(period=DRAWN_PERIOD, label="messages")],
            ),
        ],
    ]
