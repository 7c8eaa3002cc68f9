"""The incident as stored and shown: its id, members, topic logs and timeline, and its settings."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from iotwatch.domain.deviation import SEVERITY_RANK, PeriodScore, Severity
from iotwatch.domain.evaluation import Gap
from iotwatch.domain.messages.model import IncidentRef

if TYPE_CHECKING:
    from iotwatch.domain.audit.recorded import RecordedCall
    from iotwatch.domain.where import Breakdown, FailureKind

GroupKey = tuple[tuple[str, str], ...]
Route = Callable[[str, str], list[str]]  # (severity, metric) -> topic names

# How devices talk is not where a failure is: a broker outage hits MQTT and HTTP at once and is
# one incident. Grouping by `dimensions` reads a protocol as any protocol (docs/decision_log.md).
ANY_PROTOCOL = ("Protocol", "any")

DEFAULT_GROUP_INTERVAL = 15 * 60
DEFAULT_HISTORY_DAYS = 400
# A timeline longer than this (a series flapping for days) keeps its beginning and its end.
MAX_EVENTS = 200
EVENTS_KEPT_FROM_START = 40


def incident_id(at: int, taken: Iterable[str] = ()) -> str:
    """Short, readable and unique: the UTC minute of the tick that opened it ('261116-1305'),
    with a letter for a second incident opened in the same tick ('261116-1305b'), and past the
    26th ('...z') the count ('261116-1305z27'): a downstream failure can open one incident per
    topic rule at once, and none of them may be lost to its name."""
    base = id_floor(at)
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
    # acknowledged marked (what on-call said: domain.incidents.feedback)
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


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Someone said "I'm on it" (`iotwatch incidents ack`): reminders stop until it escalates."""

    by: str
    at: int
    note: str = ""


VerdictKind = Literal["false-alarm", "expected"]
VERDICTS: tuple[VerdictKind, ...] = ("false-alarm", "expected")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What on-call made of it (`iotwatch incidents mark`): a false alarm, or expected (a
    maintenance, a planned load). Either keeps its periods out of training."""

    kind: VerdictKind
    at: int
    by: str = ""
    note: str = ""


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
    # where it was concentrated, as looked up in each tick that paged it (oldest first), and
    # the likely kind of failure its last page named
    breakdowns: list[Breakdown] = field(default_factory=list)
    failure: FailureKind | None = None
    acknowledged: Acknowledgement | None = None  # cleared by an escalation (it pages again)
    verdict: Verdict | None = None
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
    def shown_group(self) -> GroupKey:
        """The group as people read it: a protocol grouped as any names its members' protocols
        ("Protocol=MQTT", "Protocol=MQTT+HTTP")."""
        if ANY_PROTOCOL not in self.group:
            return self.group
        protocols = dict.fromkeys(v for m in self.members for k, v in m.dimensions if k == ANY_PROTOCOL[0])
        shown = "+".join(protocols) or ANY_PROTOCOL[1]
        return tuple((k, shown) if (k, v) == ANY_PROTOCOL else (k, v) for k, v in self.group)

    @property
    def group_label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.shown_group) or "account-wide"

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
            failure=self.failure,
            where=self.breakdowns[-1] if self.breakdowns else None,
        )


@dataclass(frozen=True)
class IncidentSettings:
    group_by: str | Sequence[str] = "dimensions"
    group_interval: int = DEFAULT_GROUP_INTERVAL
    repeat_interval: int = 4 * 3600


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


def higher_severity(a: Severity | None, b: Severity | None) -> Severity | None:
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b
