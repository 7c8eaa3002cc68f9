"""The AWS/IoT metric families and the dimensions each one carries.

Used to warn about metric names that AWS IoT does not emit (custom namespaces are
allowed, so this is advice, not an error) and to check dimension keys.
"""

from __future__ import annotations

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
for _name in (
    "Success",
    "Failure",
    "ErrorActionSuccess",
    "ErrorActionFailure",
    "HttpCode_Other",
    "HttpCode_4XX",
    "HttpCode_5XX",
    "HttpInvalidUrl",
    "HttpRequestTimeout",
    "HttpUnknownHost",
):
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
