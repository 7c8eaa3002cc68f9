"""Hour of week on the fleet's clock (detection.timezone): a fleet that follows Berlin time,
replayed through the real baseline builder and evaluator across the end of summer time,
pages nothing and keeps its band; on UTC buckets the same series shifts by an hour."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from iotwatch.domain.baseline.layout import daytype_group
from iotwatch.domain.baseline.model import Baseline, hour_of_week, week_position
from iotwatch.domain.local_time import NO_HOLIDAYS, Holidays, utc_offset
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import check_plan, load_plan
from iotwatch.plan.runtime import compile_runtime_plan, read_runtime_plan, write_runtime_plan
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


# --- holidays (detection.holidays): a holiday is a Sunday in the fleet's calendar ---------------

BERLIN = "Europe/Berlin"
H_START = int(datetime(2026, 3, 15, 23, tzinfo=UTC).timestamp())  # Monday 16 March, 00:00 CET
EASTER_MONDAY = date(2026, 4, 6)  # two weeks and a day after summer time began (29 March)
HOLIDAY = int(datetime(2026, 4, 5, 22, tzinfo=UTC).timestamp())  # its local midnight (CEST)
H_END = HOLIDAY + 15 * DAY


def on_holiday(ts: int) -> bool:
    return HOLIDAY <= ts < HOLIDAY + DAY


@pytest.fixture(scope="module")
def holiday_fleet_runs():
    return holiday_runs()


def holiday_runs():
    """The same Berlin fleet (weekends at 40 % of a weekday) replayed four ways: Easter Monday
    a working day; Easter Monday at Sunday level without a calendar; with one saying `sunday`;
    with one saying `exclude`."""
    from .conftest import DEFAULT_PLAN_FILE

    plan = load_plan(DEFAULT_PLAN_FILE, environ={})
    series = next(s for s in expand_series(plan) if s.metric == "PublishIn.Success" and s.ratio is None)
    series = replace(series, detection=replace(series.detection, timezone=BERLIN))
    fleet = Fleet(timezone=BERLIN, weekend_factor=0.4)
    counts = {ts: count for _, ts, count in generate(fleet, [series], start=H_START, end=H_END)}
    # Easter Monday at the level of a Sunday: the same hours a day earlier (also 40 %)
    holiday_counts = {ts: counts[ts - DAY] if on_holiday(ts) else count for ts, count in counts.items()}

    def run(by_ts, holidays=NO_HOLIDAYS):
        points = [
            ReplayPoint(ts, float(by_ts[ts]) if ts in by_ts else None) for ts in range(H_START, H_END, PERIOD)
        ]
        calendar = replace(series, detection=replace(series.detection, holidays=holidays))
        return list(replay(points, series=calendar, history_days=HISTORY_DAYS, refresh_seconds=DAY))

    return {
        "working day": run(counts),
        "no calendar": run(holiday_counts),
        "sunday": run(holiday_counts, Holidays.of([EASTER_MONDAY])),
        "exclude": run(holiday_counts, Holidays.of([EASTER_MONDAY], exclude=True)),
    }


def test_a_holiday_falls_on_sunday_of_the_fleets_week():
    calendar = Holidays.of([EASTER_MONDAY])
    noon = HOLIDAY + 12 * 3600
    assert hour_of_week(noon, BERLIN) == 12  # Monday noon
    assert hour_of_week(noon, BERLIN, calendar) == 6 * 24 + 12  # Sunday noon
    assert hour_of_week(HOLIDAY - 1, BERLIN, calendar) == 6 * 24 + 23  # the real Sunday before
    assert hour_of_week(HOLIDAY + DAY, BERLIN, calendar) == 24  # Tuesday 00:00 is no holiday
    assert daytype_group(hour_of_week(noon, BERLIN, calendar)) >= 24  # a weekend hour
    assert calendar.windows(BERLIN) == [(HOLIDAY, HOLIDAY + DAY)]


def paged_away_from_midnight(run, start=H_START + HISTORY_DAYS * DAY, end=H_END):
    """Alerts in [start, end) more than half an hour from local midnight. At midnight this fleet
    steps between weekday and weekend level (40 %) faster than the band's interpolation
    between two hours follows: every weekend's edges page alike, holiday or not."""
    return [
        r.ts
        for r in run
        if start <= r.ts < end and r.alert and 1800 <= (r.ts + utc_offset(r.ts, BERLIN)) % DAY < DAY - 1800
    ]


def test_a_holiday_at_sunday_level_pages_only_without_a_calendar(holiday_fleet_runs):
    assert paged_away_from_midnight(holiday_fleet_runs["working day"]) == []
    # without a calendar the whole holiday pages (traffic below the weekday band) ...
    assert len(paged_away_from_midnight(holiday_fleet_runs["no calendar"], HOLIDAY, HOLIDAY + DAY)) > 200
    deviating = [
        r for r in holiday_fleet_runs["no calendar"] if on_holiday(r.ts) and r.score and r.score.score < -4
    ]
    assert len(deviating) > 200
    for mode in ("sunday", "exclude"):
        run = holiday_fleet_runs[mode]
        assert paged_away_from_midnight(run) == []  # neither on the holiday nor after it
        # the same hours, but its last half hour: the midnight step back to weekday level
        holiday = [r for r in run if HOLIDAY <= r.ts < HOLIDAY + DAY - 1800 and r.score]
        assert len(holiday) == 282 and [r.ts for r in holiday if r.score.score < -4] == [], mode


def test_the_week_after_a_holiday_keeps_its_band(holiday_fleet_runs):
    week_after = (HOLIDAY + DAY, HOLIDAY + 9 * DAY)  # to the Tuesday a week later
    # ... and without one, the learnt holiday makes a Tuesday and Wednesday after it page too
    assert len(paged_away_from_midnight(holiday_fleet_runs["no calendar"], HOLIDAY + DAY, H_END)) > 200
    reference = band_width(holiday_fleet_runs["working day"], *week_after)
    for mode in ("sunday", "exclude"):
        assert band_width(holiday_fleet_runs[mode], *week_after) <= 1.05 * reference, mode
    assert band_width(holiday_fleet_runs["no calendar"], *week_after) > 1.1 * reference


def test_slow_change_sees_neither_a_drop_nor_a_recovery_across_a_holiday(holiday_fleet_runs):
    def day_ratios(run):
        """Each build's day ratios against the same hours a week and two weeks before."""
        return [
            (*r.baseline.slow_change.week, r.baseline.slow_change.two_weeks or 0.0)
            for r in run
            if r.ts >= HOLIDAY and r.baseline is not None and r.baseline.slow_change is not None
        ]

    # without a calendar the holiday is a 60 % drop, and the Monday after a recovery
    plain = [x for ratios in day_ratios(holiday_fleet_runs["no calendar"]) for x in ratios]
    assert min(plain) < -0.8 and max(plain) > 0.8
    for mode in ("sunday", "exclude"):
        run = holiday_fleet_runs[mode]
        assert all(abs(x) < 0.1 for ratios in day_ratios(run) for x in ratios), mode
        assert [r.ts for r in run if r.score is not None and r.score.slow_change is not None] == []


def test_a_holiday_baseline_says_so_and_its_record_round_trips(holiday_fleet_runs):
    baseline = next(r.baseline for r in holiday_fleet_runs["sunday"] if on_holiday(r.ts))
    assert baseline.on_holiday(HOLIDAY + 3600) and not baseline.on_holiday(HOLIDAY + DAY)
    record = baseline.to_record()
    assert json.loads(str(record["holidays"])) == {"dates": ["2026-04-06"], "treat_as": "sunday"}
    assert Baseline.from_record(record).to_record() == record
    plain = next(r.baseline for r in holiday_fleet_runs["working day"] if on_holiday(r.ts))
    assert "holidays" not in plain.to_record()  # no key without a calendar: records as they were


def test_the_plan_takes_holidays_plan_wide_and_per_metric_and_refuses_bad_ones(tmp_path):
    plan = minimal_plan(
        detection={"timezone": BERLIN, "holidays": {"dates": [date(2026, 12, 25), "2026-12-26"]}}
    )
    plan["resources"]["metrics"].append(
        {
            "metric": "Ping.Success",
            "detection": {"holidays": {"treat_as": "exclude", "dates": ["2027-01-01"]}},
        }
    )
    check = check_plan(plan, environ={})
    assert check.errors == []
    calendars = {s.metric: s.detection.holidays for s in expand_series(check.plan)}
    assert calendars["PublishIn.Success"].dates == ["2026-12-25", "2026-12-26"]
    assert not calendars["PublishIn.Success"].exclude
    assert calendars["Ping.Success"].dates == ["2027-01-01"] and calendars["Ping.Success"].exclude
    compiled = compile_runtime_plan(check.plan)
    assert {s["metric"]: s["detection"].get("holidays") for s in compiled["series"]} == {
        "PublishIn.Success": {"dates": ["2026-12-25", "2026-12-26"], "treat_as": "sunday"},
        "Ping.Success": {"dates": ["2027-01-01"], "treat_as": "exclude"},
    }
    runtime = read_runtime_plan(write_runtime_plan(check.plan, tmp_path))  # what the Lambdas read
    assert {s.metric: s.detection.holidays for s in runtime.series} == calendars
    plain = compile_runtime_plan(check_plan(minimal_plan(), environ={}).plan)
    assert all("holidays" not in s["detection"] for s in plain["series"])

    bad = minimal_plan(detection={"holidays": {"treat_as": "monday", "dates": ["2026-02-30"]}})
    bad["resources"]["metrics"][0]["detection"] = {"holidays": {"dates": ["2026-12-25", date(2026, 12, 25)]}}
    problems = {p.path: p.message for p in check_plan(bad, environ={}).errors}
    assert set(problems) == {
        "detection.holidays.treat_as",
        "detection.holidays.dates[0]",
        "resources.metrics[0].detection.holidays.dates",
    }
    assert "2026-12-25 listed more than once" in problems["resources.metrics[0].detection.holidays.dates"]


def test_baseline_show_says_which_days_are_holidays(holiday_fleet_runs):
    from iotwatch_cli.baseline_report import render_json, render_text

    from .conftest import DEFAULT_PLAN_FILE

    baseline = next(r.baseline for r in holiday_fleet_runs["sunday"] if on_holiday(r.ts))
    series = next(
        s for s in expand_series(load_plan(DEFAULT_PLAN_FILE, environ={})) if s.id == baseline.series_id
    )
    options = {"in_plan": True, "plan_name": "fleet", "table": "baselines"}
    text = render_text(baseline, series, now=HOLIDAY + 12 * 3600, **options)
    assert "  holidays     2026-04-06 (Europe/Berlin): learnt and judged as a Sunday" in text
    assert "* now (Mon 10:00 UTC, a holiday: judged as a Sunday)" in text
    assert render_json(baseline, series, **options)["holidays"] == {
        "dates": ["2026-04-06"],
        "treat_as": "sunday",
    }
    plain = next(r.baseline for r in holiday_fleet_runs["working day"] if on_holiday(r.ts))
    assert "holidays" not in render_text(plain, series, now=HOLIDAY + 12 * 3600, **options)
    assert "holidays" not in render_json(plain, series, **options)


def test_an_alert_on_a_holiday_says_it_was_judged_as_a_sunday(holiday_fleet_runs):
    from iotwatch.domain.evaluation import Window
    from iotwatch.service.evaluation_report import EvaluationReport
    from iotwatch.service.scoring import score_series

    from .conftest import DEFAULT_PLAN_FILE
    from .fakes import FakeReader, FakeStore

    plan = load_plan(DEFAULT_PLAN_FILE, environ={})

    def baseline_line(mode, end):
        baseline = next(r.baseline for r in holiday_fleet_runs[mode] if on_holiday(r.ts))
        series = next(s for s in expand_series(plan) if s.id == baseline.series_id)
        store, reader = FakeStore(), FakeReader()
        store.put_baseline(baseline)
        for ts in range(end - 3600, end, PERIOD):
            reader.set(series.id, ts, 500.0)
        window = Window(end - 3 * PERIOD, end, PERIOD)
        report = EvaluationReport(window_start=window.start, window_end=window.end)
        scored = score_series(
            window=window, plan=plan, series=[series], reader=reader, store=store, report=report
        )
        return scored.methods[series.id]

    noon = HOLIDAY + 12 * 3600
    assert baseline_line("sunday", noon).endswith("; a holiday, judged as a Sunday")
    assert "holiday" not in baseline_line("sunday", noon + DAY)
    assert "holiday" not in baseline_line("working day", noon)
