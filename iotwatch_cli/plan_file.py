"""Reading a plan file for a command that needs it valid (`plan validate`, `plan cost`), or
that can do without one (`score`, `backtest --csv`)."""

from __future__ import annotations

import os
from typing import TextIO

from iotwatch.plan.loader import (
    DEFAULT_PLAN_FILE,
    PlanCheck,
    PlanError,
    check_plan,
    load_plan,
    read_plan_source,
)
from iotwatch.plan.model.plan import Plan


def plan_or_builtin(path: str | None, err: TextIO, what: str) -> Plan | None:
    """The plan `--plan` names; without one, the plan file here; else None: the caller uses the
    built-in detection, and stderr says so (a result is never judged by settings nobody knew
    were chosen). Raises PlanError."""
    if path is None and not os.path.exists(DEFAULT_PLAN_FILE):
        print(
            f"note: no {DEFAULT_PLAN_FILE} here and no --plan: {what} with iotwatch's default detection",
            file=err,
        )
        return None
    return load_plan(path or DEFAULT_PLAN_FILE)


def plan_or_report(path: str, err: TextIO) -> Plan | None:
    """The plan at `path`; None once its problems are on `err` (the caller exits 2)."""
    try:
        return load_plan(path)
    except PlanError as exc:
        print(exc, file=err)
        return None


def read_checked_plan(
    source: str, err: TextIO, *, resolve_env: bool = False
) -> tuple[Plan, PlanCheck] | None:
    """The plan at `source` and its check; None once every problem is on `err` (the caller
    exits 2)."""
    try:
        read = read_plan_source(source)
    except PlanError as exc:
        print(exc, file=err)
        return None
    check = check_plan(read.data, resolve_env=resolve_env, positions=read.positions)
    if check.plan is None:
        print(PlanError(source, check.problems), file=err)
        print("Fix the fields above and run `iotwatch plan validate` again.", file=err)
        return None
    return check.plan, check
