"""Checks on resources.metrics entries: dimension values, AWS/IoT names and keys, periods,
duplicates, and how many "*" templates the plan asks ListMetrics for."""

from __future__ import annotations

import json
from typing import Any

from iotwatch.domain.discovery import MAX_SERIES_PER_TEMPLATE, WILDCARD
from iotwatch.plan.catalog import AWS_IOT_NAMESPACE
from iotwatch.plan.checks.aws_iot import dimension_key_checks, metric_name_check
from iotwatch.plan.checks.context import ResourceContext
from iotwatch.plan.checks.detection import threshold_checks
from iotwatch.plan.checks.frequency import period_checks
from iotwatch.plan.checks.raw import mapping
from iotwatch.plan.model.resources import MAX_WILDCARD_TEMPLATES
from iotwatch.plan.problems import PlanProblem


def metric_checks(
    spec: dict[str, Any],
    path: str,
    context: ResourceContext,
) -> list[PlanProblem]:
    """One metric entry (with a metric name); claims its series in `context`."""
    name, namespace = spec["metric"], spec.get("namespace", AWS_IOT_NAMESPACE)
    dims = mapping(spec, "dimensions")
    problems = _dimension_value_checks(dims, path)
    if namespace == AWS_IOT_NAMESPACE:
        empty = (
            "ListMetrics would discover nothing"
            if WILDCARD in dims.values()
            else "this series would stay empty"
        )
        known, named = metric_name_check(name, f"{path}.metric")
        problems += named
        if known is not None:
            problems += dimension_key_checks(known, dims, f"{path}.dimensions", empty, exact=False)
    if "period" in spec:  # an inherited period is frequency.period_seconds's, checked once there
        problems += period_checks(spec["period"], namespace, f"{path}.period", context.history_days)
    identity = (namespace, name, json.dumps(dims, sort_keys=True), spec.get("statistic", "Sum"))
    other = context.claim(identity, path)
    if other is not None:
        problems.append(PlanProblem("error", path, f"same metric and dimensions as {other}; remove one"))
    detection = spec.get("detection")
    if isinstance(detection, dict):
        problems += threshold_checks(
            detection.get("sensitivity"), f"{path}.detection.sensitivity", inherited=context.plan_sensitivity
        )
    return problems


def _dimension_value_checks(dims: dict[str, Any], path: str) -> list[PlanProblem]:
    """'*' alone or not at all, no patterns, no empty lists."""
    problems: list[PlanProblem] = []
    for key, value in dims.items():
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and WILDCARD in value:
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.dimensions.{key}",
                    f"'*' watches every value of {key} and cannot be one value of a list: "
                    f'write {key}: "*" on its own, or list the values without it',
                )
            )
        for v in values:
            if isinstance(v, str) and WILDCARD in v and v != WILDCARD:
                problems.append(
                    PlanProblem(
                        "warning",
                        f"{path}.dimensions.{key}",
                        f"'{v}' is matched literally: only a lone '*' means every value "
                        "(patterns such as 'prod-*' are not supported)",
                    )
                )
        if isinstance(value, list) and not value:
            problems.append(
                PlanProblem("error", f"{path}.dimensions.{key}", "empty list: give at least one value")
            )
    return problems


def wildcard_template_checks(metrics: list[Any]) -> list[PlanProblem]:
    """At most MAX_WILDCARD_TEMPLATES "*" templates: each costs ListMetrics calls on every refresh."""
    templates = 0
    for spec in metrics:
        if isinstance(spec, dict) and isinstance(spec.get("metric"), str):
            dims = mapping(spec, "dimensions")
            if WILDCARD in dims.values():
                templates += _template_count(dims)
    if templates <= MAX_WILDCARD_TEMPLATES:
        return []
    return [
        PlanProblem(
            "error",
            "resources.metrics",
            f"{templates} metrics watch every value of a dimension ('*', counting each "
            f"combination of listed values); at most {MAX_WILDCARD_TEMPLATES}: each is listed "
            f"with ListMetrics on every refresh and can add up to {MAX_SERIES_PER_TEMPLATE} series",
        )
    ]


def _template_count(dims: dict[str, Any]) -> int:
    """How many templates a metric with a "*" compiles to: one per combination of listed values."""
    count = 1
    for value in dims.values():
        if isinstance(value, list):
            count *= max(1, len(value))
    return count
