"""Names the CDK app derives from the plan, in one place (the stack's output names are
iotwatch's, in iotwatch.stack_outputs: the contract the CLI and the demo read them by)."""

from __future__ import annotations

from iotwatch.plan.loader import PlanError
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.problems import PlanProblem
from iotwatch.stack_outputs import topic_output_name
from iotwatch.telemetry import NAMESPACE_ROOT


def metrics_namespace(plan: Plan) -> str:
    """iotwatch's own metrics, one namespace per plan (and stage): two stacks in an account
    must not feed each other's heartbeat, bands or audit counts."""
    return f"{NAMESPACE_ROOT}/{plan.name}"


def dashboard_name(plan: Plan) -> str:
    return f"iotwatch-{plan.name}"


def check_output_names(plan: Plan, source: str) -> None:
    """Two topics such as 'on-call' and 'on_call' would share an output name; say so as a plan error."""
    seen: dict[str, int] = {}
    problems: list[PlanProblem] = []
    for i, topic in enumerate(plan.notify.topics):
        output = topic_output_name(topic.name)
        if output in seen:
            other = plan.notify.topics[seen[output]].name
            problems.append(
                PlanProblem(
                    "error",
                    f"notify.topics[{i}].name",
                    f"'{topic.name}' and '{other}' (notify.topics[{seen[output]}]) both become stack output "
                    f"{output}; rename one",
                )
            )
        else:
            seen[output] = i
    if problems:
        raise PlanError(source, problems)
