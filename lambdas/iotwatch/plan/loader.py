"""Reading and checking a monitoring plan, with every problem reported at once.

Structural problems come from the pydantic model, mapped here to messages that name the
field and the fix; `iotwatch.plan.checks` covers what a schema cannot express. Both run on
every load so a user fixes a plan in one pass.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from iotwatch.plan.checks import semantic_checks
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.problems import PlanProblem

DEFAULT_PLAN_FILE = "monitoring-plan.yaml"


class PlanError(Exception):
    """A plan that cannot be deployed. `problems` lists every error and warning found."""

    def __init__(self, source: str, problems: list[PlanProblem]) -> None:
        self.source = source
        self.problems = problems
        errors = [p for p in problems if p.level == "error"]
        lines = [f"{source}: {len(errors)} problem(s) in the monitoring plan:"]
        lines += [f"  {p}" for p in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class PlanCheck:
    plan: Plan | None
    problems: list[PlanProblem]

    @property
    def errors(self) -> list[PlanProblem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[PlanProblem]:
        return [p for p in self.problems if p.level == "warning"]


def read_plan_document(path: str | Path) -> Any:
    """YAML or JSON file -> Python data. Raises PlanError naming the file on bad syntax."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(
            source, [PlanProblem("error", "", f"cannot read the plan file: {exc.strerror}")]
        ) from exc
    if source.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            raise PlanError(source, [PlanProblem("error", "", msg)]) from exc
    import yaml  # only the CLI and the CDK app read YAML; the Lambdas read the compiled JSON

    try:
        return _parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanError(source, [PlanProblem("error", "", f"not valid YAML{where}: {problem}")]) from exc


def check_plan(
    data: Any, *, environ: Mapping[str, str] | None = None, resolve_env: bool = False
) -> PlanCheck:
    """Validates plan data. With `resolve_env`, {env: X} contacts must be set in `environ`."""
    if not isinstance(data, dict):
        return PlanCheck(
            None, [PlanProblem("error", "", "the plan must be a mapping of sections (goals, owners, …)")]
        )
    problems: list[PlanProblem] = []
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        problems += [_problem_from_pydantic(err) for err in exc.errors()]
    problems += semantic_checks(data, environ if environ is not None else os.environ, resolve_env)
    unique = list(dict.fromkeys(problems))
    if any(p.level == "error" for p in unique):
        plan = None
    return PlanCheck(plan, unique)


def load_plan(
    path: str | Path, *, environ: Mapping[str, str] | None = None, resolve_env: bool = False
) -> Plan:
    """Reads and validates a plan file; raises PlanError with every problem on failure."""
    check = check_plan(read_plan_document(path), environ=environ, resolve_env=resolve_env)
    if check.plan is None:
        raise PlanError(str(path), check.problems)
    return check.plan


def _format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the key at `loc` (used to list allowed keys)."""
    import typing

    current: Any = Plan
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        annotation: Any = field.annotation
        while True:
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if typing.get_origin(annotation) in (list, typing.Union) or (
                args and type(annotation).__name__ == "UnionType"
            ):
                models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
                annotation = models[0] if models else (args[0] if args else None)
                if typing.get_origin(annotation) is None:
                    break
            else:
                break
        current = annotation
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _problem_from_pydantic(err: Any) -> PlanProblem:
    loc = tuple(err["loc"])
    path = _format_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _model_at(loc)
        allowed = ", ".join(owner.model_fields) if owner else ""
        hint = f"; allowed keys here: {allowed}" if allowed else ""
        return PlanProblem("error", path, f"unknown key '{loc[-1]}' (check its spelling){hint}")
    if kind == "missing":
        return PlanProblem("error", path, "required; add this field")
    if kind == "literal_error":
        return PlanProblem("error", path, f"{err['msg']} (got {err.get('input')!r})")
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "name" and len(loc) == 1:
        message = (
            "plan name must be 1-30 characters: lowercase letters, digits and '-', starting with a letter"
        )
    return PlanProblem("error", path, message)


def _parse_yaml(text: str) -> Any:
    """libyaml's parser where PyYAML has it (its wheels do; ~10x faster), but a document it
    refuses is parsed again by the pure-Python one, whose messages name what they found (the
    alias, the character, the token) where libyaml's do not."""
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(text, Loader=fast)  # a safe loader: plain data only
        except yaml.YAMLError:
            pass
    return yaml.safe_load(text)
