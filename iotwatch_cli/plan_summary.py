"""`iotwatch plan validate`'s summary: what a plan will deploy and watch, said in words."""

from __future__ import annotations

from iotwatch.domain.discovery import MAX_SERIES_PER_TEMPLATE
from iotwatch.domain.ratios import formula
from iotwatch.domain.times import duration_text
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.loader import PlanCheck
from iotwatch.plan.model.plan import Plan


def plan_summary(plan: Plan, check: PlanCheck, source: str) -> str:
    series = expand_series(plan)
    f, d = plan.frequency, plan.detection
    warned = f" (with {len(check.warnings)} warning(s), above)" if check.warnings else ""
    lines = [f"{source}: OK - plan '{plan.name}' deploys as stack {plan.stack_name}{warned}", "", "Goals:"]
    lines += [f"  - {goal}" for goal in plan.goals]
    lines.append("")
    templates = expand_templates(plan)
    extra = f", and every value of a dimension for {len(templates)} metric(s)" if templates else ""
    shares = [s for s in series if s.ratio is not None]
    of_them = f" ({len(shares)} of them shares of attempts)" if shares else ""
    lines.append(f"Watches {len(series)} series{of_them}{extra}:")
    sides = {"up": "pages when it rises", "down": "pages when it falls", "both": "pages either way"}
    for s in series:
        if s.ratio is None:
            lines.append(
                f"  {s.label:<40} {s.namespace}, {s.statistic} per {s.period // 60} min; "
                f"{sides[s.detection.direction]}{_limits(s.detection.above, s.detection.below)}"
            )
            continue
        lines.append(f"  {s.label:<40} share: {formula(s.ratio)}")
        lines.append(
            f"  {'':<40} {sides[s.detection.direction]}{_limits(s.detection.above, s.detection.below)}; "
            f"judged per {s.period // 60} min with >= "
            f"{s.ratio.min_denominator:,.0f} {s.ratio.denominator_label}, >= {s.detection.min_volume:g} failed"
        )
    for t in templates:
        every = " and ".join(t.wildcard)
        lines.append(
            f"  {t.label:<40} {t.namespace}, {t.statistic} per {t.period // 60} min: "
            f"every value of {every} (discovered)"
        )
    if templates:
        lines += [
            f"  (discovered with ListMetrics: values with data in the last 14 days, at most "
            f"{MAX_SERIES_PER_TEMPLATE} per metric,",
            "   listed again hourly by the evaluator and on every baseline build; a value first seen",
            "   after the last build is learning until the next build)",
        ]
    lines.append("")
    lines.append(
        f"Evaluates on {f.evaluation} (waits {f.settle_seconds}s for CloudWatch to settle); "
        f"baselines refresh on {f.baseline_refresh} from {f.history_days} days of history; "
        + (
            f"after an outage, catches up on up to {_hours_or_minutes(f.catch_up)} of missed ticks."
            if f.catch_up
            else "missed ticks are not caught up on (frequency.catch_up: 0)."
        )
    )
    lines.append(
        f"Pages at deviation >= {d.sensitivity.warning:g} sd (warning) / {d.sensitivity.critical:g} sd (critical) "
        f"for {d.pending_periods} period(s); resolves after {d.recovery_periods} normal period(s); "
        f"ignores periods under {d.min_volume:g} counts or {d.min_relative_change:.0%} change."
    )
    n = plan.notify
    grouping = {
        "dimensions": "per dimension set, any protocol (account-wide metrics join any)",
        "tick": "one for the whole plan",
    }
    group_by = grouping[n.group_by] if isinstance(n.group_by, str) else f"per {', '.join(n.group_by)}"
    lines.append(
        f"Incidents {group_by}: one page per topic when one opens, updates at most every "
        f"{_interval(n.group_interval)}, reminders every {_interval(n.repeat_interval)}, one RESOLVED; "
        f"kept {n.history_days} days (iotwatch incidents)."
    )
    lines.append("")
    lines.append(
        f"Owners: {plan.owners.team}" + (f", runbook {plan.owners.runbook}" if plan.owners.runbook else "")
    )
    lines.append("Topics:")
    for topic in plan.notify.topics:
        subs = ", ".join(f"{s.protocol} {s.describe()}" for s in topic.subscribers) or "no subscribers"
        lines.append(f"  {plan.topic_physical_name(topic.name)}: {subs}")
    lines.append("Routes:")
    for route in plan.notify.routes:
        lines.append(f"  {', '.join(route.severities)} of {', '.join(route.metrics)} -> {route.topic}")
    lines += _maintenance_lines(plan)
    lines.append(
        f"Tools: dashboard {'on' if plan.tools.dashboard else 'off'}, "
        f"CloudTrail audit {'on' if plan.tools.audit else 'off'}"
    )
    lines += _device_lines(plan)
    return "\n".join(lines)


def _limits(above: float | None, below: float | None) -> str:
    """A series' absolute limits, as the summary says them."""
    said = [f"above {above:g}" for _ in [above] if above is not None]
    said += [f"below {below:g}" for _ in [below] if below is not None]
    return f"; also pages {' or '.join(said)} whatever the baseline" if said else ""


def _maintenance_lines(plan: Plan) -> list[str]:
    windows = plan.notify.maintenance_windows
    if not windows:
        return ["Maintenance windows: none (every deviation may page)"]
    lines = ["Maintenance windows (deviations recorded, not paged):"]
    for w in windows:
        scope = ", ".join(w.metrics) + "".join(f", {k}={v}" for k, v in w.dimensions.items())
        lines.append(f"  {w.name}: {', '.join(w.days)} {w.start}-{w.end} {w.timezone}, for {scope}")
    return lines


def warning_lines(check: PlanCheck, source: str) -> list[str]:
    """The plan's warnings, those that leave a series without data first (a misspelt metric,
    dimension key or value): they are what a deploy that 'works' silently misses."""
    ordered = sorted(check.warnings, key=lambda w: not w.empty_series)
    return [w.at(source) for w in ordered]


def _device_lines(plan: Plan) -> list[str]:
    """The `devices` section: what it watches, and what the account must have switched on."""
    from iotwatch.domain.where import CONNECT_FAILURE_REASONS, device_namespace
    from iotwatch.plan.devices import prerequisites

    devices = plan.devices
    if devices is None:
        return []
    groups = ", ".join(g.label for g in devices.groups) or "none"
    lines = [
        "",
        f"Devices: connected devices per group ({groups}"
        + ("" if devices.fleet_metrics_on or not devices.groups else ", waiting for fleet indexing")
        + f"); disconnects by reason in {device_namespace(plan.name)} ("
        + ", ".join(devices.disconnect_reasons)
        + (f"; failed connects {', '.join(CONNECT_FAILURE_REASONS)}" if devices.connect_failures else "")
        + f"); pages break disconnected devices down by {', '.join(devices.where)}"
        + (f"; top clients of {', '.join(devices.top_clients)}" if devices.top_clients else "")
        + (f"; AWS IoT log level {devices.logging.level}" if devices.logging is not None else "")
        + ".",
    ]
    steps = prerequisites(plan)
    if steps:
        lines += ["The account must have switched on:", *(f"  {line}" for line in steps)]
    return lines


def _interval(seconds: int) -> str:
    return duration_text(seconds) if seconds > 0 else "never"


def _hours_or_minutes(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds % 3600 == 0 else f"{seconds // 60} min"
