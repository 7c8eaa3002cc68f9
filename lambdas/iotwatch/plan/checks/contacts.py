"""Checks on subscribers' addresses the model cannot make: formats once env values are known, and
phone numbers written into the plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from iotwatch.plan.model.contacts import E164_PATTERN, EMAIL_PATTERN, Contact, mask_contact, webhook_problem
from iotwatch.plan.problems import PlanProblem


def contact_checks(
    sub: dict[str, Any], path: str, environ: Mapping[str, str], resolve_env: bool
) -> list[PlanProblem]:
    """A subscriber's address in the format its protocol needs, its env variable set when resolving."""
    problems: list[PlanProblem] = []
    for protocol in ("email", "sms", "https"):
        raw = sub.get(protocol)
        if raw is None:
            continue
        try:
            contact = Contact.model_validate(raw)
        except ValidationError:
            continue  # already reported by the model
        value: str | None = contact.value if contact.source == "literal" else None
        if contact.source == "env":
            value = environ.get(contact.value)
            if value is None and resolve_env:
                problems.append(
                    PlanProblem(
                        "error",
                        f"{path}.{protocol}",
                        f"environment variable {contact.value} is not set; export it before synth/deploy",
                    )
                )
        if value is None:
            continue
        shown = "the value of $" + contact.value if contact.source == "env" else repr(mask_contact(value))
        if protocol == "email" and not EMAIL_PATTERN.match(value):
            problems.append(PlanProblem("error", f"{path}.email", f"{shown} is not a valid e-mail address"))
        if protocol == "sms" and not E164_PATTERN.match(value):
            problems.append(
                PlanProblem(
                    "error",
                    f"{path}.sms",
                    f"{shown} is not an E.164 phone number (write it as +<country code><number>, e.g. +15550100)",
                )
            )
        problem = webhook_problem(value) if protocol == "https" and contact.source == "env" else None
        if problem:  # a literal URL is checked by the model
            problems.append(
                PlanProblem("error", f"{path}.https", f"the value of ${contact.value}: {problem}")
            )
        if contact.source == "literal" and protocol == "sms":
            problems.append(
                PlanProblem(
                    "warning",
                    f"{path}.sms",
                    "phone number written in the plan; prefer {ssm: /param} or {env: VAR} to keep it out of git",
                )
            )
    return problems
