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
4. Excursion: the deviation against the largest one of the last EXCURSION_MEMORY periods
   (single periods and runs of SHORT_PERIODS, a slowly decaying maximum per side). Twice the
   largest excursion of the last two weeks adds EXCURSION_WEIGHT x ln 2 to the likelihood,
   a fifth of it takes about three off: a burst as big as any seen lately is what this series
   does, a first-of-its-kind one stands out, whatever the statistics of the deviations say.
5. Range: a value beyond anything the tracker has seen (by RANGE_MARGIN of the range) is a
   record: it scores at least 0.5 and needs less likelihood to be anomalous.

After a trigger the score is halved for HOLD_PERIODS, so one incident ranks as one event and
only something bigger can rise above it. Direction restricts which side counts. Whether a
period pages is `Signal.anomalous` at the plan's threshold (see domain.evaluation.judge).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

Direction = Literal["both", "up", "down"]

LEVEL_PERIODS = 24  # two hours at 5-minute periods
SHORT_PERIODS = 6
SPREAD_MEMORY = 288  # periods (a day at 5 minutes): how fast "how wide normal is" follows
LIKELIHOOD_SECONDS = 7 * 86400  # a week, whatever the period: what "usual deviations" are
EXCURSION_MEMORY = 4032  # periods (two weeks at 5 minutes): how long the largest excursion counts
EXCURSION_WEIGHT = 2.0  # likelihood per e-fold of excursion against the largest remembered
EXCURSION_CLAMP = (
    0.5,
    20.0,
)  # a burst within half the largest is at most ~1.4 less surprising; 20x says it all
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
ALERT_LIKELIHOOD = 4.5  # at the plan's default sensitivity (warning 4), which scales it
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
    ordered: list[float] | None = None  # the same residuals in ascending order (the level's median)
    recent_values: list[tuple[int, float]] | None = None  # the same periods' (start, actual)
    season: int | None = None  # which baseline the residuals are against (its build time)
    spread: float | None = None
    magnitude: float | None = None
    mean: float | None = None  # of deviations, over LIKELIHOOD_SECONDS
    variance: float = 1.0
    short: deque[float] | None = None  # last SHORT_PERIODS deviations
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
    period: int | None = None  # seconds, as the last period taken in was judged
    errors: deque[float] | None = None  # last SHORT_PERIODS (actual - predicted)
    # the largest excursions remembered (decaying): up, down, and the same for runs of
    # SHORT_PERIODS; then the last SHORT_PERIODS periods' excursion ratios on the watched side
    largest: list[float] | None = None
    excursions: deque[float] | None = None

    def to_record(self) -> dict[str, object]:
        """A compact JSON-able record (with its key, under one 1 KB DynamoDB write unit): the
        running statistics exactly, the remembered periods to 9 significant digits."""
        return {
            "n": self.seen,
            # the residuals are not stored: they follow from the values and the baseline (reseason);
            # times as seconds before next_ts keep the record small
            "rv": [[(self.next_ts or 0) - ts, _short(v)] for ts, v in self.recent_values or ()],
            "s": self.spread,
            "m": self.magnitude,
            "u": self.mean,
            "v": self.variance,
            "w": [_short(v) for v in self.short or ()],
            "lo": self.low,
            "hi": self.high,
            "t": self.last_trigger,
            "x": self.next_ts,
            "p": self.period,
            "j": _verdict_slots(self.verdicts, self.next_ts, self.period),
            "e": self.resolved_at,
            "er": [_short(v) for v in self.errors or ()],
            "lg": [_short(v) for v in self.largest or ()],
            "xr": [_short(v) for v in self.excursions or ()],
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> TrackerState:
        def number(key: str) -> float | None:
            value = record.get(key)
            return None if value is None else float(value)  # type: ignore[arg-type]

        def numbers(key: str) -> list[float]:
            return [float(v) for v in record.get(key) or ()]  # type: ignore[attr-defined]

        def last_periods(key: str) -> deque[float]:
            return deque(numbers(key), maxlen=SHORT_PERIODS)

        def integer(key: str) -> int | None:
            value = record.get(key)
            return None if value is None else int(value)  # type: ignore[call-overload]

        next_ts = integer("x")
        period = integer("p")
        return cls(
            seen=int(record.get("n", 0)),  # type: ignore[call-overload]
            recent=None,  # re-expressed against whichever baseline the next period is judged with
            recent_values=[(int(next_ts or 0) - int(ago), float(v)) for ago, v in record.get("rv", ())],  # type: ignore[call-overload,attr-defined]
            season=UNSEASONED,
            spread=number("s"),
            magnitude=number("m"),
            mean=number("u"),
            variance=float(record.get("v", 1.0)),  # type: ignore[arg-type]
            short=last_periods("w"),
            low=number("lo"),
            high=number("hi"),
            last_trigger=integer("t"),
            next_ts=next_ts,
            period=period,
            verdicts=_verdicts_of(record.get("j"), next_ts, period),
            resolved_at=integer("e"),
            errors=last_periods("er"),
            largest=numbers("lg") or None,
            excursions=last_periods("xr"),
        )


def _short(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.9g}")


_VERDICT_CODES = {"drop": "d", "surge": "s", "": ".", None: "-"}
_CODE_VERDICTS = {code: verdict for verdict, code in _VERDICT_CODES.items()}
VERDICT_SLOTS = 64  # periods back from the next one: older verdicts are never re-read


def _verdict_slots(verdicts: dict[int, str | None] | None, next_ts: int | None, period: int | None) -> str:
    """The verdicts as one character per period, newest first (' ': none kept for it)."""
    if not verdicts or next_ts is None or not period:
        return ""
    slots = [" "] * VERDICT_SLOTS
    for ts, verdict in verdicts.items():
        back = (next_ts - ts) // period - 1
        if 0 <= back < VERDICT_SLOTS:
            slots[back] = _VERDICT_CODES[verdict]
    return "".join(slots).rstrip()


def _verdicts_of(slots: object, next_ts: int | None, period: int | None) -> dict[int, str | None]:
    if not isinstance(slots, str) or next_ts is None or not period:
        return {}
    kept = [(next_ts - (back + 1) * period, code) for back, code in enumerate(slots) if code != " "]
    return {ts: _CODE_VERDICTS[code] for ts, code in reversed(kept)}  # oldest first, as judged


class Signal(NamedTuple):
    """One period's verdict material (a tuple: one per period of every series)."""

    predicted: float  # the baseline's expectation moved to the series' current level
    spread: float  # how wide normal is around `predicted`, in the series' units
    signed: float  # (actual - predicted) / spread
    deviation: float  # |actual - predicted| in spreads (on the watched side; 0 on the other)
    likelihood: (
        float  # z of the recent deviations against the series' own history, with the excursion's share
    )
    beyond_range: bool  # outside every value seen so far, by RANGE_MARGIN of the range
    anomaly_score: float  # graded, in [0, 1): 0.5 at SCORE_KNEE or beyond the range
    warm: bool  # seen enough periods to judge
    excursion: float = 0.0  # the recent excursion over the largest of the last EXCURSION_MEMORY periods

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
    state.ordered = sorted(state.recent)


def advance(
    state: TrackerState,
    ts: int,
    actual: float,
    expected: float = 0.0,
    *,
    direction: Direction = "both",
    period: int = 300,
) -> Signal:
    """Takes one period into `state` (mutated in place: this runs for every period of every
    series) and says how anomalous it was. `expected` is the baseline's seasonal expectation
    (0 without one); `period` the series' period in seconds."""
    state.seen += 1
    state.period = period
    residual_now = actual - expected
    recent = state.recent
    if recent is None:
        recent = state.recent = []
    ordered = state.ordered
    if ordered is None:
        ordered = state.ordered = sorted(recent)
    values = state.recent_values
    if values is None:
        values = state.recent_values = []
    if len(recent) < 3:
        return _first_periods(state, ts, actual, residual_now)
    level = ordered[len(ordered) // 2]
    predicted = expected + level
    error = actual - predicted
    width_now, deviation = _deviation(state, actual, error, direction)

    recent.append(residual_now)
    insort(ordered, residual_now)
    values.append((ts, actual))
    if len(recent) > LEVEL_PERIODS:
        del ordered[bisect_left(ordered, recent[0])]
        del recent[0]
        del values[0]
    likelihood = _deviation_likelihood(state, deviation, period)
    excursion = _excursion(state, error, width_now, direction)
    low_clamp, high_clamp = EXCURSION_CLAMP
    clamped = low_clamp if excursion < low_clamp else high_clamp if excursion > high_clamp else excursion
    likelihood += EXCURSION_WEIGHT * math.log(clamped)
    beyond = _beyond_range(state, actual, direction)

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
        excursion,
    )


def _first_periods(state: TrackerState, ts: int, actual: float, residual_now: float) -> Signal:
    """The first three periods only fill the level's window and the range: no judgement yet."""
    assert state.recent is not None and state.ordered is not None and state.recent_values is not None
    state.recent.append(residual_now)
    insort(state.ordered, residual_now)
    state.recent_values.append((ts, actual))
    state.low = actual if state.low is None else min(state.low, actual)
    state.high = actual if state.high is None else max(state.high, actual)
    return Signal(actual, 0.0, 0.0, 0.0, 0.0, False, 0.0, False)


def _deviation(state: TrackerState, actual: float, error: float, direction: Direction) -> tuple[float, float]:
    """(the spread the error is measured in, the capped deviation on the watched side); takes
    the period into the running magnitude and spread."""
    # conditional expressions rather than min/max calls below: this runs for every period
    size = actual if actual >= 0.0 else -actual
    magnitude = state.magnitude
    if magnitude is None:
        magnitude = size
    else:
        seen = state.seen
        magnitude += (size - magnitude) / (seen if seen < MAGNITUDE_MEMORY else MAGNITUDE_MEMORY)
    state.magnitude = magnitude
    floor = SPREAD_FLOOR * magnitude + 1e-9
    size_of_error = error if error >= 0.0 else -error
    spread = state.spread
    if spread is None:
        spread = size_of_error + floor
    width_now = spread if spread > floor else floor
    side = error if direction == "up" else -error if direction == "down" else size_of_error
    deviation = side / width_now if side > 0.0 else 0.0
    if deviation > DEVIATION_CAP:
        deviation = DEVIATION_CAP
    capped_error = size_of_error if size_of_error < 5.0 * spread else 5.0 * spread
    state.spread = spread + (capped_error - spread) / SPREAD_MEMORY
    return width_now, deviation


def _deviation_likelihood(state: TrackerState, deviation: float, period: int) -> float:
    """The recent run of deviations against their usual mean and spread (before the excursion
    term); takes the deviation into those statistics."""
    short = state.short = _rolling(state.short, deviation)
    short_mean = sum(short) / len(short)
    mean = state.mean
    if mean is None:
        mean = deviation
    variance = state.variance
    sd = math.sqrt(variance if variance > _MIN_VARIANCE else _MIN_VARIANCE)
    # the recent run of deviations, or this period alone (discounted) when it breaks sharply
    likelihood = max(short_mean - mean, INSTANT_WEIGHT * (deviation - mean)) / sd
    delta = deviation - mean
    memory = LIKELIHOOD_SECONDS // period or 1
    state.mean = mean + delta / memory
    state.variance = variance + (delta * delta - variance) / memory
    return likelihood


def _beyond_range(state: TrackerState, actual: float, direction: Direction) -> bool:
    """Whether `actual` is a record (beyond the range seen by RANGE_MARGIN); widens the range."""
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
    return beyond


def _rolling(window: deque[float] | None, value: float) -> deque[float]:
    """`window` (a new one when None) with `value` taken in: the last SHORT_PERIODS."""
    if window is None:
        window = deque(maxlen=SHORT_PERIODS)
    window.append(value)
    return window


_EXCURSION_DECAY = 1.0 - 1.0 / EXCURSION_MEMORY


def _excursion(state: TrackerState, error: float, width: float, direction: Direction) -> float:
    """How this period's excursion (alone, and as the mean of the last SHORT_PERIODS) compares
    with the largest of the last EXCURSION_MEMORY periods on the watched side: above 1 it is the
    largest in that time. Then remembers it: the largest decay slowly, never below a spread."""
    errors = state.errors = _rolling(state.errors, error)
    run = sum(errors) / len(errors)
    largest = state.largest
    if largest is None:
        largest = state.largest = [max(error, 0.0) + width, max(-error, 0.0) + width] * 2
        largest[2:] = [max(run, 0.0) + width, max(-run, 0.0) + width]
    up, down, run_up, run_down = largest
    if direction == "up":
        now, run_ratio = error / up, run / run_up
    elif direction == "down":
        now, run_ratio = -error / down, -run / run_down
    else:
        now = error / up if error >= 0.0 else -error / down
        run_ratio = run / run_up if run >= 0.0 else -run / run_down
    excursions = state.excursions = _rolling(state.excursions, now)
    # the largest decay, take in this period, and never fall below a spread
    decay = _EXCURSION_DECAY
    up, down, run_up, run_down = up * decay, down * decay, run_up * decay, run_down * decay
    if error > 0.0:
        up = error if error > up else up
    else:
        down = -error if -error > down else down
    if run > 0.0:
        run_up = run if run > run_up else run_up
    else:
        run_down = -run if -run > run_down else run_down
    largest[0] = up if up > width else width
    largest[1] = down if down > width else width
    largest[2] = run_up if run_up > width else width
    largest[3] = run_down if run_down > width else width
    recent = max(excursions)
    return recent if recent > run_ratio else run_ratio
