"""`iotwatch backtest`: the replay it runs, what it counts, the PNGs it draws, and the command
over CSV files and over CloudWatch (an in-memory GetMetricData; network off)."""

from __future__ import annotations

import io
import json
import math
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import iotwatch.adapters.aws  # noqa: F401  (boto3's first import probes IPv6 with a socket: do it at collection)
import pytest
import yaml
from iotwatch.domain.deviation import PeriodScore
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan
from iotwatch.service.backtest import (
    BacktestReport,
    SeriesBacktest,
    alert_episodes,
    backtest_series,
    cloudwatch_backtest,
    grid_points,
)
from iotwatch.service.replay import ReplayPoint, ReplayResult, replay

from iotwatch_cli.backtest import render_report, retention_days, write_backtest
from iotwatch_cli.backtest_plot import (
    LEARNING_LABEL,
    backtest_figure,
    learning_spans,
    plot_backtest,
    plot_name,
    zoomed_episodes,
)
from iotwatch_cli.main import main
from iotwatch_local.traffic import Fleet, Incident, generate

from .conftest import DEFAULT_PLAN_FILE
from .fakes import DAY, PERIOD, FakeReader, make_series

START = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())  # a Monday
END = START + 16 * DAY
OUTAGE = Incident(START + 15 * DAY + 13 * 3600, START + 15 * DAY + 13 * 3600 + 1800, (), factor=0.2)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def outage_for(metrics: Sequence[str]) -> Incident:
    return Incident(OUTAGE.start, OUTAGE.end, tuple(metrics), factor=0.2)


@cache
def fleet_points(metric: str = "PublishIn.Success") -> tuple[ReplayPoint, ...]:
    series = make_series(metric)
    counts = {
        ts: c
        for _, ts, c in generate(Fleet(), [series], start=START, end=END, incidents=[outage_for([metric])])
    }
    return tuple(
        ReplayPoint(ts, float(counts[ts]) if ts in counts else None) for ts in range(START, END, PERIOD)
    )


def expected_counts(results: Sequence[ReplayResult], alerting_before: bool = False) -> dict[str, Any]:
    """Alert onsets, alerting rows and first/last onset, counted the plain way."""
    flags = [r.alert for r in results]
    onsets = [
        results[i].ts for i, on in enumerate(flags) if on and not (flags[i - 1] if i else alerting_before)
    ]
    return {
        "alerts_fired": len(onsets),
        "alerting_periods": sum(flags),
        "first_alert": onsets[0] if onsets else None,
        "last_alert": onsets[-1] if onsets else None,
    }


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data[-8:-4] == b"IEND"
    return width, height


# --- replay and counting ------------------------------------------------------------------------


def test_backtest_counts_what_the_replay_says():
    series = make_series()
    points = fleet_points()
    window_start = START + 13 * DAY
    result = backtest_series(
        series, points, history_days=14, refresh_seconds=DAY, window_start=window_start, window_end=END
    )
    full = list(replay(points, series=series, history_days=14, refresh_seconds=DAY))
    window = [r for r in full if r.ts >= window_start]
    assert result.results == window
    assert result.rows == 3 * 288
    assert result.datapoints == sum(1 for p in points if p.ts >= window_start and p.value is not None)
    counts = expected_counts(window, alerting_before=full[len(full) - len(window) - 1].alert)
    assert {
        "alerts_fired": result.alerts_fired,
        "alerting_periods": result.alerting_periods,
        "first_alert": result.first_alert,
        "last_alert": result.last_alert,
    } == counts
    assert counts["alerts_fired"] == 1, "the outage fires once, nothing else does"
    assert OUTAGE.start < result.first_alert <= OUTAGE.start + 2 * PERIOD
    (episode,) = result.episodes
    assert episode.peak_score < -7 and not episode.started_before and not episode.ongoing


def test_the_window_only_cuts_what_is_reported_not_what_is_learnt():
    series = make_series()
    points = fleet_points()
    whole = backtest_series(series, points, history_days=14, refresh_seconds=DAY)
    last_day = backtest_series(
        series, points, history_days=14, refresh_seconds=DAY, window_start=END - DAY, window_end=END
    )
    assert last_day.results == whole.results[-288:]
    assert whole.rows == len(points)


def episode_rows(flags: str, start: int = 0) -> list[ReplayResult]:
    """'..##.#' -> results alerting where '#', each with a score of its index (negated)."""
    return [
        ReplayResult(
            ts=start + i * PERIOD,
            anomaly_score=0.9 if flag == "#" else 0.0,
            alert=flag == "#",
            score=PeriodScore(start + i * PERIOD, 0, 10, 5, 15, -float(i), -1.0, "warning", "hour-of-week"),
            baseline=None,
        )
        for i, flag in enumerate(flags)
    ]


@pytest.mark.parametrize(
    ("flags", "before", "episodes"),
    [
        ("....", False, []),
        (".##..###.", False, [(1, 2, False, False), (5, 3, False, False)]),
        ("##..#", True, [(0, 2, True, False), (4, 1, False, True)]),
        ("##..#", False, [(0, 2, False, False), (4, 1, False, True)]),
        (".#", True, [(1, 1, False, True)]),
    ],
)
def test_alert_episodes(flags: str, before: bool, episodes: list[tuple[int, int, bool, bool]]):
    rows = episode_rows(flags)
    found = alert_episodes(rows, alerting_before=before)
    assert [(e.start // PERIOD, e.periods, e.started_before, e.ongoing) for e in found] == episodes
    for e in found:
        assert e.last == e.start + (e.periods - 1) * PERIOD
        assert e.peak_score == -float(e.last // PERIOD)  # the furthest from 0
    result = SeriesBacktest(make_series(), "test", rows, found)
    assert (result.alerts_fired, result.alerting_periods) == (
        expected_counts(rows, before)["alerts_fired"],
        flags.count("#"),
    )


def test_grid_points_mark_missing_periods_as_no_datapoint():
    points = grid_points([(600, 1.0), (1200, 3.0), (9999, 7.0)], start=400, end=1500, period=300)
    assert points == [ReplayPoint(600, 1.0), ReplayPoint(900, None), ReplayPoint(1200, 3.0)]


def test_retention_follows_cloudwatch():
    assert (retention_days(60), retention_days(300), retention_days(900), retention_days(3600)) == (
        15,
        63,
        63,
        455,
    )


# --- the picture --------------------------------------------------------------------------------


def test_plot_is_a_valid_png_of_a_useful_size(tmp_path: Path):
    result = backtest_series(
        make_series(),
        fleet_points(),
        history_days=14,
        refresh_seconds=DAY,
        window_start=END - 2 * DAY,
        window_end=END,
    )
    path = plot_backtest(result, tmp_path / "deep" / "plot.png")
    assert path == tmp_path / "deep" / "plot.png"
    assert result.alerts_fired == 1
    assert png_size(path) == (1200, 700)  # the window, and under it the alert zoomed
    assert path.stat().st_size > 20_000  # lines, a band and labels, not an empty canvas


def test_plot_of_a_series_still_learning_or_empty_is_still_a_png(tmp_path: Path):
    learning = backtest_series(
        make_series(), fleet_points()[:200], history_days=14, refresh_seconds=DAY
    )  # first day: no baseline yet
    assert all(r.score is None for r in learning.results)
    assert png_size(plot_backtest(learning, tmp_path / "learning.png")) == (1200, 420)
    empty = SeriesBacktest(make_series(), "test", [], [])
    assert png_size(plot_backtest(empty, tmp_path / "empty.png")) == (1200, 420)


def test_a_short_outage_in_weeks_gets_a_zoomed_panel_and_the_learning_days_are_shaded():
    """21 days with a 40-minute outage: over the window it is a pixel or two wide; the zoomed
    panel under it shows it over a tenth of its width. The rows before the first baseline are
    shaded and labelled in the legend."""
    start = OUTAGE.start - 20 * DAY
    outage = Incident(
        start + 20 * DAY + 13 * 3600, start + 20 * DAY + 13 * 3600 + 2400, ("PublishIn.Success",), 0.1
    )
    series = make_series("PublishIn.Success")
    counts = {
        ts: c
        for _, ts, c in generate(Fleet(), [series], start=start, end=start + 21 * DAY, incidents=[outage])
    }
    points = [ReplayPoint(ts, float(counts.get(ts, 0))) for ts in range(start, start + 21 * DAY, PERIOD)]
    result = backtest_series(series, points, history_days=14, refresh_seconds=DAY)
    onsets = [e for e in result.episodes if outage.start <= e.start < outage.end]
    assert onsets, result.episodes
    figure = backtest_figure(result)
    window, *zooms = figure.axes
    assert len(zooms) == len(zoomed_episodes(result)) >= 1
    (zoom,) = [z for z, e in zip(zooms, zoomed_episodes(result), strict=True) if e in onsets]
    left, right = zoom.get_xlim()
    outage_left, outage_right = _num(outage.start), _num(outage.end)
    assert left < outage_left < outage_right < right
    assert (outage_right - outage_left) / (right - left) > 0.1
    whole_left, whole_right = window.get_xlim()
    assert (outage_right - outage_left) / (whole_right - whole_left) < 0.002  # why the zoom is there
    labels = window.get_legend_handles_labels()[1]
    assert LEARNING_LABEL in labels
    # until the first daily build after the first row: no baseline yet
    assert learning_spans(result) == [(start, (start // DAY + 1) * DAY)]


def _num(ts: int) -> float:
    import numpy as np
    from matplotlib.dates import date2num

    return float(date2num(np.datetime64(ts, "s")))


def test_plot_names_are_readable_and_unique():
    taken: set[str] = set()
    names = [
        plot_name(make_series("Connect.Success"), taken),
        plot_name(make_series("Connect.Success"), taken),
        plot_name(make_series("RulesExecuted", ()), taken),
        plot_name(make_series("Errors", (("A", "x/y z"),), namespace="Custom/App"), taken),
    ]
    assert names == [
        "Connect.Success_Protocol-MQTT.png",
        "Connect.Success_Protocol-MQTT-2.png",
        "RulesExecuted.png",
        "Custom-App_Errors_A-x-y-z.png",
    ]


def test_write_backtest_writes_one_png_per_series_and_the_summary(tmp_path: Path):
    series = [make_series("PublishIn.Success"), make_series("RulesExecuted", ())]
    report = BacktestReport("fleet", "csv", END - DAY, END, 14)
    for s in series:
        report.series.append(
            backtest_series(
                s,
                fleet_points(s.metric),
                history_days=14,
                refresh_seconds=DAY,
                window_start=END - DAY,
                window_end=END,
            )
        )
    written = write_backtest(report, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "PublishIn.Success_Protocol-MQTT.png",
        "RulesExecuted.png",
        "summary.json",
    ]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["totals"] == {
        "series": 2,
        "series_with_alerts": 2,
        "alerts_fired": 2,
        "alerting_periods": 12,
    }
    assert summary["window"] == {"start": "2026-11-17T00:00:00Z", "end": "2026-11-18T00:00:00Z"}
    for entry, plot in zip(summary["series"], written.plots, strict=True):
        assert entry["plot"] == str(plot) and Path(entry["plot"]).exists()
        assert entry["rows"] == 288 and entry["alerts_fired"] == 1
        assert entry["first_alert"] in ("2026-11-17T13:00:00Z", "2026-11-17T13:05:00Z")
        assert entry["alerts"][0]["periods"] == entry["alerting_periods"] == 6
    text = render_report(written)
    assert "2 alert(s) would have fired on 2 of 2 series (12 alerting period(s))" in text
    assert "PublishIn.Success (MQTT)" in text and "2026-11-17 13:0" in text


# --- the command over CSV files -----------------------------------------------------------------


def write_csv(path: Path, points: Sequence[ReplayPoint]) -> Path:
    lines = ["timestamp,value"]
    lines += [
        f"{datetime.fromtimestamp(p.ts, UTC):%Y-%m-%dT%H:%M:%SZ},{'' if p.value is None else f'{p.value:g}'}"
        for p in points
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def backtest(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["backtest", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_backtest_of_csv_files_plots_and_counts_each(tmp_path: Path):
    publish = write_csv(tmp_path / "publish.csv", fleet_points("PublishIn.Success"))
    pings = write_csv(tmp_path / "ping.csv", fleet_points("Ping.Success")[: 15 * 288])  # before the outage
    out_dir = tmp_path / "bt"
    code, out, err = backtest(
        "--plan",
        str(DEFAULT_PLAN_FILE),
        "--csv",
        f"PublishIn.Success={publish}",
        "--csv",
        f"Ping.Success={pings}",
        "--days",
        "2",
        "--out",
        str(out_dir),
    )
    assert (code, err) == (0, "")
    summary = json.loads((out_dir / "summary.json").read_text())
    plan = load_plan(DEFAULT_PLAN_FILE, environ={})
    for entry, points, metric in (
        (summary["series"][0], fleet_points("PublishIn.Success"), "PublishIn.Success"),
        (summary["series"][1], fleet_points("Ping.Success")[: 15 * 288], "Ping.Success"),
    ):
        plan_series = next(s for s in expand_series(plan) if s.metric == metric)
        assert entry["series_id"] == plan_series.id  # named after the plan's series, with its detection
        end = points[-1].ts + PERIOD
        full = list(replay(points, series=plan_series, history_days=14, refresh_seconds=DAY))
        window = [r for r in full if r.ts >= end - 2 * DAY]
        before = full[len(full) - len(window) - 1].alert
        counts = expected_counts(window, before)
        assert entry["rows"] == len(window) == 576
        assert entry["alerts_fired"] == counts["alerts_fired"]
        assert entry["alerting_periods"] == counts["alerting_periods"]
        first = counts["first_alert"]
        assert entry["first_alert"] == (
            None if first is None else f"{datetime.fromtimestamp(first, UTC):%Y-%m-%dT%H:%M:%SZ}"
        )
        assert png_size(Path(entry["plot"])) == (1200, 700 if entry["alerts"] else 420)
    assert summary["series"][0]["alerts_fired"] == 1 and summary["series"][1]["alerts_fired"] == 0
    assert summary["totals"]["alerts_fired"] == 1
    assert "1 alert(s) would have fired on 1 of 2 series" in out
    assert str(out_dir / "summary.json") in out


def test_backtest_of_a_csv_without_days_scores_every_row(tmp_path: Path):
    path = write_csv(tmp_path / "x.csv", fleet_points()[: 3 * 288])
    code, _, err = backtest(
        "--plan", str(DEFAULT_PLAN_FILE), "--csv", f"mystery={path}", "--out", str(tmp_path / "o")
    )
    assert (code, err) == (0, "")
    (entry,) = json.loads((tmp_path / "o" / "summary.json").read_text())["series"]
    assert entry["rows"] == 3 * 288 and entry["series_id"] == "csv|mystery|"
    assert entry["learning_rows"] == 288
    assert (tmp_path / "o" / "mystery.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--csv", "nofile"], "use SERIES=FILE"),
        (["--csv", "m={missing}"], "cannot read"),
        (["--csv", "m={bad}"], "bad.csv:3: value 'x' is not a number"),
        (["--csv", "m={header}"], "no rows after the header"),
        (["--csv", "m={good}", "--end", "last tuesday"], "--end 'last tuesday'"),
        (["--csv", "m={good}", "--days", "0"], "--days must be a positive"),
        (["--csv", "m={good}", "--days", "nan"], "--days must be a positive"),
    ],
)
def test_backtest_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: list[str], message: str):
    files = {
        "missing": tmp_path / "missing.csv",
        "bad": tmp_path / "bad.csv",
        "header": tmp_path / "header.csv",
        "good": tmp_path / "good.csv",
    }
    files["bad"].write_text(
        "timestamp,value\n2026-11-02 00:00:00,1\n2026-11-02 00:05:00,x\n", encoding="utf-8"
    )
    files["header"].write_text("timestamp,value\n", encoding="utf-8")
    files["good"].write_text("timestamp,value\n2026-11-02 00:00:00,1\n", encoding="utf-8")
    argv = [a.format(**files) for a in args]
    out_dir = tmp_path / "out"
    code, out, err = backtest("--plan", str(DEFAULT_PLAN_FILE), *argv, "--out", str(out_dir))
    assert (code, out) == (2, "")
    assert message in err
    assert not out_dir.exists()


# --- the command over CloudWatch ----------------------------------------------------------------


class FakeCloudWatch:
    """GetMetricData over a dict: exact metric + dimension match, [StartTime, EndTime)."""

    def __init__(self, points: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]]) -> None:
        self.points = points
        self.requests: list[dict[str, Any]] = []

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        start, end = int(request["StartTime"].timestamp()), int(request["EndTime"].timestamp())
        results = []
        for query in request["MetricDataQueries"]:
            metric = query["MetricStat"]["Metric"]
            dims = tuple(sorted((d["Name"], d["Value"]) for d in metric["Dimensions"]))
            values = self.points.get((metric["MetricName"], dims), {})
            stamps = sorted(ts for ts in values if start <= ts < end)
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [datetime.fromtimestamp(ts, UTC) for ts in stamps],
                    "Values": [values[ts] for ts in stamps],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results}


@pytest.fixture
def two_metric_plan(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))
    data["resources"]["metrics"] = [
        m for m in data["resources"]["metrics"] if m["metric"] in ("Connect.Success", "RulesExecuted")
    ]
    del data["resources"]["ratios"]
    data.pop("devices", None)  # two metrics: no device counts either
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_backtest_from_cloudwatch_reads_the_window_and_its_warm_up(
    tmp_path: Path, two_metric_plan: Path, monkeypatch
):
    plan = load_plan(two_metric_plan, environ={})
    series = expand_series(plan)
    traffic: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]] = {}
    for s, ts, count in generate(
        Fleet(), series, start=START, end=END, incidents=[outage_for(["Connect.Success", "RulesExecuted"])]
    ):
        traffic.setdefault((s.metric, s.dimensions), {})[ts] = float(count)
    cloudwatch = FakeCloudWatch(traffic)
    monkeypatch.setattr("iotwatch.adapters.aws.client", lambda service: {"cloudwatch": cloudwatch}[service])
    code, out, err = backtest(
        "--plan",
        str(two_metric_plan),
        "--days",
        "1",
        "--end",
        "2026-11-18T00:00:00Z",
        "--out",
        str(tmp_path / "cw"),
    )
    assert code == 0, err
    (request,) = cloudwatch.requests  # both series, and the warm-up, in one GetMetricData call
    assert request["StartTime"] == datetime(2026, 11, 3, tzinfo=UTC)
    assert request["EndTime"] == datetime(2026, 11, 18, tzinfo=UTC)
    summary = json.loads((tmp_path / "cw" / "summary.json").read_text())
    assert summary["source"] == "cloudwatch" and summary["warmup_days"] == 14
    assert summary["window"] == {"start": "2026-11-17T00:00:00Z", "end": "2026-11-18T00:00:00Z"}
    assert [e["series_id"] for e in summary["series"]] == [s.id for s in series]
    for entry in summary["series"]:
        assert entry["rows"] == 288 and entry["alerts_fired"] == 1
        assert entry["first_alert"] in ("2026-11-17T13:00:00Z", "2026-11-17T13:05:00Z")
    assert "2 alert(s) would have fired on 2 of 2 series" in out


def test_cloudwatch_backtest_matches_a_replay_of_the_same_history():
    plan = load_plan(DEFAULT_PLAN_FILE, environ={})
    series = [s for s in expand_series(plan) if s.metric == "PublishIn.Success"]
    reader = FakeReader()
    for p in fleet_points():
        if p.value is not None:
            reader.set(series[0].id, p.ts, p.value)
    report = cloudwatch_backtest(
        plan, series, reader, window_start=END - 2 * DAY, window_end=END, refresh_seconds=DAY
    )
    assert reader.requests == [((series[0].id,), END - 16 * DAY, END)]
    (result,) = report.series
    full = list(replay(fleet_points(), series=series[0], history_days=14, refresh_seconds=DAY))
    assert result.results == full[-576:]
    assert (result.alerts_fired, result.alerting_periods) == (1, 7)


def test_cloudwatch_failures_exit_1(tmp_path: Path, two_metric_plan: Path, monkeypatch):
    from botocore.exceptions import NoRegionError

    def no_region(service: str) -> Any:
        raise NoRegionError()

    monkeypatch.setattr("iotwatch.adapters.aws.client", no_region)
    code, out, err = backtest(
        "--plan", str(two_metric_plan), "--end", "2026-11-18T00:00:00Z", "--out", str(tmp_path / "x")
    )
    assert (code, out) == (1, "")
    assert "cannot read CloudWatch history" in err and "region" in err
    assert not (tmp_path / "x").exists()


def test_a_window_older_than_cloudwatch_keeps_is_warned_about(
    tmp_path: Path, two_metric_plan: Path, monkeypatch
):
    cloudwatch = FakeCloudWatch({})
    monkeypatch.setattr("iotwatch.adapters.aws.client", lambda service: {"cloudwatch": cloudwatch}[service])
    code, out, err = backtest(
        "--plan", str(two_metric_plan), "--end", "2020-01-01T00:00:00Z", "--out", str(tmp_path / "old")
    )
    assert code == 0
    assert "warning: CloudWatch keeps 300-second data for 63 days" in err
    summary = json.loads((tmp_path / "old" / "summary.json").read_text())
    assert all(e["rows"] == 7 * 288 and e["learning_rows"] == 7 * 288 for e in summary["series"])
    assert "0 alert(s) would have fired on 0 of 2 series" in out


def test_backtest_leaves_the_plans_training_exclusions_out_like_the_deployed_builder(tmp_path: Path):
    """An earlier outage (day 8) the plan excludes from training: the replay behind the
    backtest gets the same exclusion windows as `score` and the baseline builder."""
    earlier = Incident(
        START + 8 * DAY + 10 * 3600, START + 8 * DAY + 16 * 3600, ("PublishIn.Success",), factor=0.1
    )
    series = make_series()
    counts = {
        ts: c
        for _, ts, c in generate(
            Fleet(), [series], start=START, end=END, incidents=[earlier, outage_for(["PublishIn.Success"])]
        )
    }
    points = [
        ReplayPoint(ts, float(counts[ts]) if ts in counts else None) for ts in range(START, END, PERIOD)
    ]
    data = yaml.safe_load(DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))
    data["detection"]["exclude_from_training"] = [
        {"start": "2026-11-10T10:00:00Z", "end": "2026-11-10T16:00:00Z", "reason": "known outage"}
    ]
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    plan = load_plan(plan_path, environ={})
    assert plan.detection.excluded_windows == [(earlier.start, earlier.end)]
    csv_path = write_csv(tmp_path / "publish.csv", points)
    code, _, err = backtest(
        "--plan", str(plan_path), "--csv", f"PublishIn.Success={csv_path}", "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    (entry,) = json.loads((tmp_path / "o" / "summary.json").read_text())["series"]
    plan_series = next(s for s in expand_series(plan) if s.metric == "PublishIn.Success")
    with_exclusion = list(
        replay(
            points,
            series=plan_series,
            history_days=14,
            refresh_seconds=DAY,
            excluded=plan.detection.excluded_windows,
        )
    )
    without = list(replay(points, series=plan_series, history_days=14, refresh_seconds=DAY))
    assert [r.baseline for r in with_exclusion] != [r.baseline for r in without]
    assert entry["alerting_periods"] == sum(r.alert for r in with_exclusion)
    assert entry["alerts_fired"] == expected_counts(with_exclusion)["alerts_fired"]


# --- detection settings: the plan's, per series ----------------------------------------------------


def daily_dips(days: int) -> list[ReplayPoint]:
    """Traffic that falls under 90,000 once a day (a wave from 160,000 at 00:00 to 40,000 at
    12:00 UTC: each dip within one date)."""
    return [
        ReplayPoint(ts, 100_000 + 60_000 * math.cos((ts % DAY) / DAY * 2 * math.pi))
        for ts in range(START, START + days * DAY, PERIOD)
    ]


@pytest.mark.parametrize("where", ["metric", "plan"])
def test_backtest_csv_judges_a_limit_the_same_set_per_metric_or_plan_wide(tmp_path: Path, where: str):
    """A known limit pages every day it is crossed, including after the tracker has learnt the
    dip as normal, whether the metric or the plan sets it: one rule resolves both."""
    from .test_plan import minimal_plan

    metric: dict[str, Any] = {"metric": "PublishIn.Success", "dimensions": {"Protocol": "MQTT"}}
    data = minimal_plan(resources={"metrics": [metric]})
    if where == "metric":
        metric["detection"] = {"below": 90_000}
    else:
        data["detection"] = {"below": 90_000}
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    days = 8
    path = write_csv(tmp_path / "publish.csv", daily_dips(days))
    code, _, err = backtest(
        "--plan", str(plan_file), "--csv", f"PublishIn.Success={path}", "--out", str(tmp_path / "o")
    )
    assert (code, err) == (0, "")
    (entry,) = json.loads((tmp_path / "o" / "summary.json").read_text())["series"]
    assert entry["series_id"] == "AWS/IoT|PublishIn.Success|Protocol=MQTT"
    # the first day learns (no baseline, nothing judged); every day after it pages once
    assert entry["alerts_fired"] == days - 1
    assert len({alert["start"][:10] for alert in entry["alerts"]}) == days - 1
