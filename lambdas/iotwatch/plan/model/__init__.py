"""The monitoring plan: one validated model shared by the CDK app, the Lambdas and the CLI.

Its sections answer the AWS IoT monitoring guide's six questions: goals, resources,
frequency, tools, owners (who monitors) and notify (who is told); each section has its
module here. The names below are the ones the CDK app, the CLI and the tests use.
"""

from iotwatch.plan.model.contacts import Contact, Subscriber
from iotwatch.plan.model.detection import Detection
from iotwatch.plan.model.frequency import Frequency
from iotwatch.plan.model.notify import SEVERITIES, Route
from iotwatch.plan.model.plan import PLAN_NAME_PATTERN, Plan
from iotwatch.plan.model.resources import MAX_WILDCARD_TEMPLATES

__all__ = [
    "MAX_WILDCARD_TEMPLATES",
    "PLAN_NAME_PATTERN",
    "SEVERITIES",
    "Contact",
    "Detection",
    "Frequency",
    "Plan",
    "Route",
    "Subscriber",
]
