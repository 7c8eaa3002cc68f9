"""The routing rule: which plan topics a transition goes to. One implementation for the
authoring plan (CLI, synth) and the compiled plan the Lambdas load."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Protocol


class RouteLike(Protocol):
    @property
    def topic(self) -> str: ...
    @property
    def severities(self) -> Sequence[str]: ...
    @property
    def metrics(self) -> Sequence[str]: ...


def route_matches(route: RouteLike, *, severity: str, metric: str) -> bool:
    return severity in route.severities and any(fnmatch.fnmatchcase(metric, p) for p in route.metrics)


def routed_topics(routes: Iterable[RouteLike], *, severity: str, metric: str) -> list[str]:
    """Topic names, in plan order, once each."""
    names: list[str] = []
    for route in routes:
        if route_matches(route, severity=severity, metric=metric) and route.topic not in names:
            names.append(route.topic)
    return names


def routed_audit_topics(
    routes: Iterable[RouteLike], *, severity: str, only: Sequence[str] | None = None
) -> list[str]:
    """Topics for an audit alert: a control-plane call concerns no metric, so a route's
    metric patterns do not narrow it; severity does. `only` (the plan's audit.topics) picks
    the topics, in its order; their routes' severities still apply, as their subscription
    filter policies would drop anything else anyway; a topic no route names takes all."""
    by_severity: list[str] = []
    named: set[str] = set()
    for route in routes:
        named.add(route.topic)
        if severity in route.severities and route.topic not in by_severity:
            by_severity.append(route.topic)
    if only is None:
        return by_severity
    return [topic for topic in dict.fromkeys(only) if topic in by_severity or topic not in named]
