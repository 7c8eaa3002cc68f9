"""Subscribers beyond e-mail and SMS: PagerDuty, Opsgenie, chat, HTTPS, SQS and Lambda, each
validated with an error naming its field, and no key ever written into the plan."""

from __future__ import annotations

import pytest
from iotwatch.plan.loader import check_plan
from iotwatch.plan.model.contacts import SecretReference

from .test_plan import by_path, minimal_plan

PD_KEY_LOOKALIKE = "a" * 16 + "0123456789abcdef"  # 32 letters and digits: an integration key's shape


def with_subscribers(*subscribers, environ=None, resolve_env=False):
    plan = minimal_plan(
        notify={
            "topics": [{"name": "oncall", "subscribers": list(subscribers)}],
            "routes": [{"topic": "oncall"}],
        }
    )
    return check_plan(plan, environ=environ or {}, resolve_env=resolve_env)


def errors(check):
    return {
        path: [p.message for p in problems if p.level == "error"] for path, problems in by_path(check).items()
    }


def test_every_delivery_kind_is_accepted():
    check = with_subscribers(
        {"pagerduty": {"routing_key": {"secret": "iotwatch/pagerduty"}}},
        {"opsgenie": {"api_key": {"secret": "iotwatch/opsgenie", "json_key": "key"}, "region": "eu"}},
        {"chat": {"slack": {"workspace_id": "T0123ABCD", "channel_id": "C0123ABCD"}}},
        {"https": "https://hooks.example.com/iotwatch"},
        {"sqs": "arn:aws:sqs:eu-west-1:123456789012:iotwatch-incidents"},
        {"lambda": "arn:aws:lambda:eu-west-1:123456789012:function:ticketing"},
    )
    assert check.plan is not None, check.problems
    kinds = [s.protocol for s in check.plan.notify.topics[0].subscribers]
    assert kinds == ["pagerduty", "opsgenie", "chat", "https", "sqs", "lambda"]
    assert check.plan.notify.topics[0].subscribers[5].lambda_.endswith(":function:ticketing")


@pytest.mark.parametrize(
    "subscriber",
    [
        {"pagerduty": {"routing_key": PD_KEY_LOOKALIKE}},
        {"pagerduty": {"routing_key": {"secret": PD_KEY_LOOKALIKE}}},
        {"opsgenie": {"api_key": {"secret": "1b2c3d4e-0000-4000-8000-123456789abc"}}},
    ],
    ids=["literal string", "key as a secret name", "opsgenie uuid"],
)
def test_a_literal_key_is_refused_and_the_message_says_where_to_put_it(subscriber):
    check = with_subscribers(subscriber)
    assert check.plan is None
    messages = [m for ms in errors(check).values() for m in ms]
    assert any("Secrets Manager" in m for m in messages), messages
    assert not any(PD_KEY_LOOKALIKE in m or "1b2c3d4e" in m for m in messages), (
        "the key leaked into a message"
    )


def test_an_ssm_securestring_key_is_refused_with_the_reason():
    check = with_subscribers({"pagerduty": {"routing_key": {"ssm": "/oncall/pd"}}})
    (message,) = errors(check)["notify.topics[0].subscribers[0].pagerduty.routing_key"]
    assert "SecureString" in message and "{secret: NAME}" in message


@pytest.mark.parametrize(
    ("subscriber", "field", "expected"),
    [
        ({"https": "http://hooks.example.com/x"}, "https", "not an https:// URL"),
        ({"https": "https://user:pw@hooks.example.com/x"}, "https", "credentials"),
        ({"sqs": "arn:aws:sns:eu-west-1:123456789012:topic"}, "sqs", "not an SQS queue ARN"),
        ({"lambda": "arn:aws:sqs:eu-west-1:123456789012:q"}, "lambda", "not a Lambda function ARN"),
        (
            {"pagerduty": {"routing_key": {"secret": "arn:aws:ssm:eu-west-1:123456789012:parameter/x"}}},
            "pagerduty.routing_key.secret",
            "not a Secrets Manager secret ARN",
        ),
        ({"opsgenie": {"api_key": {"secret": "og"}, "region": "asia"}}, "opsgenie.region", "'us' or 'eu'"),
        ({"chat": {}}, "chat", "exactly one of 'slack'"),
    ],
)
def test_a_bad_subscriber_names_its_field(subscriber, field, expected):
    found = errors(with_subscribers(subscriber)).get(f"notify.topics[0].subscribers[0].{field}", [])
    assert any(expected in m for m in found), found


def test_two_kinds_in_one_subscriber_are_refused_and_lambda_is_listed_by_its_plan_name():
    check = with_subscribers({"email": "a@example.com", "sqs": "arn:aws:sqs:eu-west-1:123456789012:q"})
    (message,) = errors(check)["notify.topics[0].subscribers[0]"]
    assert "exactly one of" in message and "(got email, sqs)" in message
    check = with_subscribers({"lamda": "arn:aws:lambda:eu-west-1:123456789012:function:f"})
    unknown = errors(check)["notify.topics[0].subscribers[0].lamda"][0]
    assert "lambda" in unknown.split("allowed keys here:")[1] and "lambda_" not in unknown


def test_a_webhook_from_env_is_checked_once_resolved():
    check = with_subscribers(
        {"https": {"env": "HOOK"}}, environ={"HOOK": "http://plain.example.com"}, resolve_env=True
    )
    (message,) = errors(check)["notify.topics[0].subscribers[0].https"]
    assert message.startswith("the value of $HOOK") and "https://" in message


def test_a_secret_resolves_by_dynamic_reference_and_describes_itself_by_name_only():
    whole = SecretReference(secret="iotwatch/pagerduty")
    assert whole.dynamic_reference() == "{{resolve:secretsmanager:iotwatch/pagerduty}}"
    field = SecretReference(secret="iotwatch/oncall", json_key="routing_key")
    assert field.dynamic_reference() == "{{resolve:secretsmanager:iotwatch/oncall:SecretString:routing_key}}"
    assert "iotwatch/oncall" in field.describe()


def test_a_metric_narrowed_route_to_an_event_delivered_subscriber_is_a_warning():
    plan = minimal_plan(
        notify={
            "topics": [
                {"name": "pd", "subscribers": [{"pagerduty": {"routing_key": {"secret": "iotwatch/pd"}}}]}
            ],
            "routes": [{"topic": "pd", "metrics": ["Connect.*"]}],
        }
    )
    check = check_plan(plan, environ={})
    assert check.plan is not None
    (warning,) = by_path(check)["notify.topics[0].subscribers[0].pagerduty"]
    assert warning.level == "warning" and "every incident" in warning.message
    plan["notify"]["routes"] = [{"topic": "pd"}]
    assert "notify.topics[0].subscribers[0].pagerduty" not in by_path(check_plan(plan, environ={}))
