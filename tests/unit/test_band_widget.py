"""The dashboard's band widget without AWS: the chart's points against the evaluator's own
band rule, what a CloudWatch custom widget call means, the drawn range, and the handler's
answers (documentation, unknown series, failures, re-used draws)."""

from __future__ import annotations

import json
import xml.dom.minidom
from dataclasses import replace

import pytest
from iotwatch.domain.band_chart import (
    BandChart,
    Canvas,
    ChartPoint,
    chart_points,
    downsample,
    render,
    status_line,
)
from iotwatch.domain.deviation import AlertState, score_period
from iotwatch.handlers import band_widget as handler_module
from iotwatch.plan.runtime import write_runtime_plan
from iotwatch.service.band_widget import (
    MAX_RANGE_SECONDS,
    WidgetRequestError,
    drawn_range,
    render_band_widget,
    widget_request,
)

from .conftest import EVENTS_DIR
from .fakes import (
    DAY,
    DETECTION,
    MONDAY,
    PERIOD,
    FakeReader,
    FakeStore,
    flat_baseline,
    flat_share_baseline,
    make_series,
    share_series,
)

HOUR = 3600
SERIES = make_series("Connect.Success")
BASELINE = flat_baseline(SERIES.id, expected=1000.0, scale=40.0)


def svg_of(page: str) -> xml.dom.minidom.Document:
    return xml.dom.minidom.parseString(page[: page.index("</svg>") + len("</svg>")])


# --- the chart ------------------------------------------------------------------------------------


def test_each_period_gets_the_band_the_evaluator_scores_it_against():
    points = [(MONDAY + i * PERIOD, 1000.0 + 10 * i) for i in range(12)]
    points[5] = (points[5][0], 200.0)  # a drop far below the band
    drawn = chart_points(SERIES, points, BASELINE, start=MONDAY, end=MONDAY + 12 * PERIOD)
    assert [p.ts for p in drawn] == [ts for ts, _ in points]
    for point, (ts, actual) in zip(drawn, points, strict=True):
        score = score_period(ts, actual, BASELINE.expectation_at(ts), SERIES.detection)
        assert (point.actual, point.expected, point.lower, point.upper) == (
            actual,
            score.expected,
            score.lower,
            score.upper,
        )
        assert point.severity == score.severity
    assert drawn[5].severity == "critical" and drawn[4].severity is None
    assert (drawn[0].lower, drawn[0].upper) == (800.0, 1200.0)  # 4 spreads of 5 % (the floor over 40)


def test_a_gap_is_zero_traffic_where_the_series_says_so_and_no_value_where_it_ignores_gaps():
    points = [(MONDAY, 1000.0), (MONDAY + 2 * PERIOD, 1000.0)]
    zero = chart_points(SERIES, points, BASELINE, start=MONDAY, end=MONDAY + 3 * PERIOD)
    assert [p.actual for p in zero] == [1000.0, 0.0, 1000.0]
    assert zero[1].severity == "critical"  # a dead broker shows as the drop it is
    ignoring = replace(SERIES, detection=replace(DETECTION, missing_data="ignore"))
    gaps = chart_points(ignoring, points, BASELINE, start=MONDAY, end=MONDAY + 3 * PERIOD)
    assert [p.actual for p in gaps] == [1000.0, None, 1000.0]
    assert gaps[1].severity is None and gaps[1].expected == 1000.0


def test_without_a_usable_baseline_only_the_actual_value_is_drawn():
    learning = replace(BASELINE, datapoints=0)
    for baseline in (None, learning):
        drawn = chart_points(SERIES, [(MONDAY, 5.0)], baseline, start=MONDAY, end=MONDAY + PERIOD)
        assert drawn == [ChartPoint(MONDAY, 5.0, None, None, None, None)]


def test_downsampling_averages_and_keeps_the_worst_severity():
    points = [ChartPoint(i, 10.0, 10.0, 5.0, 15.0, None) for i in range(100)]
    points[42] = ChartPoint(42, 0.0, 10.0, 5.0, 15.0, "critical")
    few = downsample(points, 10)
    assert len(few) == 10
    assert [p.severity for p in few].count("critical") == 1
    assert few[4].actual == pytest.approx(9.0)  # one zero among ten tens
    assert downsample(points[:5], 10) == points[:5]


def test_the_page_is_well_formed_svg_with_a_status_line_and_the_label_escaped():
    series = make_series("PublishIn.Success", (("RuleName", "<script>"),))
    points = chart_points(
        series,
        [(MONDAY + i * PERIOD, 900.0) for i in range(24)],
        BASELINE,
        start=MONDAY,
        end=MONDAY + 2 * HOUR,
    )
    state = AlertState(series.id, status="firing", severity="warning", since=MONDAY + HOUR)
    chart = BandChart(series, MONDAY, MONDAY + 2 * HOUR, tuple(points), "baseline v1 <test>", state)
    page = render(chart, Canvas(width=480, height=240, dark=True))
    document = svg_of(page)
    assert document.documentElement.getAttribute("width") == "480"
    assert "<script>" not in page and "&lt;test&gt;" in page
    assert len(document.getElementsByTagName("polygon")) == 1  # one band
    assert len(document.getElementsByTagName("rect")) == 1  # firing since 01:00
    assert status_line(chart) == "now 900 (normal 800-1,200) · firing warning since 01:00Z"
    texts = [t.firstChild.data for t in document.getElementsByTagName("text") if t.firstChild]
    assert "00:00" in texts and "01:00" in texts  # time axis in the dashboard's time zone (UTC here)


def test_a_series_without_datapoints_says_so():
    chart = BandChart(SERIES, MONDAY, MONDAY + HOUR, (), "learning: no baseline yet")
    assert status_line(chart) == "no datapoints in this range"
    svg_of(render(chart, Canvas(100, 50)))  # even tiny and empty, still a chart


# --- the widget call ------------------------------------------------------------------------------


@pytest.fixture
def widget_event():
    return json.loads((EVENTS_DIR / "band-widget.json").read_text(encoding="utf-8"))


def test_a_custom_widget_call_says_which_series_what_range_and_how_big(widget_event):
    request = widget_request(widget_event)
    assert request.series_id == "AWS/IoT|Connect.Success|Protocol=MQTT"
    context = widget_event["widgetContext"]
    # the zoomed range, in seconds
    assert (request.start, request.end) == (
        context["timeRange"]["zoom"]["start"] // 1000,
        context["timeRange"]["zoom"]["end"] // 1000,
    )
    assert request.canvas == Canvas(width=588, height=369, dark=False, utc_offset_minutes=60)
    del context["timeRange"]["zoom"]
    del widget_event["series"]  # the params are also inside the context
    request = widget_request(widget_event)
    assert request.series_id == "AWS/IoT|Connect.Success|Protocol=MQTT"
    assert request.start == context["timeRange"]["start"] // 1000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.pop("widgetContext"), "no widgetContext"),
        (lambda e: (e.pop("series"), e["widgetContext"]["params"].pop("series")), "no 'series' parameter"),
        (lambda e: e["widgetContext"].pop("timeRange"), "time range"),
    ],
)
def test_a_call_that_does_not_say_what_to_draw_is_refused_clearly(widget_event, change, message):
    change(widget_event)
    with pytest.raises(WidgetRequestError, match=message):
        widget_request(widget_event)


def test_the_drawn_range_is_whole_finished_periods_and_at_most_what_cloudwatch_keeps(widget_event):
    request = replace(
        widget_request(widget_event), start=MONDAY - 100 * DAY + 17, end=MONDAY + 10 * HOUR + 59
    )
    # 60 s after 10:00 CloudWatch has not finished 10:00-10:05 yet (settle 90 s)
    start, end = drawn_range(request, SERIES, now=MONDAY + 10 * HOUR + 60, settle_seconds=90)
    assert end == MONDAY + 10 * HOUR - PERIOD
    assert end - start == MAX_RANGE_SECONDS and start % PERIOD == 0


def test_the_widget_reads_the_series_its_baseline_and_its_state(widget_event):
    request = replace(widget_request(widget_event), start=MONDAY, end=MONDAY + HOUR)
    reader = FakeReader({SERIES.id: {MONDAY + i * PERIOD: 1000.0 for i in range(12)}})
    store = FakeStore([BASELINE])
    store.states[SERIES.id] = AlertState(SERIES.id, status="firing", severity="critical", since=MONDAY)
    page = render_band_widget(
        request, series=SERIES, reader=reader, store=store, now=MONDAY + DAY, settle_seconds=60
    )
    assert reader.requests == [((SERIES.id,), MONDAY, MONDAY + HOUR)]
    assert "firing critical since 00:00Z" in page
    assert "baseline v1 (seasonal" in page and "trained 2025-11-10 to 2025-11-24" in page
    learning = render_band_widget(
        request, series=SERIES, reader=reader, store=FakeStore(), now=MONDAY + DAY, settle_seconds=60
    )
    assert "no band: learning: no baseline yet" in learning
    nothing = render_band_widget(
        request, series=SERIES, reader=reader, store=store, now=MONDAY, settle_seconds=60
    )
    assert "nothing finished in this time range yet" in nothing


def test_a_share_is_drawn_from_its_parts_as_a_percentage_gated_as_the_evaluator_gates_it(widget_event):
    """Connect attempts with 0.2 % AuthError, then an hour at 30 %, then a quiet hour of 60
    attempts (too few for a share): one read of the parts, the share in percent, the 30 %
    periods critical, the quiet ones not drawn and said to be too few."""
    share = share_series()
    success, failed = (replace(share, metric=m, ratio=None) for m in share.ratio.denominator[:2])
    reader = FakeReader()
    for i in range(36):
        ts = MONDAY + i * PERIOD
        attempts, rate = (4000, 0.002) if i < 12 else (4000, 0.3) if i < 24 else (60, 0.002)
        reader.set(success.id, ts, attempts * (1 - rate))
        reader.set(failed.id, ts, attempts * rate)
    baseline = flat_share_baseline(share.id)
    request = replace(widget_request(widget_event), start=MONDAY, end=MONDAY + 3 * HOUR)
    page = render_band_widget(
        request, series=share, reader=reader, store=FakeStore([baseline]), now=MONDAY + DAY, settle_seconds=60
    )
    assert reader.requests == [((share.id,), MONDAY, MONDAY + 3 * HOUR)]  # one read: the parts
    points = chart_points(
        share, reader.read([share], start=MONDAY, end=MONDAY + 3 * HOUR)[share.id], baseline,
        start=MONDAY, end=MONDAY + 3 * HOUR,
        attempts={MONDAY + i * PERIOD: 4000.0 if i < 24 else 60.0 for i in range(36)},
    )  # fmt: skip
    assert [p.severity for p in points[:12]] == [None] * 12
    assert [p.severity for p in points[12:24]] == ["critical"] * 12
    assert [p.actual for p in points[24:]] == [None] * 12  # 60 attempts: no share
    assert "AuthError share of connection attempts" in page
    # the last share is an hour old: the quiet hour since had too few attempts for one
    assert (
        "at 01:55Z AuthError 30 % of 4,000 connection attempts, since then under 100 a period (normal 0-"
        in page
    )
    texts = [t.firstChild.data for t in svg_of(page).getElementsByTagName("text") if t.firstChild]
    assert "50 %" in texts  # the axis is in percent
    quiet = render_band_widget(
        replace(request, start=MONDAY + 2 * HOUR), series=share, reader=reader, store=FakeStore([baseline]),
        now=MONDAY + DAY, settle_seconds=60,
    )  # fmt: skip
    assert "not judged: at most 60 connection attempts a period in this range, a share needs 100" in quiet


# --- the handler ----------------------------------------------------------------------------------


@pytest.fixture
def widget_root(tmp_path, monkeypatch, default_plan):
    write_runtime_plan(default_plan, tmp_path)
    monkeypatch.setenv("IOTWATCH_TABLE", "iotwatch-fleet-state")
    monkeypatch.setenv("IOTWATCH_TOPICS", "{}")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.delenv("IOTWATCH_PLAN_FILE", raising=False)
    handler_module.setup.reset()  # the draws re-used by a warm container too
    yield tmp_path
    handler_module.setup.reset()


class Context:
    function_name = "IotWatch-Fleet-BandWidget"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:IotWatch-Fleet-BandWidget"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


def test_the_handler_documents_itself_and_names_what_it_cannot_draw(widget_root, widget_event):
    deps = handler_module.WidgetDependencies(reader=FakeReader(), store=FakeStore())  # type: ignore[arg-type]
    assert "## iotwatch band widget" in handler_module.handler({"describe": True}, Context(), deps)
    widget_event["series"] = "AWS/IoT|Nope|"
    page = handler_module.handler(widget_event, Context(), deps)
    assert "'AWS/IoT|Nope|' is not a series of plan 'fleet'" in page
    assert "no widgetContext" in handler_module.handler({}, Context(), deps)


def test_the_handler_draws_once_for_refreshes_of_the_same_range_and_shows_a_failure(
    widget_root, widget_event
):
    series_id = widget_event["series"]
    reader = FakeReader({series_id: {}})
    deps = handler_module.WidgetDependencies(reader=reader, store=FakeStore())  # type: ignore[arg-type]
    first = handler_module.handler(widget_event, Context(), deps)
    again = handler_module.handler(widget_event, Context(), deps)
    assert first == again and reader.calls == 1  # an auto-refresh re-uses the draw

    class Broken(FakeReader):
        def read(self, series, *, start, end):
            raise RuntimeError("ThrottlingException")

    handler_module.setup.reset()
    broken = handler_module.WidgetDependencies(reader=Broken(), store=FakeStore())  # type: ignore[arg-type]
    page = handler_module.handler(widget_event, Context(), broken)
    assert "Connect.Success (MQTT): could not read the series or its baseline (RuntimeError)" in page


def test_the_longest_range_is_drawn_at_two_points_a_pixel_whatever_its_periods():
    """63 days of 5-minute periods (18,144, what CloudWatch keeps) on a 600-pixel widget."""
    end = MONDAY + 63 * DAY
    points = [(ts, 1000.0) for ts in range(MONDAY, end, PERIOD)]
    drawn = chart_points(SERIES, points, BASELINE, start=MONDAY, end=end)
    assert len(drawn) == 18_144
    page = render(BandChart(SERIES, MONDAY, end, tuple(drawn), "baseline v1"), Canvas(600, 300))
    [actual] = [
        p for p in svg_of(page).getElementsByTagName("polyline") if p.getAttribute("stroke") == "#1f77b4"
    ]
    assert len(actual.getAttribute("points").split()) <= 2 * 600
    assert len(page) < 100_000
