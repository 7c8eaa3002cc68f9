"""Epoch seconds as the ISO 8601 UTC text every iotwatch output uses."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(ts: float) -> str:
    """1795528200 -> '2026-11-24T13:10:00Z'."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
