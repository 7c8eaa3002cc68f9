"""The stack's output names: the contract between the deployed stack and the tools that operate it."""

from __future__ import annotations

import re


def topic_output_name(topic: str) -> str:
    """The output holding the ARN of the plan's topic `topic`: 'oncall-email' -> 'TopicOncallEmailArn'."""
    return f"Topic{camel(topic)}Arn"


def camel(name: str) -> str:
    """'oncall-email' -> 'OncallEmail', 'ops_2' -> 'Ops2' (letters and digits only)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


OUTPUT_TABLE_NAME = "TableName"
OUTPUT_EVALUATOR_FUNCTION = "EvaluatorFunctionName"
OUTPUT_BASELINE_BUILDER_FUNCTION = "BaselineBuilderFunctionName"
OUTPUT_DASHBOARD_NAME = "DashboardName"
OUTPUT_DEAD_LETTER_QUEUE = "DeadLetterQueueUrl"
OUTPUT_AUDIT_FUNCTION = "AuditFunctionName"
OUTPUT_AUDIT_RULE = "AuditRuleName"
