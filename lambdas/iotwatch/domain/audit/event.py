"""One control-plane call, whichever shape it was logged in: the AuditEvent and its errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

IOT_SOURCE = "iot.amazonaws.com"

# Parameters that say what a call touched, in the order a person wants to read them.
KEY_PARAMETERS = (
    "policyName",
    "policyVersionId",
    "principal",
    "target",
    "certificateId",
    "caCertificateId",
    "newStatus",
    "newAutoRegistrationStatus",
    "thingName",
    "thingGroupName",
    "ruleName",
    "authorizerName",
    "domainConfigurationName",
    "domainConfigurationStatus",
    "roleAlias",
    "securityProfileName",
    "scheduledAuditName",
    "jobId",
    "targetArn",
    "arn",
    "destinationArn",
)


class AuditRecordError(ValueError):
    """A record (or document) that cannot be read as a CloudTrail API call; says why."""


@dataclass(frozen=True)
class AuditEvent:
    """One control-plane call, whichever shape it was logged in."""

    time: datetime  # UTC
    action: str
    source: str | None  # None: the record did not say (the guide's example has no EventSource)
    region: str | None
    account: str | None  # recipient account, else the caller's
    credentials: str  # root, iam-user, role, federated, aws-service, aws-account, identity-center, unknown
    temporary: bool  # session credentials: anyone who had them may still hold them until expiry
    principal: str | None  # short name: user, role (not session), service, account
    principal_arn: str | None
    session: str | None  # role session name, e.g. an instance id
    via_service: str | None  # a service acting on the caller's behalf
    source_ip: str | None
    user_agent: str | None
    error: str | None
    error_message: str | None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    mfa: bool | None = None

    @property
    def is_root(self) -> bool:
        return self.credentials == "root"

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def who(self) -> str:
        """'role Name/session', 'iam-user alice', 'root', 'aws-service iot.amazonaws.com'."""
        name = self.principal or "?"
        if self.session:
            name = f"{name}/{self.session}"
        return self.credentials if self.is_root else f"{self.credentials} {name}"

    @property
    def key_parameters(self) -> dict[str, str]:
        """The parameters that name what was touched (scalars only, in a fixed order)."""
        found = {}
        for name in KEY_PARAMETERS:
            value = self.parameters.get(name)
            if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
                found[name] = str(value)
        return found
