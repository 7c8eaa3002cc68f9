"""The one DynamoDB table every record kind shares: typed attributes (boto3's serializer),
conditional writes, paginated queries, and batches retried until DynamoDB processed them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
MAX_BATCH_ATTEMPTS = 8

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

Item = dict[str, Any]


class StoreThrottledError(RuntimeError):
    pass


def sorted_set(values: Iterable[str]) -> Set[str]:
    """A string set (SS) that reaches DynamoDB in sorted order: the same record, the same request."""
    return dict.fromkeys(sorted(values)).keys()


def to_attributes(values: Mapping[str, Any]) -> Item:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def from_attributes(item: Mapping[str, Any]) -> Item:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoTable:
    """One table through one client; `requests` counts every request sent (a batch retry too)."""

    def __init__(self, dynamodb: Any, name: str) -> None:
        self.client = dynamodb
        self.name = name
        self.requests = 0

    def get(self, pk: str, sk: str) -> Item | None:
        self.requests += 1
        item = self.client.get_item(TableName=self.name, Key=key(pk, sk), ConsistentRead=True).get("Item")
        return from_attributes(item) if item else None

    def put(self, item: Mapping[str, Any]) -> None:
        self.requests += 1
        self.client.put_item(TableName=self.name, Item=to_attributes(item))

    def put_new(self, item: Mapping[str, Any]) -> bool:
        """Writes `item` unless one with its key exists: False then (someone got there first)."""
        return self._put_if(item, "attribute_not_exists(pk)", {})

    def put_unless_moved(self, item: Mapping[str, Any], *, seen: int) -> bool:
        """Optimistic locking: writes `item` if its stored revision is still `seen` (or there is
        none); False when someone wrote it since it was read."""
        return self._put_if(item, "attribute_not_exists(pk) OR revision = :seen", {":seen": seen})

    def _put_if(self, item: Mapping[str, Any], condition: str, values: Mapping[str, Any]) -> bool:
        self.requests += 1
        request: dict[str, Any] = {
            "TableName": self.name,
            "Item": to_attributes(item),
            "ConditionExpression": condition,
        }
        if values:
            request["ExpressionAttributeValues"] = to_attributes(values)
        try:
            self.client.put_item(**request)
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def delete(self, pk: str, sk: str, *, return_old: bool = False) -> Item:
        """Deletes the item; with `return_old`, answers what it held ({} when there was none)."""
        self.requests += 1
        request = _present(
            TableName=self.name, Key=key(pk, sk), ReturnValues="ALL_OLD" if return_old else None
        )
        return from_attributes(self.client.delete_item(**request).get("Attributes") or {})

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        values: Mapping[str, Any],
        *,
        condition: str | None = None,
        return_new: bool = False,
    ) -> Item:
        """Applies `expression`; with `return_new`, answers the item as it is after."""
        self.requests += 1
        request = _present(
            TableName=self.name,
            Key=key(pk, sk),
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=to_attributes(values),
            ReturnValues="ALL_NEW" if return_new else None,
        )
        return from_attributes(self.client.update_item(**request).get("Attributes") or {})

    def query(
        self,
        condition: str,
        values: Mapping[str, Any],
        *,
        filter_expression: str | None = None,
        consistent: bool = True,
        projection: str | None = None,
    ) -> Iterator[Item]:
        """Every item a Query answers, page after page (one request each); `projection`: only
        these attributes of each."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attributes(values),
        }
        if consistent:
            request["ConsistentRead"] = True
        if filter_expression is not None:
            request["FilterExpression"] = filter_expression
        if projection is not None:
            request["ProjectionExpression"] = projection
        while True:
            self.requests += 1
            response = self.client.query(**request)
            yield from map(from_attributes, response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}

    def batch_get(
        self, keys: Sequence[tuple[str, str]], *, what: str, projection: str | None = None
    ) -> list[Item]:
        """The items of `keys` that exist, BATCH_GET_LIMIT keys a request."""
        found: list[Item] = []

        def read(pending: list[Item]) -> list[Item]:
            request: dict[str, Any] = {"Keys": pending, "ConsistentRead": True}
            if projection:
                request["ProjectionExpression"] = projection
            response = self.client.batch_get_item(RequestItems={self.name: request})
            found.extend(map(from_attributes, response.get("Responses", {}).get(self.name, [])))
            return list(response.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", []))

        for i in range(0, len(keys), BATCH_GET_LIMIT):
            self._until_processed([key(pk, sk) for pk, sk in keys[i : i + BATCH_GET_LIMIT]], read, what)
        return found

    def batch_put(self, items: Sequence[Mapping[str, Any]], *, what: str) -> None:
        """Writes every item unconditionally, BATCH_WRITE_LIMIT a request."""
        requests = [{"PutRequest": {"Item": to_attributes(item)}} for item in items]

        def write(pending: list[Item]) -> list[Item]:
            response = self.client.batch_write_item(RequestItems={self.name: pending})
            return list(response.get("UnprocessedItems", {}).get(self.name, []))

        for i in range(0, len(requests), BATCH_WRITE_LIMIT):
            self._until_processed(requests[i : i + BATCH_WRITE_LIMIT], write, what)

    def _until_processed(
        self, pending: list[Item], send: Callable[[list[Item]], list[Item]], what: str
    ) -> None:
        """Sends a batch and what DynamoDB left unprocessed again, with backoff; gives up (the
        run is retried) after MAX_BATCH_ATTEMPTS."""
        attempt = 0
        while pending:
            self.requests += 1
            pending = send(pending)
            attempt += 1
            if pending and attempt >= MAX_BATCH_ATTEMPTS:
                raise StoreThrottledError(
                    f"DynamoDB left {len(pending)} {what} unprocessed after {attempt} attempts; the run is retried"
                )
            if pending:
                time.sleep(min(0.05 * 2**attempt, 1.0))


def _present(**params: Any) -> dict[str, Any]:
    """A request's parameters without those left out (None)."""
    return {name: value for name, value in params.items() if value is not None}


def key(pk: str, sk: str) -> Item:
    return to_attributes({"pk": pk, "sk": sk})


class Repository:
    """One kind of record in the table; every repository of a store shares one table client."""

    def __init__(self, table: DynamoTable) -> None:
        self._table = table
