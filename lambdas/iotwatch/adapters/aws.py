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


def client(service: str) -> Any:
    """A client for `service`; AWS_ENDPOINT_URL (the local endpoint in tests and the demo) is honoured."""
    return boto3.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
