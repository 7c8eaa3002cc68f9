"""The AWS APIs moto lacks that a page's look-up calls, served by the local endpoint from a
`SimulatedFleet` (iotwatch_local.devices):

- AWS IoT fleet index: SearchIndex, GetStatistics, GetCardinality, GetBucketsAggregation over
  the fleet's things at `fleet.now` (the query subset of iotwatch_local.fleet_query);
- CloudWatch GetInsightRuleReport for the rules moto holds (PutInsightRule; the device-rule
  emulation puts the template's AWS::CloudWatch::InsightRule ones), from the fleet's AWS IoT
  log lines.

They are methods added to moto's IoT and CloudWatch response classes, so moto parses each
request and serializes each answer by botocore's service model; every answer is also checked
against the operation's output shape with botocore's validator before it leaves (an invalid
one is a 500, never a silently wrong shape). `fail()` makes an API answer an error (or answer
late) for the next N calls, for the fault tests. With no fleet served, the fleet-index APIs
answer ResourceNotFoundException as an account with indexing off does.
"""

from __future__ import annotations

import json
import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.session import get_session
from botocore.validate import ParamValidator
from iotwatch.domain.times import iso_seconds
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.iot.responses import IoTResponse

from iotwatch_local.devices import SimulatedFleet
from iotwatch_local.fleet_query import QueryError, compile_query, field_values


class DeviceApiError(ServiceException):
    """An error answer; defined outside moto's packages so moto looks its code up in the model of
    the service that was called (iot or cloudwatch), which sets the HTTP status."""


@dataclass
class Fault:
    code: str
    message: str
    remaining: int | None  # calls left to fail; None: every call
    delay_seconds: float


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fleet: SimulatedFleet | None = None
        self.faults: dict[str, Fault] = {}
        self.calls: dict[str, int] = {}


STATE = _State()
_models: dict[str, Any] = {}
_installs = 0
_ADDED = {
    IoTResponse: ("search_index", "get_statistics", "get_cardinality", "get_buckets_aggregation"),
    CloudWatchResponse: ("get_insight_rule_report",),
}
_saved: dict[tuple[type, str], Any] = {}


def serve(fleet: SimulatedFleet | None) -> None:
    """Answer the fleet-index APIs from `fleet` (None: as an account with indexing off)."""
    if fleet is not None:
        # moto loads a service's model on its first request; several look-ups arriving at once
        # would each load it, contended, past the look-up clients' read timeout
        from moto.core.utils import get_service_model

        get_service_model("iot")
        get_service_model("cloudwatch")
    with STATE.lock:
        STATE.fleet = fleet


def fail(
    operation: str, code: str, *, message: str = "", times: int | None = None, delay_seconds: float = 0.0
) -> None:
    """Make `operation` ("GetBucketsAggregation") answer `code` for the next `times` calls
    (None: until cleared), after `delay_seconds` (a delay past the client's read timeout is a
    timeout). `code` "" with a delay only slows the answer down."""
    with STATE.lock:
        STATE.faults[operation] = Fault(code, message or f"simulated {code}", times, delay_seconds)


def clear_faults() -> None:
    with STATE.lock:
        STATE.faults.clear()


def calls(operation: str) -> int:
    return STATE.calls.get(operation, 0)


def reset() -> None:
    with STATE.lock:
        STATE.fleet = None
        STATE.faults.clear()
        STATE.calls.clear()


def validated(service: str, operation: str, output: dict[str, Any]) -> ActionResult:
    """`output` as moto's answer, after botocore's validator accepts it as `operation`'s output."""
    model = _models.get(service)
    if model is None:
        model = _models[service] = get_session().get_service_model(service)
    shape = model.operation_model(operation).output_shape
    report = ParamValidator().validate(output, shape)
    if report.has_errors():
        raise AssertionError(
            f"local {service} {operation} answer breaks its output shape: {report.generate_report()}"
        )
    return ActionResult(output)


def _enter(operation: str) -> None:
    """Count the call; apply a fault set for it."""
    with STATE.lock:
        STATE.calls[operation] = STATE.calls.get(operation, 0) + 1
        fault = STATE.faults.get(operation)
        if fault is not None and fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining < 0:
                del STATE.faults[operation]
                fault = None
    if fault is None:
        return
    if fault.delay_seconds:
        time.sleep(fault.delay_seconds)
    if fault.code:
        raise DeviceApiError(fault.code, fault.message)


# --- the fleet index --------------------------------------------------------------------------------


def _matching(response: Any, operation: str) -> list[dict[str, Any]]:
    _enter(operation)
    fleet = STATE.fleet
    if fleet is None:
        raise DeviceApiError(
            "ResourceNotFoundException", "Index AWS_Things does not exist: fleet indexing is off"
        )
    index = response._get_param("indexName") or "AWS_Things"
    if index != "AWS_Things":
        raise DeviceApiError("ResourceNotFoundException", f"Index {index} does not exist")
    try:
        matcher = compile_query(response._get_param("queryString") or "")
    except QueryError as err:
        raise DeviceApiError("InvalidQueryException", str(err)) from err
    return [d for d in fleet.documents() if matcher(d)]


def _search_index(self: IoTResponse) -> ActionResult:
    things = _matching(self, "SearchIndex")
    limit = int(self._get_param("maxResults") or 100)
    start = int(self._get_param("nextToken") or 0)
    page = things[start : start + limit]
    output: dict[str, Any] = {"things": [_thing_document(d) for d in page], "thingGroups": []}
    if start + limit < len(things):
        output["nextToken"] = str(start + limit)
    return validated("iot", "SearchIndex", output)


def _thing_document(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"thingName": doc["thingName"], "thingId": doc["thingId"]}
    if "thingTypeName" in doc:
        out["thingTypeName"] = doc["thingTypeName"]
    out["thingGroupNames"] = list(doc.get("thingGroupNames", []))
    out["attributes"] = {k.partition(".")[2]: str(v) for k, v in doc.items() if k.startswith("attributes.")}
    if "connectivity.connected" in doc:
        connectivity: dict[str, Any] = {
            "connected": doc["connectivity.connected"],
            "timestamp": doc["connectivity.timestamp"],
            "clientId": doc["connectivity.clientId"],
        }
        if "connectivity.disconnectReason" in doc:
            connectivity["disconnectReason"] = doc["connectivity.disconnectReason"]
        out["connectivity"] = connectivity
    return out


def _numbers(things: list[dict[str, Any]], field: str | None) -> list[float]:
    values = []
    for doc in things:
        for v in field_values(doc, field or "thingName"):
            try:
                values.append(float(v))
            except ValueError:
                continue
    return values


def _get_statistics(self: IoTResponse) -> ActionResult:
    things = _matching(self, "GetStatistics")
    field = self._get_param("aggregationField")
    statistics: dict[str, Any] = {"count": len(things)}
    numbers = _numbers(things, field) if field else []
    if numbers:
        n, total = len(numbers), sum(numbers)
        mean = total / n
        squares = sum(x * x for x in numbers)
        variance = max(squares / n - mean * mean, 0.0)
        statistics.update(
            count=n,
            average=mean,
            sum=total,
            minimum=min(numbers),
            maximum=max(numbers),
            sumOfSquares=squares,
            variance=variance,
            stdDeviation=math.sqrt(variance),
        )
    return validated("iot", "GetStatistics", {"statistics": statistics})


def _get_cardinality(self: IoTResponse) -> ActionResult:
    things = _matching(self, "GetCardinality")
    field = self._get_param("aggregationField") or "thingName"
    distinct = {v.lower() for d in things for v in field_values(d, field)}
    return validated("iot", "GetCardinality", {"cardinality": len(distinct)})


def _get_buckets_aggregation(self: IoTResponse) -> ActionResult:
    things = _matching(self, "GetBucketsAggregation")
    field = self._get_param("aggregationField")
    terms = (self._get_param("bucketsAggregationType") or {}).get("termsAggregation") or {}
    max_buckets = int(terms.get("maxBuckets") or 10)
    counts: dict[str, int] = {}
    for doc in things:
        for value in field_values(doc, field):
            counts[value] = counts.get(value, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_buckets]
    output = {"totalCount": len(things), "buckets": [{"keyValue": k, "count": c} for k, c in ranked]}
    return validated("iot", "GetBucketsAggregation", output)


# --- Contributor Insights ---------------------------------------------------------------------------


def _get_insight_rule_report(self: CloudWatchResponse) -> ActionResult:
    _enter("GetInsightRuleReport")
    name = self._get_param("RuleName")
    rule = self.cloudwatch_backend.insight_rules.get(name)
    if rule is None:
        raise DeviceApiError("ResourceNotFoundException", f"Rule {name} does not exist")
    start, end = _epoch(self._get_param("StartTime")), _epoch(self._get_param("EndTime"))
    period = int(self._get_param("Period") or 60)
    limit = int(self._get_param("MaxContributorCount") or 10)
    fleet = STATE.fleet
    lines = fleet.log_events(start, end) if fleet is not None and rule.state == "ENABLED" else []
    return validated(
        "cloudwatch", "GetInsightRuleReport", insight_report(rule.definition, lines, start, period, limit)
    )


def insight_report(
    definition: str, lines: list[dict[str, Any]], start: float, period: int, limit: int
) -> dict[str, Any]:
    """GetInsightRuleReport's answer for a CloudWatchLogRule body over log lines."""
    body = json.loads(definition)
    contribution = body.get("Contribution", {})
    keys = [k for k in contribution.get("Keys", [])]
    filters = [_filter(f) for f in contribution.get("Filters", [])]
    value_of = contribution.get("ValueOf")
    aggregate_on = body.get("AggregateOn", "Count")
    totals: dict[tuple[str, ...], float] = {}
    points: dict[tuple[str, ...], dict[int, float]] = {}
    for line in lines:
        if not all(f(line) for f in filters):
            continue
        key = tuple(str(_path(line, k)) for k in keys)
        if any(k == "None" for k in key):
            continue
        value = float(_path(line, value_of) or 0.0) if aggregate_on == "Sum" and value_of else 1.0
        totals[key] = totals.get(key, 0.0) + value
        slot = int(start + (line["_at"] - start) // period * period)
        points.setdefault(key, {})
        points[key][slot] = points[key].get(slot, 0.0) + value
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return {
        "KeyLabels": [k.rpartition(".")[2] for k in keys],
        "AggregationStatistic": "Sum" if aggregate_on == "Sum" else "Count",
        "AggregateValue": sum(totals.values()),
        "ApproximateUniqueCount": len(totals),
        "Contributors": [
            {
                "Keys": list(key),
                "ApproximateAggregateValue": value,
                "Datapoints": [
                    {"Timestamp": datetime.fromtimestamp(ts, UTC), "ApproximateValue": v}
                    for ts, v in sorted(points[key].items())
                ],
            }
            for key, value in ranked
        ],
        "MetricDatapoints": [],
    }


def _path(line: dict[str, Any], path: str | None) -> Any:
    if not path:
        return None
    node: Any = line
    for part in path.removeprefix("$.").split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _filter(spec: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    path = spec["Match"]
    if "In" in spec:
        return lambda line: _path(line, path) in spec["In"]
    if "NotIn" in spec:
        return lambda line: _path(line, path) not in spec["NotIn"]
    if "StartsWith" in spec:
        return lambda line: any(str(_path(line, path) or "").startswith(p) for p in spec["StartsWith"])
    if "EqualTo" in spec:
        return lambda line: _path(line, path) == spec["EqualTo"]
    if "IsPresent" in spec:
        return lambda line: (_path(line, path) is not None) == bool(spec["IsPresent"])
    raise ValueError(
        f"Contributor Insights filter {spec} is not emulated (In, NotIn, StartsWith, EqualTo, IsPresent are)"
    )


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return iso_seconds(str(value))


# --- install ----------------------------------------------------------------------------------------

_HANDLERS: dict[str, Callable[..., ActionResult]] = {
    "search_index": _search_index,
    "get_statistics": _get_statistics,
    "get_cardinality": _get_cardinality,
    "get_buckets_aggregation": _get_buckets_aggregation,
    "get_insight_rule_report": _get_insight_rule_report,
}


def install() -> None:
    global _installs
    _installs += 1
    if _installs > 1:
        return
    # an injected fault's code need not be in the service's model (AccessDeniedException)
    warnings.filterwarnings("ignore", message=r"Exception\(DeviceApiError\)", category=UserWarning)
    for cls, names in _ADDED.items():
        for name in names:
            _saved[(cls, name)] = cls.__dict__.get(name)
            setattr(cls, name, _HANDLERS[name])


def uninstall() -> None:
    global _installs
    _installs = max(_installs - 1, 0)
    if _installs:
        return
    for (cls, name), original in _saved.items():
        if original is None:
            delattr(cls, name)
        else:
            setattr(cls, name, original)
    _saved.clear()
    reset()
