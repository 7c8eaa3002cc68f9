"""How unusual a series is right now, against its own recent history: the anomaly likelihood.

The baseline says what a period usually looks like at this hour; real series also shift level,
drift and burst. The tracker follows a series period by period (causal, constant work per
period, a few hundred bytes of state) and turns each period into a graded `anomaly_score`:

1. Level: the median of the last LEVEL_PERIODS residuals against the baseline's expectation,
   so a level shift becomes the new normal within hours and one spike does not move it.
2. Deviation: |actual - predicted| over a robust running spread of those residuals.
3. Likelihood: the mean deviation of the last SHORT_PERIODS against the mean and spread of
   deviations over about a week (Numenta's anomaly likelihood, in z form). A noisy series
   learns that big deviations are its normal; a quiet one that breaks stands out.
4. Range: a value beyond anything the tracker has seen (by RANGE_MARGIN of the range) is a
   record: it scores at least 0.5 and needs less likelihood to be anomalous.

After a trigger the score is halved for HOLD_PERIODS, so one incident ranks as one event and
only something bigger can rise above it. Direction restricts which side counts. Whether a
period pages is `Signal.anomalous` at the plan's threshold (see domain.evaluation.judge).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Direction = Literal["both", "up", "down"]

LEVEL_PERIODS = 24  # two hours at 5-minute periods
SHORT_PERIODS = 6
SPREAD_MEMORY = 288  # periods (a day at 5 minutes): how fast "how wide normal is" follows
LIKELIHOOD_MEMORY = 2016  # periods (a week at 5 minutes)
MAGNITUDE_MEMORY = 2016
WARMUP_PERIODS = 100  # no score before the tracker has seen this many periods
WARMUP_READ_PERIODS = 2016  # a week: what a tracker the evaluator does not have learns first
DEVIATION_CAP = 10.0  # spreads: one wild period moves the likelihood statistics by a bounded step
INSTANT_WEIGHT = 0.5  # this period alone counts at half weight against the last six
SPREAD_FLOOR = 0.01  # of the series' typical magnitude: a flat line is not infinitely sure
RANGE_MARGIN = 0.03  # of the range seen: how far beyond it a value is a record
# the graded score
SCORE_KNEE = 4.0  # likelihood at which the score reaches 0.5 (and a hold starts)
HOLD_PERIODS = 144  # half a day at 5 minutes: one incident, one event
HOLD_DAMPING = 0.5
# the on-call verdict (chosen on NAB's dev files; see docs/decision_log.md)
ALERT_LIKELIHOOD = 5.0  # at the plan's default sensitivity (warning 4), which scales it
DEFAULT_WARNING = 4.0
PERIOD_DEVIATION = 3.0  # spreads: the least a period must deviate itself to be anomalous
RANGE_FRACTION = 0.3  # a record needs only this share of the threshold: it is telling
REFIRE_FACTOR = 2.0  # within HOLD_PERIODS of a resolve, a new alert needs this times it
_MIN_VARIANCE = 1e-4


@dataclass(slots=True)
class TrackerState:
    """What the evaluator remembers between ticks; `to_record` is what it stores."""

    seen: int = 0
    recent: list[float] | None = None  # last LEVEL_PERIODS residuals, oldest first
    recent_values: list[tuple[int, float]] | None = None  # the same periods' (start, actual)
    season: int | None = None  # which baseline the residuals are against (its build time)
    spread: float | None = None
    magnitude: float | None = None
    mean: float | None = None  # of deviations, over LIKELIHOOD_MEMORY
    variance: float = 1.0
    short: list[float] | None = None  # last SHORT_PERIODS deviations
    low: float | None = None
    high: float | None = None
    last_trigger: int | None = None  # `seen` at the last trigger
    next_ts: int | None = None  # the first period not yet taken in
    # the verdicts of the last few periods taken in, by period start: a tick re-reads the
    # pending/recovery window, and each period must be judged once, the way it was first judged
    # by period start: "drop" / "surge" anomalous, "" normal, None not judged (warming up)
    verdicts: dict[int, str | None] | None = None
    latest_score: float = 0.0  # the last period's graded score (replay reports it; not stored)
    resolved_at: int | None = None  # when the series' last alert resolved (epoch seconds)

    def to_record(self) -> dict[str, object]:
        return {
            "n": self.seen,
            # the residuals are not stored: they follow from the values and the baseline (reseason);
            # times as seconds before next_ts keep the record under one write unit
            "rv": [[(self.next_ts or 0) - ts, round(v, 6)] for ts, v in self.recent_values or ()],
            "s": self.spread,
            "m": self.magnitude,
            "u": self.mean,
            "v": self.variance,
            "w": [round(v, 6) for v in self.short or ()],
            "lo": self.low,
            "hi": self.high,
            "t": self.last_trigger,
            "x": self.next_ts,
            "j": {str(ts): v for ts, v in (self.verdicts or {}).items()},
            "e": self.resolved_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> TrackerState:
        def number(key: str) -> float | None:
            value = record.get(key)
            return None if value is None else float(value)  # type: ignore[arg-type]

        trigger = record.get("t")
        next_ts = record.get("x")
        resolved_at = record.get("e")
        verdicts = record.get("j") or {}
        return cls(
            seen=int(record.get("n", 0)),  # type: ignore[call-overload]
            recent=None,  # re-expressed against whichever baseline the next period is judged with
            recent_values=[(int(next_ts or 0) - int(ago), float(v)) for ago, v in record.get("rv", ())],  # type: ignore[call-overload,attr-defined]
            season=UNSEASONED,
            spread=number("s"),
            magnitude=number("m"),
            mean=number("u"),
            variance=float(record.get("v", 1.0)),  # type: ignore[arg-type]
            short=[float(v) for v in record.get("w", ())],  # type: ignore[attr-defined]
            low=number("lo"),
            high=number("hi"),
            last_trigger=None if trigger is None else int(trigger),  # type: ignore[call-overload]
            next_ts=None if next_ts is None else int(next_ts),  # type: ignore[call-overload]
            verdicts={int(ts): v for ts, v in verdicts.items()},  # type: ignore[attr-defined]
            resolved_at=None if resolved_at is None else int(resolved_at),  # type: ignore[call-overload]
        )


@dataclass(frozen=True, slots=True)
class Signal:
    predicted: float  # the baseline's expectation moved to the series' current level
    spread: float  # how wide normal is around `predicted`, in the series' units
    signed: float  # (actual - predicted) / spread
    deviation: float  # |actual - predicted| in spreads (on the watched side; 0 on the other)
    likelihood: float  # z of the recent deviations against the series' own history
    beyond_range: bool  # outside every value seen so far, by RANGE_MARGIN of the range
    anomaly_score: float  # graded, in [0, 1): 0.5 at SCORE_KNEE or beyond the range
    warm: bool  # seen enough periods to judge

    def anomalous(self, threshold: float, *, settling: bool = False, records: bool = True) -> bool:
        """Whether this period is anomalous for on-call at likelihood `threshold`. The period
        must itself deviate (after a burst the recent mean stays high while the series is back
        to normal); beyond every value seen (where `records` count), RANGE_FRACTION of the
        threshold will do; while
        `settling` (an alert ended within HOLD_PERIODS) it takes REFIRE_FACTOR times it."""
        if not self.warm or self.deviation < PERIOD_DEVIATION:
            return False
        if settling:
            return self.likelihood >= REFIRE_FACTOR * threshold
        return self.likelihood >= (RANGE_FRACTION if records and self.beyond_range else 1.0) * threshold


UNSEASONED = -1  # a reloaded tracker: its residuals are computed before the next period


def reseason(state: TrackerState, season: int | None, expected_at: Callable[[int], float]) -> None:
    """Re-expresses the remembered residuals against a new baseline (built daily): the level is
    the same series' level whatever season it is measured against."""
    state.season = season
    state.recent = [actual - expected_at(ts) for ts, actual in state.recent_values or ()]


def advance(
    state: TrackerState,
    ts: int,
    actual: float,
    expected: float = 0.0,
    *,
    direction: Direction = "both",
) -> Signal:
    """Takes one period into `state` (mutated in place: this runs for every period of every
    series) and says how anomalous it was. `expected` is the baseline's seasonal expectation
    (0 without one)."""
    state.seen += 1
    residual_now = actual - expected
    recent = state.recent
    if recent is None:
        recent = state.recent = []
    values = state.recent_values
    if values is None:
        values = state.recent_values = []
    if len(recent) < 3:
        recent.append(residual_now)
        values.append((ts, actual))
        state.low = actual if state.low is None else min(state.low, actual)
        state.high = actual if state.high is None else max(state.high, actual)
        return Signal(actual, 0.0, 0.0, 0.0, 0.0, False, 0.0, False)
    ordered = sorted(recent)
    level = ordered[len(ordered) // 2]
    predicted = expected + level
    error = actual - predicted
    magnitude = state.magnitude
    magnitude = (
        abs(actual)
        if magnitude is None
        else magnitude + (abs(actual) - magnitude) / min(state.seen, MAGNITUDE_MEMORY)
    )
    state.magnitude = magnitude
    floor = SPREAD_FLOOR * magnitude + 1e-9
    spread = state.spread
    if spread is None:
        spread = abs(error) + floor
    width_now = max(spread, floor)
    side = error if direction == "up" else -error if direction == "down" else abs(error)
    deviation = min(max(side, 0.0) / width_now, DEVIATION_CAP)
    state.spread = spread + (min(abs(error), 5.0 * spread) - spread) / SPREAD_MEMORY

    recent.append(residual_now)
    values.append((ts, actual))
    if len(recent) > LEVEL_PERIODS:
        del recent[0]
        del values[0]
    short = state.short
    if short is None:
        short = state.short = []
    short.append(deviation)
    if len(short) > SHORT_PERIODS:
        del short[0]
    short_mean = sum(short) / len(short)
    mean = state.mean
    if mean is None:
        mean = deviation
    variance = state.variance
    sd = math.sqrt(variance if variance > _MIN_VARIANCE else _MIN_VARIANCE)
    # the recent run of deviations, or this period alone (discounted) when it breaks sharply
    likelihood = max(short_mean - mean, INSTANT_WEIGHT * (deviation - mean)) / sd
    delta = deviation - mean
    state.mean = mean + delta / LIKELIHOOD_MEMORY
    state.variance = variance + (delta * delta - variance) / LIKELIHOOD_MEMORY

    low, high = state.low, state.high
    assert low is not None and high is not None
    width = high - low
    beyond = False
    if width > 0:
        above = (actual - high) / width
        below = (low - actual) / width
        excess = above if direction == "up" else below if direction == "down" else max(above, below)
        beyond = excess > RANGE_MARGIN
    if actual < low:
        state.low = actual
    elif actual > high:
        state.high = actual

    score = likelihood / (likelihood + SCORE_KNEE) if likelihood > 0 else 0.0
    warm = state.seen > WARMUP_PERIODS
    if beyond and warm:
        score = 0.5 + 0.5 * score
    fresh = state.last_trigger is None or state.seen - state.last_trigger >= HOLD_PERIODS
    if not fresh:
        score *= HOLD_DAMPING
    if likelihood > SCORE_KNEE and fresh:
        state.last_trigger = state.seen
    return Signal(
        predicted,
        width_now,
        error / width_now,
        deviation,
        likelihood,
        beyond,
        score if warm else 0.0,
        warm,
    )
