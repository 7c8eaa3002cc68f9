"""Paging for a tick: advance the open incidents with its news (and a catch-up's, window by
window), publish what they owe each topic, keep a failed publish in the outbox, store them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from iotwatch.domain.evaluation import Gap, Window
from iotwatch.domain.incidents.feedback import adopt_feedback
from iotwatch.domain.incidents.model import (
    Incident,
    IncidentSettings,
    expires_at,
    note_failed,
    quote_changes,
)
from iotwatch.domain.incidents.news import SeriesNews
from iotwatch.domain.incidents.tick import Tick, TickIncidents, advance_ticks
from iotwatch.domain.messages.model import MessageContext, Notification, OutboxItem
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence, SilenceState, silence_state
from iotwatch.plan.runtime import RuntimePlan
from iotwatch.service.evaluation_report import EvaluationReport, SentNotification
from iotwatch.service.ports import ControlPlaneReader, EvaluationStore, Notifier, WhereLookup
from iotwatch.service.scoring import active_silences

if TYPE_CHECKING:
    from iotwatch.plan.model.plan import Plan


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
    store: EvaluationStore,
    notifier: Notifier,
    context: MessageContext,
    report: EvaluationReport,
    on_publish_error: type[Exception] | tuple[type[Exception], ...],
    silences: Sequence[Silence] | None = None,
    missed: Sequence[tuple[Window, Sequence[SeriesNews]]] = (),
    gap: Gap | None = None,
    where: WhereLookup | None = None,
) -> None:
    """Advances the open incidents with the news of the `missed` windows (late, catching up
    on `gap`) and then of this tick, publishes what they owe each topic and stores them. A
    failed publish goes to the outbox, rendered, and the incident is stored as if it was sent
    (its timeline says so): the outbox delivers it, nothing pages twice. `silences`: ad-hoc
    ones not ended at the first window's end (read from the store when not given). `where`:
    asked where each incident about to page firing or escalated is concentrated (None: no
    look-up, no failure kind)."""
    at = window.end
    if silences is None:
        first = missed[0][0].end if missed else at
        silences = active_silences(store.silences, first, report, ended_after=True)

    def held(end: int) -> dict[str, Silence]:
        return {
            s.incident: s
            for s in silences
            if s.incident is not None and silence_state(s, end) is SilenceState.ACTIVE
        }

    tick = advance_ticks(
        store.incidents.get_open_incidents(),
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
    if tick.notifications:  # a quiet tick loads no renderer
        _publish(
            tick,
            context,
            plan=plan,
            store=store,
            notifier=notifier,
            report=report,
            at=at,
            on_publish_error=on_publish_error,
            where=where,
        )

    history = plan.notify.history_days
    for incident in tick.changed:
        if not _save(store, incident, history):
            report.incident_conflicts.append(incident.id)
    report.incidents_open = len(tick.open)


FEEDBACK_RETRIES = 3


def _save(store: EvaluationStore, incident: Incident, history: int) -> bool:
    """Stores the tick's incident; when someone wrote it since it was read (an `incidents ack`
    or `mark`), takes what they wrote and tries again, so neither change is lost."""
    for _ in range(FEEDBACK_RETRIES):
        if store.incidents.save_incident(incident, expires_at=expires_at(incident, history)):
            return True
        stored = store.incidents.get_incident(incident.id)
        if stored is None or not adopt_feedback(incident, stored):
            return False
    return False


def _publish(
    tick: TickIncidents,
    context: MessageContext,
    *,
    plan: Plan | RuntimePlan,
    store: EvaluationStore,
    notifier: Notifier,
    report: EvaluationReport,
    at: int,
    on_publish_error: type[Exception] | tuple[type[Exception], ...],
    where: WhereLookup | None = None,
) -> None:
    """Renders and publishes what the incidents owe each topic; a failed publish goes to the
    outbox, rendered, and the incident's timeline says so."""
    from iotwatch.domain.messages.deviation import OPENING_KINDS, correlated_changes, render

    opening = [n for n in tick.notifications if n.kind in OPENING_KINDS]
    if opening:
        context = _with_control_plane(context, plan, store, opening, report)
    notifications = tick.notifications
    if where is not None and any(n.kind in PAGING_KINDS for n in notifications):
        notifications = _with_where(tick, where, context, report, at=at)

    for index, notification in enumerate(notifications):
        message = render(notification, context)
        incident = tick.incident(notification.incident.id) if notification.incident else None
        if incident is not None and notification.kind in OPENING_KINDS:
            quote_changes(incident, correlated_changes(context, since=incident.since, at=notification.at))
        try:
            message_id = notifier.publish(notification.topic, message)
        except on_publish_error:
            report.failed_topics.append(notification.topic)
            store.outbox.put_outbox(
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


def _with_control_plane(
    context: MessageContext,
    plan: Plan | RuntimePlan,
    store: EvaluationStore,
    notifications: Sequence[Notification],
    report: EvaluationReport,
) -> MessageContext:
    """The context with the control-plane calls a firing message may quote: one read per run
    that pages, covering every incident's correlation window. Failing to read them costs the
    quote, never the page."""
    enabled = plan.audit.enabled if isinstance(plan, RuntimePlan) else plan.tools.audit
    window = plan.audit.correlation_window
    audit = getattr(store, "audit", None)  # a store that keeps no audit records quotes none
    if not enabled or window <= 0 or not isinstance(audit, ControlPlaneReader):
        return context
    since = min(min(a.transition.since for a in n.alerts) for n in notifications)
    end = max(n.at for n in notifications)
    try:
        calls = tuple(audit.list_audit_calls(start=since - window, end=end))
    except Exception as exc:  # reported in the run's log line
        report.control_plane_error = f"{type(exc).__name__}: {exc}"
        return context
    return replace(context, control_plane=calls, correlation_window=window)


# the pages that ask where an incident is concentrated: a first page or an escalation
PAGING_KINDS = ("firing", "escalated")


def _with_where(
    tick: TickIncidents, where: WhereLookup, context: MessageContext, report: EvaluationReport, *, at: int
) -> list[Notification]:
    """The tick's notifications once each incident about to page firing or escalated has been
    looked up (once) and classified; the incident keeps both, and every message about it this
    tick carries them. A look-up that raises costs its breakdown, never the page."""
    from iotwatch.domain.failure_kind import classify, signals_of
    from iotwatch.domain.messages.deviation import correlated_changes

    looked_up: set[str] = set()
    for notification in tick.notifications:
        ref = notification.incident
        if notification.kind not in PAGING_KINDS or ref is None or ref.id in looked_up:
            continue
        looked_up.add(ref.id)
        incident = tick.incident(ref.id)
        firing = incident.firing
        breakdown = None
        try:
            breakdown = where.look_up(
                metrics=list(dict.fromkeys(m.metric for m in firing)), since=incident.since, now=at
            )
        except Exception as exc:  # the port promises not to; the page goes out regardless
            report.where_errors.append(f"{incident.id}: {type(exc).__name__}: {exc}")
        if breakdown is not None:
            incident.breakdowns.append(breakdown)
        incident.failure = classify(
            signals_of(firing), breakdown, correlated_changes(context, since=incident.since, at=at)
        )
    kept = {i.id: i for i in tick.changed if i.id in looked_up}

    def told(n: Notification) -> Notification:
        incident = kept.get(n.incident.id) if n.incident is not None else None
        if n.incident is None or incident is None:
            return n
        where = incident.breakdowns[-1] if incident.breakdowns else None
        return replace(n, incident=replace(n.incident, failure=incident.failure, where=where))

    return [told(n) for n in tick.notifications]
