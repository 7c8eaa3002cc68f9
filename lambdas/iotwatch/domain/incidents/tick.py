"""Advancing incidents through a tick: one fleet problem, however it spreads, from first page to RESOLVED.

`decide` says what happened to each series this tick; `advance` turns that into incidents
and the messages they owe each topic. Pure: the open incidents and the tick's news go in,
the incidents it changed and the notifications come out; the caller stores and publishes.

The rules, in one place:
- Membership. A series that starts firing joins the open incident of its group (the plan's
  `group_by`: its dimension set by default, any protocol); a series without any grouping dimension
  (RulesExecuted is account-wide) joins the oldest open incident. With none to join it opens
  one. An incident opened by account-wide series alone takes the group of the first series
  with dimensions that joins it. A member that recovers and deviates again while its
  incident is open is the same problem: no page.
- Pages. Each topic gets one `firing` page per incident, when a member routed to it first
  deviates (a topic only a higher severity reaches is paged when the incident escalates, and
  the page says so), then at most one `update` per `group_interval` listing who joined (and
  who already recovered), an `escalated` message when the incident's severity rises after it
  was told, a `reminder` every `repeat_interval` after its last page unless someone
  acknowledged it (`incidents ack`; the escalation pages and clears the ack), and one
  `resolved` when every member has recovered.
- Silences. A member inside a silence is recorded, not shown: it opens no topic, joins no
  update, escalates nothing, reminds nobody. When its silence ends while it still deviates
  it counts from then (an incident that only had silenced members pages then, with its real
  start). A silence naming the incident holds all its pages until it ends; what was held
  (joiners, a topic a higher severity reaches, a due reminder) goes out then. A resolve
  always reaches the topics that were told.
- Late. Ticks evaluated late (a run catching up on windows iotwatch could not evaluate on
  time, `late`) hold every page the way an incident silence does, since what they would
  say is history by now, but a resolve. An incident found in such a gap keeps it
  (`found_late`): if it is still open when the catch-up reaches the present, each topic gets
  its `firing` page then, with its true start; if it was over by then, each topic its
  members are routed to gets one `late` page instead, saying what it was (span, worst
  change) and that iotwatch could not evaluate at the time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iotwatch.domain.deviation import PeriodScore
from iotwatch.domain.evaluation import Gap
from iotwatch.domain.incidents.membership import (
    found_in,
    group_key,
    home_of,
    join,
    news_severity,
    update_member,
)
from iotwatch.domain.incidents.model import Incident, IncidentSettings, Route, incident_id
from iotwatch.domain.incidents.news import SeriesNews
from iotwatch.domain.incidents.owed import hold_for_silence, notification_for, owed_messages
from iotwatch.domain.incidents.record import copy_incident
from iotwatch.domain.messages.model import Notification
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence


@dataclass
class TickIncidents:
    """What `advance` decided: incidents to store (changed ones) and messages to send."""

    changed: list[Incident]
    notifications: list[Notification]
    opened: list[str] = field(default_factory=list)  # ids opened this tick
    resolved: list[str] = field(default_factory=list)  # ids resolved this tick
    open: list[str] = field(default_factory=list)  # ids open after this tick

    def incident(self, incident_id: str) -> Incident:
        return next(i for i in self.changed if i.id == incident_id)


def advance(
    open_incidents: Sequence[Incident],
    news: Sequence[SeriesNews],
    *,
    at: int,
    settings: IncidentSettings,
    route: Route,
    catalog: Mapping[str, Series] | None = None,
    incident_silences: Mapping[str, Silence] | None = None,
    late: Gap | None = None,
) -> TickIncidents:
    """The open incidents after the tick at `at` (the window end), and what they send.

    `news` is every series that is firing or changed this tick (`tick_news`), in plan order;
    a member of an open incident without firing news recovered unseen (a lost write, a series
    no longer watched) and is closed at `at`. `catalog` (the plan's series by id) renders
    members that have no news this tick; `incident_silences` are the active silences that
    name an incident, by its id; `late`: this tick is evaluated late, while catching up on
    the gap (see the module's rules). Inputs are not modified."""
    work = [copy_incident(incident) for incident in sorted(open_incidents, key=lambda i: (i.opened_at, i.id))]
    work = [i for i in work if i.status == "open"]
    touched: set[str] = set()
    by_series = {m.series_id: i for i in work for m in i.members}
    news_by_id = {n.series.id: n for n in news}
    series_by_id: dict[str, Series] = {**(catalog or {}), **{n.series.id: n.series for n in news}}
    latest: dict[str, PeriodScore] = {n.series.id: n.latest for n in news if n.latest is not None}
    silenced = {n.series.id for n in news if n.silence is not None}
    opened: list[str] = []

    for n in news:  # members of open incidents: recoveries, escalations, flaps, silences ending
        incident = by_series.get(n.series.id)
        if incident is not None and update_member(incident, n, at):
            touched.add(incident.id)

    fresh = [n for n in news if n.firing and n.series.id not in by_series]
    # series with a grouping dimension first, so an account-wide one joins what they open
    fresh.sort(key=lambda n: not group_key(n.series, settings.group_by))
    for n in fresh:
        incident = home_of(work, n.series, settings.group_by)
        if incident is None:
            incident = Incident(
                id=incident_id(at, (i.id for i in work)),
                group=group_key(n.series, settings.group_by),
                opened_at=at,
                members=[],
                severity=news_severity(n),
                found_late=late,
            )
            work.append(incident)
            opened.append(incident.id)
            incident.note(at, "opened", f"opened for {incident.group_label}" + found_in(late))
        join(incident, n, at)
        by_series[n.series.id] = incident
        touched.add(incident.id)

    for incident in work:  # firing members the tick did not report firing: recovered unseen
        for member in incident.firing:
            reported = news_by_id.get(member.series_id)
            if reported is None or not reported.firing:
                member.status, member.ended = "recovered", at
                incident.note(at, "recovered", f"{member.label} no longer firing (closed by reconciliation)")
                touched.add(incident.id)

    notifications: list[Notification] = []
    resolved: list[str] = []
    paged_before = {i.id: i.paged_severity for i in work}
    for incident in work:
        if hold_for_silence(incident, (incident_silences or {}).get(incident.id), at):
            touched.add(incident.id)
        messages = owed_messages(
            incident, at=at, settings=settings, route=route, silenced=silenced, late=late
        )
        if incident.status == "resolved":
            resolved.append(incident.id)
        if messages or incident.status == "resolved":
            touched.add(incident.id)
        notifications += [
            notification_for(
                incident,
                kind,
                topic,
                alerts,
                at=at,
                previous=previous,
                series_by_id=series_by_id,
                latest=latest,
                escalated_from=paged_before.get(incident.id),
                late=late,
            )
            for kind, topic, alerts, previous in messages
        ]
    return TickIncidents(
        changed=[i for i in work if i.id in touched],
        notifications=notifications,
        opened=opened,
        resolved=resolved,
        open=[i.id for i in work if i.status == "open"],
    )


@dataclass(frozen=True)
class Tick:
    """One evaluated window, as `advance` takes it."""

    at: int  # the window end
    news: Sequence[SeriesNews]
    incident_silences: Mapping[str, Silence] = field(default_factory=dict)
    late: Gap | None = None  # evaluated late, catching up on this gap


def advance_ticks(
    open_incidents: Sequence[Incident],
    ticks: Sequence[Tick],
    *,
    settings: IncidentSettings,
    route: Route,
    catalog: Mapping[str, Series] | None = None,
) -> TickIncidents:
    """`advance` through `ticks` in time order (a run catching up on the windows it missed, then
    its own): the incidents one tick leaves open go into the next. One result for them all:
    every incident any tick changed, as the last one left it (to store once), and every
    notification, in order."""
    current = list(open_incidents)
    changed: dict[str, Incident] = {}
    notifications: list[Notification] = []
    opened: list[str] = []
    resolved: list[str] = []
    open_ids = [i.id for i in current if i.status == "open"]
    for tick in ticks:
        result = advance(
            current,
            tick.news,
            at=tick.at,
            settings=settings,
            route=route,
            catalog=catalog,
            incident_silences=tick.incident_silences,
            late=tick.late,
        )
        by_id = {i.id: i for i in current} | {i.id: i for i in result.changed}
        changed |= {i.id: i for i in result.changed}
        notifications += result.notifications
        opened += result.opened
        resolved += result.resolved
        open_ids = result.open
        current = [by_id[i] for i in result.open]
    return TickIncidents(list(changed.values()), notifications, opened, resolved, open_ids)
