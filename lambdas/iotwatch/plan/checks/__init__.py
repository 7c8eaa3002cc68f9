"""What a schema cannot express, checked on the raw plan data, one module per topic: schedule
syntax, references between sections, contact formats, AWS/IoT metric names.

They run even on data the model rejected, so a user fixes a plan in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iotwatch.plan.checks.audit import audit_checks
from iotwatch.plan.checks.detection import plan_limit_checks, threshold_checks
from iotwatch.plan.checks.devices import devices_checks
from iotwatch.plan.checks.frequency import schedule_checks
from iotwatch.plan.checks.lifecycle import lifecycle_checks
from iotwatch.plan.checks.notify import (
    event_delivery_checks,
    operations_topic_checks,
    route_checks,
    topic_checks,
)
from iotwatch.plan.checks.raw import mapping
from iotwatch.plan.checks.resources import resource_checks
from iotwatch.plan.problems import PlanProblem

__all__ = ["semantic_checks"]


def semantic_checks(data: dict[str, Any], environ: Mapping[str, str], resolve_env: bool) -> list[PlanProblem]:
    """Every check, in the order a user reads the plan's sections."""
    frequency = mapping(data, "frequency")
    period = (
        frequency.get("period_seconds", 300) if isinstance(frequency.get("period_seconds", 300), int) else 300
    )
    notify = mapping(data, "notify")
    problems = schedule_checks(frequency, period)
    topic_problems, topics = topic_checks(data, notify, environ, resolve_env)
    problems += topic_problems
    problems += route_checks(notify, topics)
    problems += operations_topic_checks(notify, topics)
    problems += event_delivery_checks(notify)
    problems += audit_checks(data, topics)
    problems += lifecycle_checks(data, notify, period)
    detection = data.get("detection")
    plan_sensitivity = detection.get("sensitivity") if isinstance(detection, dict) else None
    plan_sensitivity = plan_sensitivity if isinstance(plan_sensitivity, dict) else {}
    problems += resource_checks(data, plan_sensitivity)
    problems += threshold_checks(plan_sensitivity, "detection.sensitivity")
    resources = data.get("resources")
    problems += plan_limit_checks(detection, resources.get("ratios") if isinstance(resources, dict) else None)
    problems += devices_checks(data)
    return problems
