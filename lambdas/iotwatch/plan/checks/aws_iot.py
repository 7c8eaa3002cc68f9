"""Checks against what AWS IoT publishes: metric names, the dimensions each metric carries, and
Protocol values, each unknown one with the name it most likely misspells."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iotwatch.domain.discovery import WILDCARD
from iotwatch.plan.catalog import AWS_IOT_METRICS, PROTOCOLS, closest
from iotwatch.plan.problems import PlanProblem


def metric_name_check(name: str, path: str) -> tuple[str | None, list[PlanProblem]]:
    """(the AWS/IoT metric whose dimensions to check against, problems): an unknown name is a
    warning that names the metric it most likely misspells, which is then the one checked."""
    if name in AWS_IOT_METRICS:
        return name, []
    meant = closest(name, AWS_IOT_METRICS)
    fix = f"did you mean {meant}?" if meant else "check the spelling"
    return meant, [
        PlanProblem(
            "warning",
            path,
            f"'{name}' is not an AWS/IoT metric AWS documents: {fix} "
            "(custom metrics belong in their own namespace)",
            empty_series=True,
        )
    ]


def dimension_key_checks(
    metric: str, dims: Mapping[str, Any], path: str, empty: str, *, exact: bool
) -> list[PlanProblem]:
    """Keys `metric` is not published with (each with the key it most likely misspells), the
    keys it needs when `exact` (a share's parts must all be found with the share's keys), and
    Protocol values AWS IoT does not publish."""
    problems: list[PlanProblem] = []
    expected = AWS_IOT_METRICS[metric]
    allowed = ", ".join(expected) or "none: write no dimensions"
    unknown = sorted(set(dims) - set(expected))
    if unknown:
        fixes = [f"{key} to {closest(key, expected)}" for key in unknown if closest(key, expected)]
        rename = f"rename {', '.join(fixes)}: " if fixes else ""
        problems.append(
            PlanProblem(
                "warning",
                path,
                f"{metric} is not published with dimension(s) {', '.join(unknown)} (valid keys for "
                f"{metric}: {allowed}); {rename}{empty}",
                empty_series=True,
            )
        )
    missing = sorted(set(expected) - set(dims))
    if exact and missing and not unknown:
        problems.append(
            PlanProblem(
                "warning",
                path,
                f"{metric} is published with dimension(s) {', '.join(expected)}, not without "
                f"{', '.join(missing)}: add {', '.join(missing)} to the dimensions; {empty}",
                empty_series=True,
            )
        )
    raw = dims.get("Protocol")
    for value in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        if isinstance(value, str) and value != WILDCARD and value not in PROTOCOLS:
            protocol = closest(value, PROTOCOLS)
            problems.append(
                PlanProblem(
                    "warning",
                    f"{path}.Protocol",
                    f"AWS IoT publishes Protocol {' and '.join(PROTOCOLS)}, not '{value}'"
                    + (f": did you mean {protocol}? (values are case-sensitive)" if protocol else "")
                    + f"; {empty}",
                    empty_series=True,
                )
            )
    return problems
