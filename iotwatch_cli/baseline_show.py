"""`iotwatch baseline show`: one series' learned baseline, and why it is what it is.

Prints the stored facts (method, version, training window, coverage, fleet level) and a
7 x 24 grid of the expected value per UTC hour with the warning band and the bucket's
source, computed with `Baseline.expectation_at`, the very call the evaluator scores with.
The rendering functions are pure; only `cmd_baseline_show` talks to AWS.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from iotwatch.domain.baseline import HOURS_PER_WEEK, Baseline, hour_of_week
from iotwatch.domain.deviation import FALLBACK_MIN_RELATIVE_CHANGE
from iotwatch.domain.likelihood import ALERT_LIKELIHOOD, DEFAULT_WARNING, WARMUP_PERIODS, TrackerState
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.domain.times import iso_z as iso

from iotwatch_cli.errors import CliError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

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
LISTED_SERIES = 20
SCAN_PAGES = 5


def clock() -> float:
    """Now, for the grid's "now" marker (a function, so tests can fix it)."""
    return time.time()


class ShowError(CliError):
    """A `baseline show` problem the user can fix, or an AWS resource it cannot reach."""


# --- naming the series ---------------------------------------------------------------------


def parse_dimensions(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """['Protocol=MQTT', ...] -> (('Protocol', 'MQTT'), ...) sorted by key, as `expand_series` orders them."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ShowError(f"--dimension {item!r}: use NAME=VALUE, e.g. --dimension Protocol=MQTT")
        if key in found:
            raise ShowError(f"--dimension {key} is given twice; a series has one value per dimension")
        found[key] = value
    return tuple((key, found[key]) for key in sorted(found))


def series_for(
    namespace: str,
    metric: str,
    dimensions: tuple[tuple[str, str], ...],
    *,
    plan_series: Sequence[Series],
    default: DetectionSettings,
    period: int,
) -> tuple[Series, bool]:
    """The plan's series with this id (its own detection settings), else one at the plan's defaults."""
    candidate = Series(
        namespace=namespace,
        metric=metric,
        dimensions=dimensions,
        statistic="Sum",
        period=period,
        detection=default,
    )
    for s in plan_series:
        if s.id == candidate.id:
            return s, True
    return candidate, False


def show_command(series_id: str) -> str:
    """The `baseline show` arguments that name `series_id`."""
    namespace, _, rest = series_id.partition("|")
    metric, _, dims = rest.partition("|")
    words = [metric]
    words += [f"--dimension {pair}" for pair in dims.split(",") if pair]
    if namespace != "AWS/IoT":
        words.append(f"--namespace {namespace}")
    return " ".join(words)


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


def _utc(ts: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(ts, UTC).strftime(fmt)


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
        f"  trained on   {_utc(baseline.trained_from)} to {_utc(baseline.trained_to)} UTC ({days:.1f} days)",
        f"  built at     {_utc(baseline.built_at)} UTC",
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
    ]
    for start, end, reason in overlapping(baseline, exclusions):
        lines.append(
            f"  excluded     {_utc(start)} to {_utc(end)} UTC: {reason} (the plan's exclude_from_training)"
        )
    if not baseline.usable:
        lines.append(
            "  NOTE         no datapoints in the training window: the series is learning, nothing pages"
        )
    lines.append("")
    lines.append(f"Expected {unit} in the middle of each UTC hour, ± half the warning band, source letter:")
    now_how = hour_of_week(now) if now is not None else None
    cell = 13
    for first in range(0, 24, HOURS_PER_BLOCK):
        hours = range(first, first + HOURS_PER_BLOCK)
        lines.append("UTC " + "".join(f" {h:02d}:00".ljust(cell + 1) for h in hours).rstrip())
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
        lines.append(f"* now ({_utc(now or 0, '%a %H:%M')} UTC). The lower edge is floored at 0.")
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


def overlapping(baseline: Baseline, exclusions: Sequence[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The plan's training exclusions that fall inside this baseline's training window."""
    return [(a, b, why) for a, b, why in exclusions if a < baseline.trained_to and b > baseline.trained_from]


def missing_message(series_id: str, table: str, existing: Sequence[str], *, more: bool) -> str:
    metric = series_id.split("|")[1] if series_id.count("|") >= 2 else series_id
    lines = [f"error: no baseline for series {series_id} in table {table}."]
    if not existing:
        lines.append(
            "The table holds no baselines yet: the baseline builder runs after each deploy and on the "
            "plan's baseline_refresh schedule."
        )
        return "\n".join(lines)
    close = [sid for sid in existing if sid.split("|")[1:2] == [metric]]
    if close:
        lines.append("Did you mean:")
        lines += [f"  iotwatch baseline show {show_command(sid)}" for sid in close]
    shown = list(existing)[:LISTED_SERIES]
    suffix = " (first ones)" if more or len(existing) > len(shown) else ""
    lines.append(f"Series with a baseline in the table{suffix}:")
    lines += [f"  {sid}" for sid in shown]
    return "\n".join(lines)


# --- AWS -----------------------------------------------------------------------------------


def resolve_table(cloudformation: Any, stack_name: str) -> str:
    """The stack's `TableName` output."""
    from botocore.exceptions import ClientError

    from infra.naming import OUTPUT_TABLE_NAME

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            raise ShowError(
                f"error: stack {stack_name} not found ({exc.response['Error'].get('Message', '')}); "
                "pass --stack NAME or --table NAME"
            ) from None
        raise
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output.get("OutputKey") == OUTPUT_TABLE_NAME:
            return str(output["OutputValue"])
    raise ShowError(f"error: stack {stack_name} has no {OUTPUT_TABLE_NAME} output; is it an iotwatch stack?")


def list_baseline_series(dynamodb: Any, table: str, *, limit: int = LISTED_SERIES) -> tuple[list[str], bool]:
    """Series ids that have a baseline item, from a Scan of at most a few pages. Returns the
    ids (sorted) and whether the table may hold more than were listed."""
    from iotwatch.adapters.store import BASELINE_SK

    found: list[str] = []
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "pk",
        "FilterExpression": "sk = :b",
        "ExpressionAttributeValues": {":b": {"S": BASELINE_SK}},
    }
    more = False
    for _ in range(SCAN_PAGES):
        response = dynamodb.scan(**request)
        found += [item["pk"]["S"].removeprefix("SERIES#") for item in response.get("Items", [])]
        key = response.get("LastEvaluatedKey")
        more = bool(key)
        if not key or len(found) >= limit * 5:
            break
        request["ExclusiveStartKey"] = key
    return sorted(found), more


def cmd_baseline_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from iotwatch.adapters.aws import client
    from iotwatch.adapters.store import DynamoStateStore
    from iotwatch.plan.expand import expand_series, merged_detection
    from iotwatch.plan.loader import PlanError, load_plan

    try:
        plan = load_plan(args.plan)
    except PlanError as exc:
        print(exc, file=err)
        return EXIT_BAD_INPUT
    try:
        dimensions = parse_dimensions(args.dimension)
        series, in_plan = series_for(
            args.namespace,
            args.metric,
            dimensions,
            plan_series=expand_series(plan),
            default=merged_detection(plan, None),
            period=plan.frequency.period_seconds,
        )
        stack = None if args.table else (args.stack or plan.stack_name)
        table = args.table or resolve_table(client("cloudformation"), stack or "")
        dynamodb = client("dynamodb")
        store = DynamoStateStore(dynamodb, table)
        try:
            found = store.get_baselines([series.id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise ShowError(f"error: table {table} does not exist (or is not in this region)") from None
            raise
        baseline = found.get(series.id)
        tracker = store.get_trackers([series.id]).get(series.id) if baseline is not None else None
        if baseline is None:
            existing, more = list_baseline_series(dynamodb, table)
            raise ShowError(missing_message(series.id, table, existing, more=more))
    except ShowError as exc:
        print(exc, file=err)
        return exc.code
    except (BotoCoreError, ClientError) as exc:
        print(f"error: cannot read the baseline from AWS: {exc}", file=err)
        return EXIT_FAILURE
    exclusions = [(*e.window, e.reason) for e in plan.detection.exclude_from_training]
    if args.json:
        document = render_json(
            baseline,
            series,
            in_plan=in_plan,
            plan_name=plan.name,
            table=table,
            stack=stack,
            exclusions=exclusions,
            tracker=tracker,
        )
        print(json.dumps(document, indent=2), file=out)
    else:
        text = render_text(
            baseline,
            series,
            in_plan=in_plan,
            plan_name=plan.name,
            table=table,
            stack=stack,
            now=clock(),
            exclusions=exclusions,
            tracker=tracker,
        )
        print(text, file=out)
    return EXIT_OK
