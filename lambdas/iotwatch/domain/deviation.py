"""Scoring one period against its baseline, and deciding when a series is alerting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, NamedTuple

from iotwatch.domain.baseline.model import Expectation
from iotwatch.domain.series import DetectionSettings

if TYPE_CHECKING:
    from iotwatch.domain.slow_change import SlowChange

Severity = Literal["warning", "critical"]
Direction = Literal["drop", "surge"]
SEVERITY_RANK = {None: 0, "warning": 1, "critical": 2}
FALLBACK_MIN_RELATIVE_CHANGE = 0.5
SETTLED_CHANGE = 0.2


@dataclass(slots=True)  # not frozen: a frozen one costs 5x to build, and one is built for every
class PeriodScore:  # period of every series; treated as immutable all the same (decision log)
    ts: int
    actual: float
    expected: float
    lower: float  # edges of the warning band, for display
    upper: float
    score: float  # signed robust z-score: negative below normal
    relative_change: float  # (actual - expected) / expected; inf when nothing was expected
    severity: Severity | None
    source: str
    # the likelihood tracker's verdict (see domain.likelihood): "drop" or "surge" when the
    # period is anomalous for this series, "" when it is not, None where it did not judge (and
    # then the band's severity alone says whether the period deviates)
    anomaly: str | None = None
    # a ratio series' attempts in the period (the share's denominator), for the messages
    attempts: float | None = None
    # set when the slow-change model, not the band or the tracker, made the period deviate
    slow_change: SlowChange | None = None

    @property
    def direction(self) -> Direction:
        if self.anomaly:
            return self.anomaly  # type: ignore[return-value]
        return "drop" if self.score < 0 else "surge"

    @property
    def alerting(self) -> bool:
        """Whether this period can start an alert, or escalate one."""
        return self.severity is not None if self.anomaly is None else bool(self.anomaly)

    def keeps(self, direction: Direction) -> bool:
        """Whether this period keeps an alert of `direction` from resolving: outside the band
        (to the band an outage that lasts hours is no new normal), or anomalous the same way
        (a surge back to normal after an outage is the tracker's surprise, not the incident)."""
        if self.severity is not None:
            return True
        if self.anomaly != direction:
            return False
        # after an incident the tracker's recent deviations stay high for a while; a period
        # back within a fifth of what the band expects is the incident over, not more of it
        return abs(self.relative_change) >= SETTLED_CHANGE


def limit_crossed(actual: float, detection: DetectionSettings) -> Direction | None:
    """The side of the series' absolute limit (`above` / `below`) `actual` is on, if beyond one:
    a known limit pages whatever the band or the tracker make of the period."""
    if detection.above is not None and actual > detection.above:
        return "surge"
    if detection.below is not None and actual < detection.below:
        return "drop"
    return None


class Band(NamedTuple):
    """A period against its baseline, before the tracker's verdict (a tuple: one is built for
    every period of every series, and the verdict needs it before the PeriodScore exists)."""

    ts: int
    actual: float
    expected: float
    lower: float
    upper: float
    score: float
    relative_change: float
    severity: Severity | None
    source: str


def score_period(
    ts: int,
    actual: float,
    expectation: Expectation,
    detection: DetectionSettings,
    anomaly: str | None = None,
) -> PeriodScore:
    """The period's score against its baseline, with the tracker's verdict `anomaly` if it gave one."""
    return PeriodScore(*band_of(ts, actual, expectation, detection), anomaly)


def band_of(ts: int, actual: float, expectation: Expectation, detection: DetectionSettings) -> Band:
    """Where the period lies against the baseline's band, and how far (see score_period)."""
    expected, scale, source = expectation.expected, max(expectation.scale, 1e-9), expectation.source
    score = (actual - expected) / scale
    if expected > 0:
        relative = (actual - expected) / expected
    else:
        relative = math.inf if actual > 0 else 0.0
    severity: Severity | None = None
    # min_volume is a count per period: it means nothing for a gauge (a CPU %, a latency)
    volume_ok = not expectation.counts or max(actual, expected) >= detection.min_volume
    min_change = detection.min_relative_change
    if source != "hour-of-week":
        # Without a week of history a weekend looks like an outage; only big changes can page.
        min_change = max(min_change, FALLBACK_MIN_RELATIVE_CHANGE)
    change_ok = abs(relative) >= min_change
    if volume_ok and change_ok and source != "none":
        if abs(score) >= detection.critical:
            severity = "critical"
        elif abs(score) >= detection.warning:
            severity = "warning"
    direction = detection.direction
    if severity is not None and ((direction == "up" and score < 0) or (direction == "down" and score > 0)):
        severity = None  # the side this metric does not page on
    if limit_crossed(actual, detection) is not None:
        severity = severity or "warning"  # a known limit pages even where the baseline is unsure
    band = detection.warning * scale
    # positional: keywords would cost a microsecond on every replayed row
    return Band(
        ts, actual, expected, max(expected - band, 0.0), expected + band, score, relative, severity, source
    )


@dataclass(frozen=True, slots=True)
class AlertState:
    """What the evaluator remembers about one series between runs (who was paged about it is
    its incident's business: domain.incidents)."""

    series_id: str
    status: Literal["ok", "firing"] = "ok"
    severity: Severity | None = None
    since: int | None = None  # first deviating period of the incident
    peak_score: float = 0.0
    last_evaluated: int | None = None  # end of the last evaluated period
    revision: int = 0  # optimistic-locking counter for the store


@dataclass(frozen=True, slots=True)
class Transition:
    kind: Literal["firing", "escalated", "resolved"]
    series_id: str
    severity: Severity
    since: int
    at: int  # end of the period that caused the transition
    peak_score: float
    latest: PeriodScore
    ended: int = 0  # resolved only: start of the first normal period

    def __post_init__(self) -> None:
        if not self.ended:
            object.__setattr__(self, "ended", self.at)


def decide(
    state: AlertState,
    recent: Sequence[PeriodScore],
    detection: DetectionSettings,
    *,
    period: int,
    at: int | None = None,
) -> tuple[AlertState, Transition | None]:
    """Advances one series' alert state from the most recent scored periods (oldest first).

    Fires when the last `pending_periods` periods all deviate in the same direction; the
    severity is the mildest of them, so one spike cannot page as critical. Resolves when the
    last `recovery_periods` periods are all within the band. `at` (default: the end of the
    latest period) is the evaluation instant when `recent` skips periods (missing_data: ignore).
    """
    if not recent:
        return state, None
    latest = recent[-1]
    if at is None:
        at = latest.ts + period
    alerting = latest.alerting  # settles almost every tick without the checks after it
    pending = list(recent[-detection.pending_periods :]) if alerting else []
    deviating = (
        alerting
        and len(pending) == detection.pending_periods
        and all(p.alerting for p in pending)
        and len({p.direction for p in pending}) == 1
    )
    if state.status == "ok":
        if not deviating:
            # the hot path of every evaluation: no dataclasses.replace (it costs ~5x a constructor)
            return AlertState(state.series_id, "ok", None, None, 0.0, at, state.revision), None
        severity: Severity = _mildest(pending)
        peak = max(pending, key=lambda p: abs(p.score)).score
        # the incident began where the run of same-direction deviations began, which can be
        # before the pending periods when a page is decided late (e.g. after a failed run)
        since = pending[0].ts
        for p in reversed(recent):
            if not p.keeps(latest.direction) or p.direction != latest.direction:
                break
            since = p.ts
        new = replace(
            state, status="firing", severity=severity, since=since, peak_score=peak, last_evaluated=at
        )
        return new, Transition("firing", state.series_id, severity, since, at, peak, latest)

    # firing
    since = state.since if state.since is not None else latest.ts
    heading: Direction = "drop" if state.peak_score < 0 else "surge"
    # the incident's own direction only: the reconnect burst after an outage is not its peak
    peak = max(
        (state.peak_score, *(p.score for p in recent if p.keeps(heading) and p.direction == heading)), key=abs
    )
    recovering = list(recent[-detection.recovery_periods :])
    if len(recovering) == detection.recovery_periods and not any(p.keeps(heading) for p in recovering):
        new = AlertState(series_id=state.series_id, last_evaluated=at, revision=state.revision)
        # the whole trailing run of normal periods: a resolve re-decided after a failed
        # publish sees more of them than recovery_periods
        ended = recovering[0].ts
        for p in reversed(recent):
            if p.keeps(heading):
                break
            ended = p.ts
        return new, Transition(
            "resolved", state.series_id, state.severity or "warning", since, at, peak, latest, ended=ended
        )
    current = state.severity or "warning"
    if deviating and latest.direction == heading:  # a reconnect burst does not escalate an outage
        level = _mildest(pending)
        if SEVERITY_RANK[level] > SEVERITY_RANK[current]:
            new = replace(state, severity=level, peak_score=peak, last_evaluated=at)
            return new, Transition("escalated", state.series_id, level, since, at, peak, latest)
    return replace(state, peak_score=peak, last_evaluated=at), None


def _mildest(pending: Sequence[PeriodScore]) -> Severity:
    """The severity a run of alerting periods pages with: the mildest of them, so one spike
    cannot page as critical; a period the tracker found anomalous inside the band is a warning."""
    return min((p.severity or "warning" for p in pending), key=lambda s: SEVERITY_RANK[s])
