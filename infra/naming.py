"""Names the CDK app derives from the plan, in one place (the stack's output names are
iotwatch's, in iotwatch.stack_outputs: the contract the CLI and the demo read them by)."""

from __future__ import annotations

from iotwatch.plan.loader import PlanError
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.topic_names import topic_name_collisions
from iotwatch.telemetry import NAMESPACE_ROOT


def metrics_namespace(plan: Plan) -> str:
    """iotwatch's own metrics, one namespace per plan (and stage): two stacks in an account
    must not feed each other's heartbeat, bands or audit counts."""
    return f"{NAMESPACE_ROOT}/{plan.name}"


def dashboard_name(plan: Plan) -> str:
    return f"iotwatch-{plan.name}"


def check_output_names(plan: Plan, source: str) -> None:
    """The plan-layer rule `plan validate` applies (topic names that become one stack output),
    again on the plan about to be synthesized: synth must refuse it even if validate was skipped."""
    problems = topic_name_collisions([topic.name for topic in plan.notify.topics])
    if problems:
        raise PlanError(source, problems)
