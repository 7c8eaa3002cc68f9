"""Checks on time: schedules that parse, and periods and history CloudWatch can serve."""

from __future__ import annotations

from typing import Any

from iotwatch.plan.model.frequency import STANDARD_PERIODS_HINT
from iotwatch.plan.problems import PlanProblem
from iotwatch.plan.schedule import ScheduleError, parse_schedule

# CloudWatch returns high-resolution metrics at these periods, but only for 3 hours.
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)
MINUTE_DATA_DAYS = 15  # older data is only returned at multiples of 300 s


def schedule_checks(frequency: dict[str, Any], period: int) -> list[PlanProblem]:
    """Both schedules must parse; an evaluation more often than the period re-reads datapoints."""
    problems: list[PlanProblem] = []
    for key in ("evaluation", "baseline_refresh"):
        expression = frequency.get(key)
        if isinstance(expression, str):
            try:
                schedule = parse_schedule(expression)
            except ScheduleError as exc:
                problems.append(PlanProblem("error", f"frequency.{key}", str(exc)))
                continue
            if key == "evaluation" and schedule.interval_seconds and schedule.interval_seconds < period:
                problems.append(
                    PlanProblem(
                        "warning",
                        "frequency.evaluation",
                        f"runs more often than the {period}s period: extra runs re-read the same datapoints",
                    )
                )
    return problems


def period_checks(period: Any, namespace: str, path: str, history_days: Any) -> list[PlanProblem]:
    """A metric's period must be one CloudWatch accepts for its resolution, and keeps for the
    history baselines learn from."""
    if not isinstance(period, int) or isinstance(period, bool) or period <= 0:
        return []  # the model reports it
    if namespace.startswith("AWS/"):
        if period % 60:
            return [
                PlanProblem("error", path, STANDARD_PERIODS_HINT.format(period=period, namespace=namespace))
            ]
    elif period in HIGH_RESOLUTION_PERIODS:
        return [
            PlanProblem(
                "error",
                path,
                f"{period} s: CloudWatch returns high-resolution periods (1, 5, 10, 20, 30 s) only for the "
                "last 3 hours, and baselines learn from days of history: use 60 or a multiple of it, "
                "e.g. 60, 300, 600 or 3600",
            )
        ]
    elif period % 60:
        return [
            PlanProblem(
                "error",
                path,
                f"{period} s is not a period CloudWatch accepts: 1, 5, 10, 20 or 30 s (high-resolution "
                "metrics, kept 3 hours), or 60 or a multiple of it, e.g. 60, 300, 600, 900 or 3600",
            )
        ]
    return history_checks(period, history_days, path)


def history_checks(
    period: Any, history_days: Any, path: str = "frequency.period_seconds"
) -> list[PlanProblem]:
    """History older than MINUTE_DATA_DAYS comes only at multiples of 300 s."""
    if not (isinstance(period, int) and isinstance(history_days, int)) or period % 60:
        return []
    if history_days > MINUTE_DATA_DAYS and period % 300:
        return [
            PlanProblem(
                "error",
                path,
                f"{period} s: CloudWatch returns data older than {MINUTE_DATA_DAYS} days only at multiples "
                f"of 300 s, and frequency.history_days ({history_days}) reaches back that far: use 300, "
                f"600, 900, 1800 or 3600, or history_days {MINUTE_DATA_DAYS} or less",
            )
        ]
    return []
