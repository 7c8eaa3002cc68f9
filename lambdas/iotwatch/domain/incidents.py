"""Incidents: one fleet problem, however it spreads, from its first page to its RESOLVED.

`decide` says what happened to each series this tick; `advance` turns that into incidents
and the messages they owe each topic. Pure: the open incidents and the tick's news go in,
the incidents it changed and the notifications come out; the caller stores and publishes.

The rules, in one place:
- Membership. A series that starts firing joins the open incident of its group (the plan's
  `group_by`: its dimension set by default); a series without any grouping dimension
  (RulesExecuted is account-wide) joins the oldest open incident. With none to join it opens
  one. An incident opened by account-wide series alone takes the group of the first series
  with dimensions that joins it. A member that recovers and deviates again while its
  incident is open is the same problem: no page.
- Pages. Each topic gets one `firing` page per incident, when a member routed to it first
  deviates (a topic only a higher severity reaches is paged when the incident escalates, and
  the page says so), then at most one `update` per `group_interval` listing who joined (and
  who already recovered), an `escalated` message when the incident's severity rises after it
  was told, a `reminder` every `repeat_interval` after its last page, and one `resolved` when
  every member has recovered.
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

import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from iotwatch.domain.audit import RecordedCall
from iotwatch.domain.deviation import SEVERITY_RANK, AlertState, PeriodScore, Severity, Transition
from iotwatch.domain.evaluation import Gap
from iotwatch.domain.messages import Alert, IncidentRef, Notification, change_text
from iotwatch.domain.series import DetectionSettings, Series
from iotwatch.domain.silences import Silence

if TYPE_CHECKING:
    from iotwatch.domain.evaluation import SeriesOutcome

GroupKey = tuple[tuple[str, str], ...]
Route = Callable[[str, str], list[str]]  # (severity, metric) -> topic names

DEFAULT_GROUP_INTERVAL = 15 * 60
DEFAULT_HISTORY_DAYS = 400
# A timeline longer than this (a series flapping for days) keeps its beginning and its end.
MAX_EVENTS = 200
EVENTS_KEPT_FROM_START = 40


def group_key(series: Series, group_by: str | Sequence[str]) -> GroupKey:
    """The dimensions that decide which incident a series joins; () joins any."""
    if group_by == "tick":
        return ()
    if group_by == "dimensions":
        return series.dimensions
    dims = series.dimension_map
    return tuple((key, dims[key]) for key in group_by if key in dims)


def incident_id(at: int, taken: Iterable[str] = ()) -> str:
    """Short, readable and unique: the UTC minute of the tick that opened it ('261116-1305'),
    with a letter for a second incident opened in the same tick ('261116-1305b'), and past the
    26th ('...z') the count ('261116-1305z27'): a downstream failure can open one incident per
    topic rule at once, and none of them may be lost to its name."""
    base = datetime.fromtimestamp(at, UTC).strftime("%y%m%d-%H%M")
    used = set(taken)
    if base not in used:
        return base
    for n in itertools.count(2):
        candidate = base + (chr(ord("a") + n - 1) if n <= LETTERED else f"z{n}")
        if candidate not in used:
            return candidate
    raise AssertionError("unreachable")  # itertools.count never ends


LETTERED = 26  # b..z name the 2nd to 26th incident of a minute


# what incident_id makes: the UTC date and minute, a letter (or z and the count) for a further one
ID_PATTERN = re.compile(r"^\d{6}-\d{4}(?:[b-z]|z\d{2,})?$")


def id_floor(at: int) -> str:
    """The smallest id an incident opened at or after `at` can have (ids sort by time)."""
    return datetime.fromtimestamp(at, UTC).strftime("%y%m%d-%H%M")


# --- what a tick says about a series ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesNews:
    """One series this tick: its state after `decide`, what changed, the silence covering it."""

    series: Series
    state: AlertState
    transition: Transition | None  # firing | escalated | resolved, as `decide` found it
    latest: PeriodScore | None  # the newest scored period (None: not scored this tick)
    silence: Silence | None = None

    @property
    def firing(self) -> bool:
        return self.state.status == "firing"


def tick_news(outcomes: Iterable[SeriesOutcome]) -> list[SeriesNews]:
    """What the incidents need of a tick's outcomes: every series that changed or is firing."""
    return [
        SeriesNews(o.series, o.state, o.transition, o.scores[-1] if o.scores else None, o.silence)
        for o in outcomes
        if o.transition is not None or o.state.status == "firing"
    ]


# --- the stored incident ------------------------------------------------------------------------


@dataclass(slots=True)
class Member:
    series_id: str
    namespace: str
    metric: str
    dimensions: GroupKey
    statistic: str
    period: int
    since: int  # first deviating period
    joined_at: int  # the tick it joined
    severity: Severity  # the highest it reached
    peak_score: float
    latest: PeriodScore  # the newest period a transition reported
    status: Literal["firing", "recovered"] = "firing"
    ended: int | None = None  # recovered: start of the first normal period
    shown_at: int | None = None  # the first tick it deviated outside any silence
    worst: PeriodScore | None = None  # its period farthest from normal, the incident's way

    def saw(self, score: PeriodScore | None) -> bool:
        """Keeps `score` as the worst period when it is farther out than any before, in the
        direction of the member's deviation; True when it did."""
        if score is None or (score.score < 0) != (self.peak_score < 0):
            return False
        if self.worst is not None and abs(score.score) <= abs(self.worst.score):
            return False
        self.worst = score
        return True

    @property
    def label(self) -> str:
        if not self.dimensions:
            return self.metric
        return f"{self.metric} ({', '.join(v for _, v in self.dimensions)})"


@dataclass(slots=True)
class TopicLog:
    """What one topic has been told about an incident, and when."""

    opened: int  # its first message (firing or escalated)
    paged: int  # its last page (firing, escalated, reminder): reminders count from here
    notified: int  # its last message of any kind: updates wait `group_interval` from here


@dataclass(frozen=True, slots=True)
class Event:
    """One line of an incident's timeline."""

    at: int
    kind: str  # opened joined silenced escalated recovered deviating paged updated resolved failed
    text: str
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuotedChange:
    """A control-plane call an incident's page quoted (CloudTrail)."""

    at: int
    event_id: str
    action: str
    who: str
    line: str


@dataclass(slots=True)
class Incident:
    id: str
    group: GroupKey
    opened_at: int
    members: list[Member]
    severity: Severity  # the highest any member reached
    status: Literal["open", "resolved"] = "open"
    paged_severity: Severity | None = None  # the highest it has paged with
    topics: dict[str, TopicLog] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    quoted: list[QuotedChange] = field(default_factory=list)
    resolved_at: int | None = None
    held_by: str | None = None  # the silence holding its pages, as of the last tick
    found_late: Gap | None = None  # opened while catching up on ticks missed in this gap
    revision: int = 0  # optimistic locking in the store

    @property
    def since(self) -> int:
        return min(m.since for m in self.members)

    @property
    def ended(self) -> int | None:
        ends = [m.ended for m in self.members]
        return max(e for e in ends if e is not None) if ends and all(e is not None for e in ends) else None

    @property
    def firing(self) -> list[Member]:
        return [m for m in self.members if m.status == "firing"]

    def member(self, series_id: str) -> Member | None:
        return next((m for m in self.members if m.series_id == series_id), None)

    @property
    def group_label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.group) or "account-wide"

    def note(self, at: int, kind: str, text: str, topics: Sequence[str] = ()) -> None:
        self.events.append(Event(at, kind, text, tuple(topics)))
        if len(self.events) > MAX_EVENTS:
            cut = len(self.events) - MAX_EVENTS + 1
            head = self.events[:EVENTS_KEPT_FROM_START]
            dropped = self.events[EVENTS_KEPT_FROM_START : EVENTS_KEPT_FROM_START + cut]
            tail = self.events[EVENTS_KEPT_FROM_START + cut :]
            if dropped and dropped[0].kind == "omitted":
                count = int(dropped[0].text.split()[0]) + len(dropped) - 1
            else:
                count = len(dropped)
            marker = Event(
                dropped[0].at, "omitted", f"{count} events omitted (the timeline keeps {MAX_EVENTS})"
            )
            self.events = [*head, marker, *tail]

    def ref(
        self, *, previous: int | None = None, escalated_from: str | None = None, late: Gap | None = None
    ) -> IncidentRef:
        firing = sum(1 for m in self.members if m.status == "firing")
        gap = late or self.found_late
        return IncidentRef(
            id=self.id,
            opened_at=self.opened_at,
            since=self.since,
            severity=self.severity,
            members=len(self.members),
            deviating=firing,
            recovered=len(self.members) - firing,
            ended=self.ended if self.status == "resolved" else None,
            previous=previous,
            escalated_from=escalated_from,
            gap=(gap.start, gap.end, gap.caught_up_from) if gap is not None else None,
        )

    def copy(self) -> Incident:
        return incident_from_record(incident_record(self))


# --- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentSettings:
    group_by: str | Sequence[str] = "dimensions"
    group_interval: int = DEFAULT_GROUP_INTERVAL
    repeat_interval: int = 4 * 3600


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
    work = [incident.copy() for incident in sorted(open_incidents, key=lambda i: (i.opened_at, i.id))]
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
        if incident is not None and _update_member(incident, n, at):
            touched.add(incident.id)

    fresh = [n for n in news if n.firing and n.series.id not in by_series]
    # series with a grouping dimension first, so an account-wide one joins what they open
    fresh.sort(key=lambda n: not group_key(n.series, settings.group_by))
    for n in fresh:
        incident = _home(work, n.series, settings.group_by)
        if incident is None:
            incident = Incident(
                id=incident_id(at, (i.id for i in work)),
                group=group_key(n.series, settings.group_by),
                opened_at=at,
                members=[],
                severity=_severity(n),
                found_late=late,
            )
            work.append(incident)
            opened.append(incident.id)
            incident.note(at, "opened", f"opened for {incident.group_label}" + _found_in(late))
        _join(incident, n, at)
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
        if _hold(incident, (incident_silences or {}).get(incident.id), at):
            touched.add(incident.id)
        messages = _messages(incident, at=at, settings=settings, route=route, silenced=silenced, late=late)
        if incident.status == "resolved":
            resolved.append(incident.id)
        if messages or incident.status == "resolved":
            touched.add(incident.id)
        notifications += [
            _notification(
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


def _severity(n: SeriesNews) -> Severity:
    if n.transition is not None and n.transition.kind != "resolved":
        return n.transition.severity
    return n.state.severity or "warning"


def _higher(a: Severity | None, b: Severity | None) -> Severity | None:
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


def _home(work: Sequence[Incident], series: Series, group_by: str | Sequence[str]) -> Incident | None:
    """The open incident a newly firing series joins, or None: it opens one."""
    key = group_key(series, group_by)
    if not key:  # account-wide (or group_by: tick): the oldest open incident
        return work[0] if work else None
    same = next((i for i in work if i.group == key), None)
    if same is not None:
        return same
    # an incident of account-wide series alone takes the group of the first series that has one
    for incident in work:
        if not incident.group and all(not group_key(_series_of(m), group_by) for m in incident.members):
            incident.group = key
            return incident
    return None


def _series_of(member: Member) -> Series:
    return Series(
        member.namespace, member.metric, member.dimensions, member.statistic, member.period, UNKNOWN_DETECTION
    )


# Rendering a member whose series left the plan needs a Series; its detection is never read.
UNKNOWN_DETECTION = DetectionSettings(0.0, 0.0, 1, 1, 0.0, 0.0)


def _join(incident: Incident, n: SeriesNews, at: int) -> None:
    t, state, series = n.transition, n.state, n.series
    severity = _severity(n)
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
    incident.severity = _higher(incident.severity, severity) or severity
    if n.silence is not None:
        incident.note(
            at,
            "silenced",
            f"{member.label} joined ({severity}) inside silence {n.silence.id} ({n.silence.reason}): not paged",
        )
    else:
        incident.note(at, "joined", f"{member.label} joined ({severity}, {change_text(series, latest)})")


def _update_member(incident: Incident, n: SeriesNews, at: int) -> bool:
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
            incident.severity = _higher(incident.severity, t.severity) or t.severity
            incident.note(at, "escalated", f"{member.label} now {t.severity}")
        changed = True
    if member.shown_at is None and n.silence is None:
        member.shown_at = at
        incident.note(at, "joined", f"{member.label} still deviating after its silence ended")
        changed = True
    return changed


def _hold(incident: Incident, silence: Silence | None, at: int) -> bool:
    """Notes a silence on the incident starting or ending; True when that changed."""
    now = silence.id if silence is not None else None
    if now == incident.held_by:
        return False
    if silence is not None:
        until = datetime.fromtimestamp(silence.ends, UTC).strftime("%Y-%m-%d %H:%M UTC")
        incident.note(at, "silenced", f"pages held by silence {silence.id} ({silence.reason}) until {until}")
    else:
        incident.note(at, "silenced", f"silence {incident.held_by} over: pages resume")
    incident.held_by = now
    return True


_Message = tuple[str, str, list[tuple[Member, str]], int | None]  # kind, topic, (member, status), previous


def _messages(
    incident: Incident,
    *,
    at: int,
    settings: IncidentSettings,
    route: Route,
    silenced: set[str],
    late: Gap | None = None,
) -> list[_Message]:
    """What each topic is owed this tick; updates the incident's topic log and timeline."""
    every = [(m, "recovered" if m.status == "recovered" else "deviating") for m in incident.members]
    if not incident.firing:
        incident.status, incident.resolved_at = "resolved", at
        topics = list(incident.topics)
        out: list[_Message] = [
            ("resolved", topic, every, incident.topics[topic].notified) for topic in topics
        ]
        if topics:
            incident.note(
                at, "resolved", f"every member back to normal; RESOLVED to {', '.join(topics)}", topics
            )
        if incident.found_late is not None:
            # over before the catch-up reached the present: each topic its members reach is told
            # once what it was (a topic already told got its RESOLVED above)
            owed = _late_topics(incident, route, silenced)
            for topic in owed:
                incident.topics[topic] = TopicLog(at, at, at)
            out += [("late", topic, every, None) for topic in owed]
            if owed:
                severity = incident.severity
                incident.note(
                    at, "paged", f"late ({severity}) to {', '.join(owed)}: over before it was found", owed
                )
                incident.paged_severity = _higher(incident.paged_severity, severity)
        if not out:
            incident.note(at, "resolved", "every member back to normal; nobody was paged (silenced)")
        return out
    if incident.held_by is not None or late is not None:
        return []  # held (a silence, or history being caught up on): what is due stays due

    shown = [m for m in incident.firing if m.series_id not in silenced and m.shown_at is not None]
    routed_by_topic: dict[str, list[Member]] = {}
    for member in shown:
        for topic in route(member.severity, member.metric):
            routed_by_topic.setdefault(topic, []).append(member)
    now: Severity | None = max((m.severity for m in shown), key=SEVERITY_RANK.__getitem__, default=None)
    escalating = (
        incident.paged_severity is not None and SEVERITY_RANK[now] > SEVERITY_RANK[incident.paged_severity]
    )

    out = []
    for topic in dict.fromkeys([*incident.topics, *routed_by_topic]):
        routed = routed_by_topic.get(topic, [])
        log = incident.topics.get(topic)
        if log is None:
            if not routed:
                continue
            # its first page, whatever the others were told before (a higher severity reaching
            # it says so: `escalated_from`)
            incident.topics[topic] = TopicLog(at, at, at)
            out.append(("firing", topic, [(m, "deviating") for m in routed], None))
            continue
        if escalating and any(m.severity == now for m in routed):
            out.append(("escalated", topic, [(m, "deviating") for m in routed], log.notified))
            log.paged = log.notified = at
            continue
        joined = [
            m
            for m in incident.members
            if m.shown_at is not None and m.shown_at > log.notified and topic in route(m.severity, m.metric)
        ]
        if joined and at - log.notified >= settings.group_interval:
            new = {m.series_id for m in joined}
            listed = [(m, "new") for m in joined] + [(m, s) for m, s in every if m.series_id not in new]
            out.append(("update", topic, listed, log.notified))
            log.notified = at
            continue
        if routed and settings.repeat_interval > 0 and at - log.paged >= settings.repeat_interval:
            out.append(("reminder", topic, [(m, "deviating") for m in routed], log.notified))
            log.paged = log.notified = at
    for kind in ("firing", "escalated", "reminder", "update"):
        topics = [topic for k, topic, _, _ in out if k == kind]
        if not topics:
            continue
        severity = max(
            (m.severity for k, _, listed, _ in out if k == kind for m, _ in listed),
            key=SEVERITY_RANK.__getitem__,
        )
        if kind == "update":
            joined_labels = sorted(
                {m.label for k, _, listed, _ in out if k == kind for m, s in listed if s == "new"}
            )
            incident.note(at, "updated", f"update: {', '.join(joined_labels)} joined", topics)
        else:
            incident.note(at, "paged", f"{kind} ({severity}) to {', '.join(topics)}", topics)
        if kind != "update":
            incident.paged_severity = _higher(incident.paged_severity, severity)
    return out


def _late_topics(incident: Incident, route: Route, silenced: set[str]) -> list[str]:
    """Topics the incident's shown members route to that were never told about it."""
    topics: dict[str, None] = {}
    for member in incident.members:
        if member.shown_at is None or member.series_id in silenced:
            continue
        for topic in route(member.severity, member.metric):
            if topic not in incident.topics:
                topics[topic] = None
    return list(topics)


def _found_in(gap: Gap | None) -> str:
    if gap is None:
        return ""
    start, end = (datetime.fromtimestamp(t, UTC).strftime("%H:%M") for t in (gap.start, gap.end))
    return f", found catching up on ticks iotwatch could not evaluate ({start}-{end} UTC)"


def _notification(
    incident: Incident,
    kind: str,
    topic: str,
    listed: Sequence[tuple[Member, str]],
    *,
    at: int,
    previous: int | None,
    series_by_id: Mapping[str, Series],
    latest: Mapping[str, PeriodScore],
    escalated_from: Severity | None = None,
    late: Gap | None = None,
) -> Notification:
    alerts = []
    over = kind in ("resolved", "late")
    for member, status in listed:
        series = series_by_id.get(member.series_id) or _series_of(member)
        if kind == "late":
            score = member.worst or member.latest  # what it was, at its worst
        elif status == "recovered" or kind == "resolved":
            score = member.latest
        else:
            score = latest.get(member.series_id, member.latest)
        transition = Transition(
            "resolved" if over else "firing",
            member.series_id,
            member.severity,
            member.since,
            at,
            member.peak_score,
            score,
            ended=member.ended or 0,
        )
        alerts.append(Alert(series, transition, status))
    severity = max((a.transition.severity for a in alerts), key=SEVERITY_RANK.__getitem__)
    if over:
        severity = incident.severity
    was = escalated_from if kind == "firing" else None
    if was is not None and SEVERITY_RANK[was] >= SEVERITY_RANK[severity]:
        was = None
    return Notification(
        topic=topic,
        kind=kind,
        severity=severity,
        at=at,
        alerts=tuple(alerts),
        incident=incident.ref(previous=previous, escalated_from=was, late=late),
    )


# --- after the messages -------------------------------------------------------------------------


def quote_changes(incident: Incident, calls: Iterable[RecordedCall]) -> None:
    """Keeps the control-plane calls an opening or escalated page quoted (once each)."""
    known = {q.event_id for q in incident.quoted}
    for call in calls:
        if call.event_id not in known:
            incident.quoted.append(QuotedChange(call.at, call.event_id, call.action, call.who, call.line()))
            known.add(call.event_id)
    incident.quoted.sort(key=lambda q: (q.at, q.event_id))


def note_failed(incident: Incident, at: int, topics: Sequence[str]) -> None:
    incident.note(at, "failed", "publish failed; the message waits in the outbox for the next run", topics)


def expires_at(incident: Incident, history_days: int) -> int | None:
    """When DynamoDB's TTL removes a resolved incident; an open one is kept."""
    if incident.resolved_at is None:
        return None
    return incident.resolved_at + history_days * 86400


# --- records (the stored form) ------------------------------------------------------------------

RECORD_VERSION = 1


def incident_record(incident: Incident) -> dict[str, Any]:
    data = asdict(incident)
    data["version"] = RECORD_VERSION
    return data


def incident_from_record(data: Mapping[str, Any]) -> Incident:
    members = [
        Member(
            **{
                **m,
                "dimensions": tuple((k, v) for k, v in m["dimensions"]),
                "latest": PeriodScore(**m["latest"]),
                "worst": PeriodScore(**m["worst"]) if m.get("worst") else None,
            }
        )
        for m in data["members"]
    ]
    found_late = data.get("found_late")
    return Incident(
        id=data["id"],
        group=tuple((k, v) for k, v in data["group"]),
        opened_at=int(data["opened_at"]),
        members=members,
        severity=data["severity"],
        status=data["status"],
        paged_severity=data.get("paged_severity"),
        topics={name: TopicLog(**log) for name, log in data.get("topics", {}).items()},
        events=[
            Event(e["at"], e["kind"], e["text"], tuple(e.get("topics", ()))) for e in data.get("events", [])
        ],
        quoted=[QuotedChange(**q) for q in data.get("quoted", [])],
        resolved_at=data.get("resolved_at"),
        held_by=data.get("held_by"),
        found_late=Gap(**found_late) if found_late else None,
        revision=int(data.get("revision", 0)),
    )


# DynamoDB items hold 400 KB: an incident of a thousand members is stored compressed.
COMPRESS_ABOVE = 300_000


def encode_incident(incident: Incident) -> tuple[str | None, bytes | None]:
    """(JSON text, None), or (None, zlib-compressed JSON) when the text would be too big."""
    text = json.dumps(incident_record(replace(incident, revision=0)), separators=(",", ":"))
    if len(text.encode("utf-8")) <= COMPRESS_ABOVE:
        return text, None
    return None, zlib.compress(text.encode("utf-8"), 9)


def decode_incident(text: str | None, packed: bytes | None, *, revision: int) -> Incident:
    raw = text if text is not None else zlib.decompress(packed or b"").decode("utf-8")
    incident = incident_from_record(json.loads(raw))
    incident.revision = revision
    return incident
