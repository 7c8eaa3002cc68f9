"""What every section of the plan builds on: a strict, frozen model and the durations authors write."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from iotwatch.domain.times import duration_seconds


class StrictModel(BaseModel):
    """A plan section: unknown keys are errors (a misspelt key must not be ignored), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def require_names(names: Iterable[str], pattern: re.Pattern[str], *, write: str) -> None:
    """Every name matches `pattern`; otherwise one error naming those that do not, then what
    to write instead (`write`)."""
    bad = [name for name in names if not pattern.match(name)]
    if bad:
        raise ValueError(f"{', '.join(repr(b) for b in bad)}: {write}")


def parse_interval(value: Any) -> int:
    """'4h', '90m', '1h30m', '1d' or a number of minutes -> seconds; 0 or None -> 0."""
    if value is None or value is False:
        return 0
    if isinstance(value, bool):
        raise ValueError("give a duration such as '4h' or '30m', or 0 for none")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        if value != int(value):
            raise ValueError("give whole minutes, or a duration such as '90m'")
        return int(value) * 60
    if isinstance(value, str):
        if value.strip() == "0":
            return 0
        try:
            return duration_seconds(value)
        except ValueError:
            pass  # said below, with what to write
    raise ValueError(f"{value!r} is not a duration: write e.g. '4h', '30m', '1h30m' or minutes as a number")
