"""Reading and checking a monitoring plan, with every problem reported at once.

Structural problems come from the pydantic model, mapped here to messages that name the
field and the fix; `iotwatch.plan.checks` covers what a schema cannot express. Both run on
every load so a user fixes a plan in one pass.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
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
        lines = [
            f"{source}: {len(errors)} problem(s) in the monitoring plan:"
            if errors
            else f"{source}: {len(problems)} warning(s), refused in strict mode: fix them, or check without strict"
        ]
        lines += [f"  {p.at(source)}" if p.line is not None else f"  {p}" for p in problems]
        super().__init__("\n".join(lines))


class PlanWarnings(PlanError):
    """A valid plan refused because it has warnings and the check is strict (CI)."""


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


# plan path as problems name it ("resources.metrics[0].period") -> (line, column), 1-based
Positions = dict[str, tuple[int, int]]

YAML_HINTS = (
    # (what PyYAML says, what to do), the first match wins
    ("'\\t'", "YAML indents with spaces, never tabs: replace the tab with spaces"),
    (
        "mapping values are not allowed",
        "a value holds ': ' (or a key is indented under a value): quote the value, e.g. key: 'a: b', "
        "or line the key up with its neighbours",
    ),
    ("could not find expected ':'", "a key needs ': ' after it (key: value); check the line above too"),
    (
        "undefined alias",
        "define the anchor (&name) before using it (*name), or quote a value that starts with '*'",
    ),
    (
        "expected <block end>",
        "the indentation changes here: keys of one mapping start in the same column, and list items "
        "with '- ' in the same column; check this line and the one above",
    ),
    ("unacceptable character", "the file holds a control character: save the plan as plain UTF-8 text"),
    ("is not a real date", "write a date that exists, as YYYY-MM-DD"),
)
YAML_DEFAULT_HINT = (
    "check the indentation and quoting there (spaces, not tabs; quote values holding ': ', ' #', "
    "'[', '{', '*' or '&')"
)


class _DuplicateKey(Exception):
    def __init__(self, path: str, first: tuple[int, int], again: tuple[int, int]) -> None:
        super().__init__(path)
        self.path, self.first, self.again = path, first, again


@dataclass(frozen=True)
class PlanSource:
    """A plan file as read: its data, and where each field is in the text."""

    data: Any
    positions: Positions


def read_plan_document(path: str | Path) -> Any:
    """YAML or JSON file -> Python data. Raises PlanError naming the file on bad syntax."""
    return read_plan_source(path).data


def read_plan_source(path: str | Path) -> PlanSource:
    """YAML or JSON file -> its data and the line and column of each field (YAML). Raises PlanError
    naming the file, line and what to do on bad syntax, a duplicate key or a file that is not
    UTF-8 text."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(
            source, [PlanProblem("error", "", f"cannot read the plan file: {exc.strerror}")]
        ) from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise PlanError(
            source,
            [
                PlanProblem(
                    "error",
                    "",
                    f"not UTF-8 text (byte {exc.start}, line {line}: {exc.reason}); a plan is a YAML or JSON "
                    "text file: save it as UTF-8",
                    line,
                    1,
                )
            ],
        ) from None
    try:
        if source.endswith(".json"):
            return PlanSource(_parse_json(source, text), {})
        return _parse_yaml(text, source)
    except _DuplicateKey as exc:
        (line, column), (first, _) = exc.again, exc.first
        message = f"duplicate key (first at line {first}): remove one; YAML would keep only the last"
        raise PlanError(source, [PlanProblem("error", exc.path, message, line, column)]) from None
    except RecursionError:
        raise PlanError(source, [PlanProblem("error", "", "nested too deeply to be a plan")]) from None


def _parse_json(source: str, text: str) -> Any:
    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        again = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if again is not None:
            msg = f"duplicate key {again!r}: remove one; JSON readers would keep only the last"
            raise PlanError(source, [PlanProblem("error", "", msg)])
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=refuse_duplicates)
    except json.JSONDecodeError as exc:
        msg = f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise PlanError(source, [PlanProblem("error", "", msg, exc.lineno, exc.colno)]) from exc


def check_plan(
    data: Any,
    *,
    environ: Mapping[str, str] | None = None,
    resolve_env: bool = False,
    positions: Positions | None = None,
) -> PlanCheck:
    """Validates plan data. With `resolve_env`, {env: X} contacts must be set in `environ`; with
    `positions` (read_plan_source), each problem carries the line and column of its field."""
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
    if positions:
        unique = [_located(p, positions) for p in unique]
    if any(p.level == "error" for p in unique):
        plan = None
    return PlanCheck(plan, unique)


def load_plan(
    path: str | Path, *, environ: Mapping[str, str] | None = None, resolve_env: bool = False
) -> Plan:
    """Reads and validates a plan file; raises PlanError with every problem on failure."""
    plan = check_plan_file(path, environ=environ, resolve_env=resolve_env).plan
    assert plan is not None  # check_plan_file raised otherwise
    return plan


def check_plan_file(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    resolve_env: bool = False,
    strict: bool = False,
) -> PlanCheck:
    """Reads and validates a plan file: the check of a deployable plan (its warnings, each at its
    line). Raises PlanError with every problem on failure; with `strict`, PlanWarnings when the
    plan is valid but has warnings."""
    read = read_plan_source(path)
    check = check_plan(read.data, environ=environ, resolve_env=resolve_env, positions=read.positions)
    if check.plan is None:
        raise PlanError(str(path), check.problems)
    if strict and check.warnings:
        raise PlanWarnings(str(path), check.warnings)
    return check


# what to write instead, for pydantic's type errors (its message says only what was expected)
TYPE_FIXES = {
    "int_parsing": "write a whole number, e.g. 300",
    "int_type": "write a whole number, e.g. 300",
    "int_from_float": "write a whole number, e.g. 300",
    "float_parsing": "write a number, e.g. 0.2",
    "float_type": "write a number, e.g. 0.2",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write text; quote it ('...') if YAML reads it as a number, date or true/false",
    "list_type": "write a list: one '- item' per line, or [a, b]",
    "dict_type": "write a mapping here: one 'key: value' per line, indented under this key",
    "model_type": "write a mapping here: one 'key: value' per line, indented under this key",
}
BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_short", "too_long"}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
        allowed = ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else ""
        hint = f"; allowed keys here: {allowed}" if allowed else ""
        return PlanProblem("error", path, f"unknown key '{loc[-1]}' (check its spelling){hint}")
    if kind == "missing":
        return PlanProblem("error", path, "required; add this field")
    if kind == "literal_error":
        return PlanProblem("error", path, f"{err['msg']} (got {err.get('input')!r})")
    message = str(err["msg"]).removeprefix("Value error, ")
    fix = TYPE_FIXES.get(kind)
    if fix is not None:
        return PlanProblem("error", path, f"{message} (got {_shown(err.get('input'))}): {fix}")
    if kind in BOUND_ERRORS:
        return PlanProblem("error", path, f"{message} (got {_shown(err.get('input'))})")
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "name" and len(loc) == 1:
        message = (
            "plan name must be 1-30 characters: lowercase letters, digits and '-', starting with a letter"
        )
    return PlanProblem("error", path, message)


def _located(problem: PlanProblem, positions: Positions) -> PlanProblem:
    """The problem at its field's line, or at the nearest enclosing field the file has (a
    missing key is reported where its section is); the field it names as related, likewise."""
    here = _position(problem.path, positions)
    if here is not None:
        problem = replace(problem, line=here[0], column=here[1])
    there = _position(problem.related or "", positions)
    if there is not None:
        problem = replace(problem, related_line=there[0], related_column=there[1])
    return problem


def _position(path: str, positions: Positions) -> tuple[int, int] | None:
    while path:
        if path in positions:
            return positions[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


def _parse_yaml(text: str, source: str) -> PlanSource:
    """libyaml's parser where PyYAML has it (its wheels do; ~10x faster), but a document it
    refuses is parsed again by the pure-Python one, whose messages name what they found (the
    alias, the character, the token) where libyaml's do not. Either way the node tree is walked
    once before it becomes data: for each field's position, and to refuse a duplicate key
    (PyYAML would silently keep the last)."""
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return _compose_and_construct(text, fast)
        except yaml.YAMLError:
            pass
    try:
        return _compose_and_construct(text, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise PlanError(source, [_yaml_problem(exc)]) from exc


def _compose_and_construct(text: str, loader_class: Any) -> PlanSource:
    loader = loader_class(text)  # a safe loader: plain data only
    try:
        node = loader.get_single_node()
        if node is None:
            return PlanSource(None, {})
        positions: Positions = {}
        _index(node, "", positions, set())
        try:
            data = loader.construct_document(node)
        except ValueError as exc:  # PyYAML builds dates itself, and 2026-02-30 is not one
            raise _impossible_date(node, loader) or exc from exc
        return PlanSource(data, positions)
    finally:
        loader.dispose()


def _impossible_date(node: Any, loader: Any) -> Exception | None:
    """The first date or time in the document that does not exist, as a YAML error at its line."""
    from yaml.constructor import ConstructorError, SafeConstructor
    from yaml.nodes import CollectionNode

    pending, seen = [node], set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, CollectionNode):
            for item in current.value:
                pending.extend(item if isinstance(item, tuple) else (item,))
        elif current.tag == "tag:yaml.org,2002:timestamp":
            try:
                SafeConstructor.construct_yaml_timestamp(loader, current)
            except ValueError as exc:
                return ConstructorError(
                    None,
                    None,
                    f"{current.value} is not a real date or time ({exc})",
                    current.start_mark,
                )
    return None


def _index(node: Any, path: str, positions: Positions, seen: set[int]) -> None:
    """Records where each key and list item starts; an alias repeats a node already walked."""
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        keys: dict[tuple[str, str], tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            first = keys.setdefault((key_node.tag, key_node.value), where)
            if first != where:
                raise _DuplicateKey(child, first, where)
            positions.setdefault(child, where)
            _index(value_node, child, positions, seen)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            child = f"{path}[{i}]"
            positions.setdefault(child, (item.start_mark.line + 1, item.start_mark.column + 1))
            _index(item, child, positions, seen)


def _yaml_problem(exc: Any) -> PlanProblem:
    """What PyYAML found, where, and what to do about it."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc)
    hint = next((h for found, h in YAML_HINTS if found in problem), YAML_DEFAULT_HINT)
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return PlanProblem("error", "", f"not valid YAML{where}: {problem}; {hint}", line, column)
