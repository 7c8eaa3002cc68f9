"""Reading and checking a monitoring plan, with every problem reported at once.

Structural problems come from the pydantic model; the checks here cover what a schema
cannot express (schedule syntax, references between sections, contact formats, AWS/IoT
metric names). Both run on every load so a user fixes a plan in one pass.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from iotwatch.domain.discovery import MAX_SERIES_PER_TEMPLATE, WILDCARD, SeriesTemplate
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.plan.catalog import AWS_IOT_METRICS, AWS_IOT_NAMESPACE
from iotwatch.plan.model import (
    E164_PATTERN,
    EMAIL_PATTERN,
    MAX_WILDCARD_TEMPLATES,
    SEVERITIES,
    TOPIC_NAME_PATTERN,
    Contact,
    Detection,
    MetricSpec,
    Plan,
    mask_contact,
)
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


def _combinations(spec: MetricSpec, keys: Iterable[str]) -> list[tuple[tuple[str, str], ...]]:
    """Every combination of the listed values of `keys` (sorted), one value per key."""
    combos: list[tuple[tuple[str, str], ...]] = [()]
    for key in sorted(keys):
        raw = spec.dimensions[key]
        values = raw if isinstance(raw, list) else [raw]
        combos = [(*combo, (key, value)) for combo in combos for value in values]
    return combos


def expand_series(plan: Plan) -> list[Series]:
    """Every metric x dimension-value combination the plan names, in plan order.

    Metrics with a "*" value are not here: their values are only known while running (see
    `expand_templates`), and the functions add the series they discover to these."""
    series: list[Series] = []
    for spec in plan.resources.metrics:
        if spec.wildcard_keys:
            continue
        detection = merged_detection(plan, spec.detection, spec.metric)
        for dims in _combinations(spec, spec.dimensions):
            series.append(
                Series(
                    namespace=spec.namespace,
                    metric=spec.metric,
                    dimensions=dims,
                    statistic=spec.statistic,
                    period=spec.period or plan.frequency.period_seconds,
                    detection=detection,
                    runbook=spec.runbook or plan.owners.runbook,
                    description=spec.description,
                )
            )
    return series


def expand_templates(plan: Plan) -> list[SeriesTemplate]:
    """The plan's metrics with a "*" value, one template per combination of the listed values
    of their other keys, in plan order. The evaluator and the baseline builder discover each
    template's values with ListMetrics; a value first seen after the last baseline build is
    learning until the builder's next run."""
    templates: list[SeriesTemplate] = []
    for spec in plan.resources.metrics:
        wildcard = spec.wildcard_keys
        if not wildcard:
            continue
        detection = merged_detection(plan, spec.detection, spec.metric)
        for fixed in _combinations(spec, set(spec.dimensions) - set(wildcard)):
            templates.append(
                SeriesTemplate(
                    namespace=spec.namespace,
                    metric=spec.metric,
                    fixed=fixed,
                    wildcard=wildcard,
                    statistic=spec.statistic,
                    period=spec.period or plan.frequency.period_seconds,
                    detection=detection,
                    runbook=spec.runbook or plan.owners.runbook,
                    description=spec.description,
                )
            )
    return templates


# Metrics that only page when they rise: falling back to zero errors is the good news.
_UP_ONLY_WORDS = ("error", "throttl", "fail", "denied", "reject", "invalid", "unauthori")


def default_direction(metric: str | None) -> str:
    name = (metric or "").lower()
    return "up" if any(word in name for word in _UP_ONLY_WORDS) else "both"


def merged_detection(plan: Plan, override: Any, metric: str | None = None) -> DetectionSettings:
    return detection_settings(plan.detection, override, metric)


def detection_settings(base: Detection, override: Any, metric: str | None = None) -> DetectionSettings:
    """A plan's detection block with one metric's override on top."""
    over = override.model_dump(exclude_none=True) if override is not None else {}
    sensitivity = {**base.sensitivity.model_dump(), **over.get("sensitivity", {})}
    return DetectionSettings(
        warning=sensitivity["warning"],
        critical=sensitivity["critical"],
        pending_periods=over.get("pending_periods", base.pending_periods),
        recovery_periods=over.get("recovery_periods", base.recovery_periods),
        min_volume=over.get("min_volume", base.min_volume),
        min_relative_change=over.get("min_relative_change", base.min_relative_change),
        missing_data=over.get("missing_data", base.missing_data),
        direction=over.get("direction") or base.direction or default_direction(metric),
        above=over.get("above", base.above),
        below=over.get("below", base.below),
    )


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

    from iotwatch.plan.model import parse_interval

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
    metric_names = [m["metric"] for m in specs if isinstance(m.get("metric"), str)]
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
    seen: dict[tuple[Any, ...], int] = {}
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
            if name not in AWS_IOT_METRICS:
                problems.append(
                    PlanProblem(
                        "warning",
                        f"{path}.metric",
                        f"'{name}' is not an AWS/IoT metric AWS documents; check the spelling "
                        "(custom metrics belong in their own namespace)",
                    )
                )
            else:
                expected = set(AWS_IOT_METRICS[name])
                unknown = set(dims) - expected
                if unknown:
                    allowed = ", ".join(sorted(expected)) or "none"
                    problems.append(
                        PlanProblem(
                            "warning",
                            f"{path}.dimensions",
                            f"{name} is not published with dimension(s) {', '.join(sorted(unknown))} "
                            f"(it carries: {allowed}); "
                            + (
                                "ListMetrics would discover nothing"
                                if WILDCARD in dims.values()
                                else "this series would stay empty"
                            ),
                        )
                    )
        identity = (namespace, name, json.dumps(dims, sort_keys=True), spec.get("statistic", "Sum"))
        if identity in seen:
            problems.append(
                PlanProblem(
                    "error",
                    path,
                    f"same metric and dimensions as resources.metrics[{seen[identity]}]; remove one",
                )
            )
        else:
            seen[identity] = i
        detection = spec.get("detection")
        if isinstance(detection, dict):
            problems += _threshold_checks(
                detection.get("sensitivity"), f"{path}.detection.sensitivity", inherited=plan_sensitivity
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
