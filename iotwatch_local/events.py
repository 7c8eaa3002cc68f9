"""The events AWS delivers to the stack's functions (EventBridge, the CloudWatch console), as
the local harness builds them."""

from __future__ import annotations

import uuid
from typing import Any

from iotwatch.domain.times import iso_z as iso

ACCOUNT = "123456789012"


def scheduled_event(ts: int, rule_arn: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.UUID(int=ts)),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": iso(ts),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def stack_status_event(ts: int, stack_id: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.UUID(int=ts + 1)),
        "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation",
        "account": ACCOUNT,
        "time": iso(ts),
        "region": region,
        "resources": [stack_id],
        "detail": {"stack-id": stack_id, "status-details": {"status": "CREATE_COMPLETE"}},
    }


def widget_event(params: dict[str, Any], title: str, start: int, end: int) -> dict[str, Any]:
    """What the CloudWatch console sends a custom widget's function: the widget's params at the
    top level and in the context, with the dashboard's time range (ms), size and theme."""
    return {
        **params,
        "widgetContext": {
            "dashboardName": "local",
            "widgetId": "widget-1",
            "accountId": ACCOUNT,
            "locale": "en",
            "timezone": {"label": "UTC", "offsetISO": "+00:00", "offsetInMinutes": 0},
            "period": 300,
            "isAutoPeriod": True,
            "timeRange": {"mode": "absolute", "start": start * 1000, "end": end * 1000},
            "theme": "light",
            "linkCharts": True,
            "title": title,
            "forms": {"all": {}},
            "params": params,
            "width": 600,
            "height": 300,
        },
    }


def cloudtrail_event(
    ts: int,
    action: str,
    parameters: dict[str, Any],
    *,
    region: str,
    role: str = "deploy-bot",
    session: str = "ci-run-4711",
    event_id: str | None = None,
) -> dict[str, Any]:
    """An "AWS API Call via CloudTrail" event as EventBridge delivers it for an IoT call made
    with a role's temporary credentials."""
    event_id = event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"iotwatch-demo/{action}/{ts}"))
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"eventbridge/{event_id}")),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iot",
        "account": ACCOUNT,
        "time": iso(ts),
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": f"AROADEMO:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
                "accountId": ACCOUNT,
                "accessKeyId": "ASIADEMO",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                        "accountId": ACCOUNT,
                        "userName": role,
                    },
                    "attributes": {"creationDate": iso(ts - 600), "mfaAuthenticated": "false"},
                },
            },
            "eventTime": iso(ts),
            "eventSource": "iot.amazonaws.com",
            "eventName": action,
            "awsRegion": region,
            "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6",
            "requestParameters": parameters,
            "responseElements": None,
            "eventID": event_id,
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
        },
    }
