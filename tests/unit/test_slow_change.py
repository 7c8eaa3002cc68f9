"""Slow change (domain.slow_change): a simulated fleet replayed through the real baseline builder
and evaluator (service.replay) pages a leak of 2 % a day as a warning within a week, and stays
quiet on weekly rhythm, day-to-day noise and a holiday."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import pytest
from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.baseline.levels import SameHours
from iotwatch.domain.baseline.model import Baseline
from iotwatch.domain.deviation import PeriodScore
from iotwatch.domain.messages.phrases import moved_phrase
from iotwatch.domain.slow_change import SlowChange, details, measure, phrase, verdict
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import check_plan, load_plan
from iotwatch.service.replay import ReplayPoint, replay

from iotwatch_local.traffic import Fleet, FleetChange, generate

from .fakes import DAY, MONDAY, PERIOD
from .test_plan import minimal_plan

HISTORY_DAYS = 14


@pytest.fixture(scope="module")
def publish_in():
    from .conftest import DEFAULT_PLAN_FILE

    plan = load_plan(DEFAULT_PLAN_FILE, environ={})
    return next(s for s in expand_series(plan) if s.metric == "PublishIn.Success" and s.ratio is None)


def fleet_points(series, fleet, *, days, day_factor=None):
    """The fleet's counts for `series` over `days`, each day scaled by `day_factor(day)`."""
    counts = {ts: count for _, ts, count in generate(fleet, [series], start=MONDAY, end=MONDAY + days * DAY)}
    points = []
    for ts in range(MONDAY, MONDAY + days * DAY, PERIOD):
        count = counts.get(ts)
        if count is not None and day_factor is not None:
            count = round(count * day_factor((ts - MONDAY) // DAY))
        points.append(ReplayPoint(ts, None if not count else float(count)))
    return points


def replayed(series, points):
    return list(replay(points, series=series, history_days=HISTORY_DAYS, refresh_seconds=DAY))


def slow_rows(results):
    return [r for r in results if r.score is not None and r.score.slow_change is not None]


@pytest.fixture(scope="module")
def leak_run(publish_in):
    leak = MONDAY + 21 * DAY
    # 2 % of the fleet a day for 10 days, then it holds at 80 %
    fleet = Fleet(changes=(FleetChange(start=leak, ramp_seconds=10 * DAY, factor=0.8),))
    return leak, replayed(publish_in, fleet_points(publish_in, fleet, days=45))


def test_a_leak_of_two_percent_a_day_pages_a_warning_within_a_week(leak_run):
    leak, results = leak_run
    assert not any(r.alert for r in results if r.ts - MONDAY >= HISTORY_DAYS * DAY and r.ts < leak)
    first = next(r for r in results if r.ts >= leak and r.alert)
    assert first.ts - leak <= 7 * DAY
    assert first.score is not None and first.score.slow_change is not None  # the slow-change model saw it
    assert first.score.severity == "warning" and first.score.direction == "drop"
    change = first.score.slow_change
    assert change.change_week <= -0.1 and change.per_day < -0.01


def test_without_the_slow_change_model_the_leak_pages_nothing(publish_in, leak_run):
    leak, _ = leak_run
    fleet = Fleet(changes=(FleetChange(start=leak, ramp_seconds=10 * DAY, factor=0.8),))
    off = replace(publish_in, detection=replace(publish_in.detection, slow_change=0.0))
    results = replayed(off, fleet_points(off, fleet, days=32))
    assert not any(r.alert for r in results if r.ts >= leak)  # the gap the model closes


def test_the_warning_resolves_once_the_level_holds_still_and_the_baseline_catches_up(leak_run):
    leak, results = leak_run
    held = leak + 10 * DAY  # the leak stops here
    alerting = [r.ts for r in results if r.alert]
    assert alerting and max(alerting) < held + 10 * DAY
    assert not any(r.alert for r in results[-DAY // PERIOD :])


def weekly_noise(seed, *, scale=0.04):
    """A fleet's day-to-day variation: each day a few per cent off its usual level."""
    rng = random.Random(seed)
    factors = [1.0 + rng.gauss(0.0, scale) for _ in range(64)]
    return lambda day: factors[day]


def test_weekly_rhythm_with_noise_for_four_weeks_pages_nothing(publish_in):
    results = replayed(publish_in, fleet_points(publish_in, Fleet(), days=42, day_factor=weekly_noise(11)))
    assert slow_rows(results) == []
    built = {r.baseline.built_at: r.baseline for r in results if r.baseline is not None}
    figures = [b.slow_change for b in built.values() if b.slow_change is not None]
    assert len(figures) >= 20  # measured every day from day 14 on, and never paged
    assert all(verdict(f, publish_in.detection) is None for f in figures)


def test_a_single_holiday_low_day_pages_no_slow_change(publish_in):
    holiday = 30  # a Wednesday at a third of the traffic
    day_factor = weekly_noise(5, scale=0.02)
    results = replayed(
        publish_in,
        fleet_points(
            publish_in, Fleet(), days=42, day_factor=lambda day: 0.35 if day == holiday else day_factor(day)
        ),
    )
    assert slow_rows(results) == []


def leak_ratios(days_leaking, pace=0.02):
    """Each of the last 7 days against the same hours a week before, after `days_leaking` days
    of a leak of `pace` a day (day 0 = the latest)."""
    level = [-pace * max(days_leaking - day, 0) for day in range(21)]  # log level by days back
    return SameHours(
        {day: level[day] - level[day + 7] for day in range(7)},
        {day: level[day] - level[day + 14] for day in range(7)},
    )


def test_the_figures_and_the_verdict_of_a_steady_decline(publish_in):
    change = measure(leak_ratios(9))
    assert change is not None
    assert change.per_day == pytest.approx(-0.02, abs=0.001)
    assert change.change_week == pytest.approx(math.expm1(-0.14), abs=0.001)
    assert change.days == 9
    assert verdict(change, publish_in.detection) == "drop"
    assert verdict(measure(leak_ratios(6)), publish_in.detection) == "drop"  # 6 days in: 12 % down
    assert verdict(measure(leak_ratios(4)), publish_in.detection) is None  # 8 %: not yet
    # a day without a comparison of its own (a gap) gives no figures; an `up` metric no drop
    gap = leak_ratios(9)
    del gap.week[3]
    assert measure(gap) is None
    assert verdict(change, replace(publish_in.detection, direction="up")) is None
    assert verdict(change, replace(publish_in.detection, slow_change=0.0)) is None
    # one low day among a steady week is a holiday, not a leak
    holiday = SameHours({0: -0.9, **{day: 0.003 * (-1) ** day for day in range(1, 7)}}, {0: -0.9})
    assert verdict(measure(holiday), publish_in.detection) is None


def test_the_messages_say_what_the_slow_change_model_saw():
    change = SlowChange((math.log(0.76), -0.2, -0.18, -0.16, -0.14, -0.12, -0.1), math.log(0.69), -0.02, 9)
    assert phrase(change) == "24% below the same hours last week, falling 2% a day for 9 days"
    assert details(change).endswith("; 31% below two weeks before")
    score = PeriodScore(0, 760.0, 800.0, 600.0, 1000.0, -0.5, -0.05, "warning", "hour-of-week", "drop")
    assert moved_phrase(score, "down") == "down 5%"
    assert moved_phrase(replace(score, slow_change=change), "down") == phrase(change, short=True)
    from iotwatch.domain.deviation import Transition
    from iotwatch.domain.messages.model import Alert
    from iotwatch.domain.messages.phrases import headline_parts

    from .fakes import make_series

    slow = replace(score, slow_change=change)
    alert = Alert(make_series(), Transition("firing", "s", "warning", 0, 3 * DAY, -0.5, slow))
    assert headline_parts(alert, "firing")[1] == "24% below last week, falling 2%/day for 9 days"
    assert headline_parts(alert, "reminder")[1].startswith("still 24% below last week")
    again = SlowChange.from_record(json.loads(json.dumps(change.to_record())))
    assert again.to_record() == change.to_record() and again.days == 9


def test_a_baseline_record_keeps_the_figures_and_the_clock(publish_in):
    points = [
        (p.ts, p.value)
        for p in fleet_points(publish_in, Fleet(), days=15, day_factor=weekly_noise(3))
        if p.value
    ]
    built = build_baseline(
        series_id=publish_in.id,
        points=points,
        start=MONDAY,
        end=MONDAY + 15 * DAY,
        period=PERIOD,
        built_at=MONDAY + 15 * DAY,
        timezone="Europe/Berlin",
    )
    assert built.slow_change is not None and built.timezone == "Europe/Berlin"
    record = built.to_record()
    again = Baseline.from_record(record)
    assert again.to_record() == record and (again.timezone, again.slow_change.days) == (  # type: ignore[union-attr]
        "Europe/Berlin",
        built.slow_change.days,
    )
    utc = replace(built, timezone="UTC", slow_change=None).to_record()
    assert "timezone" not in utc and "slow_change" not in utc  # a UTC gauge's record is as it was


def test_the_plan_sets_slow_change_plan_wide_and_per_metric():
    plan = minimal_plan(detection={"slow_change": "off"})
    plan["resources"]["metrics"].append(
        {"metric": "Ping.Success", "detection": {"slow_change": {"threshold": 0.3, "min_days": 3}}}
    )
    check = check_plan(plan, environ={})
    assert check.errors == []
    by_metric = {s.metric: s.detection for s in expand_series(check.plan)}
    assert by_metric["PublishIn.Success"].slow_change == 0.0
    assert (by_metric["Ping.Success"].slow_change, by_metric["Ping.Success"].slow_change_days) == (0.3, 3)
    default = {s.metric: s.detection for s in expand_series(check_plan(minimal_plan(), environ={}).plan)}
    assert (default["PublishIn.Success"].slow_change, default["PublishIn.Success"].slow_change_days) == (
        0.1,
        5,
    )


def test_a_slow_change_threshold_out_of_range_is_refused_with_its_path():
    check = check_plan(minimal_plan(detection={"slow_change": {"threshold": 1.5}}), environ={})
    paths = [p.path for p in check.errors]
    assert paths and all(path.startswith("detection.slow_change") for path in paths), paths


def test_the_builder_reads_the_week_before_training_for_a_counter_only_where_cloudwatch_keeps_it(publish_in):
    from iotwatch.domain.slow_change import wants_extra_week
    from iotwatch.service.baselines import rebuild_baselines

    from .fakes import FakeReader, FakeStore

    reader = FakeReader()
    for p in fleet_points(publish_in, Fleet(), days=22, day_factor=weekly_noise(7)):
        if p.value:
            reader.set(publish_in.id, p.ts, p.value)
    store = FakeStore()
    now = MONDAY + 22 * DAY
    report = rebuild_baselines(
        now=now, series=[publish_in], history_days=HISTORY_DAYS, reader=reader, store=store
    )
    assert [start for _, start, _ in reader.requests] == [now - (HISTORY_DAYS + 7) * DAY]
    built = store.stored_baselines[publish_in.id]
    assert built.trained_from == now - HISTORY_DAYS * DAY and report.empty == []
    assert built.slow_change is not None and built.slow_change.two_weeks is not None
    assert verdict(built.slow_change, publish_in.detection) is None  # a normal fleet

    detection = publish_in.detection
    assert wants_extra_week(detection, share=False, period=300, history_days=14)
    assert not wants_extra_week(detection, share=True, period=300, history_days=14)
    assert not wants_extra_week(replace(detection, slow_change=0.0), share=False, period=300, history_days=14)
    assert wants_extra_week(detection, share=False, period=60, history_days=7)  # 14 days of 1-minute data
    assert not wants_extra_week(detection, share=False, period=60, history_days=14)  # 21: returns nothing
    assert not wants_extra_week(detection, share=False, period=300, history_days=60)  # 67: hourly only


def test_the_evaluator_pages_the_leak_as_a_warning_that_says_slow_change(default_plan, publish_in):
    """Through the evaluation service, its incidents and its messages (the unit fakes)."""
    from iotwatch.service.baselines import rebuild_baselines
    from iotwatch.service.context import message_context
    from iotwatch.service.evaluation import run_evaluation

    from .fakes import FakeNotifier, FakeReader, FakeStore

    leak = MONDAY + 21 * DAY
    fleet = Fleet(changes=(FleetChange(start=leak, ramp_seconds=10 * DAY, factor=0.8),))
    reader = FakeReader()
    for p in fleet_points(publish_in, fleet, days=29):
        if p.value:
            reader.set(publish_in.id, p.ts, p.value)
    now = leak + 7 * DAY
    store, notifier = FakeStore(), FakeNotifier()
    rebuild_baselines(now=now, series=[publish_in], history_days=HISTORY_DAYS, reader=reader, store=store)
    context = message_context(default_plan, region="eu-west-1", dashboard_name=None)
    for window_end in range(now + PERIOD, now + 4 * PERIOD, PERIOD):
        run_evaluation(
            event_time=window_end + 75,
            plan=default_plan,
            series=[publish_in],
            reader=reader,
            store=store,
            notifier=notifier,
            context=context,
        )
    assert notifier.sent, "the leak paged nothing"
    _, message = notifier.sent[0]
    assert message.subject.startswith("[WARNING]")
    assert "below last week, falling" in message.subject
    assert "model:     slow change: " in message.email and "the same hours last week" in message.email
    assert "below last week" in message.sms


def test_a_bare_off_in_yaml_turns_it_off_and_a_typo_is_named():
    plan = minimal_plan(detection={"slow_change": False})  # what YAML makes of `slow_change: off`
    assert {s.detection.slow_change for s in expand_series(check_plan(plan, environ={}).plan)} == {0.0}
    [problem] = check_plan(minimal_plan(detection={"slow_change": "of"}), environ={}).errors
    assert problem.path == "detection.slow_change" and "use off" in problem.message


def test_min_days_beyond_the_week_the_build_keeps_is_refused():
    paths = [
        p.path
        for p in check_plan(minimal_plan(detection={"slow_change": {"min_days": 9}}), environ={}).errors
    ]
    assert paths and all(path.startswith("detection.slow_change") for path in paths), paths
