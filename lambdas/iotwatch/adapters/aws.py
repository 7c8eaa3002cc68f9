"""boto3 clients with the retry and timeout settings every iotwatch adapter shares."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode backs off on throttling (GetMetricData, SNS SMS) instead of failing the run.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=20,
)


def client(service: str, *, total_attempts: int | None = None) -> Any:
    """A client for `service`; AWS_ENDPOINT_URL (the local endpoint in tests and the demo) is honoured.
    `total_attempts` (the first call included) lowers the retries for calls that have a fallback
    and must not eat the run's time."""
    config = CLIENT_CONFIG
    if total_attempts is not None:
        config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": total_attempts}))
    return boto3.client(service, config=config)  # type: ignore[call-overload]
