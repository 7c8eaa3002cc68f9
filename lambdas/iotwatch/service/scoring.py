"""Scoring a run's series: one read for every window it evaluates, each series' state and
tracker carried from window to window, and the silences that hold what changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from iotwatch.domain.baseline.model import Baseline
from iotwatch.domain.deviation import AlertState, PeriodScore
from iotwatch.domain.evaluation import SeriesOutcome, Window, attach_silences, evaluate_series
from iotwatch.domain.incidents.news import SeriesNews, tick_news
from iotwatch.domain.likelihood import WARMUP_PERIODS, WARMUP_READ_PERIODS, TrackerState
from iotwatch.domain.ratios import attempts_of
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence, SilenceState, active_occurrences, silence_for, silence_state
from iotwatch.service.evaluation_report import EvaluationReport
from iotwatch.service.ports import EvaluationStore, MetricReader, SilenceReader

if TYPE_CHECKING:
    from iotwatch.plan.model.plan import Plan
    from iotwatch.plan.runtime import RuntimePlan


@dataclass
class ScoredSeries:
    """What one invocation learnt about its series this tick: outcomes (with their silences),
    the states they were read with, and each baseline's method line for the messages."""

    outcomes: list[SeriesOutcome]
    previous: dict[str, AlertState]
    methods: dict[str, str]
    trackers: dict[str, TrackerState] = field(default_factory=dict)  # written every tick
    silences: list[Silence] = field(default_factory=list)  # ad-hoc ones, not ended at the first window's end
    # the missed windows caught up on before this one, oldest first, with their news (what
    # the incidents need: the series firing or changed; a window's other outcomes are dropped)
    missed: list[tuple[Window, list[SeriesNews]]] = field(default_factory=list)

    def changed_states(self) -> list[AlertState]:
        """States worth a write: a series that ever alerted and whose alert facts moved."""
        changed = []
        for outcome in self.outcomes:
            if outcome.status in ("already-evaluated", "learning"):
                continue
            previous = self.previous.get(outcome.series.id)
            if previous is None and outcome.state.status == "ok":
                continue  # never alerted: nothing worth a write
            if previous is not None and _alert_facts(previous) == _alert_facts(outcome.state):
                continue  # unchanged; the run claim already guards against re-evaluation
            changed.append(outcome.state)
        return changed


def score_series(
    *,
    window: Window,
    plan: Plan | RuntimePlan,
    series: Sequence[Series],
    reader: MetricReader,
    store: EvaluationStore,
    report: EvaluationReport,
    missed: Sequence[Window] = (),
) -> ScoredSeries:
    """Reads and scores `series` for the `missed` windows (oldest first; a run catching up)
    and then `window`, and finds the silences covering what changed; writes nothing.

    One read covers every window (GetMetricData bills per metric, not per datapoint); each
    series' state and tracker go from one window to the next, so the detector takes in each
    period once, in order, as the missed ticks would have."""
    ids = [s.id for s in series]
    first = missed[0] if missed else window
    datapoints = reader.read(series, start=first.start, end=window.end)
    baselines = store.baselines.get_baselines(ids)
    states = store.series_state.get_states(ids)
    trackers = store.series_state.get_trackers(ids)
    _warm_up(trackers, series=series, baselines=baselines, reader=reader, window=first)
    for s in series:
        trackers.setdefault(s.id, TrackerState())
    # ad-hoc silences not ended when the first window closes (one Query); each window then
    # takes those active at its end, with its instant's maintenance-window occurrences
    stored_silences = active_silences(store.silences, first.end, report, ended_after=True)

    current: dict[str, AlertState | None] = dict(states)
    earlier: list[tuple[Window, list[SeriesNews]]] = []
    silenced: list[SeriesOutcome] = []
    values = {s.id: dict(datapoints.get(s.id, [])) for s in series} if missed else {}
    memo: dict[str, dict[tuple[int, float], PeriodScore]] = {}
    # a share's attempts per period start, over the whole span read (None for a metric)
    attempts = {s.id: attempts_of(s, datapoints) for s in series}
    for w in [*missed, window]:
        outcomes = [
            evaluate_series(
                s,
                datapoints=_points_in(values[s.id], w) if missed else datapoints.get(s.id, []),
                baseline=baselines.get(s.id),
                state=current.get(s.id),
                window=w,
                tracker=trackers[s.id],
                # the run's baselines do not change between its windows: each period is scored once
                score_memo=memo.setdefault(s.id, {}) if missed else None,
                attempts=attempts[s.id],
            )
            for s in series
        ]
        at = w.end
        active = [
            *(x for x in stored_silences if silence_state(x, at) is SilenceState.ACTIVE),
            *active_occurrences(plan.notify.windows, at),
        ]
        outcomes = attach_silences(outcomes, silence_of=lambda s: silence_for(s, at, silences=active))  # noqa: B023
        current |= {o.series.id: o.state for o in outcomes}
        silenced += [o for o in outcomes if o.silence is not None and o.transition is not None]
        if w is not window:
            earlier.append((w, tick_news(outcomes)))
        for sid in memo if missed else ():  # periods before the next window are not scored again
            memo[sid] = {k: v for k, v in memo[sid].items() if k[0] >= w.start + w.period}
    report.outcomes = outcomes
    report.silenced = silenced
    methods = {
        sid: f"{b.method}, trained {_day(b.trained_from)} to {_day(b.trained_to)}"
        + ("; judged against its own last week (likelihood)" if trackers[sid].seen > WARMUP_PERIODS else "")
        # the fleet's calendar (detection.holidays): why a quiet day is no outage
        + ("; a holiday, judged as a Sunday" if b.on_holiday(window.end - b.period) else "")
        for sid, b in baselines.items()
        if sid in trackers
    }
    return ScoredSeries(outcomes, states, methods, trackers, stored_silences, earlier)


def _points_in(values: Mapping[int, float], window: Window) -> list[tuple[int, float]]:
    return [(ts, values[ts]) for ts in range(window.start, window.end, window.period) if ts in values]


def _warm_up(
    trackers: dict[str, TrackerState],
    *,
    series: Sequence[Series],
    baselines: Mapping[str, Baseline],
    reader: MetricReader,
    window: Window,
) -> None:
    """A series seen for the first time (or after a gap of over a week) has its tracker learn
    the week before this tick, in one read for all of them, so it judges from its first tick."""
    cold = [
        s
        for s in series
        if s.id in baselines
        and (
            s.id not in trackers
            or (trackers[s.id].next_ts or 0) < window.start - WARMUP_READ_PERIODS * s.period
        )
    ]
    if not cold:
        return
    start = window.start - WARMUP_READ_PERIODS * max(s.period for s in cold)
    history = reader.read(cold, start=start, end=window.start)
    for s in cold:
        tracker = trackers[s.id] = TrackerState()
        past = Window(window.start - WARMUP_READ_PERIODS * s.period, window.start, s.period)
        evaluate_series(
            s,
            datapoints=history.get(s.id, []),
            baseline=baselines[s.id],
            state=None,
            window=past,
            tracker=tracker,
            attempts=attempts_of(s, history),
        )


def record_outcomes(scored: ScoredSeries, *, report: EvaluationReport) -> None:
    """Counts the outcomes (what each series looked like is in `report.outcomes`; nothing per
    series is published: the dashboard draws bands from the stored baselines)."""
    for outcome in scored.outcomes:
        if outcome.status == "already-evaluated":
            report.skipped += 1
            continue
        if outcome.status == "learning":
            report.learning += 1
            continue
        if outcome.state.status == "firing":
            report.firing += 1


def _alert_facts(state: AlertState) -> tuple[object, ...]:
    return (state.status, state.severity, state.since, round(state.peak_score, 3))


def active_silences(
    store: SilenceReader, at: int, report: EvaluationReport, *, ended_after: bool = False
) -> list[Silence]:
    """Ad-hoc silences active at `at` (`ended_after`: also those that start later, for a run
    that evaluates several windows from `at` on). A store without them (or one that fails to
    list them) silences nothing: a missed silence costs a page, a wrongly assumed one could
    cost an outage."""
    list_silences = getattr(store, "list_silences", None)
    if list_silences is None:
        return []
    try:
        # `now=at`, not the wall clock: a retried or replayed event sees the silences of its window
        silences = list_silences(now=at)
    except Exception as exc:  # fail open; reported in the run's log line
        report.silences_error = f"{type(exc).__name__}: {exc}"
        return []
    return [s for s in silences if ended_after or silence_state(s, at) is SilenceState.ACTIVE]


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
