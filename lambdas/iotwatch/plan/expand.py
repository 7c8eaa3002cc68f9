"""The plan's metrics and ratios as the series and "*" templates iotwatch watches, each with its
detection settings (the plan's detection block under the entry's override)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from iotwatch.domain.discovery import SeriesTemplate
from iotwatch.domain.local_time import NO_HOLIDAYS, Holidays
from iotwatch.domain.series import DetectionSettings, Ratio, Series
from iotwatch.domain.where import (
    CONNECT_FAILURE_PREFIX,
    CONNECT_FAILURE_REASONS,
    DISCONNECT_PREFIX,
    FLEET_METRIC_COUNT,
    FLEET_METRIC_DIMENSION,
    FLEET_METRICS_NAMESPACE,
    ContributorRule,
    DeviceWatch,
    WatchedGroup,
    device_namespace,
)
from iotwatch.plan.catalog import AWS_IOT_NAMESPACE, default_denominator, ratio_labels
from iotwatch.plan.devices import fleet_metric_name, insight_rule_name
from iotwatch.plan.model.detection import Detection
from iotwatch.plan.model.devices import DeviceGroup
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.model.resources import MetricSpec, RatioSpec


def _combinations(spec: MetricSpec | RatioSpec, keys: Iterable[str]) -> list[tuple[tuple[str, str], ...]]:
    """Every combination of the listed values of `keys` (sorted), one value per key."""
    combos: list[tuple[tuple[str, str], ...]] = [()]
    for key in sorted(keys):
        raw = spec.dimensions[key]
        values = raw if isinstance(raw, list) else [raw]
        combos = [(*combo, (key, value)) for combo in combos for value in values]
    return combos


def expand_series(plan: Plan) -> list[Series]:
    """Every metric x dimension-value combination the plan names, in plan order, then every
    ratio's the same way.

    Metrics with a "*" value are not here: their values are only known while running (see
    `expand_templates`), and the functions add the series they discover to these."""
    series: list[Series] = []
    for spec in plan.resources.metrics:
        if spec.wildcard_keys:
            continue
        fields = _metric_fields(plan, spec)
        series += [Series(dimensions=dims, **fields) for dims in _combinations(spec, spec.dimensions)]
    for ratio_spec in plan.resources.ratios:
        series += ratio_series(plan, ratio_spec)
    return series + device_series(plan)


def ratio_denominator(spec: RatioSpec) -> tuple[str, ...] | None:
    """The denominator a ratio names, or for AWS/IoT the numerator's operation's outcomes."""
    if spec.denominator is not None:
        return tuple(spec.denominator)
    if spec.namespace != AWS_IOT_NAMESPACE:
        return None
    return default_denominator(tuple(spec.numerator))


def ratio_direction(numerator: Iterable[str]) -> str:
    """A share of errors, throttles or failures pages when it rises; any other share both ways."""
    return "up" if all(default_direction(m) == "up" for m in numerator) else "both"


def ratio_series(plan: Plan, spec: RatioSpec) -> list[Series]:
    """One series per dimension-value combination of a ratio. A period without enough attempts
    has no share: it is left out (missing_data `ignore`), never taken as zero."""
    numerator = tuple(spec.numerator)
    denominator = ratio_denominator(spec)
    assert denominator is not None, f"{spec.name}: a checked plan has a denominator"
    what, of = ratio_labels(numerator, denominator)
    ratio = Ratio(numerator, denominator, spec.min_denominator, what, of)
    detection = detection_settings(
        plan.detection, spec.detection, default=ratio_direction(numerator), missing_data="ignore", share=True
    )
    return [
        Series(
            namespace=spec.namespace,
            metric=spec.name,
            dimensions=dims,
            statistic="Sum",
            period=spec.period or plan.frequency.period_seconds,
            detection=detection,
            runbook=spec.runbook or plan.owners.runbook,
            description=spec.description,
            ratio=ratio,
        )
        for dims in _combinations(spec, spec.dimensions)
    ]


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
        fields = _metric_fields(plan, spec)
        templates += [
            SeriesTemplate(fixed=fixed, wildcard=wildcard, **fields)
            for fixed in _combinations(spec, set(spec.dimensions) - set(wildcard))
        ]
    return templates


def _metric_fields(plan: Plan, spec: MetricSpec) -> dict[str, Any]:
    """What a metric's series and templates share: its name, statistic, period, detection and runbook."""
    return {
        "namespace": spec.namespace,
        "metric": spec.metric,
        "statistic": spec.statistic,
        "period": spec.period or plan.frequency.period_seconds,
        "detection": merged_detection(plan, spec.detection, spec.metric),
        "runbook": spec.runbook or plan.owners.runbook,
        "description": spec.description,
    }


# Metrics that only page when they rise: falling back to zero errors is the good news.
_UP_ONLY_WORDS = ("error", "throttl", "fail", "denied", "reject", "invalid", "unauthori")


def default_direction(metric: str | None) -> str:
    name = (metric or "").lower()
    return "up" if any(word in name for word in _UP_ONLY_WORDS) else "both"


def merged_detection(plan: Plan, override: Any, metric: str | None = None) -> DetectionSettings:
    """A metric's settings: the plan's detection block under the metric's own override."""
    return detection_settings(plan.detection, override, metric)


def unlisted_detection(base: Detection, metric: str | None = None) -> DetectionSettings:
    """The settings of a series the plan does not list (a CSV `score` or `backtest --csv`
    replays, a series named on the command line): the plan-wide block, as for a metric."""
    return detection_settings(base, None, metric)


def detection_settings(
    base: Detection,
    override: Any,
    metric: str | None = None,
    *,
    default: str | None = None,
    missing_data: str | None = None,
    share: bool = False,
) -> DetectionSettings:
    """A plan's detection block with one metric's override on top: the one place every consumer
    (evaluator, builder, backtest, score, band widget) gets a series' settings from. `default`:
    the direction when neither sets one (else by the metric's name); `missing_data`: what a
    series must use. `share`: the series is a ratio, a fraction of attempts in [0, 1]: the plan's
    absolute limits are counts and never reach it (only the ratio's own `above`/`below` do;
    `plan validate` warns, see checks.detection.plan_limit_checks)."""
    over = override.model_dump(exclude_none=True) if override is not None else {}
    inherited_above, inherited_below = (None, None) if share else (base.above, base.below)
    sensitivity = {**base.sensitivity.model_dump(), **over.get("sensitivity", {})}
    return DetectionSettings(
        warning=sensitivity["warning"],
        critical=sensitivity["critical"],
        pending_periods=over.get("pending_periods", base.pending_periods),
        recovery_periods=over.get("recovery_periods", base.recovery_periods),
        min_volume=over.get("min_volume", base.min_volume),
        min_relative_change=over.get("min_relative_change", base.min_relative_change),
        missing_data=missing_data or over.get("missing_data", base.missing_data),
        direction=over.get("direction") or base.direction or default or default_direction(metric),
        above=over.get("above", inherited_above),
        below=over.get("below", inherited_below),
        **_slow_change(override.slow_change if override is not None else None, base),
        timezone=over.get("timezone", base.timezone),
        holidays=_holidays(override.holidays if override is not None else None, base),
    )


def _holidays(override: Any, base: Detection) -> Holidays:
    """The calendar as the domain takes it (domain.local_time.Holidays); a metric's replaces the plan's whole."""
    setting = override if override is not None else base.holidays
    if setting is None:
        return NO_HOLIDAYS
    return Holidays.of(setting.dates, exclude=setting.treat_as == "exclude")


def _slow_change(override: Any, base: Detection) -> dict[str, Any]:
    """The slow-change setting as the detector takes it: a threshold (0: off) and days; a
    metric's setting replaces the plan's whole."""
    setting = override if override is not None else base.slow_change
    return {"slow_change": setting.threshold, "slow_change_days": setting.min_days}


# --- device signals (the plan's `devices` section) ---------------------------------------------


def group_series(plan: Plan, group: DeviceGroup) -> Series:
    """A group's connected devices, as its fleet metric publishes them: a gauge (Average of the
    period's emissions), paging when it falls unless the plan says otherwise. A period without
    an emission is no news (missing_data `ignore`), never zero devices."""
    return Series(
        namespace=FLEET_METRICS_NAMESPACE,
        metric=fleet_metric_name(plan.name, group.label),
        dimensions=((FLEET_METRIC_DIMENSION, FLEET_METRIC_COUNT),),
        statistic="Average",
        period=plan.frequency.period_seconds,
        detection=detection_settings(plan.detection, group.detection, default="down", missing_data="ignore"),
        runbook=plan.owners.runbook,
        description=group.description or f"Connected devices in {group.label}",
    )


def _lifecycle_series(plan: Plan, metric: str, description: str) -> Series:
    """A count of lifecycle events of one reason: pages when it rises; no event, no datapoint (zero)."""
    devices = plan.devices
    assert devices is not None
    return Series(
        namespace=device_namespace(plan.name),
        metric=metric,
        dimensions=(),
        statistic="Sum",
        period=plan.frequency.period_seconds,
        detection=detection_settings(plan.detection, devices.detection, default="up", missing_data="zero"),
        runbook=plan.owners.runbook,
        description=description,
    )


def device_series(plan: Plan) -> list[Series]:
    """Every series the `devices` section adds: the groups' connected devices (only once fleet
    indexing is on: before, no fleet metric exists), each watched disconnect reason, and failed
    connection attempts."""
    devices = plan.devices
    if devices is None:
        return []
    series = [group_series(plan, g) for g in devices.groups] if devices.fleet_metrics_on else []
    series += [
        _lifecycle_series(plan, DISCONNECT_PREFIX + reason, f"Devices disconnected with {reason}")
        for reason in devices.disconnect_reasons
    ]
    if devices.connect_failures:
        series += [
            _lifecycle_series(plan, CONNECT_FAILURE_PREFIX + reason, f"Connection attempts refused: {reason}")
            for reason in CONNECT_FAILURE_REASONS
        ]
    return series


def device_watch(plan: Plan) -> DeviceWatch | None:
    """What a tick that pages may look up about devices (compiled into plan.json)."""
    devices = plan.devices
    if devices is None:
        return None

    def counted(prefix: str, reason: str) -> str:
        return _lifecycle_series(plan, prefix + reason, "").id

    return DeviceWatch(
        index_fields=tuple(devices.where),
        groups=tuple(
            WatchedGroup(name=g.label, query=g.index_query, series_id=group_series(plan, g).id)
            for g in devices.groups
        ),
        reason_series=tuple((r, counted(DISCONNECT_PREFIX, r)) for r in devices.disconnect_reasons),
        contributor_rules=tuple(
            ContributorRule(metric=m, rule_name=insight_rule_name(plan.name, m)) for m in devices.top_clients
        ),
        connect_failure_series=tuple((r, counted(CONNECT_FAILURE_PREFIX, r)) for r in CONNECT_FAILURE_REASONS)
        if devices.connect_failures
        else (),
        fleet_indexing=devices.fleet_indexing == "enabled",
        log_level=devices.logging.level if devices.logging is not None else None,
    )
