"""What AWS IoT and CloudWatch would do with a deployed template's device resources, done on the
local endpoint (moto runs no topic rule, has no fleet metrics, no Contributor Insights):

- each `AWS::IoT::TopicRule` (TopicRulePayload.Sql, Actions[].CloudwatchMetric) is applied to
  the lifecycle events a `SimulatedFleet` produced: its FROM topic filter and WHERE clause pick
  the events, its SELECT shapes them, each CloudWatch metric action's substitution templates
  (`Disconnect.${disconnectReason}`) name the metric; the counts go to CloudWatch by
  PutMetricData, one datapoint per metric per minute (the sum of its events' MetricValue);
- each `AWS::IoT::FleetMetric` (QueryString, AggregationType, AggregationField, Period,
  MetricName) is evaluated against the fleet's things every Period and written to
  `FLEET_METRICS_NAMESPACE` under its MetricName;
- each `AWS::CloudWatch::InsightRule` (RuleName, RuleBody, RuleState) is put on the endpoint
  (PutInsightRule), so GetInsightRuleReport (device_apis) can answer for it.

The resources are read from the synthesized template (`DeployedStack.template`), never named
here. Topic-rule SQL is emulated for `SELECT * | expr [AS name], ... FROM '<filter>' [WHERE
...]` with fields, string/number/boolean literals, = <> != < <= > >=, AND / OR / NOT,
topic(n), clientid(), timestamp() and isUndefined(x); anything else raises `EmulationError`
naming the resource, so a rule the emulation does not understand is never silently skipped.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from iotwatch.domain.where import FLEET_METRIC_DIMENSION, FLEET_METRICS_NAMESPACE

from iotwatch_local.devices import LifecycleEvent, SimulatedFleet
from iotwatch_local.fleet_query import compile_query, field_values

TOPIC_RULE = "AWS::IoT::TopicRule"
FLEET_METRIC = "AWS::IoT::FleetMetric"
INSIGHT_RULE = "AWS::CloudWatch::InsightRule"


class EmulationError(ValueError):
    """A template resource the emulation cannot run faithfully."""


@dataclass(frozen=True)
class MetricAction:
    namespace: str
    name: str
    unit: str
    value: str
    timestamp: str | None = None


@dataclass(frozen=True)
class TopicRule:
    logical_id: str
    topic_filter: str
    select: tuple[tuple[str, str], ...]  # (expression, output name); ("*", "*") for SELECT *
    where: str | None
    actions: tuple[MetricAction, ...]


@dataclass(frozen=True)
class FleetMetric:
    logical_id: str
    name: str
    query: str
    aggregation: str  # "Statistics" | "Cardinality" | "Percentiles"
    statistic: str  # the first AggregationType value: "count", "sum", ...
    field: str | None
    period: int
    unit: str


@dataclass
class EmulationReport:
    rule_events: int = 0  # lifecycle events a rule selected
    datapoints: dict[str, int] = field(default_factory=dict)  # "namespace/metric" -> datapoints written
    insight_rules: list[str] = field(default_factory=list)


# --- reading the template ---------------------------------------------------------------------------


def _resolve(value: Any, where: str) -> str:
    """A property value as a string: literals and Fn::Join / Fn::Sub over literals."""
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, Mapping) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(_resolve(p, where) for p in parts)
    if isinstance(value, Mapping) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        if re.search(r"\$\{(?!\w+\})", value["Fn::Sub"]) or "${AWS::" in value["Fn::Sub"]:
            raise EmulationError(f"{where}: Fn::Sub with references is not emulated: {value}")
        return value["Fn::Sub"]
    raise EmulationError(
        f"{where}: cannot resolve {json.dumps(value)} locally (a literal, Fn::Join or Fn::Sub is)"
    )


def _resources(template: Mapping[str, Any], kind: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == kind and "Condition" not in resource:
            yield logical_id, resource.get("Properties", {})


_SQL = re.compile(
    r"^\s*SELECT\s+(?P<select>.+?)\s+FROM\s+'(?P<topic>[^']+)'(?:\s+WHERE\s+(?P<where>.+?))?\s*;?\s*$",
    re.I | re.S,
)


def topic_rules(template: Mapping[str, Any]) -> list[TopicRule]:
    rules = []
    for logical_id, props in _resources(template, TOPIC_RULE):
        payload = props.get("TopicRulePayload", {})
        if payload.get("RuleDisabled") is True:
            continue
        sql = _resolve(payload.get("Sql", ""), f"{logical_id}.TopicRulePayload.Sql")
        match = _SQL.match(sql)
        if match is None:
            raise EmulationError(
                f"{logical_id}: SQL {sql!r} is not of the emulated form SELECT ... FROM '...' [WHERE ...]"
            )
        if match["where"]:
            _compile_expression(match["where"], logical_id)  # fail now on what is not emulated
        actions = []
        for i, action in enumerate(payload.get("Actions", [])):
            metric = action.get("CloudwatchMetric")
            if metric is None:
                continue
            where = f"{logical_id}.Actions[{i}].CloudwatchMetric"
            actions.append(
                MetricAction(
                    namespace=_resolve(metric["MetricNamespace"], where),
                    name=_resolve(metric["MetricName"], where),
                    unit=_resolve(metric.get("MetricUnit", "None"), where),
                    value=_resolve(metric["MetricValue"], where),
                    timestamp=_resolve(metric["MetricTimestamp"], where)
                    if "MetricTimestamp" in metric
                    else None,
                )
            )
        rules.append(
            TopicRule(
                logical_id,
                match["topic"],
                _select(match["select"], logical_id),
                match["where"],
                tuple(actions),
            )
        )
    return rules


def _select(text: str, logical_id: str) -> tuple[tuple[str, str], ...]:
    items = []
    for part in _split_commas(text):
        part = part.strip()
        if part == "*":
            items.append(("*", "*"))
            continue
        aliased = re.match(r"(.*?)\s+AS\s+([A-Za-z_]\w*)\s*$", part, re.I | re.S)
        expr, name = (aliased[1].strip(), aliased[2]) if aliased else (part, part.split(".")[-1])
        _compile_expression(expr, logical_id)  # fail now on what is not emulated
        items.append((expr, name))
    return tuple(items)


def _split_commas(text: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, ""
    for c in text:
        if c == "'":
            quoted = not quoted
        elif not quoted:
            depth += {"(": 1, ")": -1}.get(c, 0)
            if c == "," and depth == 0:
                parts.append(current)
                current = ""
                continue
        current += c
    return [*parts, current]


def fleet_metrics(template: Mapping[str, Any]) -> list[FleetMetric]:
    metrics = []
    for logical_id, props in _resources(template, FLEET_METRIC):
        where = f"{logical_id}"
        aggregation = props.get("AggregationType", {})
        values = aggregation.get("Values", ["count"])
        metrics.append(
            FleetMetric(
                logical_id=logical_id,
                name=_resolve(props["MetricName"], f"{where}.MetricName"),
                query=_resolve(props["QueryString"], f"{where}.QueryString"),
                aggregation=_resolve(aggregation.get("Name", "Statistics"), f"{where}.AggregationType.Name"),
                statistic=_resolve(values[0], f"{where}.AggregationType.Values") if values else "count",
                field=_resolve(props["AggregationField"], f"{where}.AggregationField")
                if "AggregationField" in props
                else None,
                period=int(_resolve(props.get("Period", 300), f"{where}.Period")),
                unit=_resolve(props.get("Unit", "None"), f"{where}.Unit"),
            )
        )
    return metrics


def insight_rules(template: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(rule name, rule body, state) of the template's Contributor Insights rules."""
    rules = []
    for logical_id, props in _resources(template, INSIGHT_RULE):
        body = props["RuleBody"]
        if isinstance(body, Mapping) and not ({"Fn::Join", "Fn::Sub"} & set(body)):
            body_text = json.dumps(body)
        else:
            body_text = _resolve(body, f"{logical_id}.RuleBody")
        rules.append(
            (
                _resolve(props["RuleName"], f"{logical_id}.RuleName"),
                body_text,
                _resolve(props.get("RuleState", "ENABLED"), logical_id),
            )
        )
    return rules


# --- topic-rule SQL -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><>|!=|<=|>=|=|<|>|\(|\)|,)"
    r"|(?P<word>[A-Za-z_][\w.]*))"
)
_KEYWORDS = {"AND": " and ", "OR": " or ", "NOT": " not ", "TRUE": " True ", "FALSE": " False "}
_FUNCTIONS = {
    "topic": "_topic",
    "clientid": "_clientid",
    "timestamp": "_timestamp",
    "isundefined": "_undefined",
}


@functools.lru_cache(maxsize=256)
def _compile_expression(text: str, logical_id: str) -> Any:
    """A topic-rule SQL expression as Python code over whitelisted tokens (fields become look-ups
    in the message, functions the few emulated ones), so it is evaluated, never guessed."""
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise EmulationError(f"{logical_id}: cannot emulate SQL near {text[pos:]!r}")
        pos = match.end()
        if match["str"]:
            out.append(repr(match["str"][1:-1].replace("''", "'")))
        elif match["num"]:
            out.append(match["num"])
        elif match["op"]:
            out.append({"=": "==", "<>": "!=", ",": ","}.get(match["op"], match["op"]))
        else:
            word = match["word"]
            if word.upper() in _KEYWORDS:
                out.append(_KEYWORDS[word.upper()])
            elif word.lower() in _FUNCTIONS and text[pos:].lstrip().startswith("("):
                if word.lower() == "isundefined":
                    inner = re.match(r"\s*\(\s*([A-Za-z_][\w.]*)\s*\)", text[pos:])
                    if inner is None:
                        raise EmulationError(f"{logical_id}: isUndefined takes a field name")
                    out.append(f"_undefined({inner[1]!r})")
                    pos += inner.end()
                else:
                    out.append(_FUNCTIONS[word.lower()])
            else:
                out.append(f"_field({word!r})")
    try:
        return compile(" ".join(out) or "True", f"<{logical_id} SQL>", "eval")
    except SyntaxError as err:
        raise EmulationError(f"{logical_id}: cannot emulate SQL {text!r}") from err


def _evaluate(code: Any, message: Mapping[str, Any], topic: str) -> Any:
    levels = topic.split("/")

    def _field(path: str) -> Any:
        node: Any = message
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return node

    scope = {
        "__builtins__": {},
        "_field": _field,
        "_undefined": lambda path: _field(path) is None,
        "_topic": lambda n=None: topic if n is None else (levels[n - 1] if 0 < n <= len(levels) else None),
        "_clientid": lambda: message.get("clientId"),
        "_timestamp": lambda: message.get("timestamp"),
    }
    return eval(code, scope)  # code compiled from whitelisted tokens only


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic-filter matching: '+' one level, '#' the rest."""
    wanted, levels = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(wanted):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(wanted) == len(levels)


def _substitute(template: str, message: Mapping[str, Any], topic: str, logical_id: str) -> str:
    def one(match: re.Match[str]) -> str:
        value = _evaluate(_compile_expression(match[1], logical_id), message, topic)
        return "" if value is None else str(value)

    return re.sub(r"\$\{([^}]+)\}", one, template)


def apply_topic_rule(rule: TopicRule, event: LifecycleEvent) -> list[tuple[MetricAction, str, float, float]]:
    """(action, metric name, value, epoch seconds) each of the rule's metric actions writes for
    `event`; none when its topic filter or WHERE clause does not select it."""
    if not topic_matches(rule.topic_filter, event.topic):
        return []
    if rule.where and not _evaluate(
        _compile_expression(rule.where, rule.logical_id), event.payload, event.topic
    ):
        return []
    selected: dict[str, Any] = {}
    for expr, name in rule.select:
        if expr == "*":
            selected.update(event.payload)
        else:
            selected[name] = _evaluate(_compile_expression(expr, rule.logical_id), event.payload, event.topic)
    message = {**event.payload, **selected}
    written = []
    for action in rule.actions:
        name = _substitute(action.name, message, event.topic, rule.logical_id)
        value = float(_substitute(action.value, message, event.topic, rule.logical_id))
        at = event.at
        if action.timestamp:
            stamp = float(_substitute(action.timestamp, message, event.topic, rule.logical_id))
            at = stamp / 1000 if stamp > 1e11 else stamp
        written.append((action, name, value, at))
    return written


# --- running it -------------------------------------------------------------------------------------


def fleet_metric_value(metric: FleetMetric, documents: list[dict[str, Any]]) -> float:
    matcher = compile_query(metric.query)
    things = [d for d in documents if matcher(d)]
    if metric.aggregation == "Cardinality":
        return float(len({v.lower() for d in things for v in field_values(d, metric.field or "thingName")}))
    if metric.statistic == "count" or not metric.field:
        return float(len(things))
    numbers = [float(v) for d in things for v in field_values(d, metric.field) if _is_number(v)]
    if not numbers:
        return 0.0
    return {"sum": sum(numbers), "minimum": min(numbers), "maximum": max(numbers)}.get(
        metric.statistic, sum(numbers) / len(numbers)
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def fleet_metric_series(
    metric: FleetMetric, fleet: SimulatedFleet, *, start: int, end: int
) -> list[tuple[int, float]]:
    """The fleet metric's value at each Period boundary in [start, end). A count is kept up to
    date thing by thing (only the things whose connectivity changed since the last boundary are
    matched again), so a month of a large fleet's history costs its events, not periods x things."""
    first = start - start % metric.period
    stamps = range(first, end, metric.period)
    changes = sorted(
        (e.at, e.payload["clientId"]) for e in fleet.lifecycle_events(first - metric.period, end)
    )
    if metric.aggregation != "Statistics" or metric.statistic != "count":
        return [(ts, fleet_metric_value(metric, fleet.documents(ts))) for ts in stamps]
    matcher = compile_query(metric.query)
    things = fleet.things
    matched = {name: matcher(t.document(first * 1000)) for name, t in things.items()}
    count = sum(matched.values())
    values, i = [], 0
    for ts in stamps:
        while i < len(changes) and changes[i][0] <= ts:
            name = changes[i][1]
            i += 1
            if name in things:
                now = matcher(things[name].document(ts * 1000))
                count += int(now) - int(matched[name])
                matched[name] = now
        values.append((ts, float(count)))
    return values


def emulate_device_rules(
    template: Mapping[str, Any], fleet: SimulatedFleet, cloudwatch: Any, *, start: int, end: int
) -> EmulationReport:
    """Runs the template's topic rules, fleet metrics and Contributor Insights rules over
    [start, end) of `fleet`'s history, writing through `cloudwatch` (a client of the endpoint)."""
    report = EmulationReport()
    for name, body, state in insight_rules(template):
        cloudwatch.put_insight_rule(RuleName=name, RuleState=state, RuleDefinition=body)
        report.insight_rules.append(name)
    sums: dict[tuple[str, str, str, int, tuple[tuple[str, str], ...]], float] = {}
    rules = topic_rules(template)
    for event in fleet.lifecycle_events(start, end) if rules else []:
        hit = False
        for rule in rules:
            for action, name, value, at in apply_topic_rule(rule, event):
                key = (action.namespace, name, action.unit, int(at) // 60 * 60, ())
                sums[key] = sums.get(key, 0.0) + value
                hit = True
        report.rule_events += hit
    for metric in fleet_metrics(template):
        # AWS IoT publishes a fleet metric with one dimension: the aggregation value ("count")
        dimensions = ((FLEET_METRIC_DIMENSION, metric.statistic),)
        for ts, value in fleet_metric_series(metric, fleet, start=start, end=end):
            sums[(FLEET_METRICS_NAMESPACE, metric.name, metric.unit, ts, dimensions)] = value
    _put(cloudwatch, sums, report)
    return report


def _put(
    cloudwatch: Any,
    sums: Mapping[tuple[str, str, str, int, tuple[tuple[str, str], ...]], float],
    report: EmulationReport,
) -> None:
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for (namespace, name, unit, ts, dimensions), value in sorted(sums.items()):
        datum = {
            "MetricName": name,
            "Timestamp": datetime.fromtimestamp(ts, UTC),
            "Value": value,
            "Unit": unit,
        }
        if dimensions:
            datum["Dimensions"] = [{"Name": k, "Value": v} for k, v in dimensions]
        by_namespace.setdefault(namespace, []).append(datum)
        report.datapoints[f"{namespace}/{name}"] = report.datapoints.get(f"{namespace}/{name}", 0) + 1
    for namespace, data in by_namespace.items():
        for i in range(0, len(data), 1000):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[i : i + 1000])
