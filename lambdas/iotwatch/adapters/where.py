"""The look-ups a page makes: AWS IoT's fleet index (GetBucketsAggregation) and
CloudWatch Contributor Insights (GetInsightRuleReport).

They run inside the tick that pages, so they must never hold the page: clients made with
`LOOKUP_CONFIG` try once (no retries) and give up on a silent endpoint after
`CONNECT_TIMEOUT` + `READ_TIMEOUT` seconds (service.where's budget); the service also stops starting new
calls once its budget is spent. Every failure becomes a `LookupFailed` carrying the `LookupGap`
the page prints: what could not be looked up, why, and how to turn it on.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from iotwatch.domain.where import DeviceWatch, LookupFailed, LookupGap
from iotwatch.service.ports import BaselineReader
from iotwatch.service.where import CONNECT_TIMEOUT, READ_TIMEOUT, FleetWhereLookup

# One attempt: a throttled look-up is a gap in this page, tried again by the next one.
LOOKUP_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
    retries={"mode": "standard", "total_max_attempts": 1},
)
THING_INDEX = "AWS_Things"
MAX_BUCKETS = 100
MAX_CONTRIBUTORS = 10
MAX_REPORT_DATAPOINTS = 1440

TURN_ON_INDEX = (
    "turn on fleet indexing with connectivity: aws iot update-indexing-configuration "
    "--thing-indexing-configuration thingIndexingMode=REGISTRY,thingConnectivityIndexingMode=STATUS"
)
TURN_ON_LOGS = (
    "set AWS IoT logging to ERROR or more for the rule to see failed connects: aws iot "
    "set-v2-logging-options --role-arn <IoT logging role> --default-log-level ERROR"
)


_CLIENT_LOCK = threading.Lock()


def lookup_client(service: str) -> Any:
    """A client for a page's look-ups: one attempt, short timeouts (AWS_ENDPOINT_URL honoured)."""
    return boto3.client(service, config=LOOKUP_CONFIG)  # type: ignore[call-overload]


# --- errors -> gaps -------------------------------------------------------------------------------

_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "LimitExceededException"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedException", "UnrecognizedClientException"}


def gap_for(error: Exception, *, what: str, action: str, target: str = "") -> LookupGap:
    """The gap a failed `action` (an IAM action, "iot:GetBucketsAggregation") leaves in a page."""
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError):
        limit = CONNECT_TIMEOUT + READ_TIMEOUT
        return LookupGap(what, f"{action} gave no answer within {limit:.0f} s", _RETRY)
    if not isinstance(error, ClientError):
        kind = type(error).__name__ if isinstance(error, BotoCoreError) else "unexpected error"
        return LookupGap(what, f"{action} failed ({kind}: {error})", _RETRY)
    code = error.response.get("Error", {}).get("Code", "")
    message = one_line(error.response.get("Error", {}).get("Message", "") or code)
    service = action.partition(":")[0]
    if code in _THROTTLED:
        return LookupGap(
            what, f"{action} was throttled", "the next page tries again; raise the API's quota if it repeats"
        )
    if code in _DENIED:
        return LookupGap(what, f"{action} was denied", f"grant the evaluator's role {action}")
    if service == "iot":
        return _index_gap(code, message, what=what, action=action)
    if code == "ResourceNotFoundException":
        return LookupGap(
            what,
            f"the Contributor Insights rule {target or '(unnamed)'} does not exist",
            "deploy the stack (it creates the rule) or fix the rule name in the plan",
        )
    return LookupGap(what, f"{action} failed: {code}: {message}", _RETRY)


_RETRY = "the next page tries again; AWS Health says whether the service is impaired"
MESSAGE_LIMIT = 120  # characters of an AWS error message a page quotes


def one_line(message: str) -> str:
    """An AWS error message as a page may quote it: one line, no markup (a 5xx from a proxy is
    an HTML page), at most MESSAGE_LIMIT characters."""
    text = " ".join(re.sub(r"<[^>]*>", " ", message).split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


def _index_gap(code: str, message: str, *, what: str, action: str) -> LookupGap:
    if code == "IndexNotReadyException":
        return LookupGap(
            what,
            "the fleet index is still being built",
            "wait until `aws iot describe-index --index-name AWS_Things` says ACTIVE",
        )
    lowered = message.lower()
    index_off = "index" in lowered and ("not enabled" in lowered or "disabled" in lowered)
    if code == "ResourceNotFoundException" or index_off:
        return LookupGap(
            what, "fleet indexing (with connectivity) is off in this account and region", TURN_ON_INDEX
        )
    if code in ("InvalidQueryException", "InvalidAggregationException", "InvalidRequestException"):
        return LookupGap(
            what,
            f"the fleet index refused the query ({code}: {message})",
            "check the plan's index fields and group queries; connectivity fields need "
            "thingConnectivityIndexingMode=STATUS",
        )
    return LookupGap(what, f"{action} failed: {code}: {message}", _RETRY)


# --- the fleet index -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Buckets:
    total: int  # things matching the query
    counts: dict[str, int]  # value of the field -> things with it, largest first


class FleetIndexReader:
    """Counts over AWS IoT's thing index."""

    def __init__(self, iot: Any | None = None, *, index_name: str = THING_INDEX) -> None:
        self._client = iot  # None: made on the first look-up, so a quiet tick never pays for it
        self._index = index_name
        self.calls = 0

    def _iot(self) -> Any:
        with _CLIENT_LOCK:  # a page's look-ups run at once: one client, made once
            if self._client is None:
                self._client = lookup_client("iot")
        return self._client

    def buckets(self, query: str, field: str, *, what: str, max_buckets: int = MAX_BUCKETS) -> Buckets:
        """Things matching `query`, counted by each value of `field` (GetBucketsAggregation)."""
        try:
            self.calls += 1
            response = self._iot().get_buckets_aggregation(
                indexName=self._index,
                queryString=query,
                aggregationField=field,
                bucketsAggregationType={"termsAggregation": {"maxBuckets": max_buckets}},
            )
        except (ClientError, BotoCoreError) as err:
            raise LookupFailed(gap_for(err, what=what, action="iot:GetBucketsAggregation")) from err
        counts = {str(b["keyValue"]): int(b["count"]) for b in response.get("buckets", [])}
        return Buckets(int(response.get("totalCount", sum(counts.values()))), counts)


# --- Contributor Insights --------------------------------------------------------------------------


@dataclass(frozen=True)
class InsightReport:
    total: float  # the rule's aggregate value over the window
    distinct: int | None  # approximate unique contributors
    contributors: list[tuple[str, float]]  # (key, value), largest first


class InsightReader:
    """Top contributors of a CloudWatch Contributor Insights rule."""

    def __init__(self, cloudwatch: Any | None = None) -> None:
        self._client = cloudwatch  # None: made on the first report, as FleetIndexReader's
        self.calls = 0

    def _cloudwatch(self) -> Any:
        with _CLIENT_LOCK:
            if self._client is None:
                self._client = lookup_client("cloudwatch")
        return self._client

    def report(self, rule_name: str, *, start: int, end: int, what: str) -> InsightReport:
        period = report_period(start, end)
        try:
            self.calls += 1
            response = self._cloudwatch().get_insight_rule_report(
                RuleName=rule_name,
                StartTime=datetime.fromtimestamp(start, UTC),
                EndTime=datetime.fromtimestamp(max(end, start + period), UTC),
                Period=period,
                MaxContributorCount=MAX_CONTRIBUTORS,
                OrderBy="Sum",
            )
        except (ClientError, BotoCoreError) as err:
            action = "cloudwatch:GetInsightRuleReport"
            raise LookupFailed(gap_for(err, what=what, action=action, target=rule_name)) from err
        contributors = [
            (" / ".join(c.get("Keys", [])), float(c["ApproximateAggregateValue"]))
            for c in response.get("Contributors", [])
        ]
        distinct = response.get("ApproximateUniqueCount")
        total = float(response.get("AggregateValue", 0.0) or 0.0)
        if total <= 0 and not contributors:
            raise LookupFailed(
                LookupGap(
                    what,
                    f"the rule {rule_name} matched no log events since the deviation began",
                    TURN_ON_LOGS,
                )
            )
        return InsightReport(total, int(distinct) if distinct is not None else None, contributors)


def report_period(start: int, end: int) -> int:
    """The smallest whole-minute period that keeps the report within its datapoint limit."""
    minutes = math.ceil(max(end - start, 60) / 60 / MAX_REPORT_DATAPOINTS)
    return 60 * max(minutes, 1)


def aws_where_lookup(watch: DeviceWatch, baselines: BaselineReader | None) -> FleetWhereLookup:
    """The look-up a deployed evaluator uses: the account's fleet index and Contributor Insights,
    through clients that try once with short timeouts, made only when a page first looks up
    (a quiet tick's cold start creates none)."""
    return FleetWhereLookup(watch, index=FleetIndexReader(), insights=InsightReader(), baselines=baselines)
