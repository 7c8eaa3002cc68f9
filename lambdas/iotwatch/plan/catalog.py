"""The AWS/IoT metric families and the dimensions each one carries.

Used to warn about metric names that AWS IoT does not emit (custom namespaces are
allowed, so this is advice, not an error) and suggest the one meant, to check dimension
keys, and to know which metrics are the outcomes of one request (a share's attempts).
"""

from __future__ import annotations

from collections.abc import Iterable

from iotwatch.domain.failure_kind import HTTP_ACTION_FAILURES

AWS_IOT_NAMESPACE = "AWS/IoT"

_BROKER_OPS = {
    "Connect": ["Success", "AuthError", "ClientError", "ClientIDThrottle", "ServerError", "Throttle"],
    "Ping": ["Success"],
    "PublishIn": ["Success", "AuthError", "ClientError", "ServerError", "Throttle"],
    "PublishOut": ["Success", "AuthError", "ClientError", "Throttle"],
    "PublishRetained": ["Success", "AuthError", "ClientError", "ServerError", "Throttle"],
    "Subscribe": ["Success", "AuthError", "ClientError", "ServerError", "Throttle"],
    "Unsubscribe": ["Success", "ClientError", "ServerError", "Throttle"],
}
_SHADOW_OPS = ["GetThingShadow", "UpdateThingShadow", "DeleteThingShadow", "ListThingShadow"]

# metric name -> dimension keys it may carry (an empty tuple: published without dimensions)
AWS_IOT_METRICS: dict[str, tuple[str, ...]] = {}
for _op, _outcomes in _BROKER_OPS.items():
    for _outcome in _outcomes:
        AWS_IOT_METRICS[f"{_op}.{_outcome}"] = ("Protocol",)
for _op in _SHADOW_OPS:
    AWS_IOT_METRICS[f"{_op}.Accepted"] = ("Protocol",)
AWS_IOT_METRICS["RulesExecuted"] = ()
for _name in ("TopicMatch", "ParseError", "RuleMessageThrottled", "RuleNotFound"):
    AWS_IOT_METRICS[_name] = ("RuleName",)
for _name in ("Success", "Failure", "ErrorActionSuccess", "ErrorActionFailure", *HTTP_ACTION_FAILURES):
    AWS_IOT_METRICS[_name] = ("RuleName", "ActionType")
for _name in (
    "AddThingToDynamicThingGroupsFailed",
    "NumLogBatchesFailedToPublishThrottled",
    "NumLogEventsFailedToPublishThrottled",
    "CredentialExchangeSuccess",
):
    AWS_IOT_METRICS[_name] = ()

# The monitoring guide's minimum set for establishing a baseline.
GUIDE_BASELINE_METRICS: tuple[str, ...] = (
    "PublishIn.Success",
    "PublishOut.Success",
    "Subscribe.Success",
    "Ping.Success",
    "Connect.Success",
    "GetThingShadow.Accepted",
    "UpdateThingShadow.Accepted",
    "DeleteThingShadow.Accepted",
    "RulesExecuted",
)

PROTOCOLS = ("MQTT", "HTTP")

# Every outcome of one request, by operation: a share's attempts. Rule actions (RuleName,
# ActionType) count each run once as Success or Failure, and each error action run once as
# ErrorActionSuccess or ErrorActionFailure; the HTTP codes are a breakdown of Failure.
OUTCOME_FAMILIES: dict[str, tuple[str, ...]] = {
    op: tuple(f"{op}.{outcome}" for outcome in outcomes) for op, outcomes in _BROKER_OPS.items()
}
OUTCOME_FAMILIES["RuleAction"] = ("Success", "Failure")
OUTCOME_FAMILIES["ErrorAction"] = ("ErrorActionSuccess", "ErrorActionFailure")

# How a message names a family's attempts: "AuthError 31 % of 4,210 connection attempts".
ATTEMPT_NOUNS = {
    "Connect": "connection attempts",
    "Ping": "pings",
    "PublishIn": "inbound publishes",
    "PublishOut": "outbound publishes",
    "PublishRetained": "retained publishes",
    "Subscribe": "subscribe requests",
    "Unsubscribe": "unsubscribe requests",
    "RuleAction": "rule action runs",
    "ErrorAction": "error action runs",
}


def outcome_family(metric: str) -> str | None:
    """The operation whose outcomes `metric` is one of: 'Connect' for Connect.AuthError."""
    return next((op for op, members in OUTCOME_FAMILIES.items() if metric in members), None)


def default_denominator(numerator: tuple[str, ...]) -> tuple[str, ...] | None:
    """Every outcome of the one AWS/IoT operation the numerator's metrics belong to: Connect.*
    for Connect.AuthError. None when they belong to none, or to several."""
    families = {outcome_family(m) for m in numerator}
    if len(families) != 1 or None in families:
        return None
    (family,) = families
    assert family is not None
    return OUTCOME_FAMILIES[family]


def ratio_labels(numerator: tuple[str, ...], denominator: tuple[str, ...]) -> tuple[str, str]:
    """How messages name a share's parts: ('AuthError', 'connection attempts'); several failure
    kinds are 'Failures', attempts of no single operation 'attempts'."""
    outcomes = [m.rpartition(".")[2] for m in numerator]
    what = "+".join(outcomes) if len(outcomes) <= 2 else "Failures"
    families = {outcome_family(m) for m in denominator}
    family = next(iter(families)) if len(families) == 1 else None
    return what, ATTEMPT_NOUNS.get(family or "", "attempts")


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` most likely misspells (case-insensitive), if any is close."""
    import difflib

    by_lower = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.75)
    if found:
        return by_lower[found[0]]
    # a shortened name: 'Rule' for 'RuleName'
    started = [c for lower, c in by_lower.items() if len(name) >= 3 and lower.startswith(name.lower())]
    return started[0] if len(started) == 1 else None
