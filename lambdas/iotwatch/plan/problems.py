"""One problem found in a monitoring plan: what the loader and every check report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PlanProblem:
    level: Literal["error", "warning"]
    path: str
    message: str
    # where in the file the field is (1-based), when the plan was read from YAML or JSON text
    line: int | None = None
    column: int | None = None
    # a warning about a series that would get no data (a misspelt metric, dimension key or
    # value): the deploy "works" and watches nothing, so it is said first
    empty_series: bool = False
    # the other field a problem is about (a collision names both) and, located, where it is
    related: str | None = None
    related_line: int | None = None
    related_column: int | None = None

    def __str__(self) -> str:
        return f"{self.level}: {self.path or '(plan)'}: {self.message}"

    def at(self, source: str) -> str:
        """`file:line:column: level: path: message`, as compilers print it (editors jump there)."""
        also = (
            f" (see {source}:{self.related_line}:{self.related_column or 1})"
            if self.related_line is not None
            else ""
        )
        if self.line is None:
            return f"{source}: {self}{also}"
        return f"{source}:{self.line}:{self.column or 1}: {self}{also}"
