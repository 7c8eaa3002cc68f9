"""Reading plan data the schema may have rejected: anything malformed reads as empty, so every
check still runs and a user fixes the plan in one pass."""

from __future__ import annotations

from typing import Any


def mapping(data: Any, key: str) -> dict[str, Any]:
    """`data[key]` when both are mappings, else {}."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def sequence(data: Any, key: str) -> list[Any]:
    """`data[key]` when `data` is a mapping and the value a list, else []."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


def metric_names(value: Any) -> list[str]:
    """The non-empty names in a metric name or list of them."""
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [v for v in values if isinstance(v, str) and v]
