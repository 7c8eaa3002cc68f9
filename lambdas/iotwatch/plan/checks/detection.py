"""Checks on detection settings the model sees only one level of: thresholds after inheritance."""

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
