"""Reading and checking a monitoring plan, with every problem reported at once.

Structural problems come from the pydantic model; the checks here cover what a schema
cannot express (schedule syntax, references between sections, contact formats, AWS/IoT
metric names). Both run on every load so a user fixes a plan in one pass.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from iotwatch.domain.discovery import MAX_SERIES_PER_TEMPLATE, WILDCARD
from iotwatch.plan.catalog import (
    AWS_IOT_METRICS,
    AWS_IOT_NAMESPACE,
    OUTCOME_FAMILIES,
    PROTOCOLS,
    closest,
    default_denominator,
)
from iotwatch.plan.model.contacts import E164_PATTERN, EMAIL_PATTERN, Contact, mask_contact
from iotwatch.plan.model.frequency import STANDARD_PERIODS_HINT
from iotwatch.plan.model.notify import SEVERITIES, TOPIC_NAME_PATTERN
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.model.resources import MAX_WILDCARD_TEMPLATES
from iotwatch.plan.schedule import ScheduleError, parse_schedule

DEFAULT_PLAN_FILE = "monitoring-plan.yaml"


@dataclass(frozen=True)
class PlanProblem:
    level: Literal["error", "warning"]
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.path or '(plan)'}: {self.message}"


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


def _mapping(data: Any, key: str) -> dict[str, Any]:
    """`data[key]` when both are mappings, else {}: checks run on plans that failed the schema."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _sequence(data: Any, key: str) -> list[Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


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
        return yaml.safe_load(text)
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
    problems += _semantic_checks(data, environ if environ is not None else os.environ, resolve_env)
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


# --- problem reporting -------------------------------------------------------------------------


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


def _semantic_checks(
    data: dict[str, Any], environ: Mapping[str, str], resolve_env: bool
) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    frequency = _mapping(data, "frequency")
    period = (
        frequency.get("period_seconds", 300) if isinstance(frequency.get("period_seconds", 300), int) else 300
    )
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

    notify = _mapping(data, "notify")
    topics = _sequence(notify, "topics")
    plan_name = data.get("name") if isinstance(data.get("name"), str) else ""
    names: dict[str, int] = {}
    for i, topic in enumerate(topics):
        if not isinstance(topic, dict) or not isinstance(topic.get("name"), str):
            continue
        name = topic["name"]
        if name in names:
            problems.append(
                PlanProblem(
                    "error",
                    f"notify.topics[{i}].name",
                    f"duplicate topic '{name}' (also notify.topics[{names[name]}])",
                )
            )
        else:
            names[name] = i
        physical = f"iotwatch-{plan_name}-{name}"
        if not re.match(TOPIC_NAME_PATTERN, name) or len(physical) > 256:
            problems.append(
                PlanProblem(
                    "error",
                    f"notify.topics[{i}].name",
                    f"'{name}' is not a valid SNS topic name: use letters, digits, '-' and '_' only",
                )
            )
        subscribers = _sequence(topic, "subscribers")
        if not subscribers:
            problems.append(
                PlanProblem(
                    "warning", f"notify.topics[{i}]", "no subscribers: alerts routed here reach nobody"
                )
            )
        for j, sub in enumerate(subscribers):
            if isinstance(sub, dict):
                problems += _contact_checks(sub, f"notify.topics[{i}].subscribers[{j}]", environ, resolve_env)

    routes = _sequence(notify, "routes")
    routed: set[str] = set()
    for i, route in enumerate(routes):
        if not isinstance(route, dict):
            continue
        target = route.get("topic")
        if isinstance(target, str) and target not in names:
            known = ", ".join(names) or "none defined"
            problems.append(
                PlanProblem(
                    "error",
                    f"notify.routes[{i}].topic",
                    f"routes to undefined topic '{target}'; define it under notify.topics (known: {known})",
                )
            )
        severities = route.get("severities", list(SEVERITIES))
        if isinstance(severities, list):
            routed.update(s for s in severities if isinstance(s, str))
    for severity in SEVERITIES:
        if routes and severity not in routed:
            problems.append(PlanProblem("warning", "notify.routes", f"no route for severity '{severity}'"))

    problems += _topic_reference_checks(data, notify, names)
    problems += _lifecycle_checks(data, notify, period)

    detection = data.get("detection")
    plan_sensitivity = detection.get("sensitivity") if isinstance(detection, dict) else None
    plan_sensitivity = plan_sensitivity if isinstance(plan_sensitivity, dict) else {}
    problems += _metric_checks(data, plan_sensitivity)
    problems += _threshold_checks(plan_sensitivity, "detection.sensitivity")
    return problems


def _topic_reference_checks(
    data: dict[str, Any], notify: dict[str, Any], names: Mapping[str, int]
) -> list[PlanProblem]:
    """Topics named outside `routes` (operations alarms, audit alerts) must exist too."""
    problems: list[PlanProblem] = []
    known = ", ".join(names) or "none defined"
    operations = notify.get("operations_topic")
    if isinstance(operations, str) and operations not in names:
        problems.append(
            PlanProblem(
                "error",
                "notify.operations_topic",
                f"names undefined topic '{operations}'; define it under notify.topics (known: {known})",
            )
        )
    audit = _mapping(data, "audit")
    for i, topic in enumerate(_sequence(audit, "topics")):
        if isinstance(topic, str) and topic not in names:
            problems.append(
                PlanProblem(
                    "error",
                    f"audit.topics[{i}]",
                    f"names undefined topic '{topic}'; define it under notify.topics (known: {known})",
                )
            )
    if audit and not _mapping(data, "tools").get("audit", False):
        problems.append(
            PlanProblem(
                "warning",
                "audit",
                "audit settings are given but tools.audit is false: set tools.audit: true to deploy the audit",
            )
        )
    return problems


def _lifecycle_checks(data: dict[str, Any], notify: dict[str, Any], period: int) -> list[PlanProblem]:
    """What the model cannot see: window names, and patterns or keys that match nothing."""
    import fnmatch

    from iotwatch.plan.model.base import parse_interval

    problems: list[PlanProblem] = []
    for key, what in (
        ("repeat_interval", "a firing alert would remind on every evaluation"),
        (
            "group_interval",
            "an open incident would send an update on every evaluation that has news (0 says so plainly)",
        ),
    ):
        try:
            interval = parse_interval(notify.get(key, 0))
        except ValueError:
            interval = 0  # reported by the model
        if 0 < interval < period:
            problems.append(
                PlanProblem("warning", f"notify.{key}", f"shorter than the {period}s period: {what}")
            )
    resources = _mapping(data, "resources")
    specs = (
        [m for m in resources.get("metrics") or [] if isinstance(m, dict)]
        if isinstance(resources.get("metrics"), list)
        else []
    )
    ratios = [r for r in _sequence(resources, "ratios") if isinstance(r, dict)]
    metric_names = [m["metric"] for m in specs if isinstance(m.get("metric"), str)]
    metric_names += [r["name"] for r in ratios if isinstance(r.get("name"), str)]
    specs += ratios
    dimension_keys = {k for m in specs if isinstance(m.get("dimensions"), dict) for k in m["dimensions"]}
    group_by = notify.get("group_by")
    if isinstance(group_by, list):
        for i, key in enumerate(group_by):
            if isinstance(key, str) and key not in dimension_keys:
                problems.append(
                    PlanProblem(
                        "warning",
                        f"notify.group_by[{i}]",
                        f"no metric of the plan has dimension '{key}'; it groups nothing",
                    )
                )
    windows = notify.get("maintenance_windows")
    seen: dict[str, int] = {}
    for i, window in enumerate(windows if isinstance(windows, list) else []):
        if not isinstance(window, dict):
            continue
        path = f"notify.maintenance_windows[{i}]"
        name = window.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(
                    PlanProblem(
                        "error",
                        f"{path}.name",
                        f"duplicate window '{name}' (also notify.maintenance_windows[{seen[name]}])",
                    )
                )
            else:
                seen[name] = i
        patterns = window.get("metrics")
        for j, pattern in enumerate(patterns if isinstance(patterns, list) else []):
            if (
                isinstance(pattern, str)
                and metric_names
                and not any(fnmatch.fnmatchcase(m, pattern) for m in metric_names)
            ):
                problems.append(
                    PlanProblem(
                        "warning",
                        f"{path}.metrics[{j}]",
                        f"'{pattern}' matches no metric of the plan; the window silences nothing",
                    )
                )
        dims = window.get("dimensions")
        for key in dims if isinstance(dims, dict) else {}:
            if key not in dimension_keys:
                problems.append(
                    PlanProblem(
                        "warning",
                        f"{path}.dimensions.{key}",
                        f"no metric of the plan has dimension '{key}'; the window silences nothing",
                    )
                )
    return problems


def _threshold_checks(
    sensitivity: Any, path: str, inherited: dict[str, Any] | None = None
) -> list[PlanProblem]:
    if not isinstance(sensitivity, dict):
        return []
    merged = {"warning": 4.0, "critical": 7.0, **(inherited or {}), **sensitivity}
    warning, critical = merged["warning"], merged["critical"]
    if isinstance(warning, int | float) and isinstance(critical, int | float) and critical < warning:
        return [PlanProblem("error", path, f"critical ({critical}) must be at least warning ({warning})")]
    return []


def _metric_checks(data: dict[str, Any], plan_sensitivity: dict[str, Any]) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    resources = _mapping(data, "resources")
    metrics = _sequence(resources, "metrics")
    frequency = _mapping(data, "frequency")
    period = frequency.get("period_seconds", 300)
    history_days = frequency.get("history_days", 14)
    problems += _history_checks(period, history_days)
    seen: dict[tuple[Any, ...], str] = {}
    wildcard_templates = 0
    for i, spec in enumerate(metrics):
        if not isinstance(spec, dict) or not isinstance(spec.get("metric"), str):
            continue
        path = f"resources.metrics[{i}]"
        name, namespace = spec["metric"], spec.get("namespace", AWS_IOT_NAMESPACE)
        dims = _mapping(spec, "dimensions")
        for key, value in dims.items():
            values = value if isinstance(value, list) else [value]
            if isinstance(value, list) and WILDCARD in value:
                problems.append(
                    PlanProblem(
                        "error",
                        f"{path}.dimensions.{key}",
                        f"'*' watches every value of {key} and cannot be one value of a list: "
                        f'write {key}: "*" on its own, or list the values without it',
                    )
                )
            for v in values:
                if isinstance(v, str) and WILDCARD in v and v != WILDCARD:
                    problems.append(
                        PlanProblem(
                            "warning",
                            f"{path}.dimensions.{key}",
                            f"'{v}' is matched literally: only a lone '*' means every value "
                            "(patterns such as 'prod-*' are not supported)",
                        )
                    )
            if isinstance(value, list) and not value:
                problems.append(
                    PlanProblem("error", f"{path}.dimensions.{key}", "empty list: give at least one value")
                )
        if WILDCARD in dims.values():
            wildcard_templates += _template_count(dims)
        if namespace == AWS_IOT_NAMESPACE:
            empty = (
                "ListMetrics would discover nothing"
                if WILDCARD in dims.values()
                else "this series would stay empty"
            )
            known, named = _metric_name_check(name, f"{path}.metric")
            problems += named
            if known is not None:
                problems += _dimension_key_checks(known, dims, f"{path}.dimensions", empty, exact=False)
        problems += _period_checks(spec.get("period", period), namespace, f"{path}.period", history_days)
        identity = (namespace, name, json.dumps(dims, sort_keys=True), spec.get("statistic", "Sum"))
        if identity in seen:
            problems.append(
                PlanProblem("error", path, f"same metric and dimensions as {seen[identity]}; remove one")
            )
        else:
            seen[identity] = path
        detection = spec.get("detection")
        if isinstance(detection, dict):
            problems += _threshold_checks(
                detection.get("sensitivity"), f"{path}.detection.sensitivity", inherited=plan_sensitivity
            )
    for i, spec in enumerate(_sequence(resources, "ratios")):
        if isinstance(spec, dict):
            problems += _ratio_checks(
                spec,
                f"resources.ratios[{i}]",
                seen,
                plan_sensitivity,
                period=period,
                history_days=history_days,
            )
    if wildcard_templates > MAX_WILDCARD_TEMPLATES:
        problems.append(
            PlanProblem(
                "error",
                "resources.metrics",
                f"{wildcard_templates} metrics watch every value of a dimension ('*', counting each "
                f"combination of listed values); at most {MAX_WILDCARD_TEMPLATES}: each is listed "
                f"with ListMetrics on every refresh and can add up to {MAX_SERIES_PER_TEMPLATE} series",
            )
        )
    return problems


def _metric_name_check(name: str, path: str) -> tuple[str | None, list[PlanProblem]]:
    """(the AWS/IoT metric whose dimensions to check against, problems): an unknown name is a
    warning that names the metric it most likely misspells, which is then the one checked."""
    if name in AWS_IOT_METRICS:
        return name, []
    meant = closest(name, AWS_IOT_METRICS)
    fix = f"did you mean {meant}?" if meant else "check the spelling"
    return meant, [
        PlanProblem(
            "warning",
            path,
            f"'{name}' is not an AWS/IoT metric AWS documents: {fix} "
            "(custom metrics belong in their own namespace)",
        )
    ]


def _dimension_key_checks(
    metric: str, dims: Mapping[str, Any], path: str, empty: str, *, exact: bool
) -> list[PlanProblem]:
    """Keys `metric` is not published with (each with the key it most likely misspells), the
    keys it needs when `exact` (a share's parts must all be found with the share's keys), and
    Protocol values AWS IoT does not publish."""
    problems: list[PlanProblem] = []
    expected = AWS_IOT_METRICS[metric]
    allowed = ", ".join(expected) or "none: write no dimensions"
    unknown = sorted(set(dims) - set(expected))
    if unknown:
        fixes = [f"{key} to {closest(key, expected)}" for key in unknown if closest(key, expected)]
        rename = f"rename {', '.join(fixes)}: " if fixes else ""
        problems.append(
            PlanProblem(
                "warning",
                path,
                f"{metric} is not published with dimension(s) {', '.join(unknown)} (valid keys for "
                f"{metric}: {allowed}); {rename}{empty}",
            )
        )
    missing = sorted(set(expected) - set(dims))
    if exact and missing and not unknown:
        problems.append(
            PlanProblem(
                "warning",
                path,
                f"{metric} is published with dimension(s) {', '.join(expected)}, not without "
                f"{', '.join(missing)}: add {', '.join(missing)} to the dimensions; {empty}",
            )
        )
    raw = dims.get("Protocol")
    for value in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        if isinstance(value, str) and value != WILDCARD and value not in PROTOCOLS:
            protocol = closest(value, PROTOCOLS)
            problems.append(
                PlanProblem(
                    "warning",
                    f"{path}.Protocol",
                    f"AWS IoT publishes Protocol {' and '.join(PROTOCOLS)}, not '{value}'"
                    + (f": did you mean {protocol}? (values are case-sensitive)" if protocol else "")
                    + f"; {empty}",
                )
            )
    return problems


# CloudWatch returns high-resolution metrics at these periods, but only for 3 hours.
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)
MINUTE_DATA_DAYS = 15  # older data is only returned at multiples of 300 s


def _period_checks(period: Any, namespace: str, path: str, history_days: Any) -> list[PlanProblem]:
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
    return _history_checks(period, history_days, path)


def _history_checks(
    period: Any, history_days: Any, path: str = "frequency.period_seconds"
) -> list[PlanProblem]:
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


def _ratio_checks(
    spec: dict[str, Any],
    path: str,
    seen: dict[tuple[Any, ...], str],
    plan_sensitivity: dict[str, Any],
    *,
    period: Any,
    history_days: Any,
) -> list[PlanProblem]:
    """A share's parts: known metrics (or the one meant), carrying the share's dimensions, the
    numerator among the denominator; its name its own; settings that mean something for it."""
    problems: list[PlanProblem] = []
    name, namespace = spec.get("name"), spec.get("namespace", AWS_IOT_NAMESPACE)
    dims = _mapping(spec, "dimensions")
    numerator = _names(spec.get("numerator"))
    denominator = _names(spec.get("denominator")) if spec.get("denominator") is not None else None
    aws_iot = namespace == AWS_IOT_NAMESPACE
    if isinstance(name, str) and aws_iot and name in AWS_IOT_METRICS:
        problems.append(
            PlanProblem(
                "error",
                f"{path}.name",
                f"'{name}' is an AWS/IoT metric: name the share for what it measures, "
                f"e.g. {name}Rate (routes, silences and messages use this name)",
            )
        )
    for key, value in dims.items():
        if WILDCARD in (value if isinstance(value, list) else [value]):
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.dimensions.{key}",
                    f"a ratio cannot watch every value of {key} ('*'): list the values, e.g. {key}: [a, b]",
                )
            )
        if isinstance(value, list) and not value:
            problems.append(
                PlanProblem("error", f"{path}.dimensions.{key}", "empty list: give at least one value")
            )
    if denominator is None and numerator:
        derived = default_denominator(tuple(numerator)) if aws_iot else None
        denominator = list(derived) if derived is not None else None
        if denominator is None:
            families = ", ".join(
                f"{op} ({' '.join(m.rpartition('.')[2] for m in ms)})" for op, ms in OUTCOME_FAMILIES.items()
            )
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.denominator",
                    "required here: list the metrics whose sum is every attempt, the numerator's among "
                    "them (iotwatch fills it in only when every numerator metric is an outcome of one "
                    f"AWS/IoT operation: {families})",
                )
            )
    empty = "the share would have no attempts"
    checked: set[tuple[str, ...]] = set()  # each set of keys once: a share's parts usually share theirs
    for part_path, names in ((f"{path}.numerator", numerator), (f"{path}.denominator", denominator or [])):
        for j, metric in enumerate(names if aws_iot else []):
            known, named = _metric_name_check(metric, f"{part_path}[{j}]")
            problems += named
            if known is not None and metric in AWS_IOT_METRICS and AWS_IOT_METRICS[known] not in checked:
                checked.add(AWS_IOT_METRICS[known])
                problems += _dimension_key_checks(known, dims, f"{path}.dimensions", empty, exact=True)
    if numerator and denominator is not None:
        outside = [m for m in numerator if m not in denominator]
        if outside:
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.denominator",
                    f"add {', '.join(outside)}: a share's attempts include what failed, so every numerator "
                    "metric belongs in the denominator too (a ratio of two unrelated counts is not a share)",
                )
            )
        elif set(numerator) == set(denominator):
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.denominator",
                    "holds only the numerator's metrics: the share would always be 100 %; add the "
                    "outcomes of the attempts that did not fail (e.g. the operation's .Success)",
                )
            )
    if isinstance(name, str):
        identity = (namespace, name, json.dumps(dims, sort_keys=True), "Sum")
        if identity in seen:
            problems.append(
                PlanProblem("error", path, f"same name and dimensions as {seen[identity]}; rename one")
            )
        else:
            seen[identity] = path
    problems += _period_checks(spec.get("period", period), namespace, f"{path}.period", history_days)
    detection = spec.get("detection")
    if isinstance(detection, dict):
        problems += _threshold_checks(
            detection.get("sensitivity"), f"{path}.detection.sensitivity", inherited=plan_sensitivity
        )
        if "missing_data" in detection:
            problems.append(
                PlanProblem(
                    "warning",
                    f"{path}.detection.missing_data",
                    "does not apply to a ratio: a period with fewer than min_denominator attempts has no "
                    "share and is skipped; remove it",
                )
            )
        for limit in ("above", "below"):
            value = detection.get(limit)
            if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value <= 1:
                problems.append(
                    PlanProblem(
                        "error",
                        f"{path}.detection.{limit}",
                        f"{value} is not a share: write it as a fraction of the attempts, e.g. 0.05 for 5 %",
                    )
                )
    return problems


def _names(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [v for v in values if isinstance(v, str) and v]


def _template_count(dims: dict[str, Any]) -> int:
    """How many templates a metric with a "*" compiles to: one per combination of listed values."""
    count = 1
    for value in dims.values():
        if isinstance(value, list):
            count *= max(1, len(value))
    return count


def _contact_checks(
    sub: dict[str, Any], path: str, environ: Mapping[str, str], resolve_env: bool
) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    for protocol in ("email", "sms"):
        raw = sub.get(protocol)
        if raw is None:
            continue
        try:
            contact = Contact.model_validate(raw)
        except ValidationError:
            continue  # already reported by the model
        value: str | None = contact.value if contact.source == "literal" else None
        if contact.source == "env":
            value = environ.get(contact.value)
            if value is None and resolve_env:
                problems.append(
                    PlanProblem(
                        "error",
                        f"{path}.{protocol}",
                        f"environment variable {contact.value} is not set; export it before synth/deploy",
                    )
                )
        if value is None:
            continue
        shown = "the value of $" + contact.value if contact.source == "env" else repr(mask_contact(value))
        if protocol == "email" and not EMAIL_PATTERN.match(value):
            problems.append(PlanProblem("error", f"{path}.email", f"{shown} is not a valid e-mail address"))
        if protocol == "sms" and not E164_PATTERN.match(value):
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.sms",
                    f"{shown} is not an E.164 phone number (write it as +<country code><number>, e.g. +15550100)",
                )
            )
        if contact.source == "literal" and protocol == "sms":
            problems.append(
                PlanProblem(
                    "warning",
                    f"{path}.sms",
                    "phone number written in the plan; prefer {ssm: /param} or {env: VAR} to keep it out of git",
                )
            )
    return problems
