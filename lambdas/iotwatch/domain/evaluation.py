"""One evaluation tick, as pure logic: window -> scores -> state transitions -> notifications."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from iotwatch.domain.baseline import Baseline
from iotwatch.domain.deviation import SEVERITY_RANK, AlertState, PeriodScore, Transition, decide, score_period
from iotwatch.domain.messages import Alert, Notification
from iotwatch.domain.series import Series


@dataclass(frozen=True)
class Window:
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


def lookback_periods(series: Iterable[Series]) -> int:
    return (
        max((max(s.detection.pending_periods, s.detection.recovery_periods) for s in series), default=2) + 1
    )


@dataclass(frozen=True)
class SeriesOutcome:
    series: Series
    scores: list[PeriodScore]
    state: AlertState
    transition: Transition | None
    status: str  # "ok" | "firing" | "learning" | "already-evaluated"


def evaluate_series(
    series: Series,
    *,
    datapoints: Sequence[tuple[int, float]],
    baseline: Baseline | None,
    state: AlertState | None,
    window: Window,
    score_memo: dict[tuple[int, float], PeriodScore] | None = None,
) -> SeriesOutcome:
    """`score_memo` (replay only) keeps scores of periods seen in earlier windows under the
    same baseline; a score depends only on the period, its value and the baseline."""
    state = state or AlertState(series_id=series.id)
    if state.last_evaluated is not None and state.last_evaluated >= window.end:
        return SeriesOutcome(series, [], state, None, "already-evaluated")
    if baseline is None or not baseline.usable:
        return SeriesOutcome(series, [], state, None, "learning")
    values = dict(datapoints)
    detection = series.detection
    scores = []
    for ts in range(window.start, window.end, window.period):  # window.period_starts, without the list
        actual = values.get(ts, 0.0)
        key = (ts, actual)
        score = score_memo.get(key) if score_memo is not None else None
        if score is None:
            score = score_period(ts, actual, baseline.expectation_at(ts), detection)
            if score_memo is not None:
                score_memo[key] = score
        scores.append(score)
    new_state, transition = decide(state, scores, detection, period=window.period)
    return SeriesOutcome(series, scores, new_state, transition, new_state.status)


def group_notifications(
    outcomes: Sequence[SeriesOutcome], *, route: Callable[[str, str], list[str]], at: int
) -> list[Notification]:
    """Transitions of the same kind in one tick go out as one message per topic, so a
    broker outage that drops Connect, PublishIn and Ping pages once, not three times."""
    grouped: dict[tuple[str, str], list[Alert]] = {}
    for outcome in outcomes:
        t = outcome.transition
        if t is None:
            continue
        for topic in route(t.severity, outcome.series.metric):
            grouped.setdefault((topic, t.kind), []).append(Alert(outcome.series, t))
    notifications = []
    for (topic, kind), alerts in grouped.items():
        severity = max((a.transition.severity for a in alerts), key=lambda s: SEVERITY_RANK[s])
        notifications.append(
            Notification(topic=topic, kind=kind, severity=severity, at=at, alerts=tuple(alerts))
        )
    return notifications
