"""`iotwatch incidents [--since 7d] [--metric GLOB] [--json]` and `iotwatch incidents show ID`:
the incidents the evaluator kept in the stack's table (`notify.history_days`), as a list or
as one incident's timeline; `incidents --stats` per metric and week; `incidents ack ID` and
`incidents mark ID` record what on-call says about one. Selection and rendering are pure
functions; only the `cmd_*` functions talk to AWS."""

from __future__ import annotations

import argparse
import fnmatch
import json
import time
from collections.abc import Sequence
from typing import Any, TextIO

from iotwatch.domain.incidents.model import ID_PATTERN, Incident, Member
from iotwatch.domain.incidents.stats import incident_stats
from iotwatch.domain.times import duration_seconds, duration_text, iso_seconds, iso_z, utc_minute

from iotwatch_cli.errors import EXIT_OK, CliError
from iotwatch_cli.formatting import columns, day_clock
from iotwatch_cli.incident_stats import render_stats, stats_document
from iotwatch_cli.stack_table import add_table_options, open_store, run_with_plan

DEFAULT_SINCE = "7d"
STATS_SINCE = "12w"
WEEK = 7 * 86400
METRICS_SHOWN = 3


def clock() -> float:
    """Now (a function, so tests can fix it)."""
    return time.time()


class IncidentsError(CliError):
    """An `incidents` problem the user can fix."""


# --- selection ------------------------------------------------------------------------------------


def since_instant(text: str, *, now: int) -> int:
    """'7d', '24h', '90m' back from now, or an ISO 8601 time."""
    value = text.strip()
    if value[:-1].isdigit() and value[-1:].lower() == "w":
        return now - int(value[:-1]) * WEEK
    looks_like_time = any(c in value for c in "-:T")
    try:
        if looks_like_time:
            return int(iso_seconds(value))
        back = duration_seconds(value)
        if back > 0:
            return now - back
    except ValueError:
        pass  # said below, with what to write
    raise IncidentsError(
        f"--since {text!r}: write a duration back from now (12w, 7d, 24h, 90m) or an ISO 8601 time "
        "such as 2026-11-16T13:00Z"
    )


def select(incidents: Sequence[Incident], *, metric: str | None) -> list[Incident]:
    """Those with a member whose metric matches the glob (all without one), newest first."""
    chosen = [
        i
        for i in incidents
        if metric is None or any(fnmatch.fnmatchcase(m.metric, metric) for m in i.members)
    ]
    return sorted(chosen, key=lambda i: (i.opened_at, i.id), reverse=True)


def normalise_id(text: str) -> str:
    value = text.strip().lstrip("#")
    if not ID_PATTERN.match(value):
        raise IncidentsError(
            f"{text!r} is not an incident id: they look like 261116-1305 (the UTC date and minute it "
            "opened, a letter for a second one in that minute); `iotwatch incidents` lists them"
        )
    return value


# --- rendering ------------------------------------------------------------------------------------


def lasted(incident: Incident, *, now: int) -> str:
    ended = incident.ended
    if incident.status == "resolved" and ended is not None:
        return duration_text(ended - incident.since, to_days=True)
    return f"open {duration_text(now - incident.since, to_days=True)}"


def metrics_text(incident: Incident) -> str:
    names = list(dict.fromkeys(m.metric for m in incident.members))
    more = f", +{len(names) - METRICS_SHOWN}" if len(names) > METRICS_SHOWN else ""
    return ", ".join(names[:METRICS_SHOWN]) + more


def scope_text(since: int, metric: str | None) -> str:
    return f"since {utc_minute(since)} UTC" + (f" with a metric matching '{metric}'" if metric else "")


def render_list(incidents: Sequence[Incident], *, now: int, since: int, metric: str | None) -> str:
    scope = scope_text(since, metric)
    if not incidents:
        return f"No incidents {scope}."
    rows = [("ID", "OPENED (UTC)", "STATUS", "SEVERITY", "LASTED", "MEMBERS", "GROUP", "METRICS")]
    for i in incidents:
        rows.append(
            (
                i.id,
                utc_minute(i.opened_at),
                i.status,
                i.severity,
                lasted(i, now=now),
                str(len(i.members)),
                i.group_label,
                metrics_text(i),
            )
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(f"{cell:<{w}}" for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows
    ]
    still = sum(1 for i in incidents if i.status == "open")
    lines += ["", f"{len(incidents)} incident(s) {scope}; {still} open. Timeline: iotwatch incidents show ID"]
    return "\n".join(lines)


def _member_row(member: Member, day_of: int) -> tuple[str, ...]:
    end = day_clock(member.ended, day_of) if member.ended is not None else "now"
    return (
        member.label,
        member.severity,
        f"{day_clock(member.since, day_of)}-{end}",
        f"{member.peak_score:+.1f} sd",
        day_clock(member.joined_at, day_of),
        member.status,
    )


def render_timeline(incident: Incident, *, now: int, plan_name: str) -> str:
    day = incident.opened_at
    ended = incident.ended
    lines = [
        f"Incident {incident.id} of plan '{plan_name}': {incident.status}, {incident.severity}, "
        f"{incident.group_label}",
        f"  began     {utc_minute(incident.since)} UTC (opened {day_clock(incident.opened_at, day)})",
    ]
    if incident.status == "resolved" and ended is not None and incident.resolved_at is not None:
        lines.append(
            f"  ended     {utc_minute(ended)} UTC, resolved {day_clock(incident.resolved_at, day)} "
            f"({duration_text(ended - incident.since, to_days=True)})"
        )
    else:
        lines.append(f"  open      for {duration_text(now - incident.since, to_days=True)}")
    lines.append(f"  told      {', '.join(incident.topics) or 'nobody (silenced)'}")
    lines += _feedback_lines(incident, day)
    if incident.failure is not None:
        from iotwatch.domain.messages.where import kind_text

        lines.append(f"  kind      {kind_text(incident.failure)}")
    if incident.found_late is not None:
        gap = incident.found_late
        lines.append(
            f"  found     late: iotwatch could not evaluate {utc_minute(gap.start)} to {day_clock(gap.end, day)} UTC "
            "and found it catching up"
            + (f" (not evaluated before {day_clock(gap.caught_up_from, day)})" if gap.not_evaluated else "")
        )
    lines += ["", f"Members ({len(incident.members)}):"]
    rows: list[tuple[str, ...]] = [("metric", "severity", "deviated (UTC)", "worst", "joined", "now")]
    rows += [_member_row(m, day) for m in incident.members]
    lines += [f"  {line}" for line in columns(rows)]
    if incident.quoted:
        lines += ["", "Control-plane changes its pages quoted (CloudTrail):"]
        lines += [f"  {q.line}" for q in incident.quoted]
    if incident.breakdowns:
        from iotwatch.domain.messages.where import where_section

        lines.append("")  # the last look-up; --json has every one
        lines += where_section(incident.breakdowns[-1])[:-1]
    lines += ["", "Timeline (UTC):"]
    kind_width = max((len(e.kind) for e in incident.events), default=0)
    clock_width = max((len(day_clock(e.at, day)) for e in incident.events), default=0)
    for event in incident.events:
        lines.append(
            f"  {day_clock(event.at, day):<{clock_width}}  {event.kind:<{kind_width}}  {event.text}".rstrip()
        )
    return "\n".join(lines)


def _feedback_lines(incident: Incident, day: int) -> list[str]:
    lines = []
    ack = incident.acknowledged
    if ack is not None:
        note = f": {ack.note}" if ack.note else ""
        lines.append(f"  acked     by {ack.by} at {day_clock(ack.at, day)} UTC{note} (no reminders)")
    verdict = incident.verdict
    if verdict is not None:
        who = f" by {verdict.by}" if verdict.by else ""
        note = f": {verdict.note}" if verdict.note else ""
        lines.append(f"  marked    {verdict.kind}{who}{note} (kept out of training)")
    return lines


def _feedback_document(incident: Incident) -> dict[str, Any]:
    ack, verdict = incident.acknowledged, incident.verdict
    return {
        "acknowledged": (
            {"by": ack.by, "time": iso_z(ack.at), "note": ack.note} if ack is not None else None
        ),
        "verdict": (
            {"kind": verdict.kind, "by": verdict.by, "time": iso_z(verdict.at), "note": verdict.note}
            if verdict is not None
            else None
        ),
    }


def incident_document(incident: Incident) -> dict[str, Any]:
    """The machine-readable form `--json` prints: ISO times, dimension maps."""
    ended = incident.ended
    return {
        "id": incident.id,
        "status": incident.status,
        "severity": incident.severity,
        "group": dict(incident.shown_group),
        "opened": iso_z(incident.opened_at),
        "since": iso_z(incident.since),
        "ended": iso_z(ended) if ended is not None and incident.status == "resolved" else None,
        "resolved": iso_z(incident.resolved_at) if incident.resolved_at is not None else None,
        "found_late": (
            {
                "gap_start": iso_z(incident.found_late.start),
                "gap_end": iso_z(incident.found_late.end),
                "caught_up_from": iso_z(incident.found_late.caught_up_from),
            }
            if incident.found_late is not None
            else None
        ),
        "members": [
            {
                "series": m.series_id,
                "metric": m.metric,
                "dimensions": dict(m.dimensions),
                "severity": m.severity,
                "status": m.status,
                "since": iso_z(m.since),
                "ended": iso_z(m.ended) if m.ended is not None else None,
                "joined": iso_z(m.joined_at),
                "peak_score": round(m.peak_score, 3),
            }
            for m in incident.members
        ],
        "topics": {
            name: {
                "opened": iso_z(log.opened),
                "last_page": iso_z(log.paged),
                "last_message": iso_z(log.notified),
            }
            for name, log in incident.topics.items()
        },
        "control_plane": [
            {"time": iso_z(q.at), "event_id": q.event_id, "action": q.action, "who": q.who}
            for q in incident.quoted
        ],
        **_where_fields(incident),
        **_feedback_document(incident),
        "timeline": [
            {"time": iso_z(e.at), "kind": e.kind, "text": e.text, "topics": list(e.topics)}
            for e in incident.events
        ],
    }


def _where_fields(incident: Incident) -> dict[str, Any]:
    """`failure` and `where` (every look-up, oldest first), as the pages' JSON document has them."""
    if incident.failure is None and not incident.breakdowns:
        return {}
    from iotwatch.domain.messages.where import failure_document, where_document

    return {
        "failure": failure_document(incident.failure) if incident.failure is not None else None,
        "where": [where_document(b) for b in incident.breakdowns],
    }


# --- AWS ------------------------------------------------------------------------------------------


def cmd_incidents(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    def action(plan: Any) -> int:
        now = int(clock())
        since = since_instant(args.since or (STATS_SINCE if args.stats else DEFAULT_SINCE), now=now)
        store, _ = open_store(args, plan)
        incidents = select(store.incidents.list_incidents(since=since), metric=args.metric)
        if args.stats:
            rows = incident_stats(i for i in incidents if i.opened_at >= since)
            if args.metric:  # an incident's other metrics are not what was asked for
                rows = [r for r in rows if fnmatch.fnmatchcase(r.metric, args.metric)]
            if args.json:
                print(json.dumps(stats_document(rows), indent=1), file=out)
            else:
                print(render_stats(rows, scope=scope_text(since, args.metric)), file=out)
            return EXIT_OK
        if args.json:
            print(json.dumps([incident_document(i) for i in incidents], indent=1), file=out)
        else:
            print(render_list(incidents, now=now, since=since, metric=args.metric), file=out)
        return EXIT_OK

    return run_with_plan(args, out, err, action)


def cmd_incident_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    def action(plan: Any) -> int:
        incident_id = normalise_id(args.id)
        store, table = open_store(args, plan)
        incident = store.incidents.get_incident(incident_id)
        if incident is None:
            raise missing(store, incident_id, table)
        if args.json:
            print(json.dumps(incident_document(incident), indent=1), file=out)
        else:
            print(render_timeline(incident, now=int(clock()), plan_name=plan.name), file=out)
        return EXIT_OK

    return run_with_plan(args, out, err, action)


def missing(store: Any, incident_id: str, table: str) -> IncidentsError:
    recent = [
        i.id for i in select(store.incidents.list_incidents(since=int(clock()) - 30 * 86400), metric=None)
    ]
    known = f"; the last 30 days have {', '.join(recent[:5])}" if recent else "; none in the last 30 days"
    return IncidentsError(f"no incident {incident_id} in table {table}{known}")


def register(commands: Any) -> Any:
    """Registers `incidents [show ID]` on the top-level subparsers; returns the `incidents`
    subparsers (`ack` and `mark` join them: iotwatch_cli.incident_feedback.register)."""
    incidents = commands.add_parser(
        "incidents", help="the incidents iotwatch paged for: a list, or one incident's timeline"
    )
    incidents.add_argument(
        "--since",
        default=None,
        help="how far back: a duration (12w, 7d, 24h, 90m) or an ISO 8601 time "
        f"(default {DEFAULT_SINCE}; with --stats {STATS_SINCE})",
    )
    incidents.add_argument(
        "--metric", metavar="GLOB", default=None, help="only incidents of a matching metric"
    )
    incidents.add_argument("--json", action="store_true", help="print every incident as JSON")
    incidents.add_argument(
        "--stats",
        action="store_true",
        help=f"per metric and ISO week: pages, false alarms, expected, mean time to ack and to resolve "
        f"(--since defaults to {STATS_SINCE})",
    )
    add_table_options(incidents)
    incidents.set_defaults(func=cmd_incidents)
    sub = incidents.add_subparsers(dest="incidents_command", metavar="SUBCOMMAND")
    show = sub.add_parser("show", help="one incident: members, what was sent to whom, its timeline")
    show.add_argument("id", help="incident id, e.g. 261116-1305")
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print it as JSON")
    add_table_options(show, suppress=True)
    show.set_defaults(func=cmd_incident_show)
    return sub
