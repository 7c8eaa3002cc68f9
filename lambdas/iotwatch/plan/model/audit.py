"""The plan's `audit` section: which AWS IoT control-plane calls page, and how records are kept."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from iotwatch.plan.model.base import StrictModel, parse_interval, require_names

AuditSeverity = Literal["warning", "critical", "off"]
AUDIT_ACTION_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9]{1,127}$")


class Audit(StrictModel):
    """The control-plane audit: CloudTrail records of AWS IoT API calls, as EventBridge
    delivers them. Used when `tools.audit` is true."""

    actions: dict[str, AuditSeverity] = Field(
        default_factory=dict,
        description="sensitive IoT actions and their severity, added to or overriding the defaults; "
        "'off' drops a default",
    )
    root: AuditSeverity = Field(default="critical", description="any IoT call made with root credentials")
    failed: AuditSeverity = Field(
        default="warning", description="a failed sensitive call, or any denied IoT call (AccessDenied, ...)"
    )
    ignore_principals: list[str] = Field(
        default_factory=list,
        description="glob patterns on the principal name or ARN whose calls never page (still recorded)",
    )
    topics: list[str] | None = Field(
        default=None, description="topics for audit alerts; default: every topic routed that severity"
    )
    correlation_window: int = Field(
        default=3600, description="how far back a firing deviation looks for control-plane changes"
    )
    retention_days: int = Field(default=90, ge=1, le=3650, description="how long audit events are kept")
    create_trail: bool = Field(
        default=False, description="create a CloudTrail trail (for accounts without one in this region)"
    )
    trail_retention_days: int = Field(default=365, ge=1, le=3650)

    @field_validator("actions")
    @classmethod
    def _action_names(cls, value: dict[str, str]) -> dict[str, str]:
        require_names(
            value,
            AUDIT_ACTION_PATTERN,
            write="write IoT API action names as CloudTrail logs them, e.g. DeletePolicy, AttachPolicy, "
            "UpdateCertificate",
        )
        return value

    @field_validator("correlation_window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> int:
        seconds = parse_interval(value)
        if not 0 <= seconds <= 24 * 3600:
            raise ValueError("give at most 24h, e.g. '1h' or '30m' (0 turns correlation off)")
        return seconds
