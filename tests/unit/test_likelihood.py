"""The anomaly-likelihood tracker: learns what normal is for one series, period by period."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from iotwatch.domain.likelihood import (
    ALERT_LIKELIHOOD,
    LEVEL_PERIODS,
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
    bursty += [100.0, 100.0, 250.0, 250.0]  # a record high keeps its meaning
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


@settings(max_examples=25, deadline=None)
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
    for a, b in zip(expected[cut:], rest, strict=True):
        assert abs(a.likelihood - b.likelihood) < 1e-6 and abs(a.anomaly_score - b.anomaly_score) < 1e-6


def test_the_stored_record_stays_small():
    state = TrackerState()
    feed(state, noisy(3000))
    state.verdicts = {i * PERIOD: "" for i in range(16)}
    size = len(json.dumps(state.to_record(), separators=(",", ":")))
    assert size < 1024, size  # one DynamoDB write unit per tick
