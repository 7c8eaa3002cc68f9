"""Which incident a series belongs to, and what its news this tick does to its membership."""

from __future__ import annotations

from collections.abc import Sequence

from iotwatch.domain.deviation import SEVERITY_RANK, Severity
from iotwatch.domain.evaluation import Gap
from iotwatch.domain.incidents.model import ANY_PROTOCOL, GroupKey, Incident, Member, higher_severity
from iotwatch.domain.incidents.news import SeriesNews
from iotwatch.domain.messages.wording import change_text, clock
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.domain.where import is_device_signal


def group_key(series: Series, group_by: str | Sequence[str]) -> GroupKey:
    """The dimensions that decide which incident a series joins; () joins any."""
    if group_by == "tick" or is_device_signal(series.namespace):
        # device signals (lifecycle counts, a group's connected devices) describe the whole
        # fleet's connectivity: they join the open incident as account-wide metrics do
        return ()
    if group_by == "dimensions":  # a broker outage over MQTT and HTTP is one incident
        return tuple(
            ANY_PROTOCOL if key == ANY_PROTOCOL[0] else (key, value) for key, value in series.dimensions
        )
    dims = series.dimension_map
    return tuple((key, dims[key]) for key in group_by if key in dims)


def news_severity(n: SeriesNews) -> Severity:
    if n.transition is not None and n.transition.kind != "resolved":
        return n.transition.severity
    return n.state.severity or "warning"


def home_of(work: Sequence[Incident], series: Series, group_by: str | Sequence[str]) -> Incident | None:
    """The open incident a newly firing series joins, or None: it opens one."""
    key = group_key(series, group_by)
    if not key:  # account-wide (or group_by: tick): the oldest open incident
        return work[0] if work else None
    same = next((i for i in work if i.group == key), None)
    if same is not None:
        return same
    # an incident of account-wide series alone takes the group of the first series that has one
    for incident in work:
        if not incident.group and all(not group_key(series_of(m), group_by) for m in incident.members):
            incident.group = key
            return incident
    return None


def series_of(member: Member) -> Series:
    return Series(
        member.namespace, member.metric, member.dimensions, member.statistic, member.period, UNKNOWN_DETECTION
    )


# Rendering a member whose series left the plan needs a Series; its detection is never read.
UNKNOWN_DETECTION = DetectionSettings(0.0, 0.0, 1, 1, 0.0, 0.0)


def join(incident: Incident, n: SeriesNews, at: int) -> None:
    t, state, series = n.transition, n.state, n.series
    severity = news_severity(n)
    latest = n.latest or (t.latest if t is not None else None)
    assert latest is not None, f"{series.id} fires without a scored period"
    member = Member(
        series_id=series.id,
        namespace=series.namespace,
        metric=series.metric,
        dimensions=series.dimensions,
        statistic=series.statistic,
        period=series.period,
        since=t.since if t is not None else (state.since if state.since is not None else at),
        joined_at=at,
        severity=severity,
        peak_score=t.peak_score if t is not None else state.peak_score,
        latest=latest,
        shown_at=None if n.silence is not None else at,
    )
    member.saw(latest)
    incident.members.append(member)
    incident.severity = higher_severity(incident.severity, severity) or severity
    if n.silence is not None:
        incident.note(
            at,
            "silenced",
            f"{member.label} joined ({severity}) inside silence {n.silence.id} ({n.silence.reason}): not paged",
        )
    else:
        incident.note(at, "joined", f"{member.label} joined ({severity}, {change_text(series, latest)})")


def update_member(incident: Incident, n: SeriesNews, at: int) -> bool:
    """A member's news this tick; True when the incident changed in a way worth storing."""
    member = incident.member(n.series.id)
    assert member is not None
    t = n.transition
    changed = False
    if t is not None and t.kind == "resolved":
        if member.status == "firing":
            member.status, member.ended = "recovered", t.ended
            member.peak_score = max(member.peak_score, t.peak_score, key=abs)
            member.latest = t.latest
            incident.note(at, "recovered", f"{member.label} back to normal")
            return True
        return False
    if not n.firing:
        return False
    if member.saw(n.latest):
        changed = True
    if member.status == "recovered":  # a flap: the same problem, no page
        member.status, member.ended = "firing", None
        incident.note(at, "deviating", f"{member.label} deviating again")
        changed = True
    if t is not None:
        member.peak_score = max(member.peak_score, t.peak_score, key=abs)
        member.latest = t.latest
        if SEVERITY_RANK[t.severity] > SEVERITY_RANK[member.severity]:
            member.severity = t.severity
            incident.severity = higher_severity(incident.severity, t.severity) or t.severity
            incident.note(at, "escalated", f"{member.label} now {t.severity}")
        changed = True
    if member.shown_at is None and n.silence is None:
        member.shown_at = at
        incident.note(at, "joined", f"{member.label} still deviating after its silence ended")
        changed = True
    return changed


def found_in(gap: Gap | None) -> str:
    if gap is None:
        return ""
    start, end = clock(gap.start), clock(gap.end)
    return f", found catching up on ticks iotwatch could not evaluate ({start}-{end} UTC)"
