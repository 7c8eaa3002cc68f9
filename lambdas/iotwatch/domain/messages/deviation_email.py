"""A deviation notification as the e-mail on-call reads: what, how far, since when, where to look."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iotwatch.domain.messages.console import dashboard_url, incident_dashboard_url, metric_console_url
from iotwatch.domain.messages.model import Alert, MessageContext, Notification
from iotwatch.domain.messages.phrases import direction_verb, gap_sentence, moved_phrase
from iotwatch.domain.messages.wording import (
    change_percent,
    change_text,
    clock,
    count_text,
    range_text,
    relative_time,
    stamp,
    value_text,
)
from iotwatch.domain.ratios import formula, share_phrase
from iotwatch.domain.slow_change import details as slow_change_details
from iotwatch.domain.times import duration_text

if TYPE_CHECKING:
    from iotwatch.domain.audit.recorded import RecordedCall

CHANGES_SHOWN = 5


def deviation_email(
    notification: Notification,
    alerts: Sequence[Alert],
    ctx: MessageContext,
    since: int,
    headline: tuple[str, str],
    changes: Sequence[RecordedCall],
    suspect: RecordedCall | None,
) -> str:
    """`headline`: the subject's (label, what happened); `changes`: the control-plane calls
    to quote, `suspect` the one most likely behind it."""
    kind, incident = notification.kind, notification.incident
    lines: list[str] = [_opening_line(notification, alerts, ctx, since)]
    if incident is not None and incident.failure is not None:
        from iotwatch.domain.messages.where import kind_line

        lines.insert(0, kind_line(incident.failure))  # every page of a classified incident opens with it
    if incident is not None and incident.gap is not None and kind != "late":
        lines.append(f"Found late: {gap_sentence(incident.gap)}.")
    if suspect is not None:
        label, what = headline
        lag = since - suspect.at  # the suspect is never after the start
        after = f"{duration_text(lag)} after" if lag >= 60 else "right after"
        what_changed = f"{suspect.action} {suspect.target}".rstrip()
        lines.append(f"{label} {what} {after} {what_changed} by {suspect.who}.")
    lines.append("")
    lines += _summary_table(alerts, kind)
    lines.append("")
    if incident is not None and incident.where is not None and kind != "resolved":
        from iotwatch.domain.messages.where import where_section

        lines += where_section(incident.where)
    lines += _changes_section(changes, ctx, since)
    lines += _where_to_look(notification, ctx)
    lines.append("Details:")
    lines.append("")
    for alert in alerts:
        lines += _details(alert, kind, ctx)
    lines.append(f"Owner: {ctx.team}" + (f" (escalation: {ctx.escalation})" if ctx.escalation else ""))
    for runbook in dict.fromkeys(a.series.runbook for a in alerts if a.series.runbook):
        if runbook != ctx.runbook:
            lines.append(
                f"Runbook ({', '.join(a.series.metric for a in alerts if a.series.runbook == runbook)}): {runbook}"
            )
    lines.append("")
    lines.append(f"Sent by iotwatch stack {ctx.stack_name} in {ctx.region} to topic '{notification.topic}'.")
    return "\n".join(lines)


def _changes_section(changes: Sequence[RecordedCall], ctx: MessageContext, since: int) -> list[str]:
    """The control-plane calls before it began, the latest CHANGES_SHOWN of them."""
    if not changes:
        return []
    lines = [
        f"Control-plane changes from {duration_text(ctx.correlation_window)} before it began (CloudTrail):"
    ]
    for change in changes[-CHANGES_SHOWN:]:
        lines.append(f"  {change.line()} - {relative_time(since - change.at)}")
    if len(changes) > CHANGES_SHOWN:
        lines.append(f"  and {len(changes) - CHANGES_SHOWN} earlier")
    lines.append("")
    return lines


def _where_to_look(notification: Notification, ctx: MessageContext) -> list[str]:
    incident = notification.incident
    if not (ctx.runbook or ctx.dashboard_name or incident is not None):
        return []
    lines = ["Where to look:"]
    if ctx.dashboard_name and incident is not None:
        # a link a phone opens, at the incident's own time range
        until = incident.ended if incident.ended is not None else notification.at
        url = incident_dashboard_url(ctx.dashboard_name, ctx.region, since=incident.since, until=until)
        lines.append(f"  Dashboard: {url}")
    elif ctx.dashboard_name:
        lines.append(f"  Dashboard: {dashboard_url(ctx.dashboard_name, ctx.region)}")
    if ctx.runbook:
        lines.append(f"  Runbook:   {ctx.runbook}")
    if incident is not None:
        lines.append(f"  Timeline:  iotwatch incidents show {incident.id}")
        if notification.kind not in ("resolved", "late"):
            lines.append(f"  On it:     iotwatch incidents ack {incident.id} --by NAME (stops the reminders)")
        else:
            lines.append(f"  Verdict:   iotwatch incidents mark {incident.id} --false-alarm (or --expected)")
    lines.append("")
    return lines


_STATUS_WORD = {"new": "joined", "deviating": "deviating", "recovered": "recovered"}


def _summary_table(alerts: Sequence[Alert], kind: str) -> list[str]:
    """One line per metric, readable on a phone: what, now, normally, how far off (for a
    resolve: when it deviated and how far at worst; in an update: where each member stands)."""
    rows: list[tuple[str, ...]]
    if kind == "late":
        rows = [("metric", "deviated (UTC)", "worst", "normal", "change")]
        for a in alerts:
            t, p = a.transition, a.transition.latest
            rows.append(
                (
                    a.series.label,
                    f"{clock(t.since)}-{clock(t.ended)}",
                    count_text(p.actual),
                    f"{count_text(p.lower)}-{count_text(p.upper)}",
                    change_percent(p.relative_change),
                )
            )
    elif kind == "resolved":
        rows = [("metric", "deviated (UTC)", "worst")]
        for a in alerts:
            t = a.transition
            rows.append((a.series.label, f"{clock(t.since)}-{clock(t.ended)}", f"{t.peak_score:+.1f} sd"))
    else:
        rows = [("metric", "now", "normal", "change")]
        for a in alerts:
            p = a.transition.latest
            change = "ok" if a.status == "recovered" else change_text(a.series, p)
            rows.append(
                (
                    a.series.label,
                    value_text(a.series, p.actual),
                    range_text(a.series, p.lower, p.upper),
                    change,
                )
            )
        if kind == "update":
            rows = [(*rows[0], "")] + [
                (*r, _STATUS_WORD[a.status]) for r, a in zip(rows[1:], alerts, strict=True)
            ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [f"{r[0]:<{widths[0]}}", *(f"{c:>{w}}" for c, w in zip(r[1:], widths[1:], strict=True))]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def _opening_line(
    notification: Notification, alerts: Sequence[Alert], ctx: MessageContext, since: int
) -> str:
    kind, at, incident = notification.kind, notification.at, notification.incident
    of_plan = f"of plan '{ctx.plan_name}'"
    if kind == "update" and incident is not None:
        joined = sum(1 for a in alerts if a.status == "new")
        after = f" since {clock(incident.previous)} UTC" if incident.previous is not None else ""
        return (
            f"UPDATE on incident {incident.id} {of_plan} ({incident.severity.upper()} since {stamp(since)}, "
            f"{duration_text(at - since)}): {joined} metric(s) joined{after}; {incident.deviating} of "
            f"{incident.members} deviating, {incident.recovered} recovered. No new page."
        )
    if kind == "late":
        ended = max(a.transition.ended for a in alerts)
        if len(alerts) == 1:
            what = f"{alerts[0].series.label} {of_plan} was {moved_phrase(alerts[0].transition.latest, direction_verb(alerts[0]))}"
        else:
            what = f"{len(alerts)} metric(s) {of_plan} were outside their normal range"
        gap = f"; {gap_sentence(incident.gap, found=False)}" if incident is not None and incident.gap else ""
        line = (
            f"LATE ({notification.severity.upper()}): {what} from {clock(since)} to {clock(ended)} UTC "
            f"({duration_text(ended - since)}){gap}. It was over before iotwatch could page; nobody was "
            "told while it happened."
        )
        return line + (f" Incident {incident.id}." if incident is not None else "")
    if kind == "resolved":
        ended = max(a.transition.ended for a in alerts)
        every = "all " if incident is not None else ""
        line = (
            f"RESOLVED: {every}{len(alerts)} metric(s) {of_plan} are back within their normal range after "
            f"{duration_text(ended - since)} ({stamp(since)} to {clock(ended)} UTC)."
        )
        return line + (f" Incident {incident.id} is over." if incident is not None else "")
    if kind == "reminder":
        line = (
            f"REMINDER ({notification.severity.upper()}): {len(alerts)} metric(s) {of_plan} are still outside "
            f"their normal range since {stamp(since)} ({duration_text(at - since)})."
        )
    else:
        word = "escalated to CRITICAL" if kind == "escalated" else notification.severity.upper()
        if incident is not None and incident.escalated_from:
            word = f"{word} (escalated from {incident.escalated_from.upper()})"
        line = (
            f"{word}: {len(alerts)} metric(s) {of_plan} are outside their normal range "
            f"since {stamp(since)} ({duration_text(at - since)})."
        )
    return line + (f" Incident {incident.id}." if incident is not None else "")


def _details(alert: Alert, kind: str, ctx: MessageContext) -> list[str]:
    t, s = alert.transition, alert.series
    p = t.latest
    dims = ", ".join(f"{k}={v}" for k, v in s.dimensions) or "no dimensions"
    window = f"{clock(p.ts)}-{clock(p.ts + s.period)} UTC"
    status = f" - {_STATUS_WORD[alert.status]}" if kind == "update" else ""
    if s.ratio is None:
        lines = [
            f"{s.metric} ({dims}) [{s.namespace}, {s.statistic} per {s.period // 60} min]{status}",
            f"  now:       {count_text(p.actual)} ({window})",
        ]
    else:
        lines = [
            f"{s.metric} ({dims}) [{s.namespace} share {formula(s.ratio)}, per {s.period // 60} min]{status}",
            f"  now:       {share_phrase(s, p.actual, p.attempts, p.expected)} ({window})",
        ]
        if p.attempts:
            lines.append(
                f"  parts:     {p.actual * p.attempts:,.0f} {s.ratio.numerator_label} of {p.attempts:,.0f} "
                f"{s.ratio.denominator_label} (judged from {s.ratio.min_denominator:,.0f})"
            )
    lines.append(f"  expected:  {value_text(s, p.expected)} (normal range {range_text(s, p.lower, p.upper)})")
    if kind == "late":
        lines[1] = lines[1].replace("  now:       ", "  worst:     ", 1) + f", {change_text(s, p)}"
        lines.append(
            f"  deviated:  {stamp(t.since)} to {stamp(t.ended)} ({duration_text(t.ended - t.since)})"
        )
        lines.append(f"  peak:      deviation {t.peak_score:+.1f} (robust sd)")
    elif kind == "resolved" or alert.status == "recovered":
        lines.append(
            f"  deviated:  {stamp(t.since)} to {stamp(t.ended)} ({duration_text(t.ended - t.since)})"
        )
        lines.append(f"  worst:     deviation {t.peak_score:+.1f} (robust sd)")
    else:
        lines.append(f"  change:    {change_text(s, p)}, deviation {p.score:+.1f} (robust sd)")
        lines.append(f"  since:     {stamp(t.since)} ({duration_text(t.at - t.since)})")
    if p.slow_change is not None:
        lines.append(f"  model:     {slow_change_details(p.slow_change)}")
    method = ctx.baseline_method.get(s.id)
    if method:
        lines.append(f"  baseline:  {method}")
    if s.description:
        lines.append(f"  about:     {s.description}")
    lines.append(
        f"  graph:     {metric_console_url(s, ctx.region, start=t.since - 6 * 3600, end=t.at + 3600)}"
    )
    lines.append("")
    return lines
