"""Checks on how alerts live: reminder and update intervals, grouping keys and maintenance windows
that name what the plan watches."""

from __future__ import annotations

import fnmatch
from typing import Any

from iotwatch.plan.checks.raw import mapping, sequence
from iotwatch.plan.model.base import parse_interval
from iotwatch.plan.problems import PlanProblem


def lifecycle_checks(data: dict[str, Any], notify: dict[str, Any], period: int) -> list[PlanProblem]:
    """What the model cannot see: window names, and patterns or keys that match nothing."""
    metric_names, dimension_keys = _watched(data)
    return (
        _interval_checks(notify, period)
        + _group_by_checks(notify, dimension_keys)
        + _window_checks(notify, metric_names, dimension_keys)
    )


def _interval_checks(notify: dict[str, Any], period: int) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    for key, what in (
        ("repeat_interval", "a firing alert would remind on every evaluation"),
        (
            "group_interval",
            "an open incident would send an update on every evaluation that has news (0 says so plainly)",
        ),
    ):
        try:
            interval = parse_interval(notify.get(key, 0))
        except ValueError:
            interval = 0  # reported by the model
        if 0 < interval < period:
            problems.append(
                PlanProblem("warning", f"notify.{key}", f"shorter than the {period}s period: {what}")
            )
    return problems


def _watched(data: dict[str, Any]) -> tuple[list[str], set[str]]:
    """(the names of the plan's metrics and ratios, every dimension key they use)."""
    resources = mapping(data, "resources")
    specs = [m for m in sequence(resources, "metrics") if isinstance(m, dict)]
    ratios = [r for r in sequence(resources, "ratios") if isinstance(r, dict)]
    metric_names = [m["metric"] for m in specs if isinstance(m.get("metric"), str)]
    metric_names += [r["name"] for r in ratios if isinstance(r.get("name"), str)]
    specs += ratios
    dimension_keys = {k for m in specs if isinstance(m.get("dimensions"), dict) for k in m["dimensions"]}
    return metric_names, dimension_keys


def _group_by_checks(notify: dict[str, Any], dimension_keys: set[str]) -> list[PlanProblem]:
    group_by = notify.get("group_by")
    if not isinstance(group_by, list):
        return []
    return [
        PlanProblem(
            "warning",
            f"notify.group_by[{i}]",
            f"no metric of the plan has dimension '{key}'; it groups nothing",
        )
        for i, key in enumerate(group_by)
        if isinstance(key, str) and key not in dimension_keys
    ]


def _window_checks(
    notify: dict[str, Any], metric_names: list[str], dimension_keys: set[str]
) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    windows = notify.get("maintenance_windows")
    seen: dict[str, int] = {}
    for i, window in enumerate(windows if isinstance(windows, list) else []):
        if not isinstance(window, dict):
            continue
        path = f"notify.maintenance_windows[{i}]"
        name = window.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(
                    PlanProblem(
                        "error",
                        f"{path}.name",
                        f"duplicate window '{name}' (also notify.maintenance_windows[{seen[name]}])",
                    )
                )
            else:
                seen[name] = i
        problems += _window_match_checks(window, path, metric_names, dimension_keys)
    return problems


def _window_match_checks(
    window: dict[str, Any], path: str, metric_names: list[str], dimension_keys: set[str]
) -> list[PlanProblem]:
    """A window's metric patterns and dimension keys must match something the plan watches."""
    problems: list[PlanProblem] = []
    patterns = window.get("metrics")
    for j, pattern in enumerate(patterns if isinstance(patterns, list) else []):
        if (
            isinstance(pattern, str)
            and metric_names
            and not any(fnmatch.fnmatchcase(m, pattern) for m in metric_names)
        ):
            problems.append(
                PlanProblem(
                    "warning",
                    f"{path}.metrics[{j}]",
                    f"'{pattern}' matches no metric of the plan; the window silences nothing",
                )
            )
    dims = window.get("dimensions")
    for key in dims if isinstance(dims, dict) else {}:
        if key not in dimension_keys:
            problems.append(
                PlanProblem(
                    "warning",
                    f"{path}.dimensions.{key}",
                    f"no metric of the plan has dimension '{key}'; the window silences nothing",
                )
            )
    return problems
