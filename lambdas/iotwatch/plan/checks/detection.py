"""Checks on detection settings the model sees only one level of: thresholds after inheritance,
and which series the plan-wide absolute limits reach."""

from __future__ import annotations

from typing import Any

from iotwatch.plan.problems import PlanProblem


def threshold_checks(
    sensitivity: Any, path: str, inherited: dict[str, Any] | None = None
) -> list[PlanProblem]:
    """critical below warning, once a metric's override sits on the plan's sensitivity."""
    if not isinstance(sensitivity, dict):
        return []
    merged = {"warning": 4.0, "critical": 7.0, **(inherited or {}), **sensitivity}
    warning, critical = merged["warning"], merged["critical"]
    if isinstance(warning, int | float) and isinstance(critical, int | float) and critical < warning:
        return [PlanProblem("error", path, f"critical ({critical}) must be at least warning ({warning})")]
    return []


def plan_limit_checks(detection: Any, ratios: Any) -> list[PlanProblem]:
    """The plan-wide `above`/`below` are counts: they reach every metric and no ratio (a share
    of attempts is a fraction in [0, 1], see expand.detection_settings). Say so where a plan
    would read otherwise: ratios that do not get the limit, or a limit that looks like a share."""
    if not isinstance(detection, dict):
        return []
    problems: list[PlanProblem] = []
    has_ratios = isinstance(ratios, list) and bool(ratios)
    for limit in ("above", "below"):
        value = detection.get(limit)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if has_ratios:
            problems.append(
                PlanProblem(
                    "warning",
                    f"detection.{limit}",
                    f"{value:g} applies to the plan's metrics (counts) only, not to its ratios (shares "
                    f"of attempts, fractions in [0, 1]); to limit a share set resources.ratios[i]."
                    f"detection.{limit} as a fraction, e.g. 0.05 for 5 %",
                )
            )
        if 0 < value < 1:
            problems.append(
                PlanProblem(
                    "warning",
                    f"detection.{limit}",
                    f"{value:g} looks like a share, but a plan-wide limit is a count per period and "
                    "applies to metrics only; set a share's limit on the ratio "
                    f"(resources.ratios[i].detection.{limit})",
                )
            )
    return problems
