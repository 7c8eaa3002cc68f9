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

    def __str__(self) -> str:
        return f"{self.level}: {self.path or '(plan)'}: {self.message}"

    def at(self, source: str) -> str:
        """`file:line:column: level: path: message`, as compilers print it (editors jump there)."""
        if self.line is None:
            return f"{source}: {self}"
        return f"{source}:{self.line}:{self.column or 1}: {self}"
