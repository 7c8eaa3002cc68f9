"""boto3 clients with the retry and timeout settings every iotwatch adapter shares."""

from __future__ import annotations

import os
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
    """A client for `service`; AWS_ENDPOINT_URL (the local endpoint in tests and the demo) and
    AWS_REGION are honoured.
    `total_attempts` (the first call included) lowers the retries for calls that have a fallback
    and must not eat the run's time."""
    config = CLIENT_CONFIG
    if total_attempts is not None:
        config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": total_attempts}))
    # botocore reads AWS_DEFAULT_REGION only; AWS_REGION is what Lambda, the CDK docs and the AWS
    # CLI v2 (where it wins over AWS_DEFAULT_REGION) use, so a user who set it is not refused.
    region = os.environ.get("AWS_REGION") or None
    return boto3.client(service, config=config, region_name=region)  # type: ignore[call-overload]
