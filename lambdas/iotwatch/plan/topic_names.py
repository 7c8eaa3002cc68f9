"""The names a plan's topic takes outside the plan, and the rule that two topics must not share
one: checked by `plan validate` on the raw plan and again by the CDK app before it synthesizes."""

from __future__ import annotations

import re
from collections.abc import Sequence

from iotwatch.plan.model.notify import TOPIC_NAME_PATTERN
from iotwatch.plan.problems import PlanProblem
from iotwatch.stack_outputs import topic_output_name


def topic_physical_name(plan_name: str, topic: str) -> str:
    """The SNS topic's name in the account: 'iotwatch-<plan>-<topic>'."""
    return f"iotwatch-{plan_name}-{topic}"


def topic_name_collisions(names: Sequence[object]) -> list[PlanProblem]:
    """Topics (notify.topics, in plan order) whose names differ but become the same stack output
    (and so the same CloudFormation logical id): 'on-call' and 'on_call' are both TopicOnCallArn.
    Names that are not strings, not valid topic names, or exact repeats are other checks' problems."""
    first: dict[str, tuple[int, str]] = {}
    problems: list[PlanProblem] = []
    for i, name in enumerate(names):
        if not isinstance(name, str) or not re.match(TOPIC_NAME_PATTERN, name):
            continue
        output = topic_output_name(name)
        if output not in first:
            first[output] = (i, name)
            continue
        j, other = first[output]
        if other == name:
            continue
        problems.append(
            PlanProblem(
                "error",
                f"notify.topics[{i}].name",
                f"'{name}' and '{other}' (notify.topics[{j}].name) both become stack output {output}, "
                "which CloudFormation cannot hold twice: rename one so they differ in more than "
                "case or '-'/'_'",
                related=f"notify.topics[{j}].name",
            )
        )
    return problems
