"""What iotwatch keeps of a control-plane call, and what a deviation message quotes of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iotwatch.domain.audit.event import AuditEvent
    from iotwatch.domain.audit.policy import AuditVerdict


@dataclass(frozen=True)
class RecordedCall:
    """What iotwatch keeps of a control-plane call (DynamoDB, with a TTL) and what a deviation
    message quotes: no request payload beyond the parameters that name what was touched."""

    at: int  # epoch seconds
    event_id: str
    action: str
    who: str
    principal_arn: str | None
    key_parameters: Mapping[str, str]
    source_ip: str | None
    region: str | None
    account: str | None
    error: str | None
    severity: str | None  # set when it paged
    sensitive: bool

    @property
    def target(self) -> str:
        """'fleet-policy', 'telemetry_to_kinesis', '' — the first parameter that names a thing."""
        return next(iter(self.key_parameters.values()), "")

    def line(self) -> str:
        """'12:56 DeletePolicy fleet-policy by role deploy-bot/ci-42 (critical)'."""
        what = f"{self.action} {self.target}".rstrip()
        outcome = f", failed: {self.error}" if self.error else ""
        tag = f" ({self.severity}{outcome})" if self.severity else (f" ({outcome[2:]})" if outcome else "")
        return f"{datetime.fromtimestamp(self.at, UTC):%H:%M} {what} by {self.who}{tag}"


def recorded_call(event: AuditEvent, verdict: AuditVerdict, *, fallback_id: str) -> RecordedCall:
    """`fallback_id` (the EventBridge event id) keys a record that carries no eventID."""
    return RecordedCall(
        at=int(event.time.timestamp()),
        event_id=event.event_id or fallback_id,
        action=event.action,
        who=event.who,
        principal_arn=event.principal_arn,
        key_parameters=event.key_parameters,
        source_ip=event.source_ip,
        region=event.region,
        account=event.account,
        error=event.error,
        severity=verdict.severity,
        sensitive=verdict.sensitive,
    )
