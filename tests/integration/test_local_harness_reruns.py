"""The local harness used more than once in a process, as a test session (or the demo run
from one) does: a second endpoint, a second deploy of the same stack."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from iotwatch_harness import DEFAULT_PLAN_FILE, IotWatch
from moto.cloudwatch.models import CloudWatchBackend

from iotwatch_local import fast_metrics
from iotwatch_local.assembly import DeployError
from iotwatch_local.deploy import deploy_stack
from iotwatch_local.endpoint import LocalAws


def _indexed() -> bool:
    return CloudWatchBackend.get_metric_data is fast_metrics._fast_get_metric_data


def test_stopping_a_second_endpoint_leaves_the_first_one_its_indexed_get_metric_data(
    local_aws: LocalAws,
) -> None:
    # moto's own GetMetricData rescans every datapoint per period: 14 days of history for a
    # plan takes minutes and times the client out (decision log, "The local endpoint answers
    # GetMetricData with an index"); every LocalAws of the process shares the backends
    assert _indexed()
    try:
        with LocalAws() as inner:
            assert inner.url != local_aws.url
        assert local_aws.running
        assert _indexed(), "the session's endpoint is back on moto's quadratic GetMetricData"
    finally:
        fast_metrics.install()  # whatever happened, leave the session's endpoint usable


def test_deploying_a_stack_name_that_exists_fails_without_deleting_the_deployed_stack(
    aws_env: LocalAws, fleet_assembly: Path
) -> None:
    first = IotWatch.deploy(fleet_assembly, DEFAULT_PLAN_FILE)
    cfn = boto3.client("cloudformation")

    with pytest.raises(DeployError, match="already exists"):
        deploy_stack(fleet_assembly, first.stack.stack_name)

    [stack] = cfn.describe_stacks(StackName=first.stack.stack_id)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", "the stack deployed before is still there"
    assert boto3.client("dynamodb").describe_table(TableName=first.table)["Table"]["TableStatus"] == "ACTIVE"
