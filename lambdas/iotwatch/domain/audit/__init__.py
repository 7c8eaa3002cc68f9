"""Control-plane audit: CloudTrail records of AWS IoT API calls, judged and recorded.

`reading` turns records into `event`s, `policy` says which calls page and how loudly,
`recorded` is what iotwatch keeps of a call. The names below stay importable from here
for importers that predate the split.
"""

from iotwatch.domain.audit.event import IOT_SOURCE, AuditEvent, AuditRecordError
from iotwatch.domain.audit.policy import (
    CRITICAL,
    SENSITIVE_ACTIONS,
    WARNING,
    AuditPolicy,
    AuditVerdict,
    judge,
    notes,
    sensitivity,
)
from iotwatch.domain.audit.reading import normalize, records_from_document
from iotwatch.domain.audit.recorded import RecordedCall, recorded_call

__all__ = [
    "CRITICAL",
    "IOT_SOURCE",
    "SENSITIVE_ACTIONS",
    "WARNING",
    "AuditEvent",
    "AuditPolicy",
    "AuditRecordError",
    "AuditVerdict",
    "RecordedCall",
    "judge",
    "normalize",
    "notes",
    "recorded_call",
    "records_from_document",
    "sensitivity",
]
