"""The plan's `notify.events`: incidents and audit alerts as EventBridge events, and on which bus."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from iotwatch.plan.model.base import StrictModel

DEFAULT_BUS = "default"
# what PutEvents takes as EventBusName: a bus name, or a bus ARN (a bus of another account
# or region, which must let this account put events)
BUS_NAME = re.compile(r"^[A-Za-z0-9._\-/]{1,256}$")
BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._\-/]{1,256}$")


class EventsSettings(StrictModel):
    enabled: bool = Field(
        default=True,
        description="publish every incident transition and audit alert as an EventBridge event "
        "(source 'iotwatch'; see docs/events.md), after the pages",
    )
    bus: str = Field(
        default=DEFAULT_BUS,
        description="the event bus: 'default', a bus name in the stack's account and region, or a bus ARN",
    )

    @field_validator("bus")
    @classmethod
    def _bus(cls, value: str) -> str:
        if value.startswith("arn:"):
            if BUS_ARN.match(value):
                return value
            raise ValueError(
                f"got {value!r}: an event bus ARN reads arn:aws:events:<region>:<account>:event-bus/<name>"
            )
        if BUS_NAME.match(value):
            return value
        raise ValueError(
            f"got {value!r}: write 'default', a bus name (letters, digits, . _ - /, at most 256) or a bus ARN"
        )
