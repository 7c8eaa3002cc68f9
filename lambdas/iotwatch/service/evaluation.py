"""One evaluator run: read the window, score every series, page on transitions; after an
outage, first the windows no run completed (catch-up)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iotwatch.domain.evaluation import Window, catch_up_windows, evaluation_window, lookback_periods
from iotwatch.domain.incidents.news import tick_news
from iotwatch.domain.messages.model import MessageContext
from iotwatch.domain.series import Series
from iotwatch.plan.runtime import RuntimePlan
from iotwatch.plan.schedule import parse_schedule
from iotwatch.service.evaluation_report import EvaluationReport
from iotwatch.service.incident_publishing import publish_incidents
from iotwatch.service.ports import EvaluationStore, MetricReader, Notifier, WhereLookup
from iotwatch.service.scoring import record_outcomes, score_series

if TYPE_CHECKING:
    from iotwatch.plan.model.plan import Plan


def run_evaluation(
    *,
    event_time: float,
    plan: Plan | RuntimePlan,
    series: Sequence[Series],
    reader: MetricReader,
    store: EvaluationStore,
    notifier: Notifier,
    context: MessageContext,
    on_publish_error: type[Exception] | tuple[type[Exception], ...] = Exception,
    where: WhereLookup | None = None,
) -> EvaluationReport:
    """Evaluates every series for the window that `event_time` closes, after the windows no
    run completed since the last one that did (within `frequency.catch_up`), in order.

    Each window is claimed once, so a retried or overlapping invocation sends nothing twice.
    A message whose publish fails goes to the outbox (rendered, per topic) and the series'
    state advances as if it was sent: the next run delivers it first, and topics that did
    receive it are not paged again. A run that fails, or leaves anything in the outbox,
    releases its claim so Lambda's retry of the same event can deliver it sooner; a run that
    fails before it completes leaves the completed mark where it was, so the retry (or the
    next tick) catches up on the same windows. `where` (optional) is asked, only in a run
    that pages, where each paging incident is concentrated (see publish_incidents).
    """
    window = tick_window(event_time, plan, series)
    report = EvaluationReport(window_start=window.start, window_end=window.end, series=len(series))
    if not store.runs.claim_run(window.end):
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
                where=where,
            )
            store.runs.complete_run(window.end)
    except Exception:
        store.runs.release_run(window.end)
        raise
    if report.failed_topics:
        store.runs.release_run(window.end)
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
    window: Window, *, plan: Plan | RuntimePlan, store: EvaluationStore, report: EvaluationReport, series: int
) -> list[Window]:
    """The missed windows a run of `series` series per invocation catches up on (oldest
    first), then its own; none when a newer window was completed already (an old event
    retried late: superseded). Notes the gap."""
    cadence = parse_schedule(plan.frequency.evaluation).interval_seconds or window.period
    windows, gap = catch_up_windows(
        window, last_completed=store.runs.last_completed(), span=catch_up_span(plan, series), cadence=cadence
    )
    report.gap, report.caught_up = gap, max(len(windows) - 1, 0)
    if not windows:
        report.superseded = True
        report.skipped = report.series
    return windows


def deliver_outbox(
    store: EvaluationStore,
    notifier: Notifier,
    report: EvaluationReport,
    on_publish_error: type[Exception] | tuple[type[Exception], ...],
) -> None:
    for item in store.outbox.list_outbox():
        try:
            notifier.publish_raw(
                item.topic, subject=item.subject, message=item.message, attributes=item.attributes
            )
        except on_publish_error:
            report.failed_topics.append(item.topic)
            continue
        store.outbox.delete_outbox(item.key)
        report.redelivered.append(item.topic)


def _evaluate_windows(
    windows: Sequence[Window],
    *,
    plan: Plan | RuntimePlan,
    series: Sequence[Series],
    reader: MetricReader,
    store: EvaluationStore,
    notifier: Notifier,
    context: MessageContext,
    report: EvaluationReport,
    on_publish_error: type[Exception] | tuple[type[Exception], ...],
    where: WhereLookup | None = None,
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
        where=where,
    )
    record_outcomes(scored, report=report)
    for state in scored.changed_states():
        store.series_state.save_state(state)
    store.series_state.save_trackers(scored.trackers)
