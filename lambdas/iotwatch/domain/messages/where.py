"""Where and why in a page: the likely kind of failure in one line, and where the deviation is
concentrated (thing groups, disconnect reasons, top clients) as one SMS line, an e-mail table
and the JSON document's `where`. Loaded only to render an incident that was looked up."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from iotwatch.domain.failure_kind import LABELS as KIND_LABELS
from iotwatch.domain.messages.wording import clock, count_text
from iotwatch.domain.ratios import percent

if TYPE_CHECKING:
    from iotwatch.domain.where import Breakdown, FailureKind, TopClients

WHERE_SCHEMA = 1  # the version of the JSON document's `where` and `failure`
VALUES_SHOWN = 3  # per index field in the e-mail
REASONS_SHOWN = 4
CLIENTS_SHOWN = 5
EVIDENCE_SHOWN = 3

# as few characters as a phone needs
KIND_SMS: dict[str, str] = {
    "devices-or-network": "devices/network",
    "credentials-or-policy": "creds/policy",
    "aws-side": "AWS side",
    "throttling": "throttling",
    "rules-engine": "rules engine",
    "rogue-device": "rogue device",
}
FIELD_LABELS = {"thingGroupNames": "thing group", "thingTypeName": "thing type"}


def kind_line(failure: FailureKind) -> str:
    """'Likely kind: credentials or policy (Connect.AuthError up; UpdateCACertificate in CloudTrail
    before it began).' or 'Kind unclear: ...' with what points each way."""
    text = kind_text(failure)
    return f"Kind {text}." if failure.kind == "unclear" else f"Likely kind: {text}."


def kind_text(failure: FailureKind) -> str:
    """The kind and its evidence: 'devices or their network (CONNECTION_LOST 88 % ...)'."""
    if failure.kind == "unclear":
        each_way = "; ".join((*failure.evidence, *failure.against)[:EVIDENCE_SHOWN])
        return f"unclear: {each_way or 'nothing points to one kind'}"
    text = KIND_LABELS[failure.kind]
    if failure.evidence:
        text += f" ({'; '.join(failure.evidence[:EVIDENCE_SHOWN])})"
    if failure.against:
        text += f"; against it: {'; '.join(failure.against[:1])}"
    return text


def kind_sms(failure: FailureKind) -> str:
    if failure.kind == "unclear":
        return "Cause unclear. "
    return f"Likely {KIND_SMS[failure.kind]}. "


def _pct(share: float) -> str:
    return percent(share).replace(" %", "%")


def where_sms_parts(breakdown: Breakdown) -> list[str]:
    """The SMS's "where", most telling first: who makes the top error family when a few clients
    do, the top group, the top reason against its usual share, how many devices are behind the
    error family. The SMS drops them from the last when short of room."""
    parts: list[str] = []
    few = [tc for tc in breakdown.top_clients[:1] if tc.clients and sum(c.share for c in tc.clients) >= 0.5]
    for tc in few:
        shown = tc.clients[:CLIENTS_SHOWN]
        parts.append(
            f"{len(shown)} client{'s' if len(shown) != 1 else ''} {_pct(sum(c.share for c in shown))} of {tc.metric}"
        )
    for fb in breakdown.fields[:1]:
        if fb.values:
            parts.append(f"{_pct(fb.values[0].share)} {fb.values[0].value}")
    if breakdown.reasons:
        r = breakdown.reasons[0]
        parts.append(
            f"{r.reason} {_pct(r.share)}"
            + (f" (~{_pct(r.usual_share)})" if r.usual_share is not None else "")
        )
    for tc in breakdown.top_clients[:1]:
        if tc.distinct_clients is not None:
            parts.append(
                f"{tc.metric} from {tc.distinct_clients:,} device{'s' if tc.distinct_clients != 1 else ''}"
            )
        elif tc.clients and not few:
            parts.append(f"{len(tc.clients)} clients {_pct(sum(c.share for c in tc.clients))}")
    return parts


def clients_line(tc: TopClients) -> str:
    """'3 clients make 91 % of Connect.AuthError: a, b, c; from 3 devices'."""
    shown = tc.clients[:CLIENTS_SHOWN]
    if not shown:
        line = f"No client stands out in {tc.metric}"
    else:
        count = f"{len(shown)} clients make" if len(shown) > 1 else "1 client makes"
        line = f"{count} {percent(sum(c.share for c in shown))} of {tc.metric}: " + ", ".join(
            c.client_id for c in shown
        )
    if tc.distinct_clients is not None:
        line += f"; from {tc.distinct_clients:,} device{'s' if tc.distinct_clients != 1 else ''}"
    return line


def where_section(breakdown: Breakdown) -> list[str]:
    """The e-mail's table: top values of each index field (count, share, that value's own share),
    the disconnect-reason mix against usual, the top clients, and what could not be looked up."""
    lines = [f"Where (looked up at {clock(breakdown.looked_up_at)} UTC, since {clock(breakdown.since)}):"]
    if breakdown.disconnected is not None:
        lines.append(f"  {breakdown.disconnected:,} devices disconnected since {clock(breakdown.since)}")
    for fb in breakdown.fields:
        label = FIELD_LABELS.get(fb.field, fb.field)
        # the last column: the share of every device with that value (96 % of that group)
        rows: list[tuple[str, ...]] = [(label, "devices", "share", f"of {label.split()[-1]}")]
        rows += [
            (
                v.value,
                f"{v.count:,}",
                percent(v.share),
                percent(v.of_value) if v.of_value is not None else "?",
            )
            for v in fb.values[:VALUES_SHOWN]
        ]
        lines += _table(rows)
    if breakdown.reasons:
        lines.append("  disconnect reasons:")
        for r in breakdown.reasons[:REASONS_SHOWN]:
            usual = (
                f", normally {percent(r.usual_share)}" if r.usual_share is not None else ", no usual mix yet"
            )
            lines.append(f"    {r.reason} {percent(r.share)}{usual} ({count_text(r.count)})")
    lines += [f"  {clients_line(tc)}" for tc in breakdown.top_clients]
    for gap in breakdown.gaps:
        lines.append(f"  Not looked up: {gap.what} ({gap.why}). To turn it on: {gap.fix}")
    if len(lines) == 1:
        lines.append("  nothing found")
    lines.append("")
    return lines


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        (
            "  "
            + "  ".join(
                [f"{r[0]:<{widths[0]}}", *(f"{c:>{w}}" for c, w in zip(r[1:], widths[1:], strict=True))]
            )
        ).rstrip()
        for r in rows
    ]


def failure_document(failure: FailureKind) -> dict[str, object]:
    return {
        "schema": WHERE_SCHEMA,
        "kind": failure.kind,
        "evidence": list(failure.evidence),
        "against": list(failure.against),
    }


def where_document(breakdown: Breakdown) -> dict[str, object]:
    """The breakdown as JSON: the dataclasses' own field names, tuples as lists."""
    return {"schema": WHERE_SCHEMA, **asdict(breakdown)}
