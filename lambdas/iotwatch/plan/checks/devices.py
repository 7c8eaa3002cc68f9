"""Checks on the `devices` section that a schema cannot express: settings that cost money for
nothing, or leave a part with nothing to read."""

from __future__ import annotations

from typing import Any

from iotwatch.plan.checks.raw import mapping, sequence
from iotwatch.plan.problems import PlanProblem

# Levels that log every connect, publish and subscribe, not only the failures.
_VERBOSE_LEVELS = ("INFO", "DEBUG")


def devices_checks(data: dict[str, Any]) -> list[PlanProblem]:
    devices = mapping(data, "devices")
    if not devices:
        return []
    problems: list[PlanProblem] = []
    logging = devices.get("logging")
    level = logging.get("level", "ERROR") if isinstance(logging, dict) else None
    top_clients = sequence(devices, "top_clients")
    if level in _VERBOSE_LEVELS:
        problems.append(
            PlanProblem(
                "warning",
                "devices.logging.level",
                f"{level} logs every connection and message, not only the failures: on a busy fleet "
                "that is gigabytes a day of log ingestion (see `iotwatch plan cost`); ERROR is enough "
                "for the top clients",
            )
        )
    if level == "DISABLED" and top_clients:
        problems.append(
            PlanProblem(
                "warning",
                "devices.logging.level",
                "DISABLED turns AWS IoT logging off, so the top_clients rules find nothing: use ERROR",
            )
        )
    if level is not None and level != "DISABLED" and not top_clients:
        problems.append(
            PlanProblem(
                "warning",
                "devices.logging",
                "AWS IoT logging is set but no devices.top_clients reads it: list the metrics whose "
                "top clients a page should name, or leave logging out",
            )
        )
    return problems
