"""The plan as the Lambdas see it: compiled at synth time, shipped in the code asset as
`plan.json`, loaded at cold start with nothing but `json` and dataclasses.

The authoring model (pydantic, YAML, validation with every problem listed) stays on the
synth/CLI side; the functions get the already-expanded series and routes, which keeps
pydantic and the plan model out of their cold start. Metrics with a "*" dimension value
compile to templates (`discover`): their values exist only in CloudWatch, so the functions
list them while running (`service/discovery.py`). A plan.json without `discover` (compiled
before it existed) still loads, with none. Subscriber contacts are not
compiled: the functions publish to topics and never need an address.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iotwatch.domain.audit.policy import AuditPolicy
from iotwatch.domain.discovery import SeriesTemplate
from iotwatch.domain.evaluation import DEFAULT_CATCH_UP
from iotwatch.domain.incidents.model import DEFAULT_GROUP_INTERVAL, DEFAULT_HISTORY_DAYS
from iotwatch.domain.local_time import NO_HOLIDAYS, Holidays
from iotwatch.domain.routing import route_matches, routed_audit_topics, routed_topics
from iotwatch.domain.series import DetectionSettings, Ratio, Series
from iotwatch.domain.silences import MaintenanceWindow
from iotwatch.domain.slow_change import COMPARE_SECONDS, reads_extra_week
from iotwatch.domain.where import ContributorRule, DeviceWatch, WatchedGroup
from iotwatch.plan.fanout import DEFAULT_BUILD_SHARD_SIZE, DEFAULT_SHARD_SIZE, build_shard_size

if TYPE_CHECKING:
    from collections.abc import Sequence

    from iotwatch.plan.model.plan import Plan

RUNTIME_PLAN_FILE = "plan.json"
RUNTIME_FORMAT = 1


@dataclass(frozen=True)
class RuntimeOwners:
    team: str
    runbook: str | None
    escalation: str | None


@dataclass(frozen=True)
class RuntimeFrequency:
    period_seconds: int
    settle_seconds: int
    history_days: int
    evaluation: str
    baseline_refresh: str
    # a plan.json compiled before these existed: the model's defaults
    shard_size: int = DEFAULT_SHARD_SIZE  # series per evaluator invocation before the run fans out
    build_shard_size: int = DEFAULT_BUILD_SHARD_SIZE  # series per build invocation before it fans out
    catch_up: int = DEFAULT_CATCH_UP  # seconds of missed ticks a run evaluates before its own


@dataclass(frozen=True)
class RuntimeDetection:
    excluded_windows: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class RuntimeRoute:
    topic: str
    severities: tuple[str, ...]
    metrics: tuple[str, ...]

    def matches(self, *, severity: str, metric: str) -> bool:
        return route_matches(self, severity=severity, metric=metric)


@dataclass(frozen=True)
class RuntimeEvents:
    """`notify.events`: whether incidents and audit alerts go to EventBridge, and which bus."""

    enabled: bool = True
    bus: str = "default"  # a bus name or ARN, as PutEvents takes it


@dataclass(frozen=True)
class RuntimeNotify:
    """The alert lifecycle settings of `notify` (topics and routes are flattened beside it)."""

    repeat_interval: int = 4 * 3600  # seconds between reminders while firing; 0: none
    group_by: str | tuple[str, ...] = "dimensions"  # "tick", "dimensions" or dimension keys
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    group_interval: int = DEFAULT_GROUP_INTERVAL  # seconds between updates of an open incident
    history_days: int = DEFAULT_HISTORY_DAYS  # a resolved incident is kept this long
    events: RuntimeEvents = RuntimeEvents()

    @property
    def windows(self) -> tuple[MaintenanceWindow, ...]:
        return self.maintenance_windows


@dataclass(frozen=True)
class RuntimeAudit:
    """`tools.audit` and the `audit` section: what pages, where it goes, how long it is kept."""

    enabled: bool = False
    policy: AuditPolicy = field(default_factory=AuditPolicy)
    topics: tuple[str, ...] | None = None  # None: every topic routed the alert's severity
    correlation_window: int = 3600
    retention_days: int = 90


@dataclass(frozen=True)
class RuntimePlan:
    """Attribute paths mirror `Plan` (name, owners.team, frequency.period_seconds, ...)."""

    name: str
    stack_name: str
    owners: RuntimeOwners
    frequency: RuntimeFrequency
    detection: RuntimeDetection
    topics: tuple[str, ...]
    routes: tuple[RuntimeRoute, ...]
    series: tuple[Series, ...]
    notify: RuntimeNotify = RuntimeNotify()
    audit: RuntimeAudit = RuntimeAudit()
    # metrics with a "*" value: the functions discover their series and add them to `series`
    discover: tuple[SeriesTemplate, ...] = ()
    # the plan's `devices` section: what a tick that pages may look up (None: no device signals)
    devices: DeviceWatch | None = None

    def topics_for(self, *, severity: str, metric: str) -> list[str]:
        return routed_topics(self.routes, severity=severity, metric=metric)

    def audit_topics_for(self, severity: str) -> list[str]:
        return routed_audit_topics(self.routes, severity=severity, only=self.audit.topics)


def _read_days(plan: Plan, series: Sequence[Series]) -> int:
    """Days a build reads: the history, and the week before it for slow change."""
    extra = COMPARE_SECONDS // 86400 if reads_extra_week(series, plan.frequency.history_days) else 0
    return plan.frequency.history_days + extra


def runtime_plan(plan: Plan) -> RuntimePlan:
    from iotwatch.plan.expand import device_watch, expand_series, expand_templates

    series = tuple(expand_series(plan))
    templates = tuple(expand_templates(plan))
    periods = [s.period for s in series] + [t.period for t in templates]
    return RuntimePlan(
        name=plan.name,
        stack_name=plan.stack_name,
        owners=RuntimeOwners(plan.owners.team, plan.owners.runbook, plan.owners.escalation),
        frequency=RuntimeFrequency(
            period_seconds=plan.frequency.period_seconds,
            settle_seconds=plan.frequency.settle_seconds,
            history_days=plan.frequency.history_days,
            evaluation=plan.frequency.evaluation,
            baseline_refresh=plan.frequency.baseline_refresh,
            shard_size=plan.frequency.shard_size,
            build_shard_size=plan.frequency.build_shard_size
            or build_shard_size(history_days=_read_days(plan, series), period=min(periods)),
            catch_up=plan.frequency.catch_up,
        ),
        detection=RuntimeDetection(tuple(plan.detection.excluded_windows)),
        topics=tuple(t.name for t in plan.notify.topics),
        routes=tuple(
            RuntimeRoute(r.topic, tuple(r.severities), tuple(r.metrics)) for r in plan.notify.routes
        ),
        series=series,
        notify=RuntimeNotify(
            repeat_interval=plan.notify.repeat_interval,
            group_by=plan.notify.group_by
            if isinstance(plan.notify.group_by, str)
            else tuple(plan.notify.group_by),
            maintenance_windows=plan.notify.windows,
            group_interval=plan.notify.group_interval,
            history_days=plan.notify.history_days,
            events=RuntimeEvents(plan.notify.events.enabled, plan.notify.events.bus),
        ),
        audit=RuntimeAudit(
            enabled=plan.tools.audit,
            policy=AuditPolicy.from_overrides(
                plan.audit.actions,
                root=plan.audit.root,
                failed=plan.audit.failed,
                ignore_principals=tuple(plan.audit.ignore_principals),
            ),
            topics=tuple(plan.audit.topics) if plan.audit.topics is not None else None,
            correlation_window=plan.audit.correlation_window,
            retention_days=plan.audit.retention_days,
        ),
        discover=templates,
        devices=device_watch(plan),
    )


def compile_runtime_plan(plan: Plan) -> dict[str, Any]:
    compiled = runtime_plan(plan)
    data = asdict(compiled)
    for entry in (*data["series"], *(data["discover"] or ())):
        _write_holidays(entry["detection"])
    data["format"] = RUNTIME_FORMAT
    return data


def _write_holidays(detection: dict[str, Any]) -> None:
    """A series' holidays as JSON; none: no key, so a plan without them compiles as it did."""
    holidays: Holidays = detection.pop("holidays", NO_HOLIDAYS)
    if holidays.days:
        detection["holidays"] = {
            "dates": holidays.dates,
            "treat_as": "exclude" if holidays.exclude else "sunday",
        }


def _read_detection(data: dict[str, Any]) -> DetectionSettings:
    holidays = data.get("holidays")
    if holidays is None:
        return DetectionSettings(**data)
    return DetectionSettings(
        **{k: v for k, v in data.items() if k != "holidays"},
        holidays=Holidays.of(
            map(date.fromisoformat, holidays["dates"]), exclude=holidays["treat_as"] == "exclude"
        ),
    )


def write_runtime_plan(plan: Plan, directory: str | Path) -> Path:
    path = Path(directory) / RUNTIME_PLAN_FILE
    path.write_text(json.dumps(compile_runtime_plan(plan), indent=1, sort_keys=True), encoding="utf-8")
    return path


class RuntimePlanError(ValueError):
    pass


def _read_notify(data: dict[str, Any] | None) -> RuntimeNotify:
    if data is None:  # compiled before the alert lifecycle existed
        return RuntimeNotify()
    group_by = data["group_by"]
    return RuntimeNotify(
        repeat_interval=int(data["repeat_interval"]),
        group_by=group_by if isinstance(group_by, str) else tuple(group_by),
        maintenance_windows=tuple(
            MaintenanceWindow(
                name=w["name"],
                days=tuple(w["days"]),
                start=w["start"],
                end=w["end"],
                timezone=w["timezone"],
                metrics=tuple(w["metrics"]),
                dimensions=dict(w["dimensions"]),
            )
            for w in data["maintenance_windows"]
        ),
        # compiled before incidents existed: the defaults
        group_interval=int(data.get("group_interval", DEFAULT_GROUP_INTERVAL)),
        history_days=int(data.get("history_days", DEFAULT_HISTORY_DAYS)),
        # compiled before events existed: the default (on, the default bus)
        events=RuntimeEvents(**data["events"]) if "events" in data else RuntimeEvents(),
    )


def _read_audit(data: dict[str, Any] | None) -> RuntimeAudit:
    if data is None:  # compiled before the audit existed
        return RuntimeAudit()
    policy = data["policy"]
    return RuntimeAudit(
        enabled=bool(data["enabled"]),
        policy=AuditPolicy(
            actions=dict(policy["actions"]),
            root=policy["root"],
            failed=policy["failed"],
            ignore_principals=tuple(policy["ignore_principals"]),
        ),
        topics=tuple(data["topics"]) if data["topics"] is not None else None,
        correlation_window=int(data["correlation_window"]),
        retention_days=int(data["retention_days"]),
    )


def _read_templates(data: list[dict[str, Any]] | None) -> tuple[SeriesTemplate, ...]:
    if data is None:  # compiled before dimension values could be discovered
        return ()
    return tuple(
        SeriesTemplate(
            namespace=t["namespace"],
            metric=t["metric"],
            fixed=tuple((k, v) for k, v in t["fixed"]),
            wildcard=tuple(t["wildcard"]),
            statistic=t["statistic"],
            period=t["period"],
            detection=_read_detection(t["detection"]),
            runbook=t["runbook"],
            description=t["description"],
        )
        for t in data
    )


def _read_ratio(data: dict[str, Any] | None) -> Ratio | None:
    if data is None:
        return None
    return Ratio(
        numerator=tuple(data["numerator"]),
        denominator=tuple(data["denominator"]),
        min_denominator=float(data["min_denominator"]),
        numerator_label=data["numerator_label"],
        denominator_label=data["denominator_label"],
    )


def _pairs(data: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in data)


def _read_devices(data: dict[str, Any] | None) -> DeviceWatch | None:
    if data is None:  # no devices section, or compiled before device signals existed
        return None
    return DeviceWatch(
        index_fields=tuple(data["index_fields"]),
        groups=tuple(WatchedGroup(**g) for g in data["groups"]),
        reason_series=_pairs(data["reason_series"]),
        contributor_rules=tuple(ContributorRule(**r) for r in data["contributor_rules"]),
        connect_failure_series=_pairs(data.get("connect_failure_series", [])),
        fleet_indexing=bool(data.get("fleet_indexing", False)),
        log_level=data.get("log_level"),
    )


def read_runtime_plan(path: str | Path) -> RuntimePlan:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != RUNTIME_FORMAT:
            raise RuntimePlanError(
                f"{path}: compiled plan format {data.get('format')!r}, expected {RUNTIME_FORMAT}"
            )
        return RuntimePlan(
            name=data["name"],
            stack_name=data["stack_name"],
            owners=RuntimeOwners(**data["owners"]),
            frequency=RuntimeFrequency(**data["frequency"]),
            detection=RuntimeDetection(tuple(tuple(w) for w in data["detection"]["excluded_windows"])),  # type: ignore[misc]
            topics=tuple(data["topics"]),
            routes=tuple(
                RuntimeRoute(r["topic"], tuple(r["severities"]), tuple(r["metrics"])) for r in data["routes"]
            ),
            series=tuple(
                Series(
                    namespace=s["namespace"],
                    metric=s["metric"],
                    dimensions=tuple((k, v) for k, v in s["dimensions"]),
                    statistic=s["statistic"],
                    period=s["period"],
                    detection=_read_detection(s["detection"]),
                    runbook=s["runbook"],
                    description=s["description"],
                    ratio=_read_ratio(s.get("ratio")),  # compiled before ratios: none
                )
                for s in data["series"]
            ),
            notify=_read_notify(data.get("notify")),
            audit=_read_audit(data.get("audit")),
            discover=_read_templates(data.get("discover")),
            devices=_read_devices(data.get("devices")),
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RuntimePlanError):
            raise
        raise RuntimePlanError(
            f"{path}: cannot read the compiled plan ({type(exc).__name__}: {exc}); redeploy the stack"
        ) from exc
