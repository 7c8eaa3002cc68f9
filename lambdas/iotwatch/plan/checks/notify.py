"""Checks on notify's topics and routes: valid and unique topic names, subscribers, routes and the
operations topic naming topics that exist, every severity routed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from iotwatch.plan.checks.contacts import contact_checks
from iotwatch.plan.checks.raw import sequence
from iotwatch.plan.model.notify import SEVERITIES, TOPIC_NAME_PATTERN
from iotwatch.plan.problems import PlanProblem
from iotwatch.plan.topic_names import topic_name_collisions, topic_physical_name


def topic_checks(
    data: dict[str, Any], notify: dict[str, Any], environ: Mapping[str, str], resolve_env: bool
) -> tuple[list[PlanProblem], dict[str, int]]:
    """(problems, each topic name's first index): the names the rest of the plan may refer to."""
    problems: list[PlanProblem] = []
    plan_name: str = data["name"] if isinstance(data.get("name"), str) else ""
    names: dict[str, int] = {}
    topics = sequence(notify, "topics")
    for i, topic in enumerate(topics):
        if not isinstance(topic, dict) or not isinstance(topic.get("name"), str):
            continue
        name = topic["name"]
        if name in names:
            problems.append(
                PlanProblem(
                    "error",
                    f"notify.topics[{i}].name",
                    f"duplicate topic '{name}' (also notify.topics[{names[name]}])",
                )
            )
        else:
            names[name] = i
        if not re.match(TOPIC_NAME_PATTERN, name) or len(topic_physical_name(plan_name, name)) > 256:
            problems.append(
                PlanProblem(
                    "error",
                    f"notify.topics[{i}].name",
                    f"'{name}' is not a valid SNS topic name: use letters, digits, '-' and '_' only",
                )
            )
        subscribers = sequence(topic, "subscribers")
        if not subscribers:
            problems.append(
                PlanProblem(
                    "warning", f"notify.topics[{i}]", "no subscribers: alerts routed here reach nobody"
                )
            )
        for j, sub in enumerate(subscribers):
            if isinstance(sub, dict):
                problems += contact_checks(sub, f"notify.topics[{i}].subscribers[{j}]", environ, resolve_env)
    problems += topic_name_collisions([t.get("name") if isinstance(t, dict) else None for t in topics])
    return problems, names


def route_checks(notify: dict[str, Any], names: Mapping[str, int]) -> list[PlanProblem]:
    """Routes name defined topics, and every severity has one."""
    problems: list[PlanProblem] = []
    routes = sequence(notify, "routes")
    routed: set[str] = set()
    for i, route in enumerate(routes):
        if not isinstance(route, dict):
            continue
        target = route.get("topic")
        if isinstance(target, str) and target not in names:
            known = ", ".join(names) or "none defined"
            problems.append(
                PlanProblem(
                    "error",
                    f"notify.routes[{i}].topic",
                    f"routes to undefined topic '{target}'; define it under notify.topics (known: {known})",
                )
            )
        severities = route.get("severities", list(SEVERITIES))
        if isinstance(severities, list):
            routed.update(s for s in severities if isinstance(s, str))
    for severity in SEVERITIES:
        if routes and severity not in routed:
            problems.append(PlanProblem("warning", "notify.routes", f"no route for severity '{severity}'"))
    return problems


def operations_topic_checks(notify: dict[str, Any], names: Mapping[str, int]) -> list[PlanProblem]:
    """The topic for alarms on iotwatch itself must exist."""
    operations = notify.get("operations_topic")
    if isinstance(operations, str) and operations not in names:
        known = ", ".join(names) or "none defined"
        return [
            PlanProblem(
                "error",
                "notify.operations_topic",
                f"names undefined topic '{operations}'; define it under notify.topics (known: {known})",
            )
        ]
    return []


# Subscribers fed by EventBridge rules on the incident events (infra.delivery), not by SNS.
EVENT_DELIVERED = ("pagerduty", "opsgenie", "chat")


def event_delivery_checks(notify: dict[str, Any]) -> list[PlanProblem]:
    """A PagerDuty, Opsgenie or chat subscriber gets its topic's routed severities from the
    incident events, whose rules cannot apply a route's metric globs: say so where a route to its
    topic names metrics, and that audit alerts do not reach it."""
    problems: list[PlanProblem] = []
    narrowed = {
        route.get("topic")
        for route in sequence(notify, "routes")
        if isinstance(route, dict)
        and isinstance(route.get("topic"), str)
        and route.get("metrics", ["*"]) != ["*"]
    }
    for i, topic in enumerate(sequence(notify, "topics")):
        if not isinstance(topic, dict):
            continue
        for j, sub in enumerate(sequence(topic, "subscribers")):
            kind = next((k for k in EVENT_DELIVERED if isinstance(sub, dict) and k in sub), None)
            if kind is not None and isinstance(topic.get("name"), str) and topic["name"] in narrowed:
                problems.append(
                    PlanProblem(
                        "warning",
                        f"notify.topics[{i}].subscribers[{j}].{kind}",
                        f"{kind} receives every incident at the severities routed to '{topic.get('name')}': "
                        "a route's metrics filter e-mail, SMS and queues only (and audit alerts reach no "
                        f"{kind} subscriber); give it a topic routed by severity alone",
                    )
                )
    return problems
