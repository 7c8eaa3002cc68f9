"""The whole plan: its name, goals and owners, and the sections that answer the guide's questions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from iotwatch.domain.routing import routed_audit_topics, routed_topics
from iotwatch.plan.model.audit import Audit
from iotwatch.plan.model.base import StrictModel
from iotwatch.plan.model.detection import Detection
from iotwatch.plan.model.devices import Devices
from iotwatch.plan.model.frequency import Frequency
from iotwatch.plan.model.notify import Notify
from iotwatch.plan.model.resources import Resources
from iotwatch.plan.topic_names import topic_physical_name

PLAN_NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"  # words joined by single hyphens (max_length 30)


class Tools(StrictModel):
    dashboard: bool = True
    audit: bool = False  # alert on sensitive AWS IoT control-plane calls; settings under `audit`


class Owners(StrictModel):
    team: str = Field(min_length=1, max_length=100)
    runbook: str | None = None
    escalation: str | None = None


class Plan(StrictModel):
    version: Literal[1] = 1
    name: str = Field(pattern=PLAN_NAME_PATTERN, max_length=30)
    goals: list[str] = Field(min_length=1)
    owners: Owners
    resources: Resources
    frequency: Frequency = Frequency()
    detection: Detection = Detection()
    tools: Tools = Tools()
    audit: Audit = Audit()
    notify: Notify
    devices: Devices | None = None  # where and why: device groups, disconnect reasons, top clients

    @property
    def stack_name(self) -> str:
        return "IotWatch-" + "".join(part.capitalize() for part in self.name.split("-"))

    def topic_physical_name(self, topic: str) -> str:
        return topic_physical_name(self.name, topic)

    def topics_for(self, *, severity: str, metric: str) -> list[str]:
        """Topic names a deviation of `metric` at `severity` is routed to, in plan order, once each."""
        return routed_topics(self.notify.routes, severity=severity, metric=metric)

    def audit_topics_for(self, severity: str) -> list[str]:
        return routed_audit_topics(self.notify.routes, severity=severity, only=self.audit.topics)
