"""Subscribers' addresses: literal, from an environment variable or from SSM, and kept out of logs."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import model_validator

from iotwatch.plan.model.base import StrictModel

EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
E164_PATTERN = re.compile(r"^\+[1-9][0-9]{7,14}$")
SSM_NAME_PATTERN = re.compile(r"^/?[A-Za-z0-9_.\-/]{1,1011}$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Contact(StrictModel):
    """Where a subscriber's address comes from: the plan itself, an environment variable
    read at synth time, or an SSM parameter resolved by CloudFormation at deploy time."""

    source: Literal["literal", "env", "ssm"]
    value: str

    @model_validator(mode="before")
    @classmethod
    def _from_plan_syntax(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"source": "literal", "value": data}
        if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in ("env", "ssm"):
            ((source, value),) = data.items()
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"'{source}' must name a non-empty {'variable' if source == 'env' else 'parameter'}"
                )
            pattern = ENV_NAME_PATTERN if source == "env" else SSM_NAME_PATTERN
            if not pattern.match(value):
                raise ValueError(
                    f"{value!r} is not a valid {'environment variable' if source == 'env' else 'SSM parameter'} name"
                )
            return {"source": source, "value": value}
        if isinstance(data, dict) and set(data) == {"source", "value"}:
            return data
        raise ValueError("write an address as a string, or {env: VARIABLE} or {ssm: /parameter/name}")

    def describe(self) -> str:
        """Safe to print: never the address itself unless it is a literal placeholder."""
        if self.source == "env":
            return f"from env ${self.value}"
        if self.source == "ssm":
            return f"from SSM {self.value}"
        return mask_contact(self.value)


def mask_contact(value: str) -> str:
    """Keeps contact data out of logs and summaries: 'o***@example.com', '+44*******89'."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return value[:3] + "*" * max(len(value) - 5, 0) + value[-2:]


class Subscriber(StrictModel):
    """An e-mail address or an SMS number (E.164), literal or referenced from env / SSM."""

    email: Contact | None = None
    sms: Contact | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Subscriber:
        if (self.email is None) == (self.sms is None):
            raise ValueError("give exactly one of 'email' or 'sms' per subscriber")
        return self

    @property
    def protocol(self) -> Literal["email", "sms"]:
        return "email" if self.email is not None else "sms"

    @property
    def contact(self) -> Contact:
        contact = self.email if self.email is not None else self.sms
        assert contact is not None
        return contact
