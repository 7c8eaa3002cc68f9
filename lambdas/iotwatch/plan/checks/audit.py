"""Checks on the audit section: topics that exist, and settings that would deploy nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iotwatch.plan.checks.raw import mapping, sequence
from iotwatch.plan.problems import PlanProblem


def audit_checks(data: dict[str, Any], names: Mapping[str, int]) -> list[PlanProblem]:
    """audit.topics name defined topics; audit settings without tools.audit do nothing."""
    problems: list[PlanProblem] = []
    known = ", ".join(names) or "none defined"
    audit = mapping(data, "audit")
    for i, topic in enumerate(sequence(audit, "topics")):
        if isinstance(topic, str) and topic not in names:
            problems.append(
                PlanProblem(
                    "error",
                    f"audit.topics[{i}]",
                    f"names undefined topic '{topic}'; define it under notify.topics (known: {known})",
                )
            )
    if audit and not mapping(data, "tools").get("audit", False):
        problems.append(
            PlanProblem(
                "warning",
                "audit",
                "audit settings are given but tools.audit is false: set tools.audit: true to deploy the audit",
            )
        )
    return problems
