"""What on-call reads: one message per topic and evaluation, rendered per protocol.

The shared types are in `model`; deviations render in `deviation` (e-mail, SMS and JSON
document in their own modules), control-plane calls in `audit`; `gsm7`, `console` and
`wording` hold what every message uses. The names below stay importable from here for
importers that predate the split.
"""

from iotwatch.domain.messages.audit import render_audit
from iotwatch.domain.messages.deviation import OPENING_KINDS, correlated_changes, render
from iotwatch.domain.messages.gsm7 import SMS_LIMIT, gsm7_length, to_gsm7
from iotwatch.domain.messages.model import Alert, IncidentRef, MessageContext, Notification, RenderedMessage
from iotwatch.domain.messages.wording import SUBJECT_LIMIT, change_text

__all__ = [
    "OPENING_KINDS",
    "SMS_LIMIT",
    "SUBJECT_LIMIT",
    "Alert",
    "IncidentRef",
    "MessageContext",
    "Notification",
    "RenderedMessage",
    "change_text",
    "correlated_changes",
    "gsm7_length",
    "render",
    "render_audit",
    "to_gsm7",
]
