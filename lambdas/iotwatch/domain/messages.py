"""What on-call reads: one message per topic and evaluation, rendered per protocol.

SNS `MessageStructure=json` lets one publish carry a full e-mail and a short SMS. Limits
that matter: e-mail subject under 100 characters with no line break; an SMS part is 160
GSM-7 characters (longer ones are split and billed per part), so the SMS is fitted into
one part and says what is wrong and how badly first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from iotwatch.domain.audit import AuditEvent, AuditVerdict, RecordedCall
from iotwatch.domain.deviation import PeriodScore, Transition
from iotwatch.domain.ratios import formula, percent, percent_range, share_phrase
from iotwatch.domain.series import Series
from iotwatch.domain.times import iso_z

SUBJECT_LIMIT = 99
SMS_LIMIT = 160

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")
_ASCII_FALLBACKS = {
    "—": "-",
    "–": "-",
    "−": "-",
    "σ": "sd",
    "’": "'",
    "…": "...",
    "×": "x",
    "→": ">",
    "≈": "~",
}


def to_gsm7(text: str) -> str:
    out = []
    for ch in text:
        if ch in _GSM7_BASIC or ch in _GSM7_EXTENDED:
            out.append(ch)
        else:
            out.append(_ASCII_FALLBACKS.get(ch, "?"))
    return "".join(out)


def gsm7_length(text: str) -> int:
    """Septets used; extension characters take two. Raises if a character is not GSM-7."""
    total = 0
    for ch in text:
        if ch in _GSM7_BASIC:
            total += 1
        elif ch in _GSM7_EXTENDED:
            total += 2
        else:
            raise ValueError(f"{ch!r} is not a GSM-7 character")
    return total


@dataclass(frozen=True)
class MessageContext:
    plan_name: str
    stack_name: str
    region: str
    team: str
    runbook: str | None
    escalation: str | None
    dashboard_name: str | None
    baseline_method: dict[str, str] = field(default_factory=dict)  # series id -> "method, source, window"
    # control-plane calls a firing message may quote, oldest first, and how far back it looks
    control_plane: tuple[RecordedCall, ...] = ()
    correlation_window: int = 3600


@dataclass(frozen=True)
class Alert:
    series: Series
    transition: Transition
    status: str = "deviating"  # in an update: "new" (joined since the last message) or "recovered"


@dataclass(frozen=True)
class IncidentRef:
    """The incident a message is about, as the message tells it."""

    id: str
    opened_at: int
    since: int
    severity: str  # the highest any member reached
    members: int
    deviating: int
    recovered: int
    ended: int | None = None  # resolved: when the last member came back
    previous: int | None = None  # when this topic was last told about it
    escalated_from: str | None = None  # a first page that a higher severity brought: the old one
    # found (or changed) while catching up on ticks iotwatch could not evaluate on time:
    # (first missed window, the window that caught up, the first one caught up on)
    gap: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class Notification:
    """One message to one topic about one incident (or, without one, a group of alerts)."""

    topic: str
    kind: str  # firing | escalated | update | reminder | resolved | late (over before it was found)
    severity: str
    at: int
    alerts: tuple[Alert, ...]
    incident: IncidentRef | None = None

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(a.series.metric for a in self.alerts))


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    email: str
    sms: str
    attributes: dict[str, dict[str, str]]
    document: dict[str, object] = field(default_factory=dict)

    def sns_message(self) -> str:
        """Per-protocol bodies: people get the e-mail or SMS text; queues and functions
        (ChatOps, ticketing) get a JSON document with the same facts plus both texts."""
        machine = json.dumps(self.document, ensure_ascii=False, separators=(",", ":"))
        bodies = {
            "default": self.email,
            "email": self.email,
            "sms": self.sms,
            "sqs": machine,
            "lambda": machine,
        }
        return json.dumps(bodies, ensure_ascii=False)


def _clock(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def _stamp(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: int) -> str:
    minutes = max(seconds, 0) // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _count(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _change(relative: float) -> str:
    if relative == float("inf"):
        return "new traffic"
    return f"{relative * 100:+.0f}%"


def _value(series: Series, value: float) -> str:
    """A count as a count, a share of attempts as a percentage."""
    return percent(value) if series.ratio is not None else _count(value)


def _range(series: Series, lower: float, upper: float) -> str:
    if series.ratio is not None:
        return percent_range(lower, upper)
    return f"{_count(lower)}-{_count(upper)}"


def change_text(series: Series, score: PeriodScore) -> str:
    """How far from normal: '+25%' for a count, '+30.8 pts' for a share of attempts (a share
    from 0.2 % to 31 % is no '+15400%')."""
    if series.ratio is None:
        return _change(score.relative_change)
    points = (score.actual - score.expected) * 100
    return f"{points:+.1f} pts" if abs(points) < 10 else f"{points:+.0f} pts"


def _rison(value: str) -> str:
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
    return "'" + "".join(ch if ch in safe else f"*{ord(ch):02x}" for ch in value)


def metric_console_url(series: Series, region: str, *, start: int, end: int) -> str:
    """The series in the CloudWatch console; a share as the metric math over its parts."""
    metrics = _console_metrics(series)
    graph = (
        f"~(metrics~({metrics})~view~'timeSeries~stat~{_rison(series.statistic)}~period~{series.period}"
        f"~region~{_rison(region)}~start~{_rison(iso_z(start))}~end~{_rison(iso_z(end))})"
    )
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#metricsV2?graph={graph}"


def _console_metrics(series: Series) -> str:
    def metric(name: str, options: str = "") -> str:
        parts = [series.namespace, name]
        for key, value in series.dimensions:
            parts += [key, value]
        return "~(" + "".join("~" + _rison(p) for p in parts) + options + ")"

    ratio = series.ratio
    if ratio is None:
        return metric(series.metric)
    names = list(dict.fromkeys((*ratio.denominator, *ratio.numerator)))
    ids = {name: f"m{i}" for i, name in enumerate(names)}
    expression = (
        f"100*({'+'.join(ids[n] for n in ratio.numerator)})/({'+'.join(ids[n] for n in ratio.denominator)})"
    )
    shown = f"~(~(expression~{_rison(expression)}~label~{_rison(series.metric + ' (%)')}~id~'e1))"
    return shown + "".join(metric(name, f"~(id~'{ids[name]}~visible~false)") for name in names)


def dashboard_url(name: str, region: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"
    )


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _headline_parts(alert: Alert, kind: str) -> tuple[str, str]:
    """(label, what happened): the label may be shortened to fit, the rest never is."""
    latest = alert.transition.latest
    if kind == "resolved":
        return alert.series.label, "back to normal"
    verb = "down" if latest.direction == "drop" else "up"
    if kind == "late":
        t = alert.transition
        span = f"{_clock(t.since)}-{_clock(t.ended)}Z"
        if alert.series.ratio is not None:
            shown = f"{verb} to {percent(latest.actual)} (normally {percent(latest.expected)})"
            return alert.series.label, f"was {shown} {span}"
        return alert.series.label, f"was {_moved(latest, verb)} {span}"
    if alert.series.ratio is not None:
        now = f"{verb} to {percent(latest.actual)} (normally {percent(latest.expected)})"
        if kind == "reminder":
            return (
                alert.series.label,
                f"still {now} after {_duration(alert.transition.at - alert.transition.since)}",
            )
        return alert.series.label, ("joined, " if kind == "update" else "") + now
    if kind == "reminder":
        after = f" after {_duration(alert.transition.at - alert.transition.since)}"
        if latest.relative_change == float("inf"):
            return alert.series.label, f"still {verb}: new traffic{after}"
        return alert.series.label, f"still {verb} {abs(latest.relative_change) * 100:.0f}%{after}"
    joined = "joined, " if kind == "update" else ""
    if latest.relative_change == float("inf"):
        return alert.series.label, f"{joined}{verb}: new traffic"
    return alert.series.label, f"{joined}{verb} {abs(latest.relative_change) * 100:.0f}%"


def _moved(score: PeriodScore, verb: str) -> str:
    """'down 85%' (or 'up: new traffic')."""
    if score.relative_change == float("inf"):
        return f"{verb}: new traffic"
    return f"{verb} {abs(score.relative_change) * 100:.0f}%"


def gap_sentence(gap: tuple[int, int, int], *, found: bool = True) -> str:
    """What iotwatch could not see: 'iotwatch could not evaluate from 13:55 to 14:55 UTC', and
    when the gap was longer than the catch-up span, how much of it was never evaluated."""
    start, end, caught_up_from = gap
    text = f"iotwatch could not evaluate from {_clock(start)} to {_clock(end)} UTC"
    if end - start >= 86400:
        text = f"iotwatch could not evaluate from {_stamp(start)} to {_stamp(end)}"
    if found:
        text += " and found this when it caught up"
    if caught_up_from > start:
        text += (
            f"; it caught up from {_clock(caught_up_from)} UTC (its catch-up span): the "
            f"{_duration(caught_up_from - start)} before were not evaluated"
        )
    return text


def _shorten(label: str, room: int) -> str:
    if len(label) <= room:
        return label
    return label[: max(room - 3, 1)].rstrip() + "..."


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
                    f"{_clock(t.since)}-{_clock(t.ended)}",
                    _count(p.actual),
                    f"{_count(p.lower)}-{_count(p.upper)}",
                    _change(p.relative_change),
                )
            )
    elif kind == "resolved":
        rows = [("metric", "deviated (UTC)", "worst")]
        for a in alerts:
            t = a.transition
            rows.append((a.series.label, f"{_clock(t.since)}-{_clock(t.ended)}", f"{t.peak_score:+.1f} sd"))
    else:
        rows = [("metric", "now", "normal", "change")]
        for a in alerts:
            p = a.transition.latest
            change = "ok" if a.status == "recovered" else change_text(a.series, p)
            rows.append(
                (a.series.label, _value(a.series, p.actual), _range(a.series, p.lower, p.upper), change)
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


_UPDATE_ORDER = {"new": 0, "deviating": 1, "recovered": 2}


def _ordered(notification: Notification) -> list[Alert]:
    """Worst first; an update lists who joined, then who still deviates, then who recovered."""
    if notification.kind == "update":
        return sorted(
            notification.alerts,
            key=lambda a: (_UPDATE_ORDER.get(a.status, 1), -abs(a.transition.latest.score)),
        )
    if notification.kind in ("resolved", "late"):
        return sorted(notification.alerts, key=lambda a: -abs(a.transition.peak_score))
    return sorted(notification.alerts, key=lambda a: -abs(a.transition.latest.score))


def _opening_line(
    notification: Notification, alerts: Sequence[Alert], ctx: MessageContext, since: int
) -> str:
    kind, at, incident = notification.kind, notification.at, notification.incident
    of_plan = f"of plan '{ctx.plan_name}'"
    if kind == "update" and incident is not None:
        joined = sum(1 for a in alerts if a.status == "new")
        after = f" since {_clock(incident.previous)} UTC" if incident.previous is not None else ""
        return (
            f"UPDATE on incident {incident.id} {of_plan} ({incident.severity.upper()} since {_stamp(since)}, "
            f"{_duration(at - since)}): {joined} metric(s) joined{after}; {incident.deviating} of "
            f"{incident.members} deviating, {incident.recovered} recovered. No new page."
        )
    if kind == "late":
        ended = max(a.transition.ended for a in alerts)
        if len(alerts) == 1:
            what = f"{alerts[0].series.label} {of_plan} was {_moved(alerts[0].transition.latest, _verb(alerts[0]))}"
        else:
            what = f"{len(alerts)} metric(s) {of_plan} were outside their normal range"
        gap = f"; {gap_sentence(incident.gap, found=False)}" if incident is not None and incident.gap else ""
        line = (
            f"LATE ({notification.severity.upper()}): {what} from {_clock(since)} to {_clock(ended)} UTC "
            f"({_duration(ended - since)}){gap}. It was over before iotwatch could page; nobody was "
            "told while it happened."
        )
        return line + (f" Incident {incident.id}." if incident is not None else "")
    if kind == "resolved":
        ended = max(a.transition.ended for a in alerts)
        every = "all " if incident is not None else ""
        line = (
            f"RESOLVED: {every}{len(alerts)} metric(s) {of_plan} are back within their normal range after "
            f"{_duration(ended - since)} ({_stamp(since)} to {_clock(ended)} UTC)."
        )
        return line + (f" Incident {incident.id} is over." if incident is not None else "")
    if kind == "reminder":
        line = (
            f"REMINDER ({notification.severity.upper()}): {len(alerts)} metric(s) {of_plan} are still outside "
            f"their normal range since {_stamp(since)} ({_duration(at - since)})."
        )
    else:
        word = "escalated to CRITICAL" if kind == "escalated" else notification.severity.upper()
        if incident is not None and incident.escalated_from:
            word = f"{word} (escalated from {incident.escalated_from.upper()})"
        line = (
            f"{word}: {len(alerts)} metric(s) {of_plan} are outside their normal range "
            f"since {_stamp(since)} ({_duration(at - since)})."
        )
    return line + (f" Incident {incident.id}." if incident is not None else "")


def _verb(alert: Alert) -> str:
    return "down" if alert.transition.latest.direction == "drop" else "up"


def render(notification: Notification, ctx: MessageContext) -> RenderedMessage:
    alerts = _ordered(notification)
    kind, at, incident = notification.kind, notification.at, notification.incident
    lead = alerts[0]
    since = incident.since if incident is not None else min(a.transition.since for a in alerts)
    tag = {"resolved": "RESOLVED", "update": "UPDATE"}.get(kind, notification.severity.upper())
    if kind in ("reminder", "late"):
        tag = f"{kind.upper()} {tag}"
    listed = sum(1 for a in alerts if a.status == "new") if kind == "update" else len(alerts)
    more = f" (+{listed - 1} more)" if listed > 1 else ""
    label, what = _headline_parts(lead, kind)
    named = f"{ctx.plan_name} {incident.id}" if incident is not None else ctx.plan_name
    prefix, suffix = f"[{tag}] {named}: ", f" {what}{more}"
    label = _shorten(label, SUBJECT_LIMIT - len(prefix) - len(suffix))
    subject = _fit(f"{prefix}{label}{suffix}", SUBJECT_LIMIT).replace("\n", " ").replace("\r", " ")

    lines: list[str] = [_opening_line(notification, alerts, ctx, since)]
    if incident is not None and incident.gap is not None and kind != "late":
        lines.append(f"Found late: {gap_sentence(incident.gap)}.")
    changes = correlated_changes(ctx, since=since, at=at) if kind in OPENING_KINDS else []
    suspect = _suspect(changes, since)
    if suspect is not None:
        lag = since - suspect.at  # the suspect is never after the start
        after = f"{_duration(lag)} after" if lag >= 60 else "right after"
        what_changed = f"{suspect.action} {suspect.target}".rstrip()
        lines.append(f"{label} {what} {after} {what_changed} by {suspect.who}.")
    lines.append("")
    lines += _summary_table(alerts, kind)
    lines.append("")
    if changes:
        lines.append(
            f"Control-plane changes from {_duration(ctx.correlation_window)} before it began (CloudTrail):"
        )
        for change in changes[-CHANGES_SHOWN:]:
            lines.append(f"  {change.line()} - {_relative(since - change.at)}")
        if len(changes) > CHANGES_SHOWN:
            lines.append(f"  and {len(changes) - CHANGES_SHOWN} earlier")
        lines.append("")
    if ctx.runbook or ctx.dashboard_name or incident is not None:
        lines.append("Where to look:")
        if ctx.dashboard_name:
            lines.append(f"  Dashboard: {dashboard_url(ctx.dashboard_name, ctx.region)}")
        if ctx.runbook:
            lines.append(f"  Runbook:   {ctx.runbook}")
        if incident is not None:
            lines.append(f"  Timeline:  iotwatch incidents show {incident.id}")
        lines.append("")
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
    email = "\n".join(lines)

    sms = _render_sms(notification, alerts, ctx, since, suspect)
    attributes = {
        "severity": {"DataType": "String", "StringValue": notification.severity},
        "kind": {"DataType": "String", "StringValue": kind},
        "category": {"DataType": "String", "StringValue": "deviation"},
        "metric": {"DataType": "String.Array", "StringValue": json.dumps(notification.metrics)},
        "plan": {"DataType": "String", "StringValue": ctx.plan_name},
    }
    if incident is not None:
        attributes["incident"] = {"DataType": "String", "StringValue": incident.id}
    if incident is not None and incident.gap is not None:
        # found catching up on ticks missed in this gap: filter policies can tell late news apart
        start, end, _ = incident.gap
        attributes["gap"] = {"DataType": "String", "StringValue": f"{iso_z(start)}/{iso_z(end)}"}
    document: dict[str, object] = {
        "source": "iotwatch",
        "plan": ctx.plan_name,
        "stack": ctx.stack_name,
        "region": ctx.region,
        "topic": notification.topic,
        "category": "deviation",
        "kind": kind,
        "severity": notification.severity,
        "time": iso_z(at),
        "since": iso_z(since),
        **({"incident": _incident_document(incident)} if incident is not None else {}),
        "alerts": [_alert_document(a, kind) for a in alerts],
        "control_plane": [
            {
                "time": iso_z(c.at),
                "event_id": c.event_id,
                "action": c.action,
                "who": c.who,
                "parameters": dict(c.key_parameters),
                "severity": c.severity,
                "error": c.error,
            }
            for c in changes
        ],
        "subject": subject,
        "email": email,
        "sms": sms,
    }
    return RenderedMessage(subject=subject, email=email, sms=sms, attributes=attributes, document=document)


def _details(alert: Alert, kind: str, ctx: MessageContext) -> list[str]:
    t, s = alert.transition, alert.series
    p = t.latest
    dims = ", ".join(f"{k}={v}" for k, v in s.dimensions) or "no dimensions"
    window = f"{_clock(p.ts)}-{_clock(p.ts + s.period)} UTC"
    status = f" - {_STATUS_WORD[alert.status]}" if kind == "update" else ""
    if s.ratio is None:
        lines = [
            f"{s.metric} ({dims}) [{s.namespace}, {s.statistic} per {s.period // 60} min]{status}",
            f"  now:       {_count(p.actual)} ({window})",
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
    lines.append(f"  expected:  {_value(s, p.expected)} (normal range {_range(s, p.lower, p.upper)})")
    if kind == "late":
        lines[1] = lines[1].replace("  now:       ", "  worst:     ", 1) + f", {change_text(s, p)}"
        lines.append(f"  deviated:  {_stamp(t.since)} to {_stamp(t.ended)} ({_duration(t.ended - t.since)})")
        lines.append(f"  peak:      deviation {t.peak_score:+.1f} (robust sd)")
    elif kind == "resolved" or alert.status == "recovered":
        lines.append(f"  deviated:  {_stamp(t.since)} to {_stamp(t.ended)} ({_duration(t.ended - t.since)})")
        lines.append(f"  worst:     deviation {t.peak_score:+.1f} (robust sd)")
    else:
        lines.append(f"  change:    {change_text(s, p)}, deviation {p.score:+.1f} (robust sd)")
        lines.append(f"  since:     {_stamp(t.since)} ({_duration(t.at - t.since)})")
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


def _incident_document(incident: IncidentRef) -> dict[str, object]:
    return {
        "id": incident.id,
        "opened": iso_z(incident.opened_at),
        "since": iso_z(incident.since),
        "severity": incident.severity,
        "members": incident.members,
        "deviating": incident.deviating,
        "recovered": incident.recovered,
        **({"ended": iso_z(incident.ended)} if incident.ended is not None else {}),
        **({"previous_message": iso_z(incident.previous)} if incident.previous is not None else {}),
        **({"escalated_from": incident.escalated_from} if incident.escalated_from else {}),
        **(
            {
                "gap": {
                    "start": iso_z(incident.gap[0]),
                    "end": iso_z(incident.gap[1]),
                    "caught_up_from": iso_z(incident.gap[2]),
                    "not_evaluated_seconds": incident.gap[2] - incident.gap[0],
                }
            }
            if incident.gap is not None
            else {}
        ),
    }


def _alert_document(a: Alert, kind: str) -> dict[str, object]:
    t = a.transition
    recovered = kind in ("resolved", "late") or a.status == "recovered"
    return {
        "metric": a.series.metric,
        "namespace": a.series.namespace,
        "dimensions": a.series.dimension_map,
        "series": a.series.id,
        "status": "recovered" if kind in ("resolved", "late") else a.status,
        "severity": t.severity,
        "period_start": iso_z(t.latest.ts),
        "actual": t.latest.actual,
        "expected": round(t.latest.expected, 3),
        "lower": round(t.latest.lower, 3),
        "upper": round(t.latest.upper, 3),
        "score": round(t.latest.score, 3),
        "peak_score": round(t.peak_score, 3),
        "since": iso_z(t.since),
        **({"ended": iso_z(t.ended)} if recovered else {}),
        **({"share": _share_document(a)} if a.series.ratio is not None else {}),
    }


def _share_document(a: Alert) -> dict[str, object]:
    ratio, p = a.series.ratio, a.transition.latest
    assert ratio is not None
    return {
        "numerator": list(ratio.numerator),
        "denominator": list(ratio.denominator),
        "min_denominator": ratio.min_denominator,
        "attempts": p.attempts,
        "failed": round(p.actual * p.attempts) if p.attempts is not None else None,
    }


def _suspect(changes: Sequence[RecordedCall], since: int) -> RecordedCall | None:
    """The change most likely behind an incident: the latest sensitive one before it began,
    else the latest one before it began."""
    before = [c for c in changes if c.at <= since]
    sensitive = [c for c in before if c.sensitive]
    pool = sensitive or before
    return pool[-1] if pool else None


def _render_sms(
    notification: Notification,
    alerts: Sequence[Alert],
    ctx: MessageContext,
    since: int,
    suspect: RecordedCall | None = None,
) -> str:
    # a likely cause is worth more on a phone than a third metric: it takes their place
    hint = f" After {suspect.action} {_clock(suspect.at)}Z." if suspect is not None else ""
    return _render_sms_core(notification, alerts, ctx, since, hint)


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
        tail = f" {_clock(since)}-{_clock(ended)}Z." + (
            f" iotwatch could not evaluate {_clock(gap[0])}-{_clock(gap[1])}Z." if gap is not None else ""
        )
        entries = [(a.series.label, _moved(a.transition.latest, _verb(a))) for a in alerts]
    elif kind == "resolved":
        head = f"RESOLVED {named}: "
        ended = max(a.transition.ended for a in alerts)
        tail = f" normal again after {_duration(ended - since)}."
        entries = [(a.series.label, "") for a in alerts]
    else:
        head = f"{sev} {named}: "
        tail = f" since {_clock(since)}Z.{hint} Details by email."
        if incident is not None and incident.gap is not None:
            tail = f" since {_clock(since)}Z (found late).{hint} Details by email."
        if kind == "reminder":
            head = f"{sev} {named} still: "
            tail = f" since {_clock(since)}Z ({_duration(notification.at - since)})."
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
            entries.append(
                (
                    a.series.label,
                    f"{_change(p.relative_change)} ({_count(p.actual)} vs ~{_count(p.expected)})",
                )
            )
    items = [f"{label} {detail}".rstrip() for label, detail in entries]
    chosen: list[str] = []
    for item in items:
        trial = [*chosen, item]
        if gsm7_length(to_gsm7(_sms_text(head, trial, len(items), tail))) > SMS_LIMIT:
            break
        chosen = trial
    if not chosen:
        label, detail = entries[0]
        fixed = gsm7_length(to_gsm7(_sms_text(head, [" " + detail if detail else ""], len(items), tail)))
        chosen = [f"{_shorten(to_gsm7(label), SMS_LIMIT - fixed)} {detail}".rstrip()]
    text = to_gsm7(_sms_text(head, chosen, len(items), tail))
    while gsm7_length(text) > SMS_LIMIT:
        text = text[:-1]
    return text


def _sms_text(head: str, chosen: Sequence[str], total: int, tail: str) -> str:
    rest = total - len(chosen)
    return head + ", ".join(chosen) + (f", +{rest} more" if rest else "") + tail


# --- control-plane audit --------------------------------------------------------------------

CHANGES_SHOWN = 5
# messages that open a topic's story: they quote the control-plane changes before it began
OPENING_KINDS = ("firing", "escalated", "late")

# The first thing to check, by what the call touched: what breaks, and how to see it.
_FIRST_CHECKS = (
    (
        "Policy",
        "Devices whose certificates use this policy may lose permission to connect, publish or "
        "subscribe: watch Connect.Success and PublishIn.Success, and compare the policy with version control.",
    ),
    (
        "Certificate",
        "Devices presenting an inactive or revoked certificate are refused at connect: watch "
        "Connect.AuthError and Connect.Success, and confirm the change was planned.",
    ),
    (
        "TopicRule",
        "Messages matching this rule stop reaching (or newly reach) their destination: watch "
        "RulesExecuted and the rule's action metrics.",
    ),
    (
        "Logging",
        "IoT logging changed: errors may now go unrecorded. Check the log level and role with "
        "`aws iot get-v2-logging-options`.",
    ),
    (
        "Audit",
        "Device Defender audit settings changed: check what is still audited with "
        "`aws iot describe-account-audit-configuration`.",
    ),
    (
        "SecurityProfile",
        "Device Defender detection changed for the devices of this profile: confirm the change was planned.",
    ),
    (
        "Authorizer",
        "Custom authentication changed: devices using this authorizer may be refused or let in; "
        "watch Connect.AuthError and Connect.Success.",
    ),
    (
        "DomainConfiguration",
        "The endpoint devices connect to changed: watch Connect.Success and the domain's certificate.",
    ),
    ("Thing", "A thing or group was deleted: check it was not still in service."),
)


def first_check(action: str) -> str | None:
    for marker, text in _FIRST_CHECKS:
        if marker in action:
            return text
    return None


def cloudtrail_event_url(event_id: str, region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}"


def _target_phrase(event: AuditEvent) -> str:
    """What the call touched, short: 'fleet-policy -> cert/4f0ba725787a'."""
    values = list(event.key_parameters.values())
    if not values:
        return ""
    first = _short_resource(values[0])
    return f"{first} -> {_short_resource(values[1])}" if len(values) > 1 else first


def _short_resource(value: str) -> str:
    """An ARN's resource part with long ids cut: 'arn:aws:iot:...:cert/4f0b...' -> 'cert/4f0ba725787a'."""
    if value.startswith("arn:"):
        value = value.split(":", 5)[-1]
    kind, _, name = value.rpartition("/")
    if len(name) > 24:
        name = name[:12]
    return f"{kind}/{name}" if kind else name


def _short_who(event: AuditEvent) -> str:
    """'role deploy-bot' (no session): enough for a subject line or an SMS."""
    return event.credentials if event.is_root else f"{event.credentials} {event.principal or '?'}"


def render_audit(
    event: AuditEvent, verdict: AuditVerdict, *, topic: str, event_id: str, ctx: MessageContext
) -> RenderedMessage:
    """A sensitive control-plane call, for the topics its severity routes to: who, what,
    when, from where, the outcome, and what to check first."""
    severity = verdict.severity or "warning"
    region = event.region or ctx.region
    at = int(event.time.timestamp())
    target = _target_phrase(event)
    failed = f" FAILED ({event.error})" if event.failed else ""
    tag = severity.upper()
    head = f"[{tag}] {ctx.plan_name}: {event.action}{failed}"
    what = f" {target}" if target else ""
    subject = next(
        (
            candidate
            for candidate in (
                f"{head}{what} by {event.who}",
                f"{head}{what} by {_short_who(event)}",
                f"{head} by {_short_who(event)}{what}",
            )
            if len(candidate) <= SUBJECT_LIMIT
        ),
        None,
    ) or _fit(f"{head} by {_short_who(event)}{what}", SUBJECT_LIMIT)
    subject = subject.replace("\n", " ").replace("\r", " ")

    lines = [
        f"{tag}: {event.action} on AWS IoT{' failed' if event.failed else ''} in {region}"
        + (f" (account {event.account})" if event.account else "")
        + f" at {_stamp(at)}.",
        "",
        "Why this pages: " + "; ".join(verdict.reasons) + ".",
        "",
        f"Who:      {event.credentials}"
        + (f" {event.principal}" if event.principal and not event.is_root else "")
        + (f" (session {event.session})" if event.session else "")
        + (", temporary credentials" if event.temporary else ""),
    ]
    if event.principal_arn:
        lines.append(f"          {event.principal_arn}")
    if event.via_service:
        lines.append(f"          via {event.via_service}")
    if event.mfa is False and event.is_root:
        lines.append("          without MFA")
    lines.append(f"What:     {event.action}")
    for name, value in event.key_parameters.items():
        lines.append(f"          {name}: {value}")
    lines.append(f"When:     {event.time.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    where = [f"source IP {event.source_ip}" if event.source_ip else None, f"region {region}"]
    lines.append("Where:    " + ", ".join(w for w in where if w))
    if event.user_agent:
        lines.append(f"          user agent {_fit(event.user_agent, 120)}")
    if event.failed:
        detail = f": {_fit(event.error_message, 200)}" if event.error_message else ""
        lines.append(f"Outcome:  FAILED, {event.error}{detail}")
    else:
        lines.append("Outcome:  succeeded")
    check = first_check(event.action)
    if check:
        lines += ["", f"First check: {check}"]
    lines += ["", "Where to look:", f"  CloudTrail: {cloudtrail_event_url(event_id, region)}"]
    if ctx.dashboard_name:
        lines.append(f"  Dashboard:  {dashboard_url(ctx.dashboard_name, ctx.region)}")
    if ctx.runbook:
        lines.append(f"  Runbook:    {ctx.runbook}")
    lines.append("")
    lines.append(f"Owner: {ctx.team}" + (f" (escalation: {ctx.escalation})" if ctx.escalation else ""))
    lines.append(f"Sent by iotwatch stack {ctx.stack_name} in {ctx.region} to topic '{topic}'.")
    email = "\n".join(lines)

    sms = _audit_sms(event, severity, ctx, target, at)
    attributes = {
        "severity": {"DataType": "String", "StringValue": severity},
        "kind": {"DataType": "String", "StringValue": "audit"},
        "category": {"DataType": "String", "StringValue": "audit"},
        "action": {"DataType": "String", "StringValue": event.action},
        "plan": {"DataType": "String", "StringValue": ctx.plan_name},
    }
    document: dict[str, object] = {
        "source": "iotwatch",
        "plan": ctx.plan_name,
        "stack": ctx.stack_name,
        "region": region,
        "topic": topic,
        "category": "audit",
        "kind": "audit",
        "severity": severity,
        "time": iso_z(at),
        "audit": {
            "event_id": event_id,
            "action": event.action,
            "credentials": event.credentials,
            "temporary": event.temporary,
            "principal": event.principal,
            "principal_arn": event.principal_arn,
            "session": event.session,
            "via_service": event.via_service,
            "source_ip": event.source_ip,
            "user_agent": event.user_agent,
            "account": event.account,
            "error": event.error,
            "parameters": event.key_parameters,
            "reasons": list(verdict.reasons),
        },
        "subject": subject,
        "email": email,
        "sms": sms,
    }
    return RenderedMessage(subject=subject, email=email, sms=sms, attributes=attributes, document=document)


def _audit_sms(event: AuditEvent, severity: str, ctx: MessageContext, target: str, at: int) -> str:
    head = f"{'CRIT' if severity == 'critical' else 'WARN'} {ctx.plan_name}: {event.action}"
    failed = f" FAILED {event.error}" if event.failed else ""
    what = f" {target}" if target else ""
    when = f" at {_clock(at)}Z"
    origin = f" from {event.source_ip}" if event.source_ip else ""
    for parts in (
        (head, failed, what, f" by {event.who}", when, origin, ". Details by email."),
        (head, failed, what, f" by {_short_who(event)}", when, origin, ". Details by email."),
        (head, failed, what, f" by {_short_who(event)}", when, "."),
        (head, failed, f" by {_short_who(event)}", when, "."),
    ):
        text = to_gsm7("".join(parts))
        if gsm7_length(text) <= SMS_LIMIT:
            return text
    text = to_gsm7(head + failed + f" by {_short_who(event)}")
    while gsm7_length(text) > SMS_LIMIT:
        text = text[:-1]
    return text


def correlated_changes(ctx: MessageContext, *, since: int, at: int) -> list[RecordedCall]:
    """Control-plane calls from `correlation_window` before an incident began up to now."""
    if ctx.correlation_window <= 0:
        return []
    return [c for c in ctx.control_plane if since - ctx.correlation_window <= c.at <= at]


def _relative(seconds: int) -> str:
    minutes = abs(seconds) // 60
    when = "before" if seconds >= 0 else "after"
    if minutes == 0:
        return "as it began" if seconds >= 0 else "right after it began"
    return f"{_duration(abs(seconds))} {when}"
