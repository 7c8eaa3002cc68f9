"""The plan's `frequency` section: schedules, the CloudWatch period, history and fan-out sizes."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from iotwatch.domain.evaluation import DEFAULT_CATCH_UP
from iotwatch.plan.fanout import DEFAULT_SHARD_SIZE
from iotwatch.plan.model.base import StrictModel, parse_interval

# What CloudWatch returns for a standard-resolution metric (every AWS namespace; AWS IoT
# publishes once a minute): periods of whole minutes.
STANDARD_PERIODS_HINT = (
    "{period} s is not a period CloudWatch accepts for {namespace} metrics (standard resolution, "
    "one datapoint a minute): use 60 or a multiple of it, e.g. 60, 120, 300, 600, 900, 1800 or 3600"
)
MAX_CATCH_UP = 24 * 3600


class Frequency(StrictModel):
    evaluation: str = "rate(5 minutes)"
    baseline_refresh: str = "rate(1 day)"
    period_seconds: int = Field(default=300, description="CloudWatch period of each evaluated datapoint")
    history_days: int = Field(default=14, ge=1, le=63, description="history read when (re)building baselines")
    settle_seconds: int = Field(
        default=60, ge=0, le=900, description="how long to wait for CloudWatch to finish a period"
    )
    shard_size: int = Field(
        default=DEFAULT_SHARD_SIZE,
        ge=1,
        le=20000,
        description="series one evaluator invocation handles (a share of attempts counts each metric it "
        "reads); more fan out through SQS to parallel ones",
    )
    build_shard_size: int | None = Field(
        default=None,
        ge=1,
        le=20000,
        description="series one baseline-builder invocation learns; more fan out through SQS. "
        "Default: what keeps a build shard near a minute (1,000 series at 14 days of 5-minute history)",
    )
    catch_up: int = Field(
        default=DEFAULT_CATCH_UP,
        description="how far back a run evaluates the ticks iotwatch missed while it was down "
        "('6h', '90m' or minutes, at most 24h); 0: none, the gap is only reported",
    )

    @field_validator("catch_up", mode="before")
    @classmethod
    def _catch_up(cls, value: Any) -> int:
        seconds = parse_interval(value)
        if seconds > MAX_CATCH_UP:
            raise ValueError(
                "give at most 24h, e.g. '6h': a longer catch-up would not fit one evaluator run "
                "(iotwatch backtest shows what older ticks would have paged)"
            )
        return seconds

    @field_validator("period_seconds")
    @classmethod
    def _cloudwatch_period(cls, value: int) -> int:
        if value < 60 or value % 60:
            raise ValueError(STANDARD_PERIODS_HINT.format(period=value, namespace="AWS/IoT"))
        return value
