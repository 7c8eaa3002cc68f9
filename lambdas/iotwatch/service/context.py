"""The facts every message carries about where it comes from (plan, stack, region, owners)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotwatch.domain.messages.model import MessageContext

if TYPE_CHECKING:
    from iotwatch.plan.model.plan import Plan
    from iotwatch.plan.runtime import RuntimePlan


def message_context(plan: Plan | RuntimePlan, *, region: str, dashboard_name: str | None) -> MessageContext:
    return MessageContext(
        plan_name=plan.name,
        stack_name=plan.stack_name,
        region=region,
        team=plan.owners.team,
        runbook=plan.owners.runbook,
        escalation=plan.owners.escalation,
        dashboard_name=dashboard_name,
    )
