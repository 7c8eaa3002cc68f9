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
