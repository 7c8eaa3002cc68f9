"""The dashboard's band widget: one series against its band, drawn when someone looks.

A CloudWatch custom widget calls the band-widget function with the series it shows
(`params.series`) and the dashboard's time range; this reads the series with one
GetMetricData query (a share of attempts: one per part, in the same call, the share computed
by domain.ratios as the evaluator computes it), its stored baseline and alert state, and
returns the chart (`domain.band_chart`). Nothing is published per series and month: a view
costs one metric requested (a share: its parts) and two small reads per series drawn.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iotwatch.domain.band_chart import BandChart, Canvas, chart_points, render
from iotwatch.domain.ratios import attempts_of
from iotwatch.domain.series import Series
from iotwatch.service.ports import BandWidgetStore, MetricReader

DAY = 86400
# CloudWatch keeps 5-minute data 63 days: an older range has nothing to draw at the series' period.
MAX_RANGE_SECONDS = 63 * DAY
SERIES_PARAM = "series"

DESCRIPTION = f"""## iotwatch band widget
Draws one watched series against the baseline band iotwatch learnt for it: the AWS/IoT
metric (blue), the expected value (dashed) and the normal range (green; the plan's warning
sensitivity), periods outside the band (orange: warning, red: critical) and the time the
series has been firing (shaded).

Parameters: `{SERIES_PARAM}`: the series id as iotwatch names it, e.g.
`AWS/IoT|Connect.Success|Protocol=MQTT`. The time range is the dashboard's.
"""


class WidgetRequestError(ValueError):
    """The widget's call does not say what to draw; the message says what is missing."""


@dataclass(frozen=True)
class WidgetRequest:
    series_id: str
    start: int  # epoch seconds
    end: int
    canvas: Canvas

    @property
    def cache_key(self) -> tuple[object, ...]:
        return (self.series_id, self.start, self.end, self.canvas)


def widget_request(event: Mapping[str, Any]) -> WidgetRequest:
    """What a CloudWatch custom widget asks for: its params (also merged into the event's top
    level), the dashboard's time range (the zoomed one when zoomed), size, theme, time zone."""
    context = event.get("widgetContext")
    if not isinstance(context, Mapping):
        raise WidgetRequestError("no widgetContext: this function draws CloudWatch dashboard widgets")
    params = _mapping(context.get("params"))
    series_id = event.get(SERIES_PARAM) or params.get(SERIES_PARAM)
    if not isinstance(series_id, str) or not series_id:
        raise WidgetRequestError(f"the widget has no '{SERIES_PARAM}' parameter naming the series to draw")
    time_range = context.get("timeRange")
    try:
        assert isinstance(time_range, Mapping)
        zoom = time_range.get("zoom") or {}
        start_ms = zoom.get("start") or time_range["start"]
        end_ms = zoom.get("end") or time_range["end"]
        start, end = int(start_ms) // 1000, int(end_ms) // 1000
    except (AssertionError, KeyError, TypeError, ValueError):
        raise WidgetRequestError("the widget's time range (widgetContext.timeRange) is missing") from None
    timezone = _mapping(context.get("timezone"))
    canvas = Canvas(
        width=_int(context.get("width"), 600),
        height=_int(context.get("height"), 300),
        dark=context.get("theme") == "dark",
        utc_offset_minutes=_int(timezone.get("offsetInMinutes"), 0),
    )
    return WidgetRequest(series_id, start, end, canvas)


def drawn_range(
    request: WidgetRequest, series: Series, *, now: float, settle_seconds: int
) -> tuple[int, int]:
    """Whole periods of the request that CloudWatch has finished (as the evaluator reads them),
    at most MAX_RANGE_SECONDS of them."""
    period = series.period
    finished = int((now - settle_seconds) // period) * period
    end = min(-(-request.end // period) * period, finished)
    start = max(request.start - request.start % period, end - MAX_RANGE_SECONDS)
    return start, end


def render_band_widget(
    request: WidgetRequest,
    *,
    series: Series,
    reader: MetricReader,
    store: BandWidgetStore,
    now: float,
    settle_seconds: int,
) -> str:
    start, end = drawn_range(request, series, now=now, settle_seconds=settle_seconds)
    if end <= start:
        return message_html(f"{series.label}: nothing finished in this time range yet.")
    read = reader.read([series], start=start, end=end)  # a share: its parts, in one call
    datapoints = read.get(series.id, [])
    baseline = store.baselines.get_baselines([series.id]).get(series.id)
    state = store.series_state.get_states([series.id]).get(series.id)
    if baseline is None:
        note = "learning: no baseline yet (the builder has not run since this series was added)"
    elif not baseline.usable:
        note = "learning: the last build found no history for this series"
        if series.ratio is not None:
            note = (
                f"learning: no period of the last build's history had the {series.ratio.min_denominator:,.0f} "
                f"{series.ratio.denominator_label} a share needs"
            )
    else:
        note = (
            f"baseline v{baseline.version} ({baseline.method}), trained "
            f"{_day(baseline.trained_from)} to {_day(baseline.trained_to)}"
        )
    points = chart_points(
        series, datapoints, baseline, start=start, end=end, attempts=attempts_of(series, read)
    )
    return render(BandChart(series, start, end, tuple(points), note, state), request.canvas)


def message_html(text: str) -> str:
    return f"<p>{html.escape(text, quote=False)}</p>"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return default


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
