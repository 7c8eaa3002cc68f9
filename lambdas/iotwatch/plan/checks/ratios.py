"""Checks on resources.ratios entries: a share's parts are known metrics (or the one meant) carrying
the share's dimensions, the numerator is among the denominator, its name is its own, and its
settings mean something for a share."""

from __future__ import annotations

import json
from typing import Any

from iotwatch.domain.discovery import WILDCARD
from iotwatch.plan.catalog import AWS_IOT_METRICS, AWS_IOT_NAMESPACE, OUTCOME_FAMILIES, default_denominator
from iotwatch.plan.checks.aws_iot import dimension_key_checks, metric_name_check
from iotwatch.plan.checks.context import ResourceContext
from iotwatch.plan.checks.detection import threshold_checks
from iotwatch.plan.checks.frequency import period_checks
from iotwatch.plan.checks.raw import mapping, metric_names
from iotwatch.plan.problems import PlanProblem


def ratio_checks(
    spec: dict[str, Any],
    path: str,
    context: ResourceContext,
) -> list[PlanProblem]:
    """One ratio entry; claims its series in `context`."""
    name, namespace = spec.get("name"), spec.get("namespace", AWS_IOT_NAMESPACE)
    dims = mapping(spec, "dimensions")
    numerator = metric_names(spec.get("numerator"))
    denominator = metric_names(spec.get("denominator")) if spec.get("denominator") is not None else None
    aws_iot = namespace == AWS_IOT_NAMESPACE
    problems = _name_checks(name, path, aws_iot) + _dimension_value_checks(dims, path)
    if denominator is None and numerator:
        denominator, missing = _default_denominator(numerator, path, aws_iot)
        problems += missing
    if aws_iot:
        problems += _part_checks(path, dims, numerator, denominator or [])
    if numerator and denominator is not None:
        problems += _share_checks(path, numerator, denominator)
    if isinstance(name, str):
        identity = (namespace, name, json.dumps(dims, sort_keys=True), "Sum")
        other = context.claim(identity, path)
        if other is not None:
            problems.append(PlanProblem("error", path, f"same name and dimensions as {other}; rename one"))
    if "period" in spec:  # an inherited period is frequency.period_seconds's, checked once there
        problems += period_checks(spec["period"], namespace, f"{path}.period", context.history_days)
    detection = spec.get("detection")
    if isinstance(detection, dict):
        problems += _detection_checks(detection, path, context.plan_sensitivity)
    return problems


def _name_checks(name: Any, path: str, aws_iot: bool) -> list[PlanProblem]:
    if isinstance(name, str) and aws_iot and name in AWS_IOT_METRICS:
        return [
            PlanProblem(
                "error",
                f"{path}.name",
                f"'{name}' is an AWS/IoT metric: name the share for what it measures, "
                f"e.g. {name}Rate (routes, silences and messages use this name)",
            )
        ]
    return []


def _dimension_value_checks(dims: dict[str, Any], path: str) -> list[PlanProblem]:
    """A share is judged per listed value: no '*', no empty lists."""
    problems: list[PlanProblem] = []
    for key, value in dims.items():
        if WILDCARD in (value if isinstance(value, list) else [value]):
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.dimensions.{key}",
                    f"a ratio cannot watch every value of {key} ('*'): list the values, e.g. {key}: [a, b]",
                )
            )
        if isinstance(value, list) and not value:
            problems.append(
                PlanProblem("error", f"{path}.dimensions.{key}", "empty list: give at least one value")
            )
    return problems


def _default_denominator(
    numerator: list[str], path: str, aws_iot: bool
) -> tuple[list[str] | None, list[PlanProblem]]:
    """(the denominator iotwatch fills in, problems): only AWS/IoT outcomes of one operation have one."""
    derived = default_denominator(tuple(numerator)) if aws_iot else None
    if derived is not None:
        return list(derived), []
    families = ", ".join(
        f"{op} ({' '.join(m.rpartition('.')[2] for m in ms)})" for op, ms in OUTCOME_FAMILIES.items()
    )
    return None, [
        PlanProblem(
            "error",
            f"{path}.denominator",
            "required here: list the metrics whose sum is every attempt, the numerator's among "
            "them (iotwatch fills it in only when every numerator metric is an outcome of one "
            f"AWS/IoT operation: {families})",
        )
    ]


def _part_checks(
    path: str, dims: dict[str, Any], numerator: list[str], denominator: list[str]
) -> list[PlanProblem]:
    """Each AWS/IoT part is a known metric published with exactly the share's dimension keys."""
    problems: list[PlanProblem] = []
    empty = "the share would have no attempts"
    checked: set[tuple[str, ...]] = set()  # each set of keys once: a share's parts usually share theirs
    for part_path, names in ((f"{path}.numerator", numerator), (f"{path}.denominator", denominator)):
        for j, metric in enumerate(names):
            known, named = metric_name_check(metric, f"{part_path}[{j}]")
            problems += named
            if known is not None and metric in AWS_IOT_METRICS and AWS_IOT_METRICS[known] not in checked:
                checked.add(AWS_IOT_METRICS[known])
                problems += dimension_key_checks(known, dims, f"{path}.dimensions", empty, exact=True)
    return problems


def _share_checks(path: str, numerator: list[str], denominator: list[str]) -> list[PlanProblem]:
    """The attempts include what failed, and more than what failed."""
    outside = [m for m in numerator if m not in denominator]
    if outside:
        return [
            PlanProblem(
                "error",
                f"{path}.denominator",
                f"add {', '.join(outside)}: a share's attempts include what failed, so every numerator "
                "metric belongs in the denominator too (a ratio of two unrelated counts is not a share)",
            )
        ]
    if set(numerator) == set(denominator):
        return [
            PlanProblem(
                "error",
                f"{path}.denominator",
                "holds only the numerator's metrics: the share would always be 100 %; add the "
                "outcomes of the attempts that did not fail (e.g. the operation's .Success)",
            )
        ]
    return []


def _detection_checks(
    detection: dict[str, Any], path: str, plan_sensitivity: dict[str, Any]
) -> list[PlanProblem]:
    """Thresholds after inheritance; no missing_data (a thin period has no share); limits as fractions."""
    problems = threshold_checks(
        detection.get("sensitivity"), f"{path}.detection.sensitivity", inherited=plan_sensitivity
    )
    if "missing_data" in detection:
        problems.append(
            PlanProblem(
                "warning",
                f"{path}.detection.missing_data",
                "does not apply to a ratio: a period with fewer than min_denominator attempts has no "
                "share and is skipped; remove it",
            )
        )
    for limit in ("above", "below"):
        value = detection.get(limit)
        if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value <= 1:
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.detection.{limit}",
                    f"{value} is not a share: write it as a fraction of the attempts, e.g. 0.05 for 5 %",
                )
            )
    return problems
