"""Time as iotwatch reads and writes it (domain.times), and where a silence stands at an instant
(domain.silences.silence_state): one rule each, for the Lambdas and the CLI alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.domain.silences import Silence, SilenceState, silence_for, silence_state
from iotwatch.domain.times import duration_text, iso_datetime, iso_seconds, utc_minute

from iotwatch_cli.formatting import columns, day_clock, from_now
from iotwatch_cli.silence import render_table

HOUR = 3600
NOON = int(datetime(2026, 11, 16, 12, 0, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    "text",
    ["2026-11-16T12:00:00Z", "2026-11-16T12:00z", " 2026-11-16 12:00 ", "2026-11-16T13:00+01:00"],
)
def test_an_iso_time_without_offset_or_with_z_is_utc(text: str) -> None:
    assert iso_seconds(text) == NOON
    assert iso_datetime(text) == datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


def test_an_iso_time_keeps_its_offset_and_a_naive_one_never_takes_the_hosts_zone() -> None:
    assert iso_datetime("2026-11-16T13:00+01:00").utcoffset() == timedelta(hours=1)
    assert iso_datetime("2026-11-16T12:00").tzinfo is UTC
    assert iso_seconds("2026-11-16T12:00:00.5") == NOON + 0.5


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00Z", "12:00"])
def test_text_that_is_not_an_iso_time_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        iso_seconds(text)
    with pytest.raises(ValueError):
        iso_datetime(text)


def test_utc_minute_is_utc_whatever_the_offset_read() -> None:
    assert utc_minute(iso_seconds("2026-11-16T23:30-02:00")) == "2026-11-17 01:30"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-30, "0 min"),
        (45, "0 min"),
        (1200, "20 min"),
        (4800, "1 h 20 min"),
        (7200, "2 h"),
        (50 * HOUR, "50 h"),
    ],
)
def test_durations_in_messages_read_in_minutes_and_hours(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 s"),
        (-45, "45 s"),
        (1200, "20 min"),
        (4800, "1 h 20 min"),
        (7200, "2 h"),
        (47 * HOUR + 60, "47 h 1 min"),
        (48 * HOUR, "2 d"),
        (3 * 86400 + 4 * HOUR, "3 d 4 h"),
    ],
)
def test_durations_to_days_say_seconds_and_days(seconds: int, text: str) -> None:
    assert duration_text(seconds, to_days=True) == text


def test_cli_times_drop_the_date_on_the_day_in_view() -> None:
    assert day_clock(NOON + 3 * HOUR, NOON) == "15:00"
    assert day_clock(NOON + 13 * HOUR, NOON) == "11-17 01:00"
    assert from_now(NOON + 2 * HOUR, NOON) == "in 2 h"
    assert from_now(NOON - 20 * 60, NOON) == "20 min ago"


def test_columns_align_left_without_trailing_blanks() -> None:
    assert columns([("ID", "STATUS", "NOTE"), ("s-1", "active", "")]) == ["ID   STATUS  NOTE", "s-1  active"]


def _silence(starts: int, ends: int) -> Silence:
    return Silence(id="s-00000001", starts=starts, ends=ends, reason="broker upgrade", metrics=("Connect.*",))


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (NOON - 1, SilenceState.PENDING),
        (NOON, SilenceState.ACTIVE),
        (NOON + HOUR - 1, SilenceState.ACTIVE),
        (NOON + HOUR, SilenceState.EXPIRED),  # `ends` is exclusive
    ],
)
def test_a_silence_is_pending_active_then_expired(now: int, state: SilenceState) -> None:
    assert silence_state(_silence(NOON, NOON + HOUR), now) is state


def test_the_evaluator_and_silence_list_agree_on_the_state() -> None:
    detection = DetectionSettings(
        warning=3.0, critical=5.0, pending_periods=2, recovery_periods=2, min_volume=0, min_relative_change=0
    )
    series = Series("AWS/IoT", "Connect.Success", (), "Sum", 300, detection)
    silence = _silence(NOON, NOON + HOUR)
    for now, shown in [(NOON - 1, "future"), (NOON, "active"), (NOON + HOUR, "expired")]:
        covered = silence_for(series, now, silences=[silence]) is not None
        assert covered is (silence_state(silence, now) is SilenceState.ACTIVE)
        assert render_table([silence], now=now).splitlines()[1].split()[1] == shown
