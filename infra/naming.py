"""Names derived from the plan, in one place: the demo and the CLI read outputs by these names."""

from __future__ import annotations

import re

from iotwatch.plan.loader import PlanError
from iotwatch.plan.model import Plan
from iotwatch.plan.problems import PlanProblem
from iotwatch.telemetry import NAMESPACE_ROOT as METRICS_NAMESPACE

OUTPUT_TABLE_NAME = "TableName"
OUTPUT_EVALUATOR_FUNCTION = "EvaluatorFunctionName"
OUTPUT_BASELINE_BUILDER_FUNCTION = "BaselineBuilderFunctionName"
OUTPUT_DASHBOARD_NAME = "DashboardName"
OUTPUT_DEAD_LETTER_QUEUE = "DeadLetterQueueUrl"
OUTPUT_AUDIT_FUNCTION = "AuditFunctionName"
OUTPUT_AUDIT_RULE = "AuditRuleName"


def camel(name: str) -> str:
    """'oncall-email' -> 'OncallEmail', 'ops_2' -> 'Ops2' (letters and digits only)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def topic_output_name(topic: str) -> str:
    return f"Topic{camel(topic)}Arn"


def metrics_namespace(plan: Plan) -> str:
    """iotwatch's own metrics, one namespace per plan (and stage): two stacks in an account
    must not feed each other's heartbeat, bands or audit counts."""
    return f"{METRICS_NAMESPACE}/{plan.name}"


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
