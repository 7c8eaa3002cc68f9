"""Control-plane audit: CloudTrail records of AWS IoT API calls, read into one shape.

Two record shapes reach us. Real CloudTrail (S3 log files, EventBridge "AWS API Call via
CloudTrail") uses camelCase keys and an ISO 8601 `eventTime`. The example in AWS's IoT
monitoring guide uses an older shape: capitalised keys, a misspelt `RequestParamters`, an
epoch-seconds `timestamp` string, empty strings for absent values and `invokedBy` as
`{serviceAccountId}`. People paste that example into tools, so both must read the same.

Everything here is pure: records in, `AuditEvent`s out. Any malformed input raises
`AuditRecordError` (never KeyError/TypeError), so a bad record costs one line, not a run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

IOT_SOURCE = "iot.amazonaws.com"
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"

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

_CREDENTIALS = {
    "root": "root",
    "iamuser": "iam-user",
    "assumedrole": "role",
    "federateduser": "federated",
    "awsservice": "aws-service",
    "awsaccount": "aws-account",
    "identitycenteruser": "identity-center",
    "unknown": "unknown",
}
_SESSION_TYPES = frozenset({"role", "federated", "identity-center"})


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


# --- reading -------------------------------------------------------------------------------


def _lower_keys(value: Any) -> dict[str, Any]:
    """Key lookups for both shapes; camelCase wins if a record somehow has both spellings."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            continue
        lower = key.lower()
        if lower not in out or key[:1].islower():
            out[lower] = item
    return out


def _text(value: Any) -> str | None:
    """A string field; empty strings (the old shape's 'absent') and non-strings are None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value < 10**20:
        return str(value)  # account ids sometimes arrive as numbers in hand-written samples
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first(fields: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = _text(fields.get(name))
        if value is not None:
            return value
    return None


def _parse_time(fields: Mapping[str, Any]) -> datetime:
    iso = fields.get("eventtime")
    if _text(iso) is not None and isinstance(iso, str):
        text = iso.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)  # CloudTrail times are UTC
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            raise AuditRecordError(f"eventTime {text[:40]!r} is not an ISO 8601 time") from None
    stamp = fields.get("timestamp")
    if isinstance(stamp, str | int | float) and not isinstance(stamp, bool) and str(stamp).strip():
        try:
            seconds = float(stamp)
            if not math.isfinite(seconds):
                raise ValueError
            # > 1e11 can only be milliseconds: no CloudTrail record is from after year 5138
            return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)
        except (ValueError, OverflowError, OSError):
            raise AuditRecordError(f"timestamp {str(stamp)[:40]!r} is not epoch seconds") from None
    raise AuditRecordError("no eventTime")


def _arn_tail(arn: str | None, marker: str) -> list[str]:
    """The '/'-separated parts after `marker` in an ARN ('assumed-role/Role/session' -> parts)."""
    if not arn or marker not in arn:
        return []
    return [part for part in arn.split(marker, 1)[1].split("/") if part]


def _identity(raw: Any) -> dict[str, Any]:
    ident = _lower_keys(raw)
    kind = (_text(ident.get("type")) or "unknown").lower()
    credentials = _CREDENTIALS.get(kind, "unknown")
    arn = _text(ident.get("arn"))
    account = _text(ident.get("accountid"))
    session_context = _lower_keys(ident.get("sessioncontext"))
    issuer = _lower_keys(session_context.get("sessionissuer"))
    attributes = _lower_keys(session_context.get("attributes"))

    invoked = ident.get("invokedby")
    if isinstance(invoked, Mapping):
        service_account = _first(_lower_keys(invoked), "serviceaccountid")
        via = f"AWS service account {service_account}" if service_account else None
    else:
        via = _text(invoked)

    principal, principal_arn, session = None, arn, None
    if credentials == "role":
        principal_arn = _text(issuer.get("arn")) or arn
        parts = _arn_tail(arn, ":assumed-role/")
        session = parts[-1] if len(parts) >= 2 else None
        principal = _text(issuer.get("username")) or (parts[0] if parts else None)
        if principal is None and principal_arn:
            principal = principal_arn.rsplit("/", 1)[-1]
    elif credentials == "federated":
        parts = _arn_tail(arn, ":federated-user/")
        principal = parts[-1] if parts else _text(ident.get("username"))
    elif credentials == "root":
        principal = "root"
    elif credentials == "aws-service":
        principal = via
    elif credentials == "aws-account":
        principal = account
    elif credentials == "identity-center":
        on_behalf = _lower_keys(ident.get("onbehalfof"))
        principal = _first(on_behalf, "userid") or _text(ident.get("username"))
    else:  # iam-user, unknown
        principal = _text(ident.get("username"))
        if principal is None and arn and "/" in arn:
            principal = arn.rsplit("/", 1)[-1]
        principal = principal or _text(ident.get("principalid"))

    key = _text(ident.get("accesskeyid")) or ""
    mfa_text = (_text(attributes.get("mfaauthenticated")) or "").lower()
    mfa_flag = attributes.get("mfaauthenticated")
    mfa = mfa_flag if isinstance(mfa_flag, bool) else {"true": True, "false": False}.get(mfa_text)
    return {
        "credentials": credentials,
        "temporary": credentials in _SESSION_TYPES or key.startswith("ASIA"),
        "principal": principal,
        "principal_arn": principal_arn,
        "session": session,
        "via_service": via,
        "account": account,
        "mfa": mfa,
    }


def normalize(record: Any) -> AuditEvent:
    """One CloudTrail record (either shape) -> AuditEvent; AuditRecordError says what is missing."""
    if not isinstance(record, Mapping):
        raise AuditRecordError(f"not a JSON object but {_kind(record)}")
    fields = _lower_keys(record)
    action = _first(fields, "eventname")
    if action is None:
        raise AuditRecordError("no eventName")
    time = _parse_time(fields)
    who = _identity(fields.get("useridentity"))
    parameters = fields.get("requestparameters")
    if not isinstance(parameters, Mapping):
        parameters = fields.get("requestparamters")  # the guide's spelling
    return AuditEvent(
        time=time,
        action=action,
        source=_first(fields, "eventsource"),
        region=_first(fields, "awsregion"),
        account=_first(fields, "recipientaccountid") or who["account"],
        credentials=who["credentials"],
        temporary=who["temporary"],
        principal=who["principal"],
        principal_arn=who["principal_arn"],
        session=who["session"],
        via_service=who["via_service"],
        source_ip=_first(fields, "sourceipaddress"),
        user_agent=_first(fields, "useragent"),
        error=_first(fields, "errorcode"),
        error_message=_first(fields, "errormessage"),
        parameters=dict(parameters) if isinstance(parameters, Mapping) else {},
        event_id=_first(fields, "eventid"),
        mfa=who["mfa"],
    )


def records_from_document(obj: Any) -> Iterator[Any]:
    """The records in a parsed JSON document.

    Accepts a CloudTrail log file (`{"Records": [...]}`), an EventBridge "AWS API Call via
    CloudTrail" event (the record is its `detail`), a single record, or a list of any of
    those. Records are yielded unchecked: `normalize` judges each, so one bad record does
    not hide its neighbours.
    """
    if isinstance(obj, list):
        for item in obj:
            if isinstance(item, Mapping) and ("Records" in item or "detail-type" in item):
                yield from records_from_document(item)
            else:
                yield item
        return
    if not isinstance(obj, Mapping):
        raise AuditRecordError(
            f'expected a CloudTrail record, a {{"Records": [...]}} log file or an EventBridge event, '
            f"got {_kind(obj)}"
        )
    if "Records" in obj:
        records = obj["Records"]
        if not isinstance(records, list):
            raise AuditRecordError(f"Records is {_kind(records)}, not a list")
        yield from records
        return
    if "detail-type" in obj:
        detail_type = obj["detail-type"]
        if detail_type != CLOUDTRAIL_DETAIL_TYPE:
            shown = detail_type if isinstance(detail_type, str) else _kind(detail_type)
            raise AuditRecordError(f"EventBridge event {shown[:60]!r} is not an {CLOUDTRAIL_DETAIL_TYPE!r}")
        yield obj.get("detail")
        return
    yield obj


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )
