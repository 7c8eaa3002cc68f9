"""Reading a plan file for a command that needs it valid (`plan validate`, `plan cost`)."""

from __future__ import annotations

from typing import TextIO

from iotwatch.plan.loader import PlanCheck, PlanError, check_plan, read_plan_source
from iotwatch.plan.model.plan import Plan


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
