"""The local EventBridge input transformer against the examples of AWS's "Amazon EventBridge input
transformation" (EventBridge user guide, eb-transform-target-input) and of the InputTransformer
API reference; the event pattern matcher; the PagerDuty Events API v2 body check."""

from __future__ import annotations

import json

import pytest

from iotwatch_local.input_transformer import json_path, matches, pagerduty_event_problems, transform

# The user guide's example event.
EC2_EVENT = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state"}
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/example"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # Simple string
        ('"<instance> is in <state>"', '"i-0123456789 is in RUNNING"'),
        # String with escaped quotes
        ('"<instance> is in \\"<state>\\""', '"i-0123456789 is in \\"RUNNING\\""'),
        # Simple JSON: variables outside quotes become JSON strings
        ('{"instance" : <instance>, "state": <state>}', '{"instance" : "i-0123456789", "state": "RUNNING"}'),
        # JSON with strings and variables
        (
            '{"instance" : <instance>, "state": "<state>"}',
            '{"instance" : "i-0123456789", "state": "RUNNING"}',
        ),
        # JSON with a mix of variables and static information
        (
            '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes" }',
            '{"instance" : "i-0123456789", "state": [ 9, "RUNNING", true ], "Transformed" : "Yes" }',
        ),
        # the API reference: variables in quotes or out, quotes escaped inside a string
        (
            '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<state>\\""}',
            '{"myInstance": "i-0123456789","myStatus": "i-0123456789 is in state \\"RUNNING\\""}',
        ),
        # the API reference: a template that is plain text
        ("<instance> is in state <state>", "i-0123456789 is in state RUNNING"),
    ],
)
def test_the_documented_examples(template, expected):
    assert transform(EC2_EVENT, PATHS, template) == expected


def test_the_tutorials_example_word_for_word():
    """EventBridge user guide, "Tutorial: Use input transformer to customize what EventBridge
    passes to the event target": its event (a space before the instance id included) and the
    SNS message it documents."""
    event = {
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2015-11-11T21:29:54Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/ i-1234567890abcdef0"],
        "detail": {"instance-id": " i-1234567890abcdef0", "state": "stopped"},
    }
    message = transform(
        event,
        {"instance": "$.detail.instance-id", "state": "$.detail.state"},
        "The EC2 instance <instance> has changed state to <state>.",
    )
    # the guide prints the message with the id's leading space trimmed by the page's layout
    assert " ".join(message.split()) == "The EC2 instance i-1234567890abcdef0 has changed state to stopped."


def test_reserved_variables_in_json_and_in_a_string():
    template = (
        '{"instance" : <instance>, "state": <state>, "ruleArn" : <aws.events.rule-arn>, '
        '"ruleName" : <aws.events.rule-name>, "originalEvent" : <aws.events.event.json>}'
    )
    out = json.loads(transform(EC2_EVENT, PATHS, template, rule_arn=RULE_ARN, rule_name="example"))
    assert out == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "ruleArn": RULE_ARN,
        "ruleName": "example",
        "originalEvent": EC2_EVENT,
    }
    assert transform(EC2_EVENT, {}, '"<aws.events.rule-name> triggered"', rule_name="example") == (
        '"example triggered"'
    )
    without_detail = json.loads(transform(EC2_EVENT, {}, '{"e": <aws.events.event>}'))["e"]
    assert "detail" not in without_detail and without_detail["id"] == EC2_EVENT["id"]


def test_an_object_inside_a_string_loses_its_inner_quotes_and_a_missing_path_creates_no_variable():
    out = transform(EC2_EVENT, {"detail": "$.detail"}, '"Detail: <detail>"')
    assert out == '"Detail: {instance-id:i-0123456789,state:RUNNING}"'
    assert transform(EC2_EVENT, {"gone": "$.detail.nothing"}, '"[<gone>]"') == '"[]"'


def test_values_are_not_escaped_inside_quotes_but_are_outside():
    event = {"detail": {"summary": 'device "gw-1" offline'}}
    inside = transform(event, {"s": "$.detail.summary"}, '{"summary": "<s>"}')
    with pytest.raises(json.JSONDecodeError):
        json.loads(inside)  # what EventBridge would send: why iotwatch's templates quote nothing
    outside = transform(event, {"s": "$.detail.summary"}, '{"summary": <s>}')
    assert json.loads(outside) == {"summary": 'device "gw-1" offline'}


def test_json_paths_with_dashes_and_indices():
    assert json_path(EC2_EVENT, "$.detail-type") == "EC2 Instance State-change Notification"
    assert json_path(EC2_EVENT, "$.resources[0]").endswith("i-abcd1111")
    assert json_path(EC2_EVENT, "$.resources.0").endswith("i-abcd1111")
    with pytest.raises(ValueError, match="dot notation"):
        json_path(EC2_EVENT, "$['detail']")
    with pytest.raises(ValueError, match="reserved"):
        transform(EC2_EVENT, {"aws.mine": "$.id"}, "<aws.mine>")


def test_event_patterns():
    pattern = {"source": ["aws.ec2"], "detail": {"state": [{"prefix": "RUN"}]}}
    assert matches(pattern, EC2_EVENT)
    assert not matches({"source": ["iotwatch"]}, EC2_EVENT)
    assert not matches({"detail": {"state": [{"anything-but": ["RUNNING"]}]}}, EC2_EVENT)
    assert matches({"detail": {"missing": [{"exists": False}]}}, EC2_EVENT)
    assert matches({"resources": [{"prefix": "arn:aws:ec2:"}]}, EC2_EVENT)  # any element of an array
    assert not matches({"detail": {"state": ["STOPPED"]}}, EC2_EVENT)


def test_the_pagerduty_body_check():
    trigger = {
        "routing_key": "r" * 32,
        "event_action": "trigger",
        "dedup_key": "fleet/abc",
        "payload": {"summary": "s", "source": "fleet", "severity": "critical"},
        "links": [{"href": "https://console.aws.amazon.com/", "text": "dashboard"}],
    }
    assert pagerduty_event_problems(trigger) == []
    assert (
        pagerduty_event_problems({"routing_key": "r" * 32, "event_action": "resolve", "dedup_key": "k"}) == []
    )
    assert "event_action" in " ".join(pagerduty_event_problems({**trigger, "event_action": "open"}))
    bad = {**trigger, "dedup_key": "k" * 256}
    bad["payload"] = {"summary": "x" * 1025, "source": "", "severity": "high"}
    problems = " ".join(pagerduty_event_problems(bad))
    for field in ("dedup_key", "payload.summary"):
        assert field in problems
    problems = " ".join(
        pagerduty_event_problems({**trigger, "payload": {"summary": "s", "source": "", "severity": "high"}})
    )
    assert "payload.source" in problems and "payload.severity" in problems
    assert "dedup_key: required to resolve" in pagerduty_event_problems(
        {"routing_key": "r" * 32, "event_action": "resolve"}
    )
