"""Facts of AWS/IoT's metrics that the catalog and the classifier both read: kept apart so the
evaluator's quiet tick, which loads the catalog, does not load the classifier."""

from __future__ import annotations

# AWS/IoT's outcomes of an HTTP action, every one a failure (dimensions RuleName, ActionType)
HTTP_ACTION_FAILURES = (
    "HttpCode_Other",
    "HttpCode_4XX",
    "HttpCode_5XX",
    "HttpInvalidUrl",
    "HttpRequestTimeout",
    "HttpUnknownHost",
)
