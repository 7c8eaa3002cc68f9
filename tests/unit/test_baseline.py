"""Learning normal from history: hour of week, gap filling, fallbacks, robust spread."""

from __future__ import annotations

import json
import math
import statistics
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iotwatch.domain.baseline.build import build_baseline, fill_periods
from iotwatch.domain.baseline.model import HOURS_PER_WEEK, METHOD, Baseline, Bucket, Expectation, hour_of_week
from iotwatch.domain.deviation import score_period

from .fakes import DAY, DETECTION, MONDAY, PERIOD

HOUR = 3600


def utc(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def weekly_pattern(t: float) -> float:
    """Smooth daily rhythm (trough 03:00 UTC, peak 15:00 UTC), 40 % lower at weekends."""
    hour = (t % DAY) / HOUR
    daytime = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 3.0) / 24.0)
    weekend = datetime.fromtimestamp(t, UTC).weekday() >= 5
    return 100.0 + 900.0 * daytime * (0.6 if weekend else 1.0)


def history(start: int, end: int, value=weekly_pattern, period: int = PERIOD) -> list[tuple[int, float]]:
    """One datapoint per period, valued at the middle of the period, in whole counts (as
    every AWS/IoT Sum is)."""
    return [(ts, float(round(value(ts + period / 2)))) for ts in range(start, end, period)]


def baseline_for(points, *, start, end, excluded=()):
    return build_baseline(
        series_id="AWS/IoT|PublishIn.Success|Protocol=MQTT",
        points=points,
        start=start,
        end=end,
        period=PERIOD,
        built_at=end,
        excluded=excluded,
    )


# --- hour of week ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (utc(2024, 1, 1, 0, 0), 0),  # Monday 00:00
        (utc(2024, 1, 1, 0, 59, 59), 0),
        (utc(2024, 1, 1, 1, 0), 1),
        (utc(2024, 1, 7, 23, 30), 167),  # Sunday 23:30
        (utc(2024, 1, 8, 0, 0), 0),  # the next Monday
        (utc(1970, 1, 1, 0, 0), 3 * 24),  # the epoch was a Thursday
        (utc(2025, 11, 26, 14, 5), 2 * 24 + 14),  # Wednesday 14:05
        (utc(2024, 2, 29, 12, 0), 3 * 24 + 12),  # leap day, a Thursday
        (utc(2025, 3, 30, 1, 30), 6 * 24 + 1),  # Sunday; UTC knows no DST
    ],
)
def test_hour_of_week_known_dates(when, expected):
    assert hour_of_week(when) == expected


@given(st.integers(min_value=0, max_value=4_102_444_800))
def test_hour_of_week_agrees_with_the_calendar(ts):
    moment = datetime.fromtimestamp(ts, UTC)
    assert hour_of_week(ts) == moment.weekday() * 24 + moment.hour


# --- filling gaps ---------------------------------------------------------------------------


def test_fill_periods_is_none_before_the_first_datapoint_and_zero_after():
    start = MONDAY
    points = [(start + 2 * PERIOD, 7.0), (start + 4 * PERIOD, 3.0)]
    slots = fill_periods(points, start=start, end=start + 6 * PERIOD, period=PERIOD)
    assert slots == [
        (start, None),
        (start + PERIOD, None),
        (start + 2 * PERIOD, 7.0),
        (start + 3 * PERIOD, 0.0),
        (start + 4 * PERIOD, 3.0),
        (start + 5 * PERIOD, 0.0),
    ]


def test_fill_periods_without_datapoints_is_all_none():
    slots = fill_periods([], start=MONDAY, end=MONDAY + 3 * PERIOD, period=PERIOD)
    assert [v for _, v in slots] == [None, None, None]


def test_fill_periods_counts_an_earlier_first_datapoint_as_existing():
    # the series existed before the window: every empty slot in the window is zero traffic
    slots = fill_periods([(MONDAY - PERIOD, 5.0)], start=MONDAY, end=MONDAY + 2 * PERIOD, period=PERIOD)
    assert [v for _, v in slots] == [0.0, 0.0]


# --- learning the pattern ---------------------------------------------------------------------

END = MONDAY + 14 * DAY
START = END - 14 * DAY


@pytest.fixture(scope="module")
def two_weeks():
    points = history(START, END)
    return points, baseline_for(points, start=START, end=END)


@pytest.mark.parametrize(
    ("day", "hour", "minute"),
    [(1, 10, 0), (2, 15, 25), (3, 3, 0), (3, 20, 40), (5, 12, 0), (6, 18, 10), (0, 7, 55)],
)
def test_two_weeks_of_a_weekly_pattern_are_reproduced(two_weeks, day, hour, minute):
    _, baseline = two_weeks
    ts = END + day * DAY + hour * HOUR + minute * 60  # a week the baseline has not seen
    expectation = baseline.expectation_at(ts)
    truth = weekly_pattern(ts + PERIOD / 2)
    # linear interpolation between hour centres rounds off the trough by a few units
    assert expectation.expected == pytest.approx(truth, rel=0.05)
    assert expectation.source == "hour-of-week"


def test_weekend_and_weekday_are_told_apart(two_weeks):
    _, baseline = two_weeks
    tuesday_3pm = baseline.expectation_at(END + 1 * DAY + 15 * HOUR).expected
    saturday_3pm = baseline.expectation_at(END + 5 * DAY + 15 * HOUR).expected
    assert saturday_3pm == pytest.approx(100 + 0.6 * (tuesday_3pm - 100), rel=0.03)


def test_baseline_records_its_training_window(two_weeks):
    points, baseline = two_weeks
    assert (baseline.trained_from, baseline.trained_to, baseline.period) == (START, END, PERIOD)
    assert baseline.datapoints == len(points) == 14 * DAY // PERIOD
    assert baseline.method == METHOD
    assert len(baseline.buckets) == HOURS_PER_WEEK
    assert baseline.usable


@pytest.mark.parametrize(
    ("days", "sources"),
    [
        (1, {"global"}),  # Sunday only
        (2, {"global", "weekday-hour"}),  # a weekend: weekend hours known, weekdays not
        (3, {"hour-of-day", "weekday-hour"}),  # Fri..Sun: one weekday, so weekdays use every day
        (4, {"weekday-hour"}),  # Thu..Sun: two weekdays and two weekend days
        (7, {"weekday-hour"}),
        (14, {"hour-of-week"}),
    ],
)
def test_short_histories_fall_back_to_weekday_hours_then_hour_of_day_then_global(days, sources):
    start = END - days * DAY
    baseline = baseline_for(history(start, END), start=start, end=END)
    assert {b.source for b in baseline.buckets} == sources


def test_eight_days_mix_hour_of_week_for_the_repeated_day_only():
    start = END - 8 * DAY  # Sunday, then Monday..Sunday: only Sunday is seen twice
    baseline = baseline_for(history(start, END), start=start, end=END)
    for how, bucket in enumerate(baseline.buckets):
        assert bucket.source == ("hour-of-week" if how >= 6 * 24 else "weekday-hour"), how


def test_global_fallback_expects_the_median_of_all_history():
    start = END - DAY
    points = history(start, END)
    baseline = baseline_for(points, start=start, end=END)
    median = statistics.median(v for _, v in points)
    assert all(b.expected == pytest.approx(median) for b in baseline.buckets)


def test_hour_of_day_fallback_follows_the_daily_rhythm():
    start = END - 4 * DAY  # Thursday..Sunday
    baseline = baseline_for(history(start, END), start=start, end=END)
    night = baseline.expectation_at(END + 3 * HOUR).expected
    afternoon = baseline.expectation_at(END + 15 * HOUR).expected
    assert night == pytest.approx(100, rel=0.05)
    assert afternoon > 5 * night


def test_a_series_that_started_recently_is_not_learned_as_zero_before_it_existed():
    # 14-day window, but the series only published on its last day
    start = END - DAY
    points = history(start, END)
    baseline = baseline_for(points, start=START, end=END)
    assert {b.source for b in baseline.buckets} == {"global"}
    assert baseline.buckets[0].expected == pytest.approx(statistics.median(v for _, v in points))


def test_no_datapoints_gives_an_unusable_baseline():
    baseline = baseline_for([], start=START, end=END)
    assert not baseline.usable
    assert {b.source for b in baseline.buckets} == {"none"}


def test_quiet_periods_after_the_first_datapoint_count_as_zero():
    # traffic only in the first period of every hour: the median hour is mostly zeros
    points = [(ts, 600.0) for ts in range(START, END, HOUR)]
    baseline = baseline_for(points, start=START, end=END)
    assert all(b.expected == 0.0 for b in baseline.buckets)


# --- fleet level ------------------------------------------------------------------------------


@pytest.mark.parametrize("day", range(7))
def test_a_fleet_that_grew_recently_is_expected_at_its_new_size(day):
    """A rollout five days before the end of training (second Wednesday 00:00) scales traffic
    by 1.5. The rhythm is unchanged, so every day of the next week, Monday and Tuesday too
    (whose hours were only seen before the rollout), is expected nearer the new size than the
    old one: within half the change of 1.5x."""
    rollout = END - 5 * DAY
    points = history(START, END, value=lambda t: weekly_pattern(t) * (1.5 if t >= rollout else 1.0))
    baseline = baseline_for(points, start=START, end=END)
    for hour in (9, 15):
        ts = END + day * DAY + hour * HOUR
        ratio = baseline.expectation_at(ts).expected / weekly_pattern(ts + PERIOD / 2)
        assert abs(ratio - 1.5) < 0.25, (day, hour, ratio)


def test_a_short_outage_on_the_last_day_barely_moves_the_level():
    outage = (END - 10 * HOUR, END - 7 * HOUR)
    points = [(ts, 0.0 if outage[0] <= ts < outage[1] else v) for ts, v in history(START, END)]
    baseline = baseline_for(points, start=START, end=END)
    assert baseline.level == pytest.approx(1.0, abs=0.05)


def test_level_needs_a_week_of_history():
    start = END - 4 * DAY
    points = history(start, END, value=lambda t: weekly_pattern(t) * (2.0 if t >= END - DAY else 1.0))
    assert baseline_for(points, start=start, end=END).level == 1.0


# --- excluded windows ---------------------------------------------------------------------


def outage_window():
    start = START + 1 * DAY + 9 * HOUR  # first Tuesday 09:00-13:00
    return start, start + 4 * HOUR


def test_excluded_windows_are_ignored():
    a, b = outage_window()
    clean = history(START, END)
    broken = [(ts, 0.0 if a <= ts < b else v) for ts, v in clean]
    spiky = [(ts, 50_000.0 if a <= ts < b else v) for ts, v in clean]
    ignored_broken = baseline_for(broken, start=START, end=END, excluded=[(a, b)])
    ignored_spiky = baseline_for(spiky, start=START, end=END, excluded=[(a, b)])
    assert ignored_broken.buckets == ignored_spiky.buckets
    # Tuesday 10:00 was seen on one Tuesday only once the window is ignored, so it falls back
    # to 10:00 on weekdays and stays near the pattern
    ts = END + 1 * DAY + 10 * HOUR + 30 * 60
    assert ignored_broken.buckets[hour_of_week(ts)].source == "weekday-hour"
    assert ignored_broken.expectation_at(ts).expected == pytest.approx(
        weekly_pattern(ts + PERIOD / 2), rel=0.05
    )


def test_without_exclusion_an_outage_drags_the_baseline_down():
    a, b = outage_window()
    broken = [(ts, 0.0 if a <= ts < b else v) for ts, v in history(START, END)]
    learned = baseline_for(broken, start=START, end=END)
    ts = END + 1 * DAY + 10 * HOUR + 30 * 60
    assert learned.expectation_at(ts).expected < 0.7 * weekly_pattern(ts + PERIOD / 2)


# --- spread --------------------------------------------------------------------------------


def test_scale_is_floored_by_poisson_noise(two_weeks):
    _, baseline = two_weeks  # noise-free history: the floor is all the spread there is
    for ts in range(END, END + 7 * DAY, 7 * PERIOD):
        expectation = baseline.expectation_at(ts)
        assert expectation.scale >= math.sqrt(expectation.expected) - 1e-9
        assert expectation.scale >= 1.0
        assert expectation.scale >= 0.05 * expectation.expected - 1e-9


@settings(max_examples=40)
@given(level=st.integers(min_value=0, max_value=10**6), days=st.sampled_from([1, 4, 14]))
def test_scale_floor_holds_for_any_flat_level(level, days):
    start = END - days * DAY
    points = [(ts, float(level)) for ts in range(start, END, 4 * PERIOD)]  # every 4th period: bursty
    baseline = baseline_for(points, start=start, end=END)
    assert baseline.counts
    for ts in range(END, END + 7 * DAY, 13 * PERIOD):
        expectation = baseline.expectation_at(ts)
        assert expectation.scale >= math.sqrt(max(expectation.expected, 0.0)) - 1e-9
        assert expectation.scale >= 1.0


@settings(max_examples=40)
@given(level=st.floats(min_value=0.001, max_value=1e6).filter(lambda v: not float(v).is_integer()))
def test_a_gauge_gets_a_floor_in_its_own_units_not_poisson_noise(level):
    """A latency of 0.2 s or a CPU of 37.5 % is not a count: sqrt(expected) and a floor of one
    count would make every deviation invisible."""
    start = END - 14 * DAY
    baseline = baseline_for([(ts, level) for ts in range(start, END, PERIOD)], start=start, end=END)
    assert not baseline.counts
    expectation = baseline.expectation_at(END + 3 * HOUR)
    assert not expectation.counts
    assert expectation.scale == pytest.approx(max(0.05 * level, baseline.min_scale))
    assert expectation.scale < max(math.sqrt(level), 1.0) or level > 400


def test_a_gauge_pages_below_min_volume_but_a_count_does_not():
    detection = DETECTION  # min_volume 20
    gauge = Expectation(0.2, 0.01, "hour-of-week", False)
    count = Expectation(2.0, 1.0, "hour-of-week", True)
    assert score_period(0, 0.9, gauge, detection).severity == "critical"  # latency 0.2 s -> 0.9 s
    assert score_period(0, 19.0, count, detection).severity is None  # 2 -> 19 events: too few to page


def test_noisy_history_learns_a_wider_band_than_the_floor():
    noise = 120.0
    points = [
        (ts, weekly_pattern(ts + PERIOD / 2) + (noise if (ts // PERIOD) % 2 else -noise))
        for ts in range(START, END, PERIOD)
    ]
    baseline = baseline_for(points, start=START, end=END)
    expectation = baseline.expectation_at(END + 2 * DAY + 15 * HOUR)
    assert expectation.scale > math.sqrt(expectation.expected)
    assert expectation.scale == pytest.approx(1.4826 * noise, rel=0.25)


# --- storage round trip ---------------------------------------------------------------------

sources = st.sampled_from(["hour-of-week", "hour-of-day", "global", "none"])
four_places = st.integers(min_value=0, max_value=10**10).map(lambda n: n / 10_000)
buckets = st.builds(
    lambda expected, spread, samples, source: Bucket(expected, spread, samples, source),
    four_places,
    four_places,
    st.integers(0, 10_000),
    sources,
)


@settings(max_examples=60)
@given(
    pool=st.lists(buckets, min_size=1, max_size=12),
    version=st.integers(1, 10**6),
    trained_to=st.integers(0, 2**32),
    datapoints=st.integers(0, 10**6),
    level=st.integers(1, 10**7).map(lambda n: n / 100_000),
)
def test_record_round_trip(pool, version, trained_to, datapoints, level):
    buckets = [pool[i % len(pool)] for i in range(HOURS_PER_WEEK)]
    baseline = Baseline(
        series_id="Fleet/Devices|Temperature|Site=north",
        version=version,
        method=METHOD,
        period=PERIOD,
        trained_from=trained_to - 14 * DAY,
        trained_to=trained_to,
        built_at=trained_to + 5,
        datapoints=datapoints,
        buckets=tuple(buckets),
        level=level,
    )
    record = baseline.to_record()
    assert Baseline.from_record(record) == baseline
    # and through JSON, the way the store keeps it
    assert Baseline.from_record(json.loads(json.dumps(record))) == baseline


def test_record_round_trip_of_a_learned_baseline_is_within_rounding(two_weeks):
    _, baseline = two_weeks
    again = Baseline.from_record(json.loads(json.dumps(baseline.to_record())))
    for ts in range(END, END + 7 * DAY, 7 * PERIOD):
        assert again.expectation_at(ts).expected == pytest.approx(
            baseline.expectation_at(ts).expected, rel=1e-4, abs=1e-3
        )
        assert again.expectation_at(ts).scale == pytest.approx(
            baseline.expectation_at(ts).scale, rel=1e-4, abs=1e-3
        )
