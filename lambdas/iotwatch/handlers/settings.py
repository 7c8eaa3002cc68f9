"""Environment the stack gives every iotwatch function, validated once at cold start."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from iotwatch.plan.model import Plan
from iotwatch.plan.runtime import RUNTIME_PLAN_FILE, read_runtime_plan

ENV_TABLE = "IOTWATCH_TABLE"
ENV_TOPICS = "IOTWATCH_TOPICS"
ENV_PLAN_FILE = "IOTWATCH_PLAN_FILE"
ENV_DASHBOARD = "IOTWATCH_DASHBOARD"


class FunctionSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=3, alias=ENV_TABLE)
    topic_arns: dict[str, str] = Field(alias=ENV_TOPICS)
    plan_file: str = Field(default=RUNTIME_PLAN_FILE, alias=ENV_PLAN_FILE)
    dashboard_name: str | None = Field(default=None, alias=ENV_DASHBOARD)
    region: str = Field(default="us-east-1", alias="AWS_REGION")
    task_root: str = Field(default=".", alias="LAMBDA_TASK_ROOT")

    @field_validator("topic_arns", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value)
        return value

    @cached_property
    def plan(self) -> Plan:
        path = Path(self.plan_file)
        if not path.is_absolute():
            path = Path(self.task_root) / path
        return read_runtime_plan(path)


def load_settings(environ: dict[str, str] | None = None) -> FunctionSettings:
    return FunctionSettings.model_validate(dict(os.environ if environ is None else environ))
