"""What the checks of every metric and ratio share: the plan's period, history and sensitivity, and
the series already claimed (a ratio must not take a metric's series either)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ResourceContext:
    plan_sensitivity: dict[str, Any]
    period: Any  # raw plan values: the model reports a wrong type, the checks skip it
    history_days: Any
    claimed: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def claim(self, identity: tuple[Any, ...], path: str) -> str | None:
        """The entry that already watches `identity`, else None (and `path` now does)."""
        if identity in self.claimed:
            return self.claimed[identity]
        self.claimed[identity] = path
        return None
