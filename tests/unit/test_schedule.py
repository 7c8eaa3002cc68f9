"""EventBridge schedule expressions, checked the way EventBridge checks them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iotwatch.plan.schedule import ScheduleError, parse_schedule

UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
units = st.sampled_from(sorted(UNIT_SECONDS))
values = st.integers(min_value=1, max_value=100_000)


@given(value=values, unit=units)
def test_rate_round_trips_its_interval(value, unit):
    text = f"rate({value} {unit if value == 1 else unit + 's'})"
    schedule = parse_schedule(text)
    assert schedule.kind == "rate"
    assert schedule.interval_seconds == value * UNIT_SECONDS[unit]
    assert (schedule.rate_value, schedule.rate_unit) == (value, unit)
    assert schedule.expression == text
    assert schedule.cron_fields is None


@given(value=values, unit=units)
def test_rate_with_the_wrong_grammatical_number_is_rejected(value, unit):
    wrong = f"rate({value} {unit + 's' if value == 1 else unit})"
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(wrong)
    right = f"rate({value} {unit if value == 1 else unit + 's'})"
    assert right in str(raised.value)


@pytest.mark.parametrize(
    "text",
    [
        "rate(0 minutes)",
        "rate(-5 minutes)",
        "rate(5 seconds)",
        "rate(5minutes)",
        "rate(5 Minutes)",
        "rate()",
        "every 5 minutes",
    ],
)
def test_invalid_rate_expressions_are_rejected(text):
    with pytest.raises(ScheduleError):
        parse_schedule(text)


def test_surrounding_whitespace_is_ignored():
    assert parse_schedule("  rate(1 hour) ").interval_seconds == 3600


@pytest.mark.parametrize(
    "text",
    ["cron(0 3 * * ? *)", "cron(0/15 * ? * MON-FRI *)", "cron(0 8 1 * ? 2030)", "cron(30 2 ? * 6L *)"],
)
def test_valid_cron_has_six_fields_and_no_interval(text):
    schedule = parse_schedule(text)
    assert schedule.kind == "cron"
    assert schedule.interval_seconds is None
    assert schedule.cron_fields == tuple(text[5:-1].split())
    assert len(schedule.cron_fields) == 6


@pytest.mark.parametrize(
    ("text", "count"), [("cron(0 3 * * *)", 5), ("cron(0 0 3 * * ? *)", 7), ("cron()", 0)]
)
def test_cron_needs_exactly_six_fields(text, count):
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(text)
    assert f"got {count}" in str(raised.value)


@pytest.mark.parametrize("text", ["cron(0 3 * * * *)", "cron(0 3 ? * ? *)", "cron(0 3 1 * MON *)"])
def test_exactly_one_of_day_of_month_and_day_of_week_is_a_question_mark(text):
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(text)
    assert "'?'" in str(raised.value)


def test_cron_rejects_characters_eventbridge_does_not_accept():
    with pytest.raises(ScheduleError):
        parse_schedule("cron(0 3 * * ? $)")
