"""The message types: what is sent (Notification, Alert, IncidentRef), with what context, and as what."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iotwatch.domain.deviation import Transition
from iotwatch.domain.series import Series

if TYPE_CHECKING:
    from iotwatch.domain.audit.recorded import RecordedCall
    from iotwatch.domain.where import Breakdown, FailureKind


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
    # the likely kind of failure and where it is concentrated, as the tick that paged it found
    # them; None: not classified (no look-up configured) or not looked up
    failure: FailureKind | None = None
    where: Breakdown | None = None


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


@dataclass(frozen=True)
class OutboxItem:
    """A message a topic still owes on-call: rendered when its publish failed, sent later."""

    key: str
    topic: str
    subject: str
    message: str
    attributes: dict[str, dict[str, str]]
    first_attempt: int
