"""Hour of week on the fleet's clock (detection.timezone): a fleet that follows Berlin time,
replayed through the real baseline builder and evaluator across the end of summer time,
pages nothing and keeps its band; on UTC buckets the same series shifts by an hour."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from iotwatch.domain.baseline.model import hour_of_week, week_position
from iotwatch.domain.local_time import utc_offset
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import check_plan, load_plan
from iotwatch.service.replay import ReplayPoint, replay

from iotwatch_local.traffic import Fleet, generate

from .test_plan import minimal_plan

DAY = 86400
PERIOD = 300
START = int(datetime(2026, 10, 5, tzinfo=UTC).timestamp())  # a Monday
SUMMER_TIME_ENDS = int(datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp())  # 03:00 CEST -> 02:00 CET
END = START + 29 * DAY
HISTORY_DAYS = 14


def test_hour_of_week_follows_the_zone_and_its_summer_time():
    assert week_position(START) == 0.0
    assert hour_of_week(START, "Europe/Berlin") == 2  # 02:00 CEST on Monday
    assert utc_offset(SUMMER_TIME_ENDS - 1, "Europe/Berlin") == 7200
    assert utc_offset(SUMMER_TIME_ENDS, "Europe/Berlin") == 3600
    monday_after = int(datetime(2026, 10, 25, 23, tzinfo=UTC).timestamp())  # Monday 00:00 CET
    assert hour_of_week(monday_after, "Europe/Berlin") == 0
    assert hour_of_week(monday_after) == 6 * 24 + 23


@pytest.fixture(scope="module")
def berlin_fleet_run():
    from .conftest import DEFAULT_PLAN_FILE

    plan = load_plan(DEFAULT_PLAN_FILE, environ={})
    series = next(s for s in expand_series(plan) if s.metric == "PublishIn.Success" and s.ratio is None)
    fleet = Fleet(timezone="Europe/Berlin")
    counts = {ts: count for _, ts, count in generate(fleet, [series], start=START, end=END)}
    points = [
        ReplayPoint(ts, float(counts[ts]) if ts in counts else None) for ts in range(START, END, PERIOD)
    ]
    runs = {}
    for zone in ("Europe/Berlin", "UTC"):
        on_clock = replace(series, detection=replace(series.detection, timezone=zone))
        runs[zone] = list(replay(points, series=on_clock, history_days=HISTORY_DAYS, refresh_seconds=DAY))
    return runs


def band_width(results, start, end):
    """The warning band's mean width relative to what it expects, over [start, end)."""
    rows = [r.score for r in results if start <= r.ts < end and r.score is not None and r.score.expected > 0]
    return sum((s.upper - s.lower) / s.expected for s in rows) / len(rows)


def test_a_fleet_on_local_time_pages_nothing_across_the_summer_time_change(berlin_fleet_run):
    local = berlin_fleet_run["Europe/Berlin"]
    judged = [r for r in local if r.ts >= START + HISTORY_DAYS * DAY]
    assert judged and all(r.score is not None for r in judged)
    assert [r.ts for r in judged if r.alert] == []


def test_the_band_does_not_widen_after_the_change_on_local_time(berlin_fleet_run):
    before = (SUMMER_TIME_ENDS - 7 * DAY, SUMMER_TIME_ENDS)
    after = (SUMMER_TIME_ENDS, SUMMER_TIME_ENDS + 7 * DAY)
    local, utc = berlin_fleet_run["Europe/Berlin"], berlin_fleet_run["UTC"]
    assert band_width(local, *after) <= 1.05 * band_width(local, *before)
    # UTC buckets learn the same fleet an hour apart on either side of the change: wider
    assert band_width(utc, *after) > 1.1 * band_width(local, *after)


def test_the_same_fleet_on_utc_buckets_shows_the_shift(berlin_fleet_run):
    utc = berlin_fleet_run["UTC"]
    deviating = [
        r
        for r in utc
        if r.ts >= SUMMER_TIME_ENDS and r.score is not None and (r.alert or r.score.severity is not None)
    ]
    assert deviating  # what local time takes away: the hour the rhythm moved against UTC


def test_the_plan_takes_a_zone_plan_wide_and_per_metric_and_refuses_unknown_ones():
    plan = minimal_plan(detection={"timezone": "Europe/Berlin"})
    plan["resources"]["metrics"].append(
        {"metric": "Ping.Success", "detection": {"timezone": "America/New_York"}}
    )
    check = check_plan(plan, environ={})
    assert check.errors == []
    zones = {s.metric: s.detection.timezone for s in expand_series(check.plan)}
    assert zones == {"PublishIn.Success": "Europe/Berlin", "Ping.Success": "America/New_York"}
    assert {s.detection.timezone for s in expand_series(check_plan(minimal_plan(), environ={}).plan)} == {
        "UTC"
    }

    bad = minimal_plan(detection={"timezone": "Europe/Berlinn"})
    bad["resources"]["metrics"][0]["detection"] = {"timezone": "Mars/Olympus"}
    problems = {p.path: p.message for p in check_plan(bad, environ={}).errors}
    assert set(problems) == {"detection.timezone", "resources.metrics[0].detection.timezone"}
    assert "unknown time zone 'Europe/Berlinn'" in problems["detection.timezone"]
    assert "IANA" in problems["detection.timezone"]


def test_baseline_show_reads_each_hour_on_the_fleets_clock(berlin_fleet_run):
    from iotwatch_cli.baseline_report import hour_bands

    baseline = berlin_fleet_run["Europe/Berlin"][-1].baseline
    assert baseline is not None and baseline.timezone == "Europe/Berlin"
    bands = hour_bands(baseline, 4.0)
    buckets = baseline.buckets
    # the band of each hour is its own bucket's (the middle of a local hour is its centre)
    for how in (0, 7, 15, 130):
        assert bands[how].expected == pytest.approx(buckets[how].expected * baseline.level, rel=1e-9)
    # local 15:00 is the afternoon peak, 03:00 the night's trough
    assert bands[15].expected > 3 * bands[3].expected
