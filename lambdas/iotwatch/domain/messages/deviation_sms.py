"""A deviation notification as one SMS part: what is wrong and how badly first, fitted to 160 GSM-7 characters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from iotwatch.domain.messages.console import short_dashboard_url
from iotwatch.domain.messages.gsm7 import SMS_LIMIT, gsm7_length, to_gsm7, trim_to_sms
from iotwatch.domain.messages.model import Alert, MessageContext, Notification
from iotwatch.domain.messages.phrases import direction_verb, moved_phrase
from iotwatch.domain.messages.wording import change_percent, clock, count_text, shorten
from iotwatch.domain.ratios import percent
from iotwatch.domain.times import duration_text

if TYPE_CHECKING:
    from iotwatch.domain.audit.recorded import RecordedCall


def deviation_sms(
    notification: Notification,
    alerts: Sequence[Alert],
    ctx: MessageContext,
    since: int,
    suspect: RecordedCall | None = None,
) -> str:
    # a likely cause is worth more on a phone than a third metric: it takes their place
    hint = f" After {suspect.action} {clock(suspect.at)}Z." if suspect is not None else ""
    return with_console_link(_render_sms_core(notification, alerts, ctx, since, hint), ctx)


def with_console_link(text: str, ctx: MessageContext) -> str:
    """The SMS and, when it still fits one part, the plan's dashboard (the incident id is
    already in it: one token to type into `iotwatch incidents ack`)."""
    if not ctx.dashboard_name:
        return text
    linked = f"{text} {short_dashboard_url(ctx.dashboard_name, ctx.region)}"
    return linked if gsm7_length(to_gsm7(linked)) <= SMS_LIMIT else text


def _render_sms_core(
    notification: Notification, alerts: Sequence[Alert], ctx: MessageContext, since: int, hint: str
) -> str:
    kind, incident = notification.kind, notification.incident
    named = f"{ctx.plan_name} {incident.id}" if incident is not None else ctx.plan_name
    sev = "CRIT" if notification.severity == "critical" else "WARN"
    entries: list[tuple[str, str]] = []  # (label, detail); only labels are ever shortened
    if kind == "late":
        head = f"LATE {sev} {named}: "
        ended = max(a.transition.ended for a in alerts)
        gap = incident.gap if incident is not None else None
        tail = f" {clock(since)}-{clock(ended)}Z." + (
            f" iotwatch could not evaluate {clock(gap[0])}-{clock(gap[1])}Z." if gap is not None else ""
        )
        entries = [(a.series.label, moved_phrase(a.transition.latest, direction_verb(a))) for a in alerts]
    elif kind == "resolved":
        head = f"RESOLVED {named}: "
        ended = max(a.transition.ended for a in alerts)
        tail = f" normal again after {duration_text(ended - since)}."
        entries = [(a.series.label, "") for a in alerts]
    else:
        head = f"{sev} {named}: "
        tail = f" since {clock(since)}Z.{hint} Details by email."
        if incident is not None and incident.gap is not None:
            tail = f" since {clock(since)}Z (found late).{hint} Details by email."
        if kind == "reminder":
            head = f"{sev} {named} still: "
            tail = f" since {clock(since)}Z ({duration_text(notification.at - since)})."
        shown = alerts
        if kind == "update":
            head = f"UPDATE {named}: joined "
            shown = [a for a in alerts if a.status == "new"]
            tail = f". {incident.deviating} deviating, {incident.recovered} recovered." if incident else "."
        for a in shown:
            p = a.transition.latest
            if a.series.ratio is not None:
                of = f" of {p.attempts:,.0f}" if p.attempts else ""
                entries.append((a.series.label, f"{percent(p.actual)}{of} (~{percent(p.expected)})"))
                continue
            if p.slow_change is not None:  # the slow-change model's figures, not the period's
                entries.append((a.series.label, moved_phrase(p, "down")))
                continue
            entries.append(
                (
                    a.series.label,
                    f"{change_percent(p.relative_change)} ({count_text(p.actual)} vs ~{count_text(p.expected)})",
                )
            )
    items = [f"{label} {detail}".rstrip() for label, detail in entries]
    if incident is not None and (incident.failure is not None or incident.where is not None):
        return _fit_with_where(notification, head, entries, items, tail)
    chosen: list[str] = []
    for item in items:
        trial = [*chosen, item]
        if gsm7_length(to_gsm7(_sms_text(head, trial, len(items), tail))) > SMS_LIMIT:
            break
        chosen = trial
    if not chosen:
        chosen = [_shortened_first(head, entries, len(items), tail)]
    return trim_to_sms(to_gsm7(_sms_text(head, chosen, len(items), tail)))


DETAILS = " Details by email."


def _fit_with_where(
    notification: Notification, head: str, entries: Sequence[tuple[str, str]], items: Sequence[str], tail: str
) -> str:
    """One part with the likely kind and one line of where. What does not fit is dropped in
    this order: the metrics after the first, "Details by email.", the where line's parts from
    the last (clients, reason, group). The kind stays: the first metric's label is shortened
    for it, as it is for the start and the CloudTrail hint."""
    from iotwatch.domain.messages.where import kind_sms, where_sms_parts

    incident = notification.incident
    assert incident is not None
    tag = kind_sms(incident.failure) if incident.failure is not None else ""
    # where belongs to the news of a problem; an update (SMS filters it out) or a resolve is not
    told = notification.kind not in ("update", "resolved")
    parts = where_sms_parts(incident.where) if incident.where is not None and told else []
    bare = tail.removesuffix(DETAILS)
    details = tail[len(bare) :]
    named, colon, rest = head.rpartition(": ")  # the kind goes right after the incident's id
    tagged = named + colon + tag + rest

    def text(kind_on: bool, shown: Sequence[str], details_on: bool, chosen: Sequence[str]) -> str:
        where = f" Where: {', '.join(shown)}." if shown else ""
        body = _sms_text(tagged if kind_on else head, chosen, len(items), bare + where)
        return to_gsm7(body + (details if details_on else ""))

    def fits(kind_on: bool, shown: Sequence[str], details_on: bool, chosen: Sequence[str]) -> bool:
        return gsm7_length(text(kind_on, shown, details_on, chosen)) <= SMS_LIMIT

    chosen = [items[0]]
    kind_on = bool(tag)
    if not fits(kind_on, [], False, chosen):  # the kind stays: the first label gives way
        chosen = [_shortened_first(tagged, entries, len(items), bare)]
    if parts and not fits(kind_on, parts[:1], False, chosen):
        # the top group (or reason) is worth more than the first label's full name
        shorter = [_shortened_first(tagged, entries, len(items), f"{bare} Where: {parts[0]}.")]
        if fits(kind_on, parts[:1], False, shorter):
            chosen = shorter
    shown: list[str] = []
    for part in parts:
        if not fits(kind_on, [*shown, part], False, chosen):
            break
        shown.append(part)
    details_on = bool(details) and fits(kind_on, shown, True, chosen)
    for item in items[1:]:
        if not fits(kind_on, shown, details_on, [*chosen, item]):
            break
        chosen.append(item)
    return trim_to_sms(text(kind_on, shown, details_on, chosen))


def _shortened_first(head: str, entries: Sequence[tuple[str, str]], total: int, tail: str) -> str:
    """The first metric alone, its label shortened to fit one part."""
    label, detail = entries[0]
    fixed = gsm7_length(to_gsm7(_sms_text(head, [" " + detail if detail else ""], total, tail)))
    return f"{shorten(to_gsm7(label), SMS_LIMIT - fixed)} {detail}".rstrip()


def _sms_text(head: str, chosen: Sequence[str], total: int, tail: str) -> str:
    rest = total - len(chosen)
    return head + ", ".join(chosen) + (f", +{rest} more" if rest else "") + tail
