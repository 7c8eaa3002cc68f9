"""What `iotwatch demo` reports: summary.json and the story on-call reads, from what a run produced."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from iotwatch.domain.incidents.model import id_floor
from iotwatch.domain.series import Series
from iotwatch.domain.times import iso_z as iso
from iotwatch.plan.model.plan import Plan
from iotwatch.stack_outputs import (
    OUTPUT_AUDIT_FUNCTION,
    OUTPUT_BASELINE_BUILDER_FUNCTION,
    OUTPUT_DASHBOARD_NAME,
    OUTPUT_EVALUATOR_FUNCTION,
    OUTPUT_TABLE_NAME,
)

from iotwatch_cli.backtest import WrittenBacktest
from iotwatch_cli.incidents import incident_document, render_list, render_timeline, select
from iotwatch_local.scenario import (
    AUTH_CLIENTS,
    AUTH_END,
    AUTH_START,
    BACKTEST_DAYS,
    CAUSE_ACTION,
    CAUSE_AT,
    DAY,
    DEPLOYED_AT,
    HOUR,
    INCIDENT_END,
    INCIDENT_START,
    OUTAGE_REASON,
    REPLAY_DAY,
    REPLAY_END,
    in_scenario,
)
from iotwatch_local.traffic import Incident


@dataclass(frozen=True)
class ReplayedDay:
    """The simulated day: the outage injected, the traffic written, the baselines built, and
    what the inboxes received and the audit function answered as the ticks ran."""

    incident: Incident
    written: int  # datapoints of simulated traffic
    built: dict[str, Any]  # the baseline builder's answer
    notifications: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]  # CloudTrail events handed to the audit function
    # what the local PagerDuty stand-in received, and whether it is one alert per incident
    pagerduty: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoRun:
    """What one run of the scenario on the local stack produced, and what the tools read back."""

    stack: Any  # iotwatch_local.deployed_stack.DeployedStack
    topics: dict[str, str]  # topic name -> ARN
    audit_name: str | None
    day: ReplayedDay
    incidents: list[Any]
    shares: list[dict[str, Any]]
    backtest: WrittenBacktest
    dashboard: dict[str, Any]


def write_summary(plan: Plan, series: Sequence[Series], run: DemoRun, path: Path) -> dict[str, Any]:
    """summary.json: the run's summary, its incidents, shares, dashboard, plots, audit and backtest."""
    backtest = run.backtest.report
    summary = run_summary(plan, series, run)
    summary["incidents"] = [incident_document(i) for i in run.incidents]
    summary["shares"] = run.shares
    summary["dashboard"] = run.dashboard
    summary["plots"] = [str(path) for path in run.backtest.plots]
    summary["audit"] = audit_summary(run.day.deliveries, run.day.notifications)
    summary["pagerduty"] = run.day.pagerduty
    stray = [
        (sb.series.metric, iso(e.start))
        for sb in backtest.series
        for e in sb.episodes
        if not e.started_before and not in_scenario(e.start)
    ]
    summary["backtest"] = {
        "days": BACKTEST_DAYS,
        "start": iso(REPLAY_END - BACKTEST_DAYS * DAY),
        "end": iso(REPLAY_END),
        "alerts": backtest.alerts_fired,
        "false_alerts": len(stray),
        "outside_incident": stray,
    }
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary


def print_outcome(
    stream: TextIO,
    plan: Plan,
    series: Sequence[Series],
    run: DemoRun,
    summary: dict[str, Any],
    out: Path,
    log_path: Path,
) -> int:
    """What on-call received, the verdicts and the incident history; 0 when the story held, else 1."""
    say = stream.write
    print_pages(stream, run.day.notifications)
    verdict = summary["verdict"]
    stray = summary["backtest"]["outside_incident"]
    dashboard = run.dashboard
    say("\n" + verdict["text"] + "\n")
    say("\n" + verdict["per_topic"]["text"] + "\n")
    say(f"Wrote {out / 'summary.json'}; function logs in {log_path}\n")
    say(
        f"Backtest of the {BACKTEST_DAYS} simulated days: {run.backtest.report.alerts_fired} alert(s) would have fired, "
        f"{len(stray)} outside the outage; {len(run.backtest.plots)} PNGs in {out / 'plots'}\n"
    )
    dashboard_ok = not plan.tools.dashboard or dashboard["drawn"] == len(series)
    if plan.tools.dashboard:
        say(
            f"Dashboard: {dashboard['drawn']} of {len(series)} series drawn against their band, "
            f"{len(dashboard['outside_band'])} with periods outside it; open {dashboard['path']}\n"
        )
    for share in run.shares:
        say(f"Share {share['series']}: {share['text']}\n")
    audit_ok = True
    if run.audit_name:
        audit = summary["audit"]
        audit_ok = audit["paged"] and audit["quoted_by_incident"]
        say(
            f"Control-plane audit: {audit['text']}\n"
            if audit_ok
            else f"Control-plane audit FAILED: {audit['text']}\n"
        )
    print_history(stream, run.incidents, plan_name=plan.name, table=run.stack.outputs[OUTPUT_TABLE_NAME])
    where = verdict["where"]
    say(("Where and why: " if where["ok"] else "Where and why FAILED: ") + where["text"] + "\n")
    pagerduty = run.day.pagerduty
    if pagerduty:
        say(f"PagerDuty (local stand-in for its Events API v2): {pagerduty['text']}\n")
    healthy = verdict["detected"] and not verdict["false_alerts"] and verdict["per_topic"]["one_each"]
    pagerduty_ok = not pagerduty or pagerduty["ok"]
    return 0 if healthy and not stray and audit_ok and dashboard_ok and where["ok"] and pagerduty_ok else 1


def run_summary(plan: Plan, series: Sequence[Series], run: DemoRun) -> dict[str, Any]:
    """What was deployed, written, built and received, and whether the outage was caught."""
    stack, topics, notifications, incident = run.stack, run.topics, run.day.notifications, run.day.incident
    firing = [n for n in notifications if n["kind"] in ("firing", "escalated")]
    during = [n for n in firing if INCIDENT_START <= epoch(n["time"]) <= INCIDENT_END + HOUR]
    outside = [n for n in firing if not in_scenario(epoch(n["time"]))]
    first = min((epoch(n["time"]) for n in during), default=None)
    periods = None if first is None else round((first - INCIDENT_START) / plan.frequency.period_seconds)
    detected = first is not None
    first_seen = iso(first)[11:16] if first is not None else "-"
    text = (
        f"Outage {iso(INCIDENT_START)[11:16]}-{iso(INCIDENT_END)[11:16]} UTC detected at {first_seen} UTC "
        f"({periods} evaluation period{'' if periods == 1 else 's'} after it began); "
        f"{len(outside)} page(s) outside the incident; "
        f"{len(notifications)} message(s) in all."
        if detected
        else f"Outage NOT detected; {len(outside)} page(s) outside the incident."
    )
    return {
        "stack": stack.stack_name,
        "region": stack.region,
        "resources": {
            "table": stack.outputs[OUTPUT_TABLE_NAME],
            "topics": topics,
            "functions": {
                "evaluator": stack.outputs[OUTPUT_EVALUATOR_FUNCTION],
                "baseline_builder": stack.outputs[OUTPUT_BASELINE_BUILDER_FUNCTION],
                **(
                    {"audit": stack.outputs[OUTPUT_AUDIT_FUNCTION]}
                    if OUTPUT_AUDIT_FUNCTION in stack.outputs
                    else {}
                ),
            },
            "dashboard": stack.outputs.get(OUTPUT_DASHBOARD_NAME),
        },
        "series": [s.id for s in series],
        "traffic": {
            "datapoints_written": run.day.written,
            "history_start": iso(DEPLOYED_AT - 2 * plan.frequency.history_days * DAY),
        },
        "baselines": {"built": run.day.built["built"], "built_at": iso(DEPLOYED_AT)},
        "incident": {
            "start": iso(incident.start),
            "end": iso(incident.end),
            "metrics": list(incident.metrics),
            "description": incident.description,
        },
        "replay": {"start": iso(DEPLOYED_AT), "end": iso(REPLAY_END)},
        "notifications": notifications,
        "verdict": {
            "detected": detected,
            "first_alert": iso(first) if first is not None else None,
            "detected_after_periods": periods,
            "false_alerts": len(outside),
            "text": text,
            "per_topic": per_topic_verdict(topics, notifications),
            "where": where_verdict(firing),
        },
    }


def per_topic_verdict(topics: dict[str, str], notifications: list[dict[str, Any]]) -> dict[str, Any]:
    """Each of the day's two problems is one incident, and every topic it reached got exactly one
    firing and one resolved message about it (e-mail updates between them when members join);
    the outage reaches every topic."""
    deviations = [n for n in notifications if n["kind"] != "audit"]
    ids = sorted({n["incident"] for n in deviations})
    kinds = {
        i: {t: [n["kind"] for n in deviations if n["topic"] == t and n["incident"] == i] for t in topics}
        for i in ids
    }

    def once(seen: list[str]) -> bool:
        return not seen or (seen[0] == "firing" and seen[-1] == "resolved" and seen.count("firing") == 1)

    outage = [i for i in ids if i >= id_floor(INCIDENT_START)]
    one_each = (
        len(ids) == 2
        and all(once(seen) for by_topic in kinds.values() for seen in by_topic.values())
        and bool(outage)
        and all(kinds[outage[0]][t] for t in topics)
    )
    said = "; ".join(
        f"{i}: " + ", ".join(f"{t} {'/'.join(k) or 'nothing'}" for t, k in by_topic.items())
        for i, by_topic in kinds.items()
    )
    text = (
        f"Incidents {', '.join(ids)}: one firing and one resolved message per topic each ({said})."
        if one_each
        else f"NOT one page per topic per problem: incidents {ids or 'none'}; {said}."
    )
    return {"incidents": ids, "kinds": kinds, "one_each": one_each, "text": text}


def where_verdict(firing: list[dict[str, Any]]) -> dict[str, Any]:
    """The outage's first page names the group with its share, the reason against its usual share
    and the kind of failure; the CA change's names the clients that fail."""
    outage = [n for n in firing if INCIDENT_START <= epoch(n["time"]) <= INCIDENT_END + HOUR]
    refused = [n for n in firing if AUTH_START <= epoch(n["time"]) <= AUTH_END + HOUR]
    named_group = [n for n in outage if "% of group" in n["email"] or "of group" in n["email"]]
    named_reason = [n for n in outage if f"{OUTAGE_REASON} " in n["email"] and "normally" in n["email"]]
    named_kind = [n for n in outage if n["email"].startswith("Likely kind: devices or their network")]
    sms_group = [n for n in outage if "Where: " in n["sms"]]
    named_clients = [n for n in refused if f"{AUTH_CLIENTS} clients make" in n["email"]]
    ok = bool(outage) and len(named_group) == len(named_reason) == len(named_kind) == len(sms_group) == len(
        outage
    )
    ok = ok and bool(refused) and len(named_clients) == len(refused)
    text = (
        f"the outage's {len(outage)} first page(s) name its group, {OUTAGE_REASON} against its usual "
        f"share and the kind (devices or their network), the SMS its group; the CA change's "
        f"{len(refused)} page(s) name the {AUTH_CLIENTS} clients that fail."
        if ok
        else f"outage pages {len(outage)}: group named in {len(named_group)}, reason in {len(named_reason)}, "
        f"kind in {len(named_kind)}, SMS where in {len(sms_group)}; CA change pages {len(refused)}: "
        f"clients named in {len(named_clients)}."
    )
    return {"ok": ok, "text": text}


def audit_summary(deliveries: list[dict[str, Any]], notifications: list[dict[str, Any]]) -> dict[str, Any]:
    pages = [n for n in notifications if n["kind"] == "audit"]
    firing = [
        n
        for n in notifications
        if n["kind"] in ("firing", "escalated") and INCIDENT_START <= epoch(n["time"]) <= INCIDENT_END + HOUR
    ]
    quoted = [n for n in firing if CAUSE_ACTION in n["email"]]
    paged = any(n["audit"]["action"] == CAUSE_ACTION for n in pages)
    recorded = sum(d["recorded"] for d in deliveries)
    duplicates = sum(d["duplicates"] for d in deliveries)
    rejected = sum(len(d["rejected"]) for d in deliveries)
    text = (
        f"{len(deliveries)} CloudTrail event(s) delivered, {recorded} call(s) recorded, "
        f"{duplicates} duplicate delivery(ies) not paged again, {rejected} malformed event(s) rejected; "
        f"{CAUSE_ACTION} at {iso(CAUSE_AT)[11:16]} UTC paged {len(pages)} time(s) "
        f"and is quoted by {len(quoted)} of {len(firing)} incident page(s)."
    )
    return {
        "deliveries": deliveries,
        "recorded": recorded,
        "duplicates": duplicates,
        "rejected": rejected,
        "pages": len(pages),
        "paged": paged,
        "quoted_by_incident": bool(quoted) and len(quoted) == len(firing),
        "text": text,
    }


def shares_summary(series: Sequence[Any], store: Any, reader: Any) -> list[dict[str, Any]]:
    """Each share of attempts of the plan: judged over the replay, or why not (too few
    attempts a period for its min_denominator), from its stored baseline and its parts."""
    from iotwatch.domain.ratios import attempts_of, percent

    shares = [s for s in series if s.ratio is not None]
    if not shares:
        return []
    baselines = store.baselines.get_baselines([s.id for s in shares])
    read = reader.read(shares, start=DEPLOYED_AT, end=REPLAY_END)
    out = []
    for s in shares:
        tried = attempts_of(s, read) or {}
        judged = len(read.get(s.id, []))
        most = max(tried.values(), default=0.0)
        baseline = baselines.get(s.id)
        learnt = baseline is not None and baseline.usable
        values = [v for _, v in read.get(s.id, [])]
        if learnt and judged:
            text = (
                f"judged in {judged} of {len(range(DEPLOYED_AT, REPLAY_END, s.period))} periods of the replay "
                f"(up to {most:,.0f} {s.ratio.denominator_label} a period, {s.ratio.numerator_label} "
                f"{percent(min(values))} to {percent(max(values))}); it paged nothing: the outage took the "
                "failed attempts with the devices"
            )
        else:
            typical = sorted(tried.values())[len(tried) // 2] if tried else 0.0
            text = (
                f"not judged: its history never had the {s.ratio.min_denominator:,.0f} {s.ratio.denominator_label} "
                f"a period a share needs (min_denominator); the simulated fleet makes a median {typical:,.0f} a "
                f"period in the replay, {most:,.0f} at most"
            )
        out.append(
            {
                "series": s.label,
                "learnt": learnt,
                "periods_judged": judged,
                "most_attempts": most,
                "text": text,
            }
        )
    return out


def notification_record(tick: int, topic: str, envelope: dict[str, Any]) -> dict[str, Any]:
    document = json.loads(envelope["Message"])
    attributes = {k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()}
    if document["kind"] == "audit":
        return {
            "time": iso(tick),
            "topic": topic,
            "kind": "audit",
            "category": document["category"],
            "severity": document["severity"],
            "action": document["audit"]["action"],
            "audit": document["audit"],
            "subject": envelope.get("Subject", document["subject"]),
            "email": document["email"],
            "sms": document["sms"],
            "attributes": attributes,
        }
    alerts = document["alerts"]
    return {
        "time": iso(tick),
        "topic": topic,
        "kind": document["kind"],
        "category": document["category"],
        "severity": document["severity"],
        "metric": alerts[0]["metric"],
        "dimensions": alerts[0]["dimensions"],
        "metrics": [
            {"metric": a["metric"], "dimensions": a["dimensions"], "score": a["score"]} for a in alerts
        ],
        "since": document["since"],
        "incident": document["incident"]["id"],
        "subject": envelope.get("Subject", document["subject"]),
        "email": document["email"],
        "sms": document["sms"],
        "attributes": attributes,
    }


def epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def print_history(stream: TextIO, incidents: list[Any], *, plan_name: str, table: str) -> None:
    """What `iotwatch incidents` and `iotwatch incidents show` print against this stack."""
    say = stream.write
    since = REPLAY_DAY
    say(f"\n$ iotwatch incidents --table {table} --since {iso(since)}\n")
    say(render_list(select(incidents, metric=None), now=REPLAY_END, since=since, metric=None) + "\n")
    for incident in incidents:
        say(f"\n$ iotwatch incidents show {incident.id} --table {table}\n")
        say(render_timeline(incident, now=REPLAY_END, plan_name=plan_name) + "\n")


def print_pages(stream: TextIO, notifications: list[dict[str, Any]]) -> None:
    say = stream.write
    say(f"\nWhat on-call received ({len(notifications)} message(s)):\n")
    shown_email: set[str] = set()
    for n in notifications:
        say(f"\n[{n['time'][11:16]} UTC] topic {n['topic']} - {n['kind']}, {n['severity']}\n")
        say(f"  e-mail subject: {n['subject']}\n")
        say(f"  SMS ({len(n['sms'])} chars): {n['sms']}\n")
        if n["kind"] not in shown_email:
            shown_email.add(n["kind"])
            say("  e-mail body:\n")
            for line in n["email"].splitlines():
                say(f"  | {line}\n")
