"""One evaluator run: read the window, score every series, page on transitions; after an
outage, first the windows no run completed (catch-up)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from iotwatch.adapters.cloudwatch import MetricReader
from iotwatch.adapters.notifier import Notifier
from iotwatch.adapters.store import OutboxItem, StateStore
from iotwatch.domain.baseline import Baseline
from iotwatch.domain.deviation import AlertState, PeriodScore
from iotwatch.domain.evaluation import (
    Gap,
    SeriesOutcome,
    Window,
    attach_silences,
    catch_up_windows,
    evaluate_series,
    evaluation_window,
    lookback_periods,
)
from iotwatch.domain.incidents import (
    IncidentSettings,
    SeriesNews,
    Tick,
    TickIncidents,
    advance_ticks,
    expires_at,
    note_failed,
    quote_changes,
    tick_news,
)
from iotwatch.domain.likelihood import WARMUP_PERIODS, WARMUP_READ_PERIODS, TrackerState
from iotwatch.domain.messages import (
    OPENING_KINDS,
    MessageContext,
    Notification,
    RenderedMessage,
    correlated_changes,
    render,
)
from iotwatch.domain.ratios import attempts_of
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence, active_occurrences, silence_for
from iotwatch.plan.runtime import RuntimePlan
from iotwatch.plan.schedule import parse_schedule

if TYPE_CHECKING:
    from iotwatch.plan.model import Plan


@dataclass(frozen=True)
class SentNotification:
    notification: Notification
    message: RenderedMessage
    message_id: str


@dataclass
class EvaluationReport:
    window_start: int
    window_end: int
    series: int = 0
    learning: int = 0
    firing: int = 0
    skipped: int = 0
    duplicate_run: bool = False
    sent: list[SentNotification] = field(default_factory=list)
    failed_topics: list[str] = field(default_factory=list)
    redelivered: list[str] = field(default_factory=list)
    outcomes: list[SeriesOutcome] = field(default_factory=list)
    silenced: list[SeriesOutcome] = field(default_factory=list)  # transitions inside a silence
    incidents: TickIncidents | None = None  # what the tick did to incidents (the paging run's)
    incidents_open: int = 0
    incident_conflicts: list[str] = field(default_factory=list)  # ids another run wrote first
    silences_error: str | None = None  # ad-hoc silences could not be read: everything pages
    control_plane_error: str | None = None  # audit records could not be read: pages lack them
    gap: Gap | None = None  # windows no run completed before this one (caught up on, within the span)
    caught_up: int = 0  # missed windows evaluated before the run's own
    superseded: bool = False  # a newer window was already completed: nothing evaluated

    def changed_series(self) -> list[dict[str, object]]:
        """The series worth a line in the tick's log: a transition (paged, joined to an incident
        or held by a silence), or a last period outside the band or anomalous for the series. A
        quiet series is only counted, so the log of a tick grows with what changed, not with the
        plan."""
        changed: list[dict[str, object]] = []
        for outcome in self.outcomes:
            latest = outcome.scores[-1] if outcome.scores else None
            moved = outcome.transition
            if moved is None and (latest is None or not (latest.severity or latest.anomaly)):
                continue
            entry: dict[str, object] = {"series": outcome.series.id, "status": outcome.status}
            if moved is not None:
                entry["transition"] = moved.kind
            if latest is not None:
                entry |= {
                    "severity": latest.severity,
                    "actual": latest.actual,
                    "expected": round(latest.expected, 1),
                    "score": round(latest.score, 2),
                }
            changed.append(entry)
        return changed

    def as_log_fields(self) -> dict[str, object]:
        return {
            "window_start": datetime.fromtimestamp(self.window_start, UTC).isoformat(),
            "window_end": datetime.fromtimestamp(self.window_end, UTC).isoformat(),
            "series": self.series,
            "learning": self.learning,
            "firing": self.firing,
            "skipped": self.skipped,
            "duplicate_run": self.duplicate_run,
            "notifications": len(self.sent),
            "failed_topics": self.failed_topics,
            "redelivered": self.redelivered,
            "silenced": [
                {
                    "series": o.series.id,
                    "kind": o.transition.kind if o.transition else None,
                    "silence": o.silence.id if o.silence else None,
                    "reason": o.silence.reason if o.silence else None,
                }
                for o in self.silenced
            ],
            # only from the run that advanced the incidents (with fan-out: the publishing shard)
            **(
                {
                    "incidents_open": self.incidents_open,
                    "incidents_opened": self.incidents.opened,
                    "incidents_resolved": self.incidents.resolved,
                }
                if self.incidents is not None
                else {}
            ),
            **({"incident_conflicts": self.incident_conflicts} if self.incident_conflicts else {}),
            **({"silences_error": self.silences_error} if self.silences_error else {}),
            **({"control_plane_error": self.control_plane_error} if self.control_plane_error else {}),
            **({"superseded": True} if self.superseded else {}),
            **(self.catch_up_fields() if self.gap is not None else {}),
        }

    def catch_up_fields(self) -> dict[str, object]:
        """The gap a run caught up on: when iotwatch could not evaluate, how many windows it
        evaluated late, and how much lay beyond the catch-up span (never evaluated)."""
        assert self.gap is not None
        return {
            "gap_start": datetime.fromtimestamp(self.gap.start, UTC).isoformat(),
            "gap_end": datetime.fromtimestamp(self.gap.end, UTC).isoformat(),
            "caught_up_from": datetime.fromtimestamp(self.gap.caught_up_from, UTC).isoformat(),
            "windows_caught_up": self.caught_up,
            "not_evaluated_seconds": self.gap.not_evaluated,
        }


def run_evaluation(
    *,
    event_time: float,
    plan: Plan | RuntimePlan,
    series: Sequence[Series],
    reader: MetricReader,
    store: StateStore,
    notifier: Notifier,
    context: MessageContext,
    on_publish_error: type[Exception] | tuple[type[Exception], ...] = Exception,
) -> EvaluationReport:
    """Evaluates every series for the window that `event_time` closes, after the windows no
    run completed since the last one that did (within `frequency.catch_up`), in order.

    Each window is claimed once, so a retried or overlapping invocation sends nothing twice.
    A message whose publish fails goes to the outbox (rendered, per topic) and the series'
    state advances as if it was sent: the next run delivers it first, and topics that did
    receive it are not paged again. A run that fails, or leaves anything in the outbox,
    releases its claim so Lambda's retry of the same event can deliver it sooner; a run that
    fails before it completes leaves the completed mark where it was, so the retry (or the
    next tick) catches up on the same windows.
    """
    window = tick_window(event_time, plan, series)
    report = EvaluationReport(window_start=window.start, window_end=window.end, series=len(series))
    if not store.claim_run(window.end):
        report.skipped = len(series)
        report.duplicate_run = True
        return report
    try:
        deliver_outbox(store, notifier, report, on_publish_error)
        windows = windows_to_evaluate(window, plan=plan, store=store, report=report, series=len(series))
        if windows:
            _evaluate_windows(
                windows,
                plan=plan,
                series=series,
                reader=reader,
                store=store,
                notifier=notifier,
                context=context,
                report=report,
                on_publish_error=on_publish_error,
            )
            store.complete_run(window.end)
    except Exception:
        store.release_run(window.end)
        raise
    if report.failed_topics:
        store.release_run(window.end)
    return report


def tick_window(event_time: float, plan: Plan | RuntimePlan, series: Sequence[Series]) -> Window:
    """The window a tick at `event_time` evaluates (whole periods, after CloudWatch settled)."""
    return evaluation_window(
        event_time,
        period=plan.frequency.period_seconds,
        settle_seconds=plan.frequency.settle_seconds,
        periods=lookback_periods(series),
    )


# The most series x windows one invocation evaluates while catching up: measured at ~37 us of
# CPU each (bench: evaluator.catch_up), ~5.5 s on one core, ~19 s at the evaluator's 512 MB
# (0.29 vCPU), so a catch-up fits the 60 s timeout (and the 48 s duration alarm) whatever the
# plan: a shard of 2,000 series catches up on 75 windows (6 h 15 min of 5-minute periods), an
# invocation of 20,000 on 7. What lies beyond is reported as not evaluated, never retried
# into a timeout.
CATCH_UP_BUDGET = 150_000


def catch_up_span(plan: Plan | RuntimePlan, series: int) -> int:
    """Seconds of missed windows an invocation of `series` series catches up on: the plan's
    `frequency.catch_up`, within CATCH_UP_BUDGET."""
    period = plan.frequency.period_seconds
    return min(plan.frequency.catch_up, CATCH_UP_BUDGET // max(series, 1) * period)


def windows_to_evaluate(
    window: Window, *, plan: Plan | RuntimePlan, store: StateStore, report: EvaluationReport, series: int
) -> list[Window]:
    """The missed windows a run of `series` series per invocation catches up on (oldest
    first), then its own; none when a newer window was completed already (an old event
    retried late: superseded). Notes the gap."""
    cadence = parse_schedule(plan.frequency.evaluation).interval_seconds or window.period
    windows, gap = catch_up_windows(
        window, last_completed=store.last_completed(), span=catch_up_span(plan, series), cadence=cadence
    )
    report.gap, report.caught_up = gap, max(len(windows) - 1, 0)
    if not windows:
        report.superseded = True
        report.skipped = report.series
    return windows


def deliver_outbox(
    store: StateStore,
    notifier: Notifier,
    report: EvaluationReport,
    on_publish_error: type[Exception] | tuple[type[Exception], ...],
) -> None:
    for item in store.list_outbox():
        try:
            notifier.publish_raw(
                item.topic, subject=item.subject, message=item.message, attributes=item.attributes
            )
        except on_publish_error:
            report.failed_topics.append(item.topic)
            continue
        store.delete_outbox(item.key)
        report.redelivered.append(item.topic)


def _evaluate_windows(
    windows: Sequence[Window],
    *,
    plan: Plan | RuntimePlan,
    series: Sequence[Series],
    reader: MetricReader,
    store: StateStore,
    notifier: Notifier,
    context: MessageContext,
    report: EvaluationReport,
    on_publish_error: type[Exception] | tuple[type[Exception], ...],
) -> None:
    *missed, window = windows
    scored = score_series(
        window=window, missed=missed, plan=plan, series=series, reader=reader, store=store, report=report
    )
    publish_incidents(
        tick_news(scored.outcomes),
        scored.methods,
        window=window,
        plan=plan,
        series=series,
        silences=scored.silences,
        store=store,
        notifier=notifier,
        context=context,
        report=report,
        on_publish_error=on_publish_error,
        missed=scored.missed,
        gap=report.gap,
    )
    record_outcomes(scored, report=report)
    for state in scored.changed_states():
        store.save_state(state)
    store.save_trackers(scored.trackers)


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
    store: StateStore,
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
    baselines = store.get_baselines(ids)
    states = store.get_states(ids)
    trackers = store.get_trackers(ids)
    _warm_up(trackers, series=series, baselines=baselines, reader=reader, window=first)
    for s in series:
        trackers.setdefault(s.id, TrackerState())
    # ad-hoc silences not ended when the first window closes (one Query); each window then
    # takes those active at its end, with its instant's maintenance-window occurrences
    stored_silences = _active_silences(store, first.end, report, ended_after=True)

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
            *(x for x in stored_silences if x.active_at(at)),
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


def incident_settings(plan: Plan | RuntimePlan) -> IncidentSettings:
    notify = plan.notify
    return IncidentSettings(
        group_by=notify.group_by, group_interval=notify.group_interval, repeat_interval=notify.repeat_interval
    )


def publish_incidents(
    news: Sequence[SeriesNews],
    methods: dict[str, str],
    *,
    window: Window,
    plan: Plan | RuntimePlan,
    series: Sequence[Series],
    store: StateStore,
    notifier: Notifier,
    context: MessageContext,
    report: EvaluationReport,
    on_publish_error: type[Exception] | tuple[type[Exception], ...],
    silences: Sequence[Silence] | None = None,
    missed: Sequence[tuple[Window, Sequence[SeriesNews]]] = (),
    gap: Gap | None = None,
) -> None:
    """Advances the open incidents with the news of the `missed` windows (late, catching up
    on `gap`) and then of this tick, publishes what they owe each topic and stores them. A
    failed publish goes to the outbox, rendered, and the incident is stored as if it was sent
    (its timeline says so): the outbox delivers it, nothing pages twice. `silences`: ad-hoc
    ones not ended at the first window's end (read from the store when not given)."""
    at = window.end
    if silences is None:
        first = missed[0][0].end if missed else at
        silences = _active_silences(store, first, report, ended_after=True)

    def held(end: int) -> dict[str, Silence]:
        return {s.incident: s for s in silences if s.incident is not None and s.active_at(end)}

    tick = advance_ticks(
        store.get_open_incidents(),
        [
            *(Tick(w.end, step, held(w.end), late=gap) for w, step in missed),
            Tick(at, news, held(at)),
        ],
        settings=incident_settings(plan),
        route=lambda sev, m: plan.topics_for(severity=sev, metric=m),
        catalog={s.id: s for s in series},
    )
    report.incidents = tick
    # the method lines of this tick's news only, as a fanned-out tick's shards report them:
    # one invocation or many, the same message
    reported = {n.series.id for n in news} | {n.series.id for _, step in missed for n in step}
    context = replace(context, baseline_method={k: v for k, v in methods.items() if k in reported})
    opening = [n for n in tick.notifications if n.kind in OPENING_KINDS]
    if opening:
        context = _with_control_plane(context, plan, store, opening, report)

    for index, notification in enumerate(tick.notifications):
        message = render(notification, context)
        incident = tick.incident(notification.incident.id) if notification.incident else None
        if incident is not None and notification.kind in OPENING_KINDS:
            quote_changes(incident, correlated_changes(context, since=incident.since, at=notification.at))
        try:
            message_id = notifier.publish(notification.topic, message)
        except on_publish_error:
            report.failed_topics.append(notification.topic)
            store.put_outbox(
                OutboxItem(
                    key=f"{at}#{index:03d}#{notification.topic}#{notification.kind}",
                    topic=notification.topic,
                    subject=message.subject,
                    message=message.sns_message(),
                    attributes=message.attributes,
                    first_attempt=at,
                )
            )
            if incident is not None:
                note_failed(incident, at, [notification.topic])
            continue
        report.sent.append(SentNotification(notification, message, message_id))

    history = plan.notify.history_days
    for incident in tick.changed:
        if not store.save_incident(incident, expires_at=expires_at(incident, history)):
            report.incident_conflicts.append(incident.id)
    report.incidents_open = len(tick.open)


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


def _with_control_plane(
    context: MessageContext,
    plan: Plan | RuntimePlan,
    store: StateStore,
    notifications: Sequence[Notification],
    report: EvaluationReport,
) -> MessageContext:
    """The context with the control-plane calls a firing message may quote: one read per run
    that pages, covering every incident's correlation window. Failing to read them costs the
    quote, never the page."""
    enabled = plan.audit.enabled if isinstance(plan, RuntimePlan) else plan.tools.audit
    window = plan.audit.correlation_window
    list_calls = getattr(store, "list_audit_calls", None)
    if not enabled or window <= 0 or list_calls is None:
        return context
    since = min(min(a.transition.since for a in n.alerts) for n in notifications)
    end = max(n.at for n in notifications)
    try:
        calls = tuple(list_calls(start=since - window, end=end))
    except Exception as exc:  # reported in the run's log line
        report.control_plane_error = f"{type(exc).__name__}: {exc}"
        return context
    return replace(context, control_plane=calls, correlation_window=window)


def _alert_facts(state: AlertState) -> tuple[object, ...]:
    return (state.status, state.severity, state.since, round(state.peak_score, 3))


def _active_silences(
    store: StateStore, at: int, report: EvaluationReport, *, ended_after: bool = False
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
    return [s for s in silences if ended_after or s.active_at(at)]


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
