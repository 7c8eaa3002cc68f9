"""One series against its baseline band, drawn as HTML with an inline SVG chart.

What the dashboard's band widget shows when someone opens it (see service.band_widget): the
AWS/IoT metric, the expected value and the warning band the stored baseline gives for each
period, the periods outside the band marked by severity, and the alert state. The band of
each period comes from `deviation.score_period`, the rule the evaluator applies, so a point
drawn outside the band is one the evaluator saw outside it. Pure: points and times in, text
out.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from iotwatch.domain.baseline.model import Baseline, share_expectation
from iotwatch.domain.deviation import SEVERITY_RANK, AlertState, score_period
from iotwatch.domain.evaluation import share_score
from iotwatch.domain.ratios import percent, percent_range, share_phrase
from iotwatch.domain.series import Series

MIN_WIDTH, MIN_HEIGHT = 200, 120
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 10, 26, 20
SEVERITY_COLOURS = {"warning": "#ff7f0e", "critical": "#d62728"}


@dataclass(frozen=True, slots=True)
class ChartPoint:
    ts: int
    actual: float | None  # None: no datapoint, and this series does not read a gap as zero
    expected: float | None  # None: no usable baseline
    lower: float | None
    upper: float | None
    severity: str | None  # the band's verdict, as the evaluator scores the period
    attempts: float | None = None  # a share's: its denominator in the period


@dataclass(frozen=True)
class BandChart:
    series: Series
    start: int
    end: int
    points: tuple[ChartPoint, ...]
    baseline_note: str  # where the band comes from, or why there is none
    state: AlertState | None = None


def chart_points(
    series: Series,
    datapoints: Sequence[tuple[int, float]],
    baseline: Baseline | None,
    *,
    start: int,
    end: int,
    attempts: Mapping[int, float] | None = None,
) -> list[ChartPoint]:
    """Every period of [start, end): the actual value (a gap is zero traffic where the series'
    missing_data says so, as in evaluation) and, with a usable baseline, its band. A share's
    band is widened by each period's `attempts` and its severity gated as the evaluator does."""
    values = dict(datapoints)
    tried = attempts or {}
    usable = baseline is not None and baseline.usable
    zero_fill = series.detection.missing_data == "zero" and (baseline is None or baseline.counts)
    points = []
    for ts in range(start - start % series.period, end, series.period):
        if ts < start:
            continue
        actual = values.get(ts, 0.0 if zero_fill else None)
        n = tried.get(ts)
        if not usable:
            points.append(ChartPoint(ts, actual, None, None, None, None, n))
            continue
        assert baseline is not None
        expectation = share_expectation(baseline.expectation_at(ts), n)
        score = score_period(ts, 0.0 if actual is None else actual, expectation, series.detection)
        if n is not None and actual is not None:
            score = share_score(score, n, series.detection)
        severity = score.severity if actual is not None else None
        points.append(ChartPoint(ts, actual, score.expected, score.lower, score.upper, severity, n))
    return points


def downsample(points: Sequence[ChartPoint], limit: int) -> list[ChartPoint]:
    """At most `limit` points: consecutive periods averaged, the worst severity kept (a deviation
    stays visible however far out one zooms)."""
    if limit < 1 or len(points) <= limit:
        return list(points)
    size = math.ceil(len(points) / limit)
    out = []
    for i in range(0, len(points), size):
        group = points[i : i + size]
        worst = max((p.severity for p in group), key=lambda s: SEVERITY_RANK[s])
        out.append(
            ChartPoint(
                group[0].ts,
                _mean(p.actual for p in group),
                _mean(p.expected for p in group),
                _mean(p.lower for p in group),
                _mean(p.upper for p in group),
                worst,
                _mean(p.attempts for p in group),
            )
        )
    return out


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


# --- rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canvas:
    width: int
    height: int
    dark: bool = False
    utc_offset_minutes: int = 0  # the dashboard's time zone, for the axis labels

    @property
    def text_colour(self) -> str:
        return "#d5dbdb" if self.dark else "#545b64"


def render(chart: BandChart, canvas: Canvas) -> str:
    """The widget's HTML: a status line, the chart, a legend."""
    canvas = replace(canvas, width=max(canvas.width, MIN_WIDTH), height=max(canvas.height, MIN_HEIGHT))
    width, height = canvas.width, canvas.height
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    points = downsample(chart.points, max(2, plot_w // 2))
    span = max(chart.end - chart.start, 1)
    top = _nice_top(max([v for p in points for v in (p.actual, p.upper) if v is not None], default=0.0))

    def x(ts: float) -> float:
        return MARGIN_LEFT + (ts - chart.start) / span * plot_w

    def y(value: float) -> float:
        return MARGIN_TOP + plot_h - value / top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="Amazon Ember, Helvetica, Arial, sans-serif" font-size="11" '
        f'fill="{canvas.text_colour}">',
        f"<text x='{MARGIN_LEFT}' y='14'>{html.escape(status_line(chart), quote=False)}</text>",
    ]
    if chart.state is not None and chart.state.status == "firing" and chart.state.since is not None:
        since = max(chart.state.since, chart.start)
        if since < chart.end:
            parts.append(
                f"<rect x='{x(since):.1f}' y='{MARGIN_TOP}' width='{x(chart.end) - x(since):.1f}' "
                f"height='{plot_h}' fill='#d62728' fill-opacity='0.07'/>"
            )
    for edge in _segments(points, lambda p: p.upper is not None and p.lower is not None):
        upper = [f"{x(p.ts):.1f},{y(p.upper or 0.0):.1f}" for p in edge]
        lower = [f"{x(p.ts):.1f},{y(p.lower or 0.0):.1f}" for p in reversed(edge)]
        parts.append(f"<polygon points='{' '.join(upper + lower)}' fill='#2ca02c' fill-opacity='0.15'/>")
    for run in _segments(points, lambda p: p.expected is not None):
        path = " ".join(f"{x(p.ts):.1f},{y(p.expected or 0.0):.1f}" for p in run)
        parts.append(f"<polyline points='{path}' fill='none' stroke='#2ca02c' stroke-dasharray='4 3'/>")
    for run in _segments(points, lambda p: p.actual is not None):
        path = " ".join(f"{x(p.ts):.1f},{y(p.actual or 0.0):.1f}" for p in run)
        parts.append(f"<polyline points='{path}' fill='none' stroke='#1f77b4' stroke-width='1.5'/>")
    for p in points:
        if p.severity is not None and p.actual is not None:
            parts.append(
                f"<circle cx='{x(p.ts):.1f}' cy='{y(p.actual):.1f}' r='2.5' fill='{SEVERITY_COLOURS[p.severity]}'/>"
            )
    parts += _axes(chart, canvas, top, x, y, plot_h)
    parts.append("</svg>")
    ratio = chart.series.ratio
    actual = f"{ratio.numerator_label} share of {ratio.denominator_label}" if ratio is not None else "actual"
    legend = (
        f"<div style='font-size:11px'><span style='color:#1f77b4'>&#9644; {html.escape(actual)}</span> "
        "<span style='color:#2ca02c'>&#9476; expected</span> "
        f"<span style='color:#2ca02c'>&#9608; normal range (±{chart.series.detection.warning:g} spreads)</span> "
        "<span style='color:#ff7f0e'>&#9679; warning</span> <span style='color:#d62728'>&#9679; critical</span>"
        f" &middot; {html.escape(chart.baseline_note, quote=False)}</div>"
    )
    return "".join(parts) + legend


def status_line(chart: BandChart) -> str:
    """'now 3,180 (normal 2,611-3,917) · firing critical since 13:05Z', or why there is no band;
    a share: 'now AuthError 0.2 % of 4,210 connection attempts (normal 0-0.5 %)', or that its
    periods had too few attempts to judge."""
    number = _value_format(chart.series)
    last = next((p for p in reversed(chart.points) if p.actual is not None), None)
    ratio = chart.series.ratio
    now = "now"
    if ratio is not None and last is not None:
        now = f"now {share_phrase(chart.series, last.actual or 0.0, last.attempts)}"
        if last is not chart.points[-1]:  # the periods since had too few attempts for a share
            now = (
                f"at {_clock(last.ts)} {share_phrase(chart.series, last.actual or 0.0, last.attempts)}, "
                f"since then under {ratio.min_denominator:,.0f} a period"
            )
    if last is None and ratio is not None:
        tried = max((p.attempts or 0.0 for p in chart.points), default=0.0)
        text = (
            f"not judged: at most {tried:,.0f} {ratio.denominator_label} a period in this range, "
            f"a share needs {ratio.min_denominator:,.0f}"
        )
    elif last is None:
        text = "no datapoints in this range"
    elif ratio is not None and last.expected is None:
        text = f"{now}; no band: {chart.baseline_note}"
    elif last.expected is None:
        text = f"now {number(last.actual)}; no band: {chart.baseline_note}"
    elif ratio is not None:
        text = f"{now} (normal {percent_range(last.lower or 0.0, last.upper or 0.0)})"
    else:
        text = f"now {number(last.actual)} (normal {number(last.lower)}-{number(last.upper)})"
    state = chart.state
    if state is not None and state.status == "firing":
        since = _clock(state.since) if state.since is not None else "?"
        text += f" · firing {state.severity or ''} since {since}".replace("  ", " ")
    return text


def _segments(points: Sequence[ChartPoint], present: Callable[[ChartPoint], bool]) -> list[list[ChartPoint]]:
    runs: list[list[ChartPoint]] = []
    current: list[ChartPoint] = []
    for p in points:
        if present(p):
            current.append(p)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _axes(
    chart: BandChart,
    canvas: Canvas,
    top: float,
    x: Callable[[float], float],
    y: Callable[[float], float],
    plot_h: int,
) -> list[str]:
    bottom = MARGIN_TOP + plot_h
    parts = []
    for value in (0.0, top / 2, top):
        at = y(value)
        parts.append(
            f"<text x='{MARGIN_LEFT - 4}' y='{at + 4:.1f}' text-anchor='end'>{_value_format(chart.series)(value)}</text>"
            f"<line x1='{MARGIN_LEFT}' x2='{canvas.width - MARGIN_RIGHT}' y1='{at:.1f}' y2='{at:.1f}' "
            "stroke='#879196' stroke-opacity='0.25'/>"
        )
    for ts in time_ticks(chart.start, chart.end):
        label = _tick_label(ts, chart.end - chart.start, canvas.utc_offset_minutes)
        parts.append(f"<text x='{x(ts):.1f}' y='{bottom + 14}' text-anchor='middle'>{label}</text>")
    return parts


_TICK_STEPS = (300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)


def time_ticks(start: int, end: int, *, most: int = 6) -> list[int]:
    """Round times in [start, end], at most `most` of them."""
    span = max(end - start, 1)
    step = next(
        (s for s in _TICK_STEPS if span / s <= most),
        _TICK_STEPS[-1] * math.ceil(span / (most * _TICK_STEPS[-1])),
    )
    first = -(-start // step) * step
    return list(range(first, end + 1, step))


def _tick_label(ts: int, span: int, offset_minutes: int) -> str:
    local = datetime.fromtimestamp(ts, UTC) + timedelta(minutes=offset_minutes)
    if span <= 86400:
        return local.strftime("%H:%M")
    if span <= 7 * 86400:
        return local.strftime("%a %H:%M")
    return local.strftime("%m-%d")


def _clock(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%MZ")


def _nice_top(value: float) -> float:
    """The next round number above the highest value drawn (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value * 1.05))
    for step in (1, 2, 5, 10):
        if step * magnitude >= value * 1.05:
            return float(step * magnitude)
    return float(10 * magnitude)


def _value_format(series: Series) -> Callable[[float | None], str]:
    """How the chart writes a value of `series`: a count, or a share as a percentage."""
    if series.ratio is None:
        return _number
    return lambda value: "-" if value is None else percent(value)


def _number(value: float | None) -> str:
    """Compact: 3,180 / 12.4k / 1.2M / 0.35."""
    if value is None:
        return "-"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.1f}M"
    if size >= 1e4:
        return f"{value / 1e3:.1f}k"
    if size >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}"
