"""A canned DynamoDB client for the scale benches: one table in memory behind the low-level
client API, items in DynamoDB JSON exactly as the store writes them, its limits checked
(100 keys per BatchGetItem, 25 puts per BatchWriteItem, 400 KB per item)."""

from __future__ import annotations

import json
from typing import Any

from bench.canned_meter import AwsMeter, client_error, metered, response_metadata

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
ITEM_LIMIT_BYTES = 400 * 1024


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
            raise client_error("ResourceNotFoundException", f"Requested resource not found: {name}", "")

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

    @metered("dynamodb.PutItem")
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
            raise client_error(
                "ValidationException", "Item size has exceeded the maximum allowed size", "PutItem"
            )
        existing = self._get(Item)
        if not self._condition_holds(ConditionExpression, existing, ExpressionAttributeValues):
            raise client_error("ConditionalCheckFailedException", "The conditional request failed", "PutItem")
        self.partitions.setdefault(Item["pk"]["S"], {})[Item["sk"]["S"]] = Item
        return {"ResponseMetadata": response_metadata()}

    @metered("dynamodb.GetItem")
    def get_item(
        self, *, TableName: str, Key: dict[str, Any], ConsistentRead: bool = False
    ) -> dict[str, Any]:
        self._check_table(TableName)
        found = self._get(Key)
        return (
            {"Item": found, "ResponseMetadata": response_metadata()}
            if found
            else {"ResponseMetadata": response_metadata()}
        )

    @metered("dynamodb.DeleteItem")
    def delete_item(
        self, *, TableName: str, Key: dict[str, Any], ReturnValues: str = "NONE"
    ) -> dict[str, Any]:
        self._check_table(TableName)
        old = self.partitions.get(Key["pk"]["S"], {}).pop(Key["sk"]["S"], None)
        response: dict[str, Any] = {"ResponseMetadata": response_metadata()}
        if ReturnValues == "ALL_OLD" and old is not None:
            response["Attributes"] = old
        return response

    @metered("dynamodb.UpdateItem")
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
            raise client_error(
                "ConditionalCheckFailedException", "The conditional request failed", "UpdateItem"
            )
        item = dict(existing or Key)
        if setting:
            item[attribute] = ExpressionAttributeValues[placeholder]
            self.partitions.setdefault(Key["pk"]["S"], {})[Key["sk"]["S"]] = item
            return {
                "ResponseMetadata": response_metadata(),
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
        response: dict[str, Any] = {"ResponseMetadata": response_metadata()}
        if ReturnValues == "ALL_NEW":
            response["Attributes"] = item
        return response

    @metered("dynamodb.BatchGetItem")
    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        responses: dict[str, list[dict[str, Any]]] = {}
        for table, request in RequestItems.items():
            self._check_table(table)
            keys = request["Keys"]
            if len(keys) > BATCH_GET_LIMIT:
                raise client_error("ValidationException", "Too many items requested", "BatchGetItem")
            found = [item for item in map(self._get, keys) if item is not None]
            projection = request.get("ProjectionExpression")
            if projection:  # only the named top-level attributes travel, as on DynamoDB
                names = {name.strip() for name in projection.split(",")}
                found = [{k: v for k, v in item.items() if k in names} for item in found]
            responses[table] = found
        return {"Responses": responses, "UnprocessedKeys": {}, "ResponseMetadata": response_metadata()}

    @metered("dynamodb.BatchWriteItem")
    def batch_write_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        for table, requests in RequestItems.items():
            self._check_table(table)
            if len(requests) > BATCH_WRITE_LIMIT:
                raise client_error("ValidationException", "Too many items requested", "BatchWriteItem")
            for request in requests:
                item = request["PutRequest"]["Item"]  # only puts are canned
                if self.check_item_size and _item_size(item) > ITEM_LIMIT_BYTES:
                    raise client_error(
                        "ValidationException",
                        "Item size has exceeded the maximum allowed size",
                        "BatchWriteItem",
                    )
                self.partitions.setdefault(item["pk"]["S"], {})[item["sk"]["S"]] = item
        return {"UnprocessedItems": {}, "ResponseMetadata": response_metadata()}

    @metered("dynamodb.Query")
    def query(
        self,
        *,
        TableName: str,
        KeyConditionExpression: str,
        ExpressionAttributeValues: dict[str, Any],
        FilterExpression: str | None = None,
        ConsistentRead: bool = False,
        ExclusiveStartKey: dict[str, Any] | None = None,
        ProjectionExpression: str | None = None,
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
        elif KeyConditionExpression == "pk = :pk AND sk >= :floor":
            scanned = [partition[sk] for sk in sorted(partition) if sk >= values[":floor"]["S"]]
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
        elif FilterExpression == "attribute_exists(verdict)":  # incidents on-call marked
            items = [i for i in scanned if "verdict" in i]
        else:
            raise NotImplementedError(f"filter not canned: {FilterExpression}")
        if ProjectionExpression is not None:
            kept = [name.strip() for name in ProjectionExpression.split(",")]
            items = [{k: v for k, v in i.items() if k in kept} for i in items]
        return {
            "Items": items,
            "Count": len(items),
            "ScannedCount": len(scanned),
            "ResponseMetadata": response_metadata(),
        }
