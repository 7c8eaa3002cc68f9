"""One evaluation tick, as pure logic: window -> scores -> state transitions (incidents and
notifications follow in domain.incidents)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from iotwatch.domain.baseline.model import Baseline, share_expectation, share_noise_floor
from iotwatch.domain.deviation import (
    AlertState,
    Band,
    PeriodScore,
    Transition,
    band_of,
    decide,
    limit_crossed,
    score_period,
)
from iotwatch.domain.likelihood import (
    ALERT_LIKELIHOOD,
    DEFAULT_WARNING,
    HOLD_PERIODS,
    TrackerState,
    advance,
    reseason,
)
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.domain.silences import Silence
from iotwatch.domain.slow_change import overlay as slow_change_overlay

DEFAULT_CATCH_UP = 6 * 3600  # `frequency.catch_up`: seconds of missed ticks a run evaluates first


class Window(NamedTuple):
    """A run of whole periods (a tuple: replay makes one per row)."""

    start: int  # first period start, inclusive
    end: int  # last period end, exclusive
    period: int

    @property
    def period_starts(self) -> list[int]:
        return list(range(self.start, self.end, self.period))


def evaluation_window(event_time: float, *, period: int, settle_seconds: int, periods: int) -> Window:
    """The last `periods` complete periods before `event_time`, allowing CloudWatch
    `settle_seconds` to finish aggregating the newest one."""
    end = int((event_time - settle_seconds) // period) * period
    return Window(start=end - periods * period, end=end, period=period)


@dataclass(frozen=True)
class Gap:
    """Ticks that iotwatch did not evaluate on time (it was down, or every run failed), as the
    run that caught up on them tells it. Epoch seconds, window ends."""

    start: int  # the first window no run completed
    end: int  # the window of the run that caught up
    caught_up_from: int  # the first window it caught up on: `start`, unless the gap was longer than the span

    @property
    def not_evaluated(self) -> int:
        """Seconds of windows never evaluated: what lay before the catch-up span."""
        return self.caught_up_from - self.start


def catch_up_windows(
    window: Window, *, last_completed: int | None, span: int, cadence: int
) -> tuple[list[Window], Gap | None]:
    """The windows a run evaluates, oldest first: the ones no run completed since the window
    ending at `last_completed`, period by period (at most `span` seconds of them), then its own.

    Each missed window is evaluated as its tick would have been, so the detector takes in every
    period once, in order, and the incidents see the news in time order. Without a completed
    window to start from (the first run), or when the last one is at most one `cadence` back,
    only the run's own window; a window at or before the last completed one is superseded (an
    empty list)."""
    if last_completed is None or window.end - last_completed <= max(cadence, window.period):
        return ([window] if last_completed is None or window.end > last_completed else []), None
    period = window.period
    start = last_completed + period
    gap = Gap(start, window.end, max(start, window.end - span // period * period))
    return [*missed_windows(window, gap), window], gap


def missed_windows(window: Window, gap: Gap) -> list[Window]:
    """The windows before `window` that a run catching up on `gap` evaluates, oldest first:
    one per period, as long as `window`."""
    length = window.end - window.start
    return [
        Window(end - length, end, window.period)
        for end in range(gap.caught_up_from, window.end, window.period)
    ]


def lookback_periods(series: Iterable[Series]) -> int:
    return (
        max((max(s.detection.pending_periods, s.detection.recovery_periods) for s in series), default=2) + 1
    )


@dataclass(slots=True)  # not frozen: built for every series on every tick (see PeriodScore)
class SeriesOutcome:
    series: Series
    scores: list[PeriodScore]
    state: AlertState
    transition: Transition | None  # what `decide` found: firing, escalated or resolved
    status: str  # "ok" | "firing" | "learning" | "already-evaluated"
    silence: Silence | None = None  # the silence covering the series at this tick


def evaluate_series(
    series: Series,
    *,
    datapoints: Sequence[tuple[int, float]],
    baseline: Baseline | None,
    state: AlertState | None,
    window: Window,
    score_memo: dict[tuple[int, float], PeriodScore] | None = None,
    tracker: TrackerState | None = None,
    attempts: Mapping[int, float] | None = None,
) -> SeriesOutcome:
    """`score_memo` (replay only) keeps scores of periods seen in earlier windows under the
    same baseline; a score depends only on the period, its value, the baseline and the
    tracker's verdict, which is given once.

    `tracker` (mutated: it takes in each period once, oldest first) decides, once it has seen
    enough of the series, which deviations are anomalous for this series (see likelihood).

    `attempts`: a ratio series' attempts per period start (domain.ratios.attempts_of): each
    share's band is at least its sampling noise, and its score says how many there were."""
    state = state or AlertState(series_id=series.id)
    if state.last_evaluated is not None and state.last_evaluated >= window.end:
        return SeriesOutcome(series, [], state, None, "already-evaluated")
    if baseline is None or not baseline.usable:
        if tracker is not None:
            _track_unscored(tracker, datapoints, series, window)
        return SeriesOutcome(series, [], state, None, "learning")
    values = dict(datapoints)
    detection = series.detection
    if detection.missing_data != "zero" or not baseline.counts:
        # a gauge (a CPU %, a latency, a share) without a datapoint was not measured, not zero
        return _evaluate_with_missing_data(series, values, baseline, state, window, tracker, attempts)
    scores = []
    for ts in range(window.start, window.end, window.period):  # window.period_starts, without the list
        actual = values.get(ts, 0.0)
        key = (ts, actual)
        score = score_memo.get(key) if score_memo is not None else None
        if score is None:
            band = band_of(ts, actual, baseline.expectation_at(ts), detection)
            # a missing period is the band's to judge
            verdict = (
                judge(tracker, band, detection, baseline=baseline, period=window.period)
                if tracker is not None and ts in values
                else None
            )
            score = PeriodScore(*band, verdict)
            if score_memo is not None:
                score_memo[key] = score  # judged: a period's verdict never changes
        scores.append(score)
    if baseline.slow_change is not None:
        scores = slow_change_overlay(scores, baseline.slow_change, detection)
    new_state, transition = decide(state, scores, detection, period=window.period)
    return _outcome(series, scores, new_state, transition, tracker)


def _outcome(
    series: Series,
    scores: list[PeriodScore],
    state: AlertState,
    transition: Transition | None,
    tracker: TrackerState | None,
) -> SeriesOutcome:
    if tracker is not None and transition is not None and transition.kind == "resolved":
        tracker.resolved_at = transition.at  # a new alert right after needs more (REFIRE_FACTOR)
    return SeriesOutcome(series, scores, state, transition, state.status)


def judge(
    tracker: TrackerState,
    score: Band,
    detection: DetectionSettings,
    *,
    baseline: Baseline,
    period: int,
) -> str | None:
    """The tracker's verdict on the period: "drop" or "surge" when anomalous for this series
    (see
    likelihood), where the volume gate allows and the change is at least the plan's
    `min_relative_change` (or the band already flags it); no verdict until the tracker has
    seen enough of the series, and then the band's severity alone decides. A period is judged
    once, when the tracker takes it in; a later tick that re-reads it gets the same verdict."""
    counts = baseline.counts
    verdicts = tracker.verdicts
    if verdicts is None:
        verdicts = tracker.verdicts = {}
    ts = score.ts
    if tracker.next_ts is None or ts >= tracker.next_ts:
        if tracker.season != baseline.built_at:
            reseason(tracker, baseline.built_at, lambda at: baseline.expectation_at(at).expected)
        signal = advance(
            tracker,
            ts,
            score.actual,
            score.expected,
            direction=detection.direction,  # type: ignore[arg-type]
            period=period,
        )
        tracker.next_ts = ts + period
        tracker.latest_score = signal.anomaly_score
        verdict: str | None = None
        if signal.warm:
            threshold = ALERT_LIKELIHOOD * detection.warning / DEFAULT_WARNING
            if counts and score.severity is not None and score.score < 0:
                # a counter's traffic below the season's band too: less surprise will do
                threshold *= BAND_SUPPORT
            settling = tracker.resolved_at is not None and ts - tracker.resolved_at < HOLD_PERIODS * period
            # a growing fleet sets a counter's highs every week: only one the band agrees with counts
            records = not counts or signal.signed < 0 or score.severity is not None
            anomalous = (
                signal.anomalous(threshold, settling=settling, records=records)
                and (
                    score.severity is not None or abs(score.relative_change) >= detection.min_relative_change
                )
                and not (settling and _returning(score, signal.predicted))
            ) or _outage(score, counts)
            verdict = (
                ("drop" if signal.signed < 0 else "surge")
                if anomalous and _may_page(score, detection, counts)
                else ""
            )
            # a known limit pages whatever the tracker expects (it learns a nightly dip as normal)
            verdict = verdict or limit_crossed(score.actual, detection) or ""
        verdicts[ts] = verdict
        if len(verdicts) > VERDICTS_KEPT:
            del verdicts[next(iter(verdicts))]  # periods are taken in order: the first is the oldest
        return verdict
    return verdicts.get(ts)


VERDICTS_KEPT = 16  # periods: more than any pending/recovery window re-reads


def _outage(score: Band, counts: bool) -> bool:
    """Half of a counter's traffic gone, critically far below the band, needs no statistics of
    its own (a gauge halves all the time: an idle CPU is no outage)."""
    return counts and score.severity == "critical" and score.relative_change <= -OUTAGE_DROP


OUTAGE_DROP = 0.5
BAND_SUPPORT = 0.5


def _returning(score: Band, predicted: float) -> bool:
    """Back within the band, nearer what this hour usually looks like than the level the
    series had drifted to: right after an alert resolved, that is the end of the deviation (a
    fleet reconnecting after an outage), not a new one, however surprising the jump is."""
    return (
        score.severity is None
        and score.source != "none"
        and abs(score.actual - score.expected) < abs(predicted - score.expected)
    )


def _may_page(score: Band, detection: DetectionSettings, counts: bool) -> bool:
    """The volume gate, for counters: a handful of events per period can be any z away."""
    return not counts or max(score.actual, score.expected) >= detection.min_volume


def share_score(score: PeriodScore, attempts: float, detection: DetectionSettings) -> PeriodScore:
    """A share's period with its attempts, through two gates before it can page (the band or
    the tracker): at least `min_volume` attempts failed, or were expected to (the counters'
    volume gate on what failed: two failures of a hundred attempts at night are a device, not
    the fleet); and the change is beyond chance for this many attempts, `warning` times the
    share's sampling noise (after the fleet halves, the share is noisier than the tracker has
    learnt). The plan's absolute limits page regardless."""
    noise = share_noise_floor(score.expected, attempts)
    if (
        max(score.actual, score.expected) * attempts >= detection.min_volume
        and abs(score.actual - score.expected) >= detection.warning * noise
    ):
        return replace(score, attempts=attempts)
    limit = limit_crossed(score.actual, detection)
    return replace(
        score,
        severity="warning" if limit else None,
        # the tracker's verdict yields to the gates, never to a known limit
        anomaly=limit if limit and score.anomaly is not None else ("" if score.anomaly else score.anomaly),
        attempts=attempts,
    )


def _track_unscored(
    tracker: TrackerState, datapoints: Sequence[tuple[int, float]], series: Series, window: Window
) -> None:
    """While the baseline is learning the tracker still learns the series, without a season."""
    for ts, value in datapoints:
        if window.start <= ts < window.end and (tracker.next_ts is None or ts >= tracker.next_ts):
            if tracker.season is not None:
                reseason(tracker, None, lambda _ts: 0.0)
            advance(tracker, ts, value, direction=series.detection.direction, period=window.period)  # type: ignore[arg-type]
            tracker.next_ts = ts + window.period


def _evaluate_with_missing_data(
    series: Series,
    values: Mapping[int, float],
    baseline: Baseline,
    state: AlertState,
    window: Window,
    tracker: TrackerState | None = None,
    attempts: Mapping[int, float] | None = None,
) -> SeriesOutcome:
    """missing_data `ignore`: a period without datapoint is left out, so it neither extends a
    deviation nor a recovery (both still look only within the window). `breaching`: it is
    scored as zero traffic and counts as a deviating drop whenever traffic was expected.
    `attempts`: a share's (see evaluate_series)."""
    detection = series.detection
    breaching = detection.missing_data == "breaching"
    scores = []
    for ts in range(window.start, window.end, window.period):
        actual = values.get(ts)
        if actual is not None:
            expectation = baseline.expectation_at(ts)
            tried = attempts.get(ts) if attempts is not None else None
            if tried is not None:
                expectation = share_expectation(expectation, tried)
            band = band_of(ts, actual, expectation, detection)
            verdict = (
                judge(tracker, band, detection, baseline=baseline, period=window.period)
                if tracker is not None
                else None
            )
            score = PeriodScore(*band, verdict)
            scores.append(score if tried is None else share_score(score, tried, detection))
            continue
        if not breaching:
            continue
        expectation = baseline.expectation_at(ts)
        score = score_period(ts, 0.0, expectation, detection)
        expected = expectation.expected
        if (
            score.severity is None
            and expected > 0
            and (not expectation.counts or expected >= detection.min_volume)
        ):
            score = PeriodScore(
                ts,
                0.0,
                expected,
                score.lower,
                score.upper,
                score.score,
                score.relative_change,
                "warning",
                score.source,
            )
        scores.append(score)
    if baseline.slow_change is not None:
        scores = slow_change_overlay(scores, baseline.slow_change, detection)
    new_state, transition = decide(state, scores, detection, period=window.period, at=window.end)
    return _outcome(series, scores, new_state, transition, tracker)


def attach_silences(
    outcomes: Sequence[SeriesOutcome], *, silence_of: Callable[[Series], Silence | None]
) -> list[SeriesOutcome]:
    """Each outcome with something to say (a transition, or a firing state) with the silence
    covering its series; the incidents decide what that holds back (domain.incidents). Looks a
    silence up only for those, so quiet ticks stay cheap."""
    out: list[SeriesOutcome] = []
    for outcome in outcomes:
        if outcome.transition is None and outcome.state.status != "firing":
            out.append(outcome)
            continue
        silence = silence_of(outcome.series)
        out.append(outcome if silence is None else replace(outcome, silence=silence))
    return out
