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
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from botocore.utils import parse_timestamp

MAX_QUERIES_PER_CALL = 500
MAX_DATAPOINTS_PER_CALL = 100_800
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
ITEM_LIMIT_BYTES = 400 * 1024
SNS_MESSAGE_LIMIT_BYTES = 256 * 1024
SNS_SUBJECT_LIMIT = 100

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AwsMeter:
    """Calls per (service, operation) and the wall and CPU seconds spent answering them."""

    calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def count(self, prefix: str) -> int:
        return sum(n for op, n in self.calls.items() if op.startswith(prefix))

    def reset(self) -> None:
        self.calls.clear()
        self.seconds = 0.0
        self.cpu_seconds = 0.0


def _metered(operation: str) -> Callable[[F], F]:
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return method(self, *args, **kwargs)
            finally:
                self.meter.calls[operation] += 1
                self.meter.seconds += time.perf_counter() - wall
                self.meter.cpu_seconds += time.process_time() - cpu

        return timed  # type: ignore[return-value]

    return wrap


def _metadata() -> dict[str, Any]:
    return {"RequestId": "00000000-0000-0000-0000-000000000000", "HTTPStatusCode": 200, "RetryAttempts": 0}


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


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

    @_metered("cloudwatch.GetMetricData")
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
            raise _client_error(
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
        return {"MetricDataResults": results, "Messages": [], "ResponseMetadata": _metadata()}


# -- DynamoDB -----------------------------------------------------------------------------------


def _item_size(item: dict[str, Any]) -> int:
    return len(json.dumps(item, separators=(",", ":")).encode())


class CannedDynamoDB:
    """One table in memory (pk -> sk -> item, DynamoDB JSON) behind the low-level client API.

    Conditions and key conditions are the few expressions `DynamoStateStore` sends; anything
    else raises NotImplementedError rather than being answered wrongly."""

    def __init__(self, table_name: str, meter: AwsMeter | None = None) -> None:
        self.table_name = table_name
        self.meter = meter or AwsMeter()
        self.partitions: dict[str, dict[str, dict[str, Any]]] = {}
        self.check_item_size = True

    # snapshots let a bench start every repetition from the same table
    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {pk: dict(items) for pk, items in self.partitions.items()}

    def restore(self, snapshot: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.partitions = {pk: dict(items) for pk, items in snapshot.items()}

    def items(self, sk: str | None = None) -> list[dict[str, Any]]:
        return [item for part in self.partitions.values() for k, item in part.items() if sk in (None, k)]

    def _check_table(self, name: str) -> None:
        if name != self.table_name:
            raise _client_error("ResourceNotFoundException", f"Requested resource not found: {name}", "")

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.partitions.get(key["pk"]["S"], {}).get(key["sk"]["S"])

    @staticmethod
    def _condition_holds(
        condition: str | None, existing: dict[str, Any] | None, values: dict[str, Any] | None
    ) -> bool:
        if condition is None:
            return True
        if condition == "attribute_not_exists(pk)":
            return existing is None
        if condition == "attribute_exists(pk)":
            return existing is not None
        if condition == "attribute_not_exists(pk) OR revision = :seen":
            return existing is None or existing.get("revision") == (values or {}).get(":seen")
        if condition == "attribute_not_exists(window_end) OR window_end < :end":  # the completed mark
            mark = (existing or {}).get("window_end")
            return mark is None or int(mark["N"]) < int((values or {})[":end"]["N"])
        raise NotImplementedError(f"condition not canned: {condition}")

    @_metered("dynamodb.PutItem")
    def put_item(
        self,
        *,
        TableName: str,
        Item: dict[str, Any],
        ConditionExpression: str | None = None,
        ExpressionAttributeValues: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._check_table(TableName)
        if self.check_item_size and _item_size(Item) > ITEM_LIMIT_BYTES:
            raise _client_error(
                "ValidationException", "Item size has exceeded the maximum allowed size", "PutItem"
            )
        existing = self._get(Item)
        if not self._condition_holds(ConditionExpression, existing, ExpressionAttributeValues):
            raise _client_error(
                "ConditionalCheckFailedException", "The conditional request failed", "PutItem"
            )
        self.partitions.setdefault(Item["pk"]["S"], {})[Item["sk"]["S"]] = Item
        return {"ResponseMetadata": _metadata()}

    @_metered("dynamodb.GetItem")
    def get_item(
        self, *, TableName: str, Key: dict[str, Any], ConsistentRead: bool = False
    ) -> dict[str, Any]:
        self._check_table(TableName)
        found = self._get(Key)
        return (
            {"Item": found, "ResponseMetadata": _metadata()} if found else {"ResponseMetadata": _metadata()}
        )

    @_metered("dynamodb.DeleteItem")
    def delete_item(
        self, *, TableName: str, Key: dict[str, Any], ReturnValues: str = "NONE"
    ) -> dict[str, Any]:
        self._check_table(TableName)
        old = self.partitions.get(Key["pk"]["S"], {}).pop(Key["sk"]["S"], None)
        response: dict[str, Any] = {"ResponseMetadata": _metadata()}
        if ReturnValues == "ALL_OLD" and old is not None:
            response["Attributes"] = old
        return response

    @_metered("dynamodb.UpdateItem")
    def update_item(
        self,
        *,
        TableName: str,
        Key: dict[str, Any],
        UpdateExpression: str,
        ExpressionAttributeValues: dict[str, Any],
        ConditionExpression: str | None = None,
        ReturnValues: str = "NONE",
    ) -> dict[str, Any]:
        """`ADD <set> :v` and `DELETE <set> :v` on string sets (the open incidents, the shards
        done) and `SET <attribute> = :v` (the completed mark), creating the item as DynamoDB
        does unless a condition says otherwise."""
        self._check_table(TableName)
        action, attribute, *rest = UpdateExpression.split()
        placeholder = rest[-1]
        setting = action == "SET" and rest[0] == "="
        if not setting and (
            action not in ("ADD", "DELETE") or "SS" not in ExpressionAttributeValues[placeholder]
        ):
            raise NotImplementedError(f"update not canned: {UpdateExpression}")
        existing = self._get(Key)
        if not self._condition_holds(ConditionExpression, existing, ExpressionAttributeValues):
            raise _client_error(
                "ConditionalCheckFailedException", "The conditional request failed", "UpdateItem"
            )
        item = dict(existing or Key)
        if setting:
            item[attribute] = ExpressionAttributeValues[placeholder]
            self.partitions.setdefault(Key["pk"]["S"], {})[Key["sk"]["S"]] = item
            return {
                "ResponseMetadata": _metadata(),
                **({"Attributes": item} if ReturnValues == "ALL_NEW" else {}),
            }
        members = set(item.get(attribute, {}).get("SS", []))
        change = set(ExpressionAttributeValues[placeholder]["SS"])
        members = members | change if action == "ADD" else members - change
        if members:
            item[attribute] = {"SS": sorted(members)}
        else:
            item.pop(attribute, None)
        self.partitions.setdefault(Key["pk"]["S"], {})[Key["sk"]["S"]] = item
        response: dict[str, Any] = {"ResponseMetadata": _metadata()}
        if ReturnValues == "ALL_NEW":
            response["Attributes"] = item
        return response

    @_metered("dynamodb.BatchGetItem")
    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        responses: dict[str, list[dict[str, Any]]] = {}
        for table, request in RequestItems.items():
            self._check_table(table)
            keys = request["Keys"]
            if len(keys) > BATCH_GET_LIMIT:
                raise _client_error("ValidationException", "Too many items requested", "BatchGetItem")
            found = [item for item in map(self._get, keys) if item is not None]
            projection = request.get("ProjectionExpression")
            if projection:  # only the named top-level attributes travel, as on DynamoDB
                names = {name.strip() for name in projection.split(",")}
                found = [{k: v for k, v in item.items() if k in names} for item in found]
            responses[table] = found
        return {"Responses": responses, "UnprocessedKeys": {}, "ResponseMetadata": _metadata()}

    @_metered("dynamodb.BatchWriteItem")
    def batch_write_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        for table, requests in RequestItems.items():
            self._check_table(table)
            if len(requests) > BATCH_WRITE_LIMIT:
                raise _client_error("ValidationException", "Too many items requested", "BatchWriteItem")
            for request in requests:
                item = request["PutRequest"]["Item"]  # only puts are canned
                if self.check_item_size and _item_size(item) > ITEM_LIMIT_BYTES:
                    raise _client_error(
                        "ValidationException",
                        "Item size has exceeded the maximum allowed size",
                        "BatchWriteItem",
                    )
                self.partitions.setdefault(item["pk"]["S"], {})[item["sk"]["S"]] = item
        return {"UnprocessedItems": {}, "ResponseMetadata": _metadata()}

    @_metered("dynamodb.Query")
    def query(
        self,
        *,
        TableName: str,
        KeyConditionExpression: str,
        ExpressionAttributeValues: dict[str, Any],
        FilterExpression: str | None = None,
        ConsistentRead: bool = False,
        ExclusiveStartKey: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._check_table(TableName)
        if ExclusiveStartKey is not None:
            raise AssertionError("canned Query never hands out a LastEvaluatedKey")
        values = ExpressionAttributeValues
        partition = self.partitions.get(values[":pk"]["S"], {})
        if KeyConditionExpression == "pk = :pk":
            scanned = [partition[sk] for sk in sorted(partition)]
        elif KeyConditionExpression.startswith("pk = :pk AND begins_with(sk, :"):
            prefix = values[KeyConditionExpression.removeprefix("pk = :pk AND begins_with(sk, ").rstrip(")")][
                "S"
            ]
            scanned = [partition[sk] for sk in sorted(partition) if sk.startswith(prefix)]
        elif KeyConditionExpression == "pk = :pk AND sk BETWEEN :low AND :high":
            low, high = values[":low"]["S"], values[":high"]["S"]
            scanned = [partition[sk] for sk in sorted(partition) if low <= sk <= high]
        else:
            raise NotImplementedError(f"key condition not canned: {KeyConditionExpression}")
        if FilterExpression is None:
            items = scanned
        elif FilterExpression == "ends > :now":
            now = int(values[":now"]["N"])
            items = [i for i in scanned if int(i["ends"]["N"]) > now]
        else:
            raise NotImplementedError(f"filter not canned: {FilterExpression}")
        return {
            "Items": items,
            "Count": len(items),
            "ScannedCount": len(scanned),
            "ResponseMetadata": _metadata(),
        }


# -- SNS ----------------------------------------------------------------------------------------


class CannedSns:
    """`publish` that keeps what was sent and answers with a MessageId."""

    def __init__(self, meter: AwsMeter | None = None) -> None:
        self.meter = meter or AwsMeter()
        self.sent: list[dict[str, Any]] = []
        self.bytes = 0
        self._ids = itertools.count(1)

    @_metered("sns.Publish")
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
            raise _client_error("InvalidParameter", f"Message too long ({size} bytes)", "Publish")
        if Subject is not None and (len(Subject) >= SNS_SUBJECT_LIMIT or "\n" in Subject):
            raise _client_error(
                "InvalidParameter", "Subject must be under 100 characters, one line", "Publish"
            )
        if MessageStructure == "json" and "default" not in json.loads(Message):
            raise _client_error("InvalidParameter", "Message Structure - No default entry in JSON", "Publish")
        self.sent.append({"TopicArn": TopicArn, "Subject": Subject, "Message": Message})
        self.bytes += size
        message_id = f"{next(self._ids):08x}-0000-4000-8000-000000000000"
        return {"MessageId": message_id, "ResponseMetadata": _metadata()}


# -- SQS ----------------------------------------------------------------------------------------

SQS_BATCH_LIMIT = 10
SQS_MESSAGE_LIMIT_BYTES = 256 * 1024


class CannedSqs:
    """`send_message_batch` that keeps the bodies, as the work queue would hold them."""

    def __init__(self, meter: AwsMeter | None = None) -> None:
        self.meter = meter or AwsMeter()
        self.bodies: list[str] = []
        self._ids = itertools.count(1)

    @_metered("sqs.SendMessageBatch")
    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if len(Entries) > SQS_BATCH_LIMIT:
            raise _client_error(
                "TooManyEntriesInBatchRequest", "Maximum number of entries is 10", "SendMessageBatch"
            )
        size = sum(len(e["MessageBody"].encode()) for e in Entries)
        if size > SQS_MESSAGE_LIMIT_BYTES:
            raise _client_error("BatchRequestTooLong", f"Batch is {size} bytes", "SendMessageBatch")
        successful = []
        for entry in Entries:
            self.bodies.append(entry["MessageBody"])
            successful.append(
                {"Id": entry["Id"], "MessageId": f"{next(self._ids):08x}-0000-4000-8000-000000000000"}
            )
        return {"Successful": successful, "Failed": [], "ResponseMetadata": _metadata()}

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
