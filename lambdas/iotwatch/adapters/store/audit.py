"""Control-plane calls, one partition per UTC day so "the hour before an incident" is one or
two Queries: pk AUDIT#2026-11-16, sk <ISO time>#<eventID>; with the topics a sensitive call
still owes a page and the claim of the invocation paging them."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from decimal import Decimal

from botocore.exceptions import ClientError

from iotwatch.adapters.store.table import Item, Repository, condition_failed, sorted_set
from iotwatch.domain.audit.recorded import RecordedCall

AUDIT_PK_PREFIX = "AUDIT#"
DAY_SECONDS = 86400


def audit_partition(at: int) -> str:
    return AUDIT_PK_PREFIX + time.strftime("%Y-%m-%d", time.gmtime(at))


def audit_sort_prefix(at: int) -> str:
    """The part of a call's sort key that orders it in time: '2026-11-16T12:56:00Z#'."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ#", time.gmtime(at))


def audit_key(call: RecordedCall) -> tuple[str, str]:
    return audit_partition(call.at), audit_sort_prefix(call.at) + call.event_id


def _claim_time(at: float) -> Decimal:
    """A wall-clock instant as the claim stores it: to the millisecond."""
    return Decimal(f"{at:.3f}")


class AuditRepository(Repository):
    def record_audit_call(
        self, call: RecordedCall, *, expires_at: int, owed: Sequence[str] = (), now: float = 0.0
    ) -> bool:
        """Keeps `call`; False when it was already recorded (EventBridge delivers at least once,
        so a second delivery of the same CloudTrail event must not page again).

        `owed`: the topics its page goes to, each taken off (`audit_topic_done`) once it was
        published or kept in the outbox; the record is claimed by this invocation at `now`
        (wall clock), so a retry can tell a live attempt from a failed one (`resume_audit_call`)."""
        payload = {
            "action": call.action,
            "who": call.who,
            "principal_arn": call.principal_arn,
            "key_parameters": dict(call.key_parameters),
            "source_ip": call.source_ip,
            "region": call.region,
            "account": call.account,
            "error": call.error,
            "severity": call.severity,
            "sensitive": call.sensitive,
        }
        pk, sk = audit_key(call)
        return self._table.put_new(
            {
                "pk": pk,
                "sk": sk,
                "at": call.at,
                "action": call.action,
                "call": json.dumps(payload, separators=(",", ":")),
                "expires_at": int(expires_at),
                **({"owed": sorted_set(owed), "claimed_at": _claim_time(now)} if owed else {}),
            }
        )

    def resume_audit_call(self, call: RecordedCall, *, now: float, stale_after: float) -> list[str] | None:
        """The topics a recorded call still owes a page, when no live invocation is paging them:
        the attempt that claimed it released it after failing, or claimed it over `stale_after`
        seconds ago (it timed out). Claims it for this invocation; None when nothing is owed or
        another invocation is at it (EventBridge's second delivery while the first pages)."""
        try:
            item = self._table.update(
                *audit_key(call),
                "SET claimed_at = :now",
                {":now": _claim_time(now), ":stale": _claim_time(now - stale_after)},
                condition="attribute_exists(owed) AND claimed_at < :stale",
                return_new=True,
            )
        except ClientError as exc:
            if condition_failed(exc):
                return None
            raise
        return sorted(item.get("owed", ()))

    def audit_topic_done(self, call: RecordedCall, topic: str) -> None:
        """`topic` got its page (or holds it in the outbox): a retry does not page it again."""
        self._table.update(*audit_key(call), "DELETE owed :topic", {":topic": sorted_set([topic])})

    def release_audit_call(self, call: RecordedCall) -> None:
        """Lets Lambda's retry (or a replay from the dead letters) page what is still owed now,
        without waiting for the claim to go stale."""
        self._table.update(
            *audit_key(call), "SET claimed_at = :never", {":never": 0}, condition="attribute_exists(owed)"
        )

    def list_audit_calls(self, *, start: int, end: int) -> list[RecordedCall]:
        """Calls made in [start, end], oldest first: one Query per UTC day touched."""
        calls: list[RecordedCall] = []
        first_day = start - start % DAY_SECONDS
        for day in range(first_day, end + 1, DAY_SECONDS):
            low, high = max(start, day), min(end, day + DAY_SECONDS - 1)
            values = {
                ":pk": audit_partition(low),
                ":low": audit_sort_prefix(low),
                ":high": audit_sort_prefix(high) + "\uffff",
            }
            items = self._table.query("pk = :pk AND sk BETWEEN :low AND :high", values, consistent=False)
            calls += [_call_from_item(raw) for raw in items]
        return calls


def _call_from_item(raw: Item) -> RecordedCall:
    data = json.loads(raw["call"])
    return RecordedCall(
        at=int(raw["at"]),
        event_id=raw["sk"].split("#", 1)[1],
        action=data["action"],
        who=data["who"],
        principal_arn=data.get("principal_arn"),
        key_parameters=data.get("key_parameters", {}),
        source_ip=data.get("source_ip"),
        region=data.get("region"),
        account=data.get("account"),
        error=data.get("error"),
        severity=data.get("severity"),
        sensitive=bool(data.get("sensitive")),
    )
