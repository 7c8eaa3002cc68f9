"""Reading CloudTrail records of AWS IoT API calls (either shape, any envelope) into AuditEvents.

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
from datetime import UTC, datetime
from typing import Any

from iotwatch.domain.audit.event import AuditEvent, AuditRecordError
from iotwatch.domain.times import iso_datetime

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"

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
            return iso_datetime(text).astimezone(UTC)  # CloudTrail times are UTC
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
