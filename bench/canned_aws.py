"""Canned AWS clients for the scale benches: boto3-shaped objects with prepared answers.

They stand in for `boto3.client("cloudwatch" | "dynamodb" | "sns")` underneath the real
adapters (`CloudWatchMetricReader`, `DynamoStateStore`, `SnsNotifier`), so a bench drives
the code path the Lambdas run while the endpoint's speed hides nothing of ours:

- responses have the shapes botocore returns: GetMetricData timestamps are the
  `datetime`s botocore's parser makes (`botocore.utils.parse_timestamp`, tz-aware),
  DynamoDB items are DynamoDB JSON exactly as the store wrote them;
- every call is counted per operation, and the time spent inside the fakes is summed
  (`AwsMeter.seconds`, `.cpu_seconds`) so a bench can report our compute without theirs;
- the service limits our code relies on are checked (500 queries and 100,800
  datapoints per GetMetricData call, 100 keys per BatchGetItem, 25 puts per BatchWriteItem, 400 KB per item, 256 KB
  per SNS message, subject under 100 characters, a `default` body with
  MessageStructure=json): a request the real service would refuse or page through fails
  here instead of being measured as if it were fine.

The DynamoDB table is `bench.canned_dynamodb`'s; the meter and the response shapes all
clients share are `bench.canned_meter`'s.
"""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.utils import parse_timestamp

from bench.canned_dynamodb import CannedDynamoDB
from bench.canned_meter import AwsMeter, client_error, metered, response_metadata

MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800
SNS_MESSAGE_LIMIT_BYTES = 256 * 1024
SNS_SUBJECT_LIMIT = 100


# -- CloudWatch ---------------------------------------------------------------------------------

MetricKey = tuple[str, str, tuple[tuple[str, str], ...], str, int]  # namespace, metric, dims, stat, period


def metric_key(
    namespace: str, metric: str, dimensions: Iterable[tuple[str, str]], stat: str, period: int
) -> MetricKey:
    return (namespace, metric, tuple(sorted(dimensions)), stat, period)


class TimestampCache:
    """One botocore-parsed datetime per epoch second, shared by every series that has it (a
    real response parses its own, but building millions of identical objects would only
    measure the bench)."""

    def __init__(self) -> None:
        self._by_epoch: dict[int, datetime] = {}

    def __call__(self, epoch: int) -> datetime:
        found = self._by_epoch.get(epoch)
        if found is None:
            found = self._by_epoch[epoch] = parse_timestamp(epoch)
        return found


@dataclass
class _Column:
    epochs: list[int]
    timestamps: list[datetime]
    values: list[float]


class CannedCloudWatch:
    """`get_metric_data` over prepared datapoints, keyed by the metric a query names.

    A query for a metric without prepared data answers with no datapoints (status Complete),
    as CloudWatch does for a metric that exists but had no traffic."""

    def __init__(self, meter: AwsMeter | None = None, timestamps: TimestampCache | None = None) -> None:
        self.meter = meter or AwsMeter()
        self._timestamp = timestamps or TimestampCache()
        self._data: dict[MetricKey, _Column] = {}
        self.datapoints_returned = 0

    def put(self, key: MetricKey, points: Sequence[tuple[int, float]]) -> None:
        """Prepares `points` (epoch seconds, value), ascending, for the metric `key`."""
        ordered = sorted(points)
        self._data[key] = _Column(
            epochs=[ts for ts, _ in ordered],
            timestamps=[self._timestamp(ts) for ts, _ in ordered],
            values=[float(v) for _, v in ordered],
        )

    def share(self, key: MetricKey, like: MetricKey) -> None:
        """`key` answers with the very datapoints of `like` (no copy)."""
        self._data[key] = self._data[like]

    @metered("cloudwatch.GetMetricData")
    def get_metric_data(
        self,
        *,
        MetricDataQueries: list[dict[str, Any]],
        StartTime: datetime,
        EndTime: datetime,
        ScanBy: str = "TimestampDescending",
        NextToken: str | None = None,
        **unsupported: Any,
    ) -> dict[str, Any]:
        if unsupported:
            raise NotImplementedError(f"GetMetricData parameters not canned: {sorted(unsupported)}")
        if NextToken is not None:
            raise AssertionError("canned GetMetricData never hands out a NextToken")
        if len(MetricDataQueries) > MAX_QUERIES_PER_CALL:
            raise client_error(
                "ValidationError",
                f"{len(MetricDataQueries)} queries > {MAX_QUERIES_PER_CALL}",
                "GetMetricData",
            )
        start, end = int(StartTime.timestamp()), int(EndTime.timestamp())
        budget = 0
        results = []
        for query in MetricDataQueries:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            period = int(stat["Period"])
            budget += max(1, -(-(end - start) // period))
            key = metric_key(
                metric["Namespace"],
                metric["MetricName"],
                ((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])),
                stat["Stat"],
                period,
            )
            column = self._data.get(key)
            if column is None:
                stamps: list[datetime] = []
                values: list[float] = []
            else:
                lo = bisect.bisect_left(column.epochs, start)
                hi = bisect.bisect_left(column.epochs, end)
                stamps, values = column.timestamps[lo:hi], column.values[lo:hi]
                if ScanBy != "TimestampAscending":
                    stamps, values = stamps[::-1], values[::-1]
            self.datapoints_returned += len(values)
            results.append(
                {
                    "Id": query["Id"],
                    "Label": metric["MetricName"],
                    "Timestamps": stamps,
                    "Values": values,
                    "StatusCode": "Complete",
                }
            )
        if budget > MAX_DATAPOINTS_PER_CALL:
            # CloudWatch would answer PartialData with a NextToken: the reader planned badly
            raise AssertionError(
                f"GetMetricData asked for {budget} datapoints > {MAX_DATAPOINTS_PER_CALL}; it would page"
            )
        return {"MetricDataResults": results, "Messages": [], "ResponseMetadata": response_metadata()}


# -- SNS ----------------------------------------------------------------------------------------


class CannedSns:
    """`publish` that keeps what was sent and answers with a MessageId."""

    def __init__(self, meter: AwsMeter | None = None) -> None:
        self.meter = meter or AwsMeter()
        self.sent: list[dict[str, Any]] = []
        self.bytes = 0
        self._ids = itertools.count(1)

    @metered("sns.Publish")
    def publish(
        self,
        *,
        TopicArn: str,
        Message: str,
        Subject: str | None = None,
        MessageStructure: str | None = None,
        MessageAttributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        size = len(Message.encode())
        if size > SNS_MESSAGE_LIMIT_BYTES:
            raise client_error("InvalidParameter", f"Message too long ({size} bytes)", "Publish")
        if Subject is not None and (len(Subject) >= SNS_SUBJECT_LIMIT or "\n" in Subject):
            raise client_error(
                "InvalidParameter", "Subject must be under 100 characters, one line", "Publish"
            )
        if MessageStructure == "json" and "default" not in json.loads(Message):
            raise client_error("InvalidParameter", "Message Structure - No default entry in JSON", "Publish")
        self.sent.append({"TopicArn": TopicArn, "Subject": Subject, "Message": Message})
        self.bytes += size
        message_id = f"{next(self._ids):08x}-0000-4000-8000-000000000000"
        return {"MessageId": message_id, "ResponseMetadata": response_metadata()}


# -- SQS ----------------------------------------------------------------------------------------

SQS_BATCH_LIMIT = 10
SQS_MESSAGE_LIMIT_BYTES = 256 * 1024


class CannedSqs:
    """`send_message_batch` that keeps the bodies, as the work queue would hold them."""

    def __init__(self, meter: AwsMeter | None = None) -> None:
        self.meter = meter or AwsMeter()
        self.bodies: list[str] = []
        self._ids = itertools.count(1)

    @metered("sqs.SendMessageBatch")
    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if len(Entries) > SQS_BATCH_LIMIT:
            raise client_error(
                "TooManyEntriesInBatchRequest", "Maximum number of entries is 10", "SendMessageBatch"
            )
        size = sum(len(e["MessageBody"].encode()) for e in Entries)
        if size > SQS_MESSAGE_LIMIT_BYTES:
            raise client_error("BatchRequestTooLong", f"Batch is {size} bytes", "SendMessageBatch")
        successful = []
        for entry in Entries:
            self.bodies.append(entry["MessageBody"])
            successful.append(
                {"Id": entry["Id"], "MessageId": f"{next(self._ids):08x}-0000-4000-8000-000000000000"}
            )
        return {"Successful": successful, "Failed": [], "ResponseMetadata": response_metadata()}

    def records(self) -> list[dict[str, Any]]:
        """The queued bodies as the SQS event source hands them over (one record each), emptied."""
        records = [
            {"messageId": f"bench-{i:05d}", "body": body, "eventSource": "aws:sqs"}
            for i, body in enumerate(self.bodies)
        ]
        self.bodies = []
        return records


@dataclass
class CannedAws:
    """The clients of one bench world, sharing one meter."""

    table_name: str = "iotwatch-bench"
    meter: AwsMeter = field(default_factory=AwsMeter)
    cloudwatch: CannedCloudWatch = field(init=False)
    dynamodb: CannedDynamoDB = field(init=False)
    sns: CannedSns = field(init=False)
    sqs: CannedSqs = field(init=False)

    def __post_init__(self) -> None:
        self.cloudwatch = CannedCloudWatch(self.meter)
        self.dynamodb = CannedDynamoDB(self.table_name, self.meter)
        self.sns = CannedSns(self.meter)
        self.sqs = CannedSqs(self.meter)
