"""Which control-plane calls page, and how loudly: the sensitive actions, the plan's policy, the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from iotwatch.domain.audit.event import IOT_SOURCE, AuditEvent

CRITICAL = "critical"
WARNING = "warning"

# Calls that can blind monitoring, cut devices off or widen what a certificate may do.
# Critical: removes protection or visibility. Warning: changes who may do what.
SENSITIVE_ACTIONS: Mapping[str, str] = {
    # policies: deleting/detaching can cut devices off; attaching widens access
    "DeletePolicy": CRITICAL,
    "DetachPolicy": CRITICAL,
    "DetachPrincipalPolicy": CRITICAL,
    "AttachPolicy": WARNING,
    "AttachPrincipalPolicy": WARNING,
    "CreatePolicyVersion": WARNING,
    "SetDefaultPolicyVersion": WARNING,
    "DeletePolicyVersion": WARNING,
    # certificates: a revoked/inactive CA or device cert is a fleet outage
    "DeleteCACertificate": CRITICAL,
    "UpdateCACertificate": CRITICAL,
    "UpdateCertificate": CRITICAL,  # see sensitivity(): re-activation is only a warning
    "DeleteCertificate": WARNING,
    "RegisterCACertificate": WARNING,
    "RegisterCertificate": WARNING,
    "RegisterCertificateWithoutCA": WARNING,
    "TransferCertificate": WARNING,
    "DetachThingPrincipal": WARNING,
    # rules: the rules engine is where device data goes; stopping it is silent data loss
    "DeleteTopicRule": CRITICAL,
    "DisableTopicRule": CRITICAL,
    "CreateTopicRule": WARNING,
    "ReplaceTopicRule": WARNING,
    "EnableTopicRule": WARNING,
    "DeleteTopicRuleDestination": CRITICAL,
    "UpdateTopicRuleDestination": WARNING,
    # logging and auditing: turning them off is how an intruder hides
    "SetLoggingOptions": CRITICAL,
    "SetV2LoggingOptions": CRITICAL,
    "SetV2LoggingLevel": WARNING,
    "DeleteV2LoggingLevel": WARNING,
    "UpdateAccountAuditConfiguration": CRITICAL,
    "DeleteAccountAuditConfiguration": CRITICAL,
    "UpdateScheduledAudit": WARNING,
    "DeleteScheduledAudit": CRITICAL,
    "DeleteSecurityProfile": CRITICAL,
    "DetachSecurityProfile": CRITICAL,
    "UpdateSecurityProfile": WARNING,
    # custom authentication and endpoints: who may connect, and where
    "DeleteAuthorizer": CRITICAL,
    "CreateAuthorizer": WARNING,
    "UpdateAuthorizer": WARNING,
    "SetDefaultAuthorizer": WARNING,
    "UpdateDomainConfiguration": CRITICAL,
    "DeleteDomainConfiguration": CRITICAL,
    "CreateDomainConfiguration": WARNING,
    "UpdateRoleAlias": WARNING,
    "DeleteRoleAlias": WARNING,
    "UpdateEventConfigurations": WARNING,
    "UpdateIndexingConfiguration": WARNING,
    # things
    "DeleteThing": WARNING,
    "DeleteThingGroup": WARNING,
}


def sensitivity(event: AuditEvent, sensitive: Mapping[str, str] = SENSITIVE_ACTIONS) -> str | None:
    """The severity the action list gives this call, or None.

    Only IoT calls count (IAM also has a DeletePolicy); a record that names no source is
    given the benefit of the doubt, as the guide's example names none. Failed calls keep
    their severity: a denied DetachPolicy is still someone trying.
    """
    if event.source not in (None, IOT_SOURCE):
        return None
    severity = sensitive.get(event.action)
    # ACTIVE restores a certificate; REVOKED/INACTIVE (or unknown) cuts a device off
    if (
        event.action == "UpdateCertificate"
        and severity == CRITICAL
        and str(event.parameters.get("newStatus", "")).upper() == "ACTIVE"
    ):
        return WARNING
    return severity


def notes(event: AuditEvent) -> tuple[str, ...]:
    """Why else a call deserves a look, whatever the action: root, failure, no MFA on root."""
    found = []
    if event.is_root:
        found.append("root credentials")
    if event.failed:
        found.append(f"failed: {event.error}")
    return tuple(found)


# --- what pages ------------------------------------------------------------------------------

_RANK = {WARNING: 1, CRITICAL: 2}
# A denied call is someone trying what they may not, whatever the action; other failures
# (ResourceAlreadyExists from provisioning) are only news for sensitive actions.
ACCESS_ERRORS = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"}
)


@dataclass(frozen=True)
class AuditPolicy:
    """The plan's audit settings that decide what pages (compiled into the functions' plan)."""

    actions: Mapping[str, str] = field(default_factory=lambda: dict(SENSITIVE_ACTIONS))
    root: str | None = CRITICAL  # None: root calls page only for a sensitive action
    failed: str | None = WARNING  # None: failed calls page only at the action's own severity
    ignore_principals: tuple[str, ...] = ()

    @classmethod
    def from_overrides(
        cls,
        overrides: Mapping[str, str],
        *,
        root: str = CRITICAL,
        failed: str = WARNING,
        ignore_principals: tuple[str, ...] = (),
    ) -> AuditPolicy:
        """Defaults plus the plan's `audit.actions` ('off' drops an action); 'off' disables root/failed."""
        actions = dict(SENSITIVE_ACTIONS)
        for action, severity in overrides.items():
            if severity == "off":
                actions.pop(action, None)
            else:
                actions[action] = severity
        return cls(
            actions=actions,
            root=None if root == "off" else root,
            failed=None if failed == "off" else failed,
            ignore_principals=tuple(ignore_principals),
        )


@dataclass(frozen=True)
class AuditVerdict:
    severity: str | None  # None: recorded, not paged
    reasons: tuple[str, ...]  # why it pages, or why it does not ("ignored principal ...")
    sensitive: bool  # the action is on the plan's list

    @property
    def pages(self) -> bool:
        return self.severity is not None


def judge(event: AuditEvent, policy: AuditPolicy) -> AuditVerdict:
    """Whether a call pages and at which severity: the action's own severity, raised to the
    plan's `root` severity for root credentials, and a failed sensitive or denied call at
    least at `failed`. The highest applies. Ignored principals are recorded, never paged."""
    import fnmatch

    action_severity = sensitivity(event, policy.actions)
    reasons: list[str] = []
    candidates: list[str] = []
    if action_severity is not None:
        reasons.append(f"{event.action} is a sensitive action ({action_severity})")
        candidates.append(action_severity)
    iot_call = event.source in (None, IOT_SOURCE)
    if iot_call and event.is_root and policy.root is not None:
        reasons.append("made with root credentials")
        candidates.append(policy.root)
    denied = (event.error or "").split(".")[-1] in ACCESS_ERRORS
    if iot_call and event.failed and policy.failed is not None and (action_severity or denied):
        reasons.append(f"failed with {event.error}")
        candidates.append(policy.failed)
    severity = max(candidates, key=lambda s: _RANK.get(s, 0)) if candidates else None
    names = [n for n in (event.principal, event.principal_arn) if n]
    for pattern in policy.ignore_principals:
        if any(fnmatch.fnmatchcase(name, pattern) for name in names):
            return AuditVerdict(
                None, (f"principal matches ignore_principals {pattern!r}",), bool(action_severity)
            )
    return AuditVerdict(severity, tuple(reasons), action_severity is not None)
