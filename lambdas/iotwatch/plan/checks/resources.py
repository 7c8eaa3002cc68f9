"""Checks on the resources section as a whole: history against the period, then every metric and
ratio, which share one set of series identities."""

from __future__ import annotations

from typing import Any

from iotwatch.plan.checks.context import ResourceContext
from iotwatch.plan.checks.frequency import history_checks
from iotwatch.plan.checks.metrics import metric_checks, wildcard_template_checks
from iotwatch.plan.checks.ratios import ratio_checks
from iotwatch.plan.checks.raw import mapping, sequence
from iotwatch.plan.problems import PlanProblem


def resource_checks(data: dict[str, Any], plan_sensitivity: dict[str, Any]) -> list[PlanProblem]:
    resources = mapping(data, "resources")
    metrics = sequence(resources, "metrics")
    frequency = mapping(data, "frequency")
    context = ResourceContext(
        plan_sensitivity,
        period=frequency.get("period_seconds", 300),
        history_days=frequency.get("history_days", 14),
    )
    problems = history_checks(context.period, context.history_days)
    for i, spec in enumerate(metrics):
        if isinstance(spec, dict) and isinstance(spec.get("metric"), str):
            problems += metric_checks(spec, f"resources.metrics[{i}]", context)
    for i, spec in enumerate(sequence(resources, "ratios")):
        if isinstance(spec, dict):
            problems += ratio_checks(spec, f"resources.ratios[{i}]", context)
    return problems + wildcard_template_checks(metrics)
