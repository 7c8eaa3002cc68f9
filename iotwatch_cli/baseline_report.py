"""How `iotwatch baseline show` renders one series' baseline: the hour-of-week grid and every figure.

The expected value per UTC hour and its warning band come from `Baseline.expectation_at`, the
very call the evaluator scores with; these functions are pure.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iotwatch.domain.baseline.model import HOURS_PER_WEEK, Baseline, hour_of_week
from iotwatch.domain.deviation import FALLBACK_MIN_RELATIVE_CHANGE
from iotwatch.domain.likelihood import ALERT_LIKELIHOOD, DEFAULT_WARNING, WARMUP_PERIODS, TrackerState
from iotwatch.domain.local_time import UTC_NAME, utc_offset
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.domain.slow_change import MODEL as SLOW_CHANGE_MODEL
from iotwatch.domain.slow_change import details as slow_change_details
from iotwatch.domain.times import iso_z as iso
from iotwatch.domain.times import utc_minute

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# 1970-01-05 00:00 UTC was a Monday: hour-of-week h starts at MONDAY + h hours (any week will do).
MONDAY = 4 * 86400
SOURCE_LETTERS = {"hour-of-week": "W", "weekday-hour": "K", "hour-of-day": "D", "global": "G", "none": "-"}
SOURCE_MEANING = {
    "hour-of-week": "this weekday and hour (2+ weeks of it)",
    "weekday-hour": "this hour on weekdays, or on weekend days (too few weeks)",
    "hour-of-day": "every day at this hour (too few weeks)",
    "global": "the whole history (too little data)",
    "none": "no data: cannot alert",
}
HOURS_PER_BLOCK = 8  # three blocks of 8 hours keep the grid under 120 columns


# --- what the evaluator expects, hour by hour ----------------------------------------------


@dataclass(frozen=True)
class HourBand:
    hour_of_week: int
    expected: float
    scale: float
    lower: float
    upper: float
    source: str
    samples: int
    spread: float  # the bucket's stored spread, at fleet level 1.0

    @property
    def day(self) -> str:
        return DAY_NAMES[self.hour_of_week // 24]

    @property
    def hour(self) -> int:
        return self.hour_of_week % 24


def hour_bands(baseline: Baseline, warning: float) -> list[HourBand]:
    """The expectation for the period centred on the middle of each hour of the week (where the
    evaluator's interpolation between hour centres puts exactly that hour's bucket), and the
    warning band around it as `score_period` draws it (lower edge floored at 0)."""
    bands = []
    for how in range(HOURS_PER_WEEK):
        ts = MONDAY + how * 3600 + 1800 - baseline.period / 2.0
        ts -= utc_offset(ts, baseline.timezone)  # that hour on the fleet's clock
        expectation = baseline.expectation_at(ts)
        bucket = baseline.buckets[how]
        half = warning * expectation.scale
        bands.append(
            HourBand(
                hour_of_week=how,
                expected=expectation.expected,
                scale=expectation.scale,
                lower=max(expectation.expected - half, 0.0),
                upper=expectation.expected + half,
                source=bucket.source,
                samples=bucket.samples,
                spread=bucket.spread,
            )
        )
    return bands


# --- rendering -----------------------------------------------------------------------------


def compact(value: float) -> str:
    """At most 5 characters, 3 significant digits: 0.42, 5.3, 812, 1.23k, 12.3k, 123k, 1.5M."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for suffix, divisor in (("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9)):
        scaled = magnitude / divisor
        if scaled < 999.5:
            if scaled >= 99.5:
                text = f"{scaled:.0f}"
            elif scaled >= 9.995:
                text = f"{scaled:.1f}"
            else:
                text = f"{scaled:.2f}"
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            return f"{sign}{text}{suffix}"
    return f"{sign}{magnitude:.2g}"


def render_text(
    baseline: Baseline,
    series: Series,
    *,
    in_plan: bool,
    plan_name: str,
    table: str,
    stack: str | None = None,
    now: float | None = None,
    exclusions: Sequence[tuple[int, int, str]] = (),
    tracker: TrackerState | None = None,
) -> str:
    detection = series.detection
    bands = hour_bands(baseline, detection.warning)
    possible = max((baseline.trained_to - baseline.trained_from) // baseline.period, 1)
    days = (baseline.trained_to - baseline.trained_from) / 86400
    sources = Counter(b.source for b in baseline.buckets)
    where = f"{table} (stack {stack})" if stack else table
    unit = (
        f"{series.statistic} per {baseline.period // 60} min"
        if baseline.period % 60 == 0
        else f"{series.statistic} per {baseline.period} s"
    )
    plan_note = (
        f"in plan '{plan_name}'"
        if in_plan
        else f"not in plan '{plan_name}': band at the plan's default sensitivity"
    )
    ratio = series.ratio
    scale = 100.0 if ratio is not None else 1.0  # a share is shown in percent
    if ratio is not None:
        unit = f"% of {ratio.denominator_label} per {baseline.period // 60} min"
    gaps = (
        f"a period with fewer than {ratio.min_denominator:,.0f} {ratio.denominator_label} has no share and is skipped"
        if ratio is not None
        else "a missing period after the first datapoint counts as 0"
    )
    level = (
        "none: a share does not grow with the fleet"
        if ratio is not None
        else f"{baseline.level:.3f} x the weekly shape (the latest day's fleet size; included below)"
    )
    floor = (
        "noise floor: a share's sampling noise for the period's attempts"
        if ratio is not None
        else "noise floor"
    )
    volume = (
        f"and >= {detection.min_volume:g} {ratio.numerator_label} failed, beyond chance for the attempts"
        if ratio is not None
        else f"and >= {detection.min_volume:g} counts"
    )
    lines = [
        f"Baseline of {baseline.series_id}",
        f"  series       {series.label}, {unit} ({plan_note})",
        f"  table        {where}",
        f"  method       {baseline.method}, version {baseline.version}",
        f"  trained on   {utc_minute(baseline.trained_from)} to {utc_minute(baseline.trained_to)} UTC ({days:.1f} days)",
        f"  built at     {utc_minute(baseline.built_at)} UTC",
        f"  datapoints   {baseline.datapoints:,} of {possible:,} periods ({baseline.datapoints / possible:.0%}); "
        + gaps,
        f"  fleet level  {level}",
        "  sources      " + ", ".join(f"{sources[s]} {s}" for s in SOURCE_LETTERS if sources[s]),
        f"  band         expected ± {detection.warning:g} x scale (warning; critical at {detection.critical:g} x), "
        f"scale = max(spread x level, {floor})",
        f"  pages when   {detection.pending_periods} period(s) in a row are anomalous for this series: likelihood "
        f">= {ALERT_LIKELIHOOD * detection.warning / DEFAULT_WARNING:g}",
        "               (its recent deviations against its own week's, raised by a burst beyond the",
        "               largest of its last two weeks, lowered by one well within it);",
        f"               until the tracker has seen {WARMUP_PERIODS} periods: outside the band, "
        f">= {detection.min_relative_change:.0%} off expected",
        f"               (>= {FALLBACK_MIN_RELATIVE_CHANGE:.0%} unless source W) {volume}",
        *tracker_lines(tracker, baseline),
        *_slow_change_lines(baseline, detection),
    ]
    for start, end, reason in overlapping(baseline, exclusions):
        lines.append(
            f"  excluded     {utc_minute(start)} to {utc_minute(end)} UTC: {reason} (the plan's exclude_from_training)"
        )
    if baseline.holidays.days:
        lines.append(f"  holidays     {holiday_note(baseline)} (the plan's detection.holidays)")
    if not baseline.usable:
        lines.append(
            "  NOTE         no datapoints in the training window: the series is learning, nothing pages"
        )
    lines.append("")
    clock = "UTC" if baseline.timezone == UTC_NAME else baseline.timezone
    lines.append(
        f"Expected {unit} in the middle of each {clock} hour, ± half the warning band, source letter:"
    )
    now_how = hour_of_week(now, baseline.timezone, baseline.holidays) if now is not None else None
    cell = 13
    for first in range(0, 24, HOURS_PER_BLOCK):
        hours = range(first, first + HOURS_PER_BLOCK)
        lines.append(
            ("UTC " if clock == "UTC" else "loc ")
            + "".join(f" {h:02d}:00".ljust(cell + 1) for h in hours).rstrip()
        )
        for day in range(7):
            cells = []
            for h in hours:
                band = bands[day * 24 + h]
                half = band.upper - band.expected
                mark = "*" if band.hour_of_week == now_how else " "
                text = (
                    f"{compact(band.expected * scale):>5}±{compact(half * scale):<5} "
                    f"{SOURCE_LETTERS.get(band.source, '?')}"
                )
                cells.append(mark + text.ljust(cell))
            lines.append(f"{DAY_NAMES[day]} " + "".join(cells).rstrip())
        lines.append("")
    legend = [f"{letter} {name}: {SOURCE_MEANING[name]}" for name, letter in SOURCE_LETTERS.items()]
    for i, entry in enumerate(legend):
        lines.append(("Source: " if i == 0 else "        ") + entry)
    if now_how is not None:
        today = ", a holiday: judged as a Sunday" if baseline.on_holiday(now or 0) else ""
        weekday_clock = datetime.fromtimestamp(now or 0, UTC).strftime("%a %H:%M")
        lines.append(f"* now ({weekday_clock} UTC{today}). The lower edge is floored at 0.")
    else:
        lines.append("The lower edge is floored at 0.")
    lines.append("Between hour centres the evaluator interpolates; `--json` has every figure in full.")
    return "\n".join(lines)


def tracker_facts(tracker: TrackerState, baseline: Baseline) -> dict[str, Any]:
    """What the tracker has learnt, in the series' units, against this baseline."""
    residuals = sorted(v - baseline.expectation_at(ts).expected for ts, v in tracker.recent_values or ())
    return {
        "periods_seen": tracker.seen,
        "last_period": iso(tracker.next_ts - baseline.period) if tracker.next_ts else None,
        "level_vs_expected": residuals[len(residuals) // 2] if residuals else None,
        "spread": tracker.spread,
        "deviation_mean": tracker.mean,
        "deviation_sd": math.sqrt(tracker.variance),
        "lowest_seen": tracker.low,
        "highest_seen": tracker.high,
        # the largest excursions of the last two weeks (decaying), single periods and runs
        "largest_rise": tracker.largest[0] if tracker.largest else None,
        "largest_fall": tracker.largest[1] if tracker.largest else None,
    }


def tracker_lines(tracker: TrackerState | None, baseline: Baseline) -> list[str]:
    if tracker is None:
        return ["  tracker      none stored yet: the evaluator learns the week before its first tick"]
    facts = tracker_facts(tracker, baseline)
    level, spread = facts["level_vs_expected"], facts["spread"]
    lines = [f"  tracker      {tracker.seen:,} periods seen, the last at {facts['last_period'] or '-'}"]
    if level is not None and spread is not None:
        lines.append(f"               running {level:+,.1f} vs the expected curve, normal ± {spread:,.1f}")
        lines.append(
            f"               deviations {facts['deviation_mean']:.2f} ± {facts['deviation_sd']:.2f} spreads; "
            f"range seen {facts['lowest_seen']:,.6g} to {facts['highest_seen']:,.6g}"
        )
    if facts["largest_rise"] is not None:
        lines.append(
            f"               largest excursions lately +{facts['largest_rise']:,.6g} / "
            f"-{facts['largest_fall']:,.6g} (beyond them a burst weighs more)"
        )
    return lines


def holiday_note(baseline: Baseline) -> str:
    """'2026-12-25, 2026-12-26 (Europe/Berlin): learnt and judged as a Sunday'."""
    how = (
        "not learnt from, judged as a Sunday"
        if baseline.holidays.exclude
        else "learnt and judged as a Sunday"
    )
    return f"{', '.join(baseline.holidays.dates)} ({baseline.timezone}): {how}"


def render_json(
    baseline: Baseline,
    series: Series,
    *,
    in_plan: bool,
    plan_name: str,
    table: str,
    stack: str | None = None,
    exclusions: Sequence[tuple[int, int, str]] = (),
    tracker: TrackerState | None = None,
) -> dict[str, Any]:
    detection = series.detection
    bands = hour_bands(baseline, detection.warning)
    sources = Counter(b.source for b in baseline.buckets)
    return {
        "series_id": baseline.series_id,
        "label": series.label,
        "statistic": series.statistic,
        "in_plan": in_plan,
        "plan": plan_name,
        "table": table,
        "stack": stack,
        "method": baseline.method,
        "version": baseline.version,
        "period": baseline.period,
        "trained_from": iso(baseline.trained_from),
        "trained_to": iso(baseline.trained_to),
        "built_at": iso(baseline.built_at),
        "datapoints": baseline.datapoints,
        "training_periods": (baseline.trained_to - baseline.trained_from) // baseline.period,
        "level": baseline.level,
        "timezone": baseline.timezone,
        "slow_change": baseline.slow_change._asdict() if baseline.slow_change is not None else None,
        **({"holidays": baseline.holidays_record()} if baseline.holidays.days else {}),
        "sensitivity": {"warning": detection.warning, "critical": detection.critical},
        "sources": {name: sources[name] for name in SOURCE_LETTERS if sources[name]},
        "tracker": tracker_facts(tracker, baseline) if tracker is not None else None,
        "excluded_from_training": [
            {"start": iso(start), "end": iso(end), "reason": reason}
            for start, end, reason in overlapping(baseline, exclusions)
        ],
        "hours": [
            {
                "hour_of_week": b.hour_of_week,
                "day": b.day,
                "hour": b.hour,
                "expected": b.expected,
                "lower": b.lower,
                "upper": b.upper,
                "scale": b.scale,
                "source": b.source,
                "samples": b.samples,
                "spread": b.spread,
            }
            for b in bands
        ],
    }


def _slow_change_lines(baseline: Baseline, detection: DetectionSettings) -> list[str]:
    """What the slow-change model saw at the build, and when it pages (domain.slow_change)."""
    if detection.slow_change <= 0:
        return [f"  {SLOW_CHANGE_MODEL:<12} off (the plan's detection.slow_change)"]
    rule = (
        f"a warning at >= {detection.slow_change:.0%} from the same hours a week and two weeks before, "
        f"moving >= {detection.slow_change_days} days"
    )
    seen = baseline.slow_change
    saw = slow_change_details(seen) if seen is not None else "no figures yet (a counter's 12 days of levels)"
    return [f"  {SLOW_CHANGE_MODEL:<12} {rule}", f"               saw {saw}"]


def overlapping(baseline: Baseline, exclusions: Sequence[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The plan's training exclusions that fall inside this baseline's training window."""
    return [(a, b, why) for a, b, why in exclusions if a < baseline.trained_to and b > baseline.trained_from]
