"""The anomaly-likelihood tracker: learns what normal is for one series, period by period."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from iotwatch.domain.likelihood import (
    ALERT_LIKELIHOOD,
    LEVEL_PERIODS,
    SHORT_PERIODS,
    WARMUP_PERIODS,
    TrackerState,
    advance,
    reseason,
)

PERIOD = 300


def noisy(n: int, *, level: float = 100.0, sd: float = 2.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0, sd) for _ in range(n)]


def feed(state: TrackerState, values: list[float], start: int = 0, **kwargs):
    return [advance(state, start + i * PERIOD, v, **kwargs) for i, v in enumerate(values)]


def test_nothing_is_judged_or_scored_while_it_warms_up():
    signals = feed(TrackerState(), noisy(WARMUP_PERIODS))
    assert not any(s.warm for s in signals)
    assert all(s.anomaly_score == 0.0 for s in signals)
    assert not any(s.anomalous(ALERT_LIKELIHOOD) for s in signals)


def test_a_break_in_a_quiet_series_is_anomalous_and_scores_high():
    state = TrackerState()
    feed(state, noisy(2000))
    (jump,) = feed(state, [140.0], start=2000 * PERIOD)
    assert jump.anomalous(ALERT_LIKELIHOOD)
    assert 0.5 <= jump.anomaly_score < 1.0


def test_the_same_break_is_normal_for_a_series_that_always_jumps_that_much():
    state = TrackerState()
    rng = random.Random(3)
    bursty = [100.0 + (40.0 if rng.random() < 0.05 else 0.0) + rng.gauss(0, 2) for _ in range(2000)]
    # a record high keeps its meaning (so 140 is no record), and an episode ends with it
    bursty += [100.0, 100.0, 250.0, 250.0] + [100.0] * SHORT_PERIODS
    feed(state, bursty)
    (jump,) = feed(state, [140.0], start=len(bursty) * PERIOD)
    assert not jump.anomalous(ALERT_LIKELIHOOD)


def test_a_level_shift_becomes_the_new_normal_within_hours():
    state = TrackerState()
    feed(state, noisy(2000))
    shifted = feed(state, noisy(6 * 12, level=150.0, seed=9), start=2000 * PERIOD)
    assert shifted[0].anomalous(ALERT_LIKELIHOOD)
    assert not any(s.anomalous(ALERT_LIKELIHOOD) for s in shifted[LEVEL_PERIODS:])
    assert abs(shifted[-1].predicted - 150.0) < 5


def test_an_up_only_series_ignores_a_drop():
    both, up = TrackerState(), TrackerState()
    history = noisy(2000)
    feed(both, history)
    feed(up, history, direction="up")
    (drop_both,) = feed(both, [40.0], start=2000 * PERIOD)
    (drop_up,) = feed(up, [40.0], start=2000 * PERIOD, direction="up")
    assert drop_both.anomalous(ALERT_LIKELIHOOD)
    assert drop_up.deviation == 0.0 and not drop_up.anomalous(ALERT_LIKELIHOOD)


def test_right_after_an_alert_ended_only_a_stronger_anomaly_pages():
    state = TrackerState()
    feed(state, noisy(2000))
    (jump,) = feed(state, [115.0], start=2000 * PERIOD)
    assert jump.anomalous(ALERT_LIKELIHOOD)
    assert not jump.anomalous(ALERT_LIKELIHOOD, settling=True) or jump.likelihood >= 2 * ALERT_LIKELIHOOD


def test_a_new_baseline_re_expresses_the_remembered_level():
    state = TrackerState()
    feed(state, noisy(200), expected=0.0)
    reseason(state, 1, lambda ts: 60.0)  # the baseline now expects 60 of the ~100
    (signal,) = feed(state, [100.0], start=200 * PERIOD, expected=60.0)
    assert abs(signal.predicted - 100.0) < 3  # 60 expected + the ~40 the series runs above it


@settings(settings.get_profile("slow_properties"), max_examples=25)
@given(cut=st.integers(min_value=1, max_value=600), seed=st.integers(0, 1000))
def test_a_stored_and_reloaded_tracker_continues_exactly(cut: int, seed: int):
    """What the evaluator writes to DynamoDB between ticks (JSON) loses nothing."""
    values = noisy(700, seed=seed)
    values[650] = 400.0
    whole = TrackerState()
    expected = feed(whole, values)
    first = TrackerState()
    feed(first, values[:cut])
    first.next_ts = cut * PERIOD  # as judge leaves it
    reloaded = TrackerState.from_record(json.loads(json.dumps(first.to_record())))
    reseason(reloaded, None, lambda ts: 0.0)  # as the evaluator does before judging a period
    rest = feed(reloaded, values[cut:], start=cut * PERIOD)
    # the remembered periods are stored to 9 significant digits: the same verdicts, scores to 1e-5
    for a, b in zip(expected[cut:], rest, strict=True):
        assert abs(a.likelihood - b.likelihood) < 1e-5 and abs(a.anomaly_score - b.anomaly_score) < 1e-5
        assert a.anomalous(ALERT_LIKELIHOOD) == b.anomalous(ALERT_LIKELIHOOD)


def test_the_stored_record_stays_small():
    state = TrackerState()
    feed(state, noisy(3000))
    state.next_ts, state.period = (
        3000 * PERIOD + 1_764_000_000,
        PERIOD,
    )  # as judge leaves it, at today's times
    state.recent_values = [(ts + 1_764_000_000, v) for ts, v in state.recent_values or ()]
    state.verdicts = {state.next_ts - (i + 1) * PERIOD: "" for i in range(16)}
    item_key = (
        len("pk")
        + len("SERIES#AWS/IoT|UpdateThingShadow.Accepted|Protocol=MQTT")
        + len("sk")
        + len("TRACKER")
    )
    size = item_key + len("tracker") + len(json.dumps(state.to_record(), separators=(",", ":")))
    assert size < 1024, size  # the whole item in one DynamoDB write unit per tick


def test_a_burst_far_beyond_the_largest_of_recent_weeks_stands_out_in_a_bursty_series():
    """The excursion: a series that jumps by 40 now and then learns that 40 is its normal,
    and a jump three times the largest it has made lately is first-of-its-kind."""
    rng = random.Random(5)
    bursty = [100.0 + (40.0 if rng.random() < 0.05 else 0.0) + rng.gauss(0, 2) for _ in range(2000)]
    usual, larger = TrackerState(), TrackerState()
    feed(usual, bursty)
    feed(larger, bursty)
    (same,) = feed(usual, [140.0], start=2000 * PERIOD)
    (triple,) = feed(larger, [220.0], start=2000 * PERIOD)
    assert same.excursion < 1.2 and not same.anomalous(ALERT_LIKELIHOOD)
    assert triple.excursion > 2.5 and triple.anomalous(ALERT_LIKELIHOOD)
    assert triple.likelihood > same.likelihood + 2  # EXCURSION_WEIGHT x ln 3


def test_the_largest_excursion_is_forgotten_slowly_not_at_once():
    state = TrackerState()
    values = noisy(2000)
    values[100] = 400.0  # one huge burst early on
    feed(state, values)
    (burst,) = feed(state, [160.0], start=2000 * PERIOD)
    # 60 above normal is a fraction of the remembered 300, yet no longer negligible after ~1,900 periods
    assert 0.2 < burst.excursion < 1.0


def test_an_hourly_series_learns_its_usual_deviations_over_a_week_of_hours():
    """The likelihood's memory is a week whatever the period: 168 hourly periods, not 2,016."""
    five_minutes, hourly = TrackerState(), TrackerState()
    calm, wild = noisy(300, sd=1.0), noisy(300, sd=8.0, seed=4)
    for state, period in ((five_minutes, 300), (hourly, 3600)):
        for i, value in enumerate(calm + wild):
            advance(state, i * period, value, period=period)
    assert hourly.variance > 1.5 * five_minutes.variance


def test_the_stored_verdicts_come_back_for_the_periods_they_judged():
    state = TrackerState()
    feed(state, noisy(50))
    state.next_ts, state.period = 50 * PERIOD, PERIOD
    # a gap (no datapoint, never judged) at 46, a warming-up None at 44
    state.verdicts = {
        44 * PERIOD: None,
        45 * PERIOD: "drop",
        47 * PERIOD: "",
        48 * PERIOD: "surge",
        49 * PERIOD: "",
    }
    reloaded = TrackerState.from_record(json.loads(json.dumps(state.to_record())))
    assert reloaded.verdicts == state.verdicts
    assert list(reloaded.verdicts) == sorted(state.verdicts)  # oldest first, as judge drops them
