"""Self-monitoring: the alarms on iotwatch itself, where they send, and the key and topic
policies that let CloudWatch publish to an encrypted topic. CloudWatch alarms are checked in
the template (moto skips AWS::CloudWatch::Alarm)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_support import (
    CLOUDWATCH_ALARM,
    ENV_EMAIL,
    ENV_EMAIL_VAR,
    FULL_PLAN,
    Synth,
    cfn_lint_problems,
    join_to_text,
    nag_problems,
    sns_delivers,
    synthesize,
)

from infra.metrics import evaluation_cadence, heartbeat_window

pytestmark = pytest.mark.infrastructure

EVALUATOR = "iotwatch.handlers.evaluator.handler"
BUILDER = "iotwatch.handlers.baseline_builder.handler"
AUDIT = "iotwatch.handlers.audit.handler"
TOPICS = {"oncall-email": "iotwatch-test-fleet-oncall-email", "oncall_sms": "iotwatch-test-fleet-oncall_sms"}

_TOOLS = "tools:\n  dashboard: true\n"
_NOTIFY = "notify:\n  topics:\n"
assert _TOOLS in FULL_PLAN and _NOTIFY in FULL_PLAN
# The full plan with the audit on and the operations alarms sent to the second topic.
OPERATIONS_PLAN = FULL_PLAN.replace(_TOOLS, "tools:\n  dashboard: true\n  audit: true\n").replace(
    _NOTIFY, "notify:\n  operations_topic: oncall_sms\n  topics:\n"
)


@pytest.fixture(scope="module")
def operations(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    base = tmp_path_factory.mktemp("operations")
    plan_path = base / "plan.yaml"
    plan_path.write_text(OPERATIONS_PLAN, encoding="utf-8")
    return synthesize(plan_path, base / "cdk.out", environ={ENV_EMAIL_VAR: ENV_EMAIL})


def _topic_id(s: Synth, plan_topic: str) -> str:
    (found,) = [
        k
        for k, v in s.resources("AWS::SNS::Topic").items()
        if v["Properties"].get("TopicName") == TOPICS[plan_topic]
    ]
    return found


def _alarms_topic_id(s: Synth) -> str:
    """The dedicated topic for iotwatch's alarms: the one no plan topic names."""
    (found,) = [k for k, v in s.resources("AWS::SNS::Topic").items() if "TopicName" not in v["Properties"]]
    return found


def _alarms(s: Synth) -> dict[str, dict[str, Any]]:
    """AlarmName -> Properties."""
    return {
        v["Properties"]["AlarmName"]: v["Properties"] for v in s.resources("AWS::CloudWatch::Alarm").values()
    }


# Expected per function: natural period, timeout (s) and slow runs needed for the duration alarm.
FUNCTION_ALARMS = {
    # The full plan evaluates every 5 minutes; the evaluator's timeout is 60 s.
    "evaluator": (EVALUATOR, 300, 60, (2, 3)),
    "baseline-builder": (BUILDER, 3600, 300, (1, 1)),
}


def _check_function_alarms(
    s: Synth, slug: str, handler: str, period: int, timeout: int, slow: tuple[int, int]
) -> None:
    alarms = _alarms(s)
    function_id, _ = s.function(handler)
    common = {
        "Namespace": "AWS/Lambda",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function_id}}],
        "Period": period,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    expected = {
        "errors": {
            **common,
            "MetricName": "Errors",
            "Statistic": "Sum",
            "Threshold": 1,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "TreatMissingData": "ignore",
        },
        "throttles": {
            **common,
            "MetricName": "Throttles",
            "Statistic": "Sum",
            "Threshold": 1,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "TreatMissingData": "notBreaching",
        },
        "duration": {
            **common,
            "MetricName": "Duration",
            "Statistic": "Maximum",
            "Threshold": timeout * 1000 * 0.8,
            "EvaluationPeriods": slow[1],
            "DatapointsToAlarm": slow[0],
            "TreatMissingData": "ignore",
        },
    }
    for kind, properties in expected.items():
        alarm = alarms[f"iotwatch-test-fleet-{slug}-{kind}"]
        assert {k: alarm.get(k) for k in properties} == properties, kind
        # A throttle is an event, not a state: no "recovered" message when it stops.
        assert ("OKActions" in alarm) == (kind != "throttles"), kind


@pytest.mark.parametrize("slug", sorted(FUNCTION_ALARMS))
def test_each_function_alarms_on_errors_throttles_and_near_timeout_duration(full: Synth, slug: str) -> None:
    _check_function_alarms(full, slug, *FUNCTION_ALARMS[slug])


def test_heartbeat_alarms_when_no_evaluation_completes_in_two_intervals(full: Synth, minimal: Synth) -> None:
    for synth, period in ((full, 300), (minimal, 600)):  # rate(5 minutes), rate(10 minutes)
        plan_name = "test-fleet" if synth is full else "quiet"
        alarm = _alarms(synth)[f"iotwatch-{plan_name}-evaluator-heartbeat"]
        assert {
            k: alarm[k] for k in ("Threshold", "ComparisonOperator", "EvaluationPeriods", "DatapointsToAlarm")
        } == {
            "Threshold": 1,
            "ComparisonOperator": "LessThanThreshold",
            "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2,
        }
        assert alarm["TreatMissingData"] == "breaching"
        expression, stat = sorted(alarm["Metrics"], key=lambda m: "MetricStat" in m)
        assert expression["Expression"] == f"FILL({stat['Id']}, 0)" and expression["ReturnData"] is True
        assert stat["ReturnData"] is False
        assert stat["MetricStat"] == {
            "Metric": {
                "Namespace": f"IotWatch/{plan_name}",
                "MetricName": "EvaluationCompleted",
                "Dimensions": [{"Name": "service", "Value": "iotwatch-evaluator"}],
            },
            "Period": period,
            "Stat": "Sum",
        }


def test_dead_letter_queue_depth_alarm(full: Synth) -> None:
    queue_id, _ = full.dead_letter_queue()
    alarm = _alarms(full)["iotwatch-test-fleet-dead-letters"]
    assert {
        k: alarm.get(k)
        for k in (
            "Namespace",
            "MetricName",
            "Dimensions",
            "Statistic",
            "Period",
            "Threshold",
            "ComparisonOperator",
            "EvaluationPeriods",
            "TreatMissingData",
        )
    } == {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
        "Statistic": "Maximum",
        "Period": 300,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "EvaluationPeriods": 1,
        "TreatMissingData": "ignore",
    }


def test_every_alarm_notifies_the_first_topic_by_default_and_says_what_to_check(full: Synth) -> None:
    alarms = _alarms(full)
    assert sorted(alarms) == sorted(
        [
            f"iotwatch-test-fleet-{slug}-{kind}"
            for slug in FUNCTION_ALARMS
            for kind in ("errors", "throttles", "duration")
        ]
        + ["iotwatch-test-fleet-evaluator-heartbeat", "iotwatch-test-fleet-dead-letters"]
    )
    ops = {"Ref": _topic_id(full, "oncall-email")}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [ops], name
        assert alarm.get("OKActions", [ops]) == [ops], name
        description = alarm["AlarmDescription"]
        assert isinstance(description, str) and len(description) <= 1024, name
        assert "Check first" in description and "https://runbooks.example.com/iotwatch" in description, name


def test_an_operations_topic_with_filtered_subscribers_gets_its_alarms_through_a_topic_of_their_own(
    operations: Synth,
) -> None:
    """oncall_sms's one subscriber is filtered (critical, no updates): an alarm notification,
    without message attributes, would never reach it there; every alarm, the audit function's
    too, goes to the dedicated alarms topic instead, where the subscriber has no filter."""
    alarms = _alarms(operations)
    _check_function_alarms(operations, "audit", AUDIT, 300, 30, (2, 3))
    assert len(alarms) == 3 * 3 + 2
    dedicated = {"Ref": _alarms_topic_id(operations)}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [dedicated], name
        assert alarm.get("OKActions", [dedicated]) == [dedicated], name


def _cloudwatch_publish_statements(s: Synth) -> dict[str, list[dict[str, Any]]]:
    """Topic logical id -> the topic-policy statements that let CloudWatch publish."""
    found: dict[str, list[dict[str, Any]]] = {}
    for policy in s.resources("AWS::SNS::TopicPolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}:
                for topic in policy["Properties"]["Topics"]:
                    found.setdefault(topic["Ref"], []).append(statement)
    return found


@pytest.mark.parametrize(("variant", "topic"), [("full", "oncall-email"), ("operations", None)])
def test_only_the_topic_alarms_notify_lets_cloudwatch_publish_and_only_for_iotwatch_alarms(
    variant: str, topic: str | None, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    topic_id = _topic_id(synth, topic) if topic else _alarms_topic_id(synth)
    statements = _cloudwatch_publish_statements(synth)
    assert list(statements) == [topic_id]
    (statement,) = statements[topic_id]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sns:Publish"
    assert statement["Resource"] == {"Ref": topic_id}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = join_to_text(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    assert (
        source_arn
        == "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:iotwatch-test-fleet-*"
    )
    # TLS stays enforced on that topic, next to the allow.
    (policy,) = [
        p
        for p in synth.resources("AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": topic_id}]
    ]
    deny_plain_http = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sns:Publish",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert any(
        deny_plain_http.items() <= statement.items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_topic_key_policy_lets_only_cloudwatch_alarms_of_this_account_use_it(full: Synth) -> None:
    _, key = full.only("AWS::KMS::Key")
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    services = [s for s in statements if "Service" in s["Principal"]]
    assert services == [
        {
            "Sid": "AllowCloudWatchAlarmsToPublishToEncryptedTopics",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
    # Everything else is the account's own administration of the key (CDK's default statement).
    others = [s for s in statements if s not in services]
    assert [s["Principal"] for s in others] == [
        {
            "AWS": {
                "Fn::Join": [
                    "",
                    ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"],
                ]
            }
        }
    ]


def test_nag_and_cfn_lint_stay_clean_with_audit_and_operations_topic(operations: Synth) -> None:
    problems = nag_problems(operations)
    assert problems == [], "\n".join(problems)
    errors, warnings = cfn_lint_problems(operations)
    assert errors == [], "\n".join(errors)
    assert warnings == set(), warnings


# --- the heartbeat window, from the schedule expression --------------------------------------------


@pytest.mark.parametrize(
    ("expression", "cadence"),
    [
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("cron(0/15 * * * ? *)", 900),
        ("cron(*/10 * * * ? *)", 600),
        ("cron(5,20 * * * ? *)", 45 * 60),  # :05 -> :20 is 15 min, :20 -> next :05 is 45
        ("cron(0 8,20 * * ? *)", 12 * 3600),
        ("cron(30 6-18 * * ? *)", 12 * 3600),  # 18:30 -> 06:30
        ("cron(0 9 ? * MON-FRI *)", None),  # weekdays: the weekend gap is not derived
        ("cron(0 9 1 * ? *)", None),
        ("cron(0 9 L * ? *)", None),
        ("not a schedule", None),
    ],
)
def test_evaluation_cadence(expression: str, cadence: int | None) -> None:
    assert evaluation_cadence(expression) == cadence


@pytest.mark.parametrize(
    ("expression", "period", "periods"),
    [
        ("rate(1 minute)", 300, 2),  # floored: EMF datapoints arrive about a minute late
        ("rate(5 minutes)", 300, 2),
        ("rate(2 hours)", 7200, 2),
        ("rate(1 day)", 86400, 2),
        ("rate(3 days)", 86400, 6),
        ("rate(7 days)", 86400, 7),
        ("cron(0 9 ? * MON-FRI *)", 86400, 7),
    ],
)
def test_heartbeat_window_stays_within_cloudwatch_limits(expression: str, period: int, periods: int) -> None:
    got_period, got_periods = heartbeat_window(expression)
    assert (got_period.to_seconds(), got_periods) == (period, periods)
    assert period % 60 == 0
    # PutMetricAlarm: Period x EvaluationPeriods <= 1 day below an hour's period, else 7 days.
    assert period * periods <= (86400 if period < 3600 else 7 * 86400)


def _delivered_alarm_to(s: Synth) -> list[str]:
    """The endpoints (as JSON) an alarm notification reaches: the subscriptions of the topics
    the alarms notify whose filter policy lets a message without attributes through."""
    (actions,) = {json.dumps(a["AlarmActions"], sort_keys=True) for a in _alarms(s).values()}
    return sorted(
        json.dumps(sub["Properties"]["Endpoint"], sort_keys=True)
        for sub in s.resources("AWS::SNS::Subscription").values()
        if sub["Properties"]["TopicArn"] in json.loads(actions)
        and sns_delivers(sub["Properties"].get("FilterPolicy"), CLOUDWATCH_ALARM)
    )


@pytest.mark.parametrize(
    ("variant", "operations_topic"), [("full", "oncall-email"), ("operations", "oncall_sms")]
)
def test_every_operations_subscriber_gets_each_alarm_once_whatever_its_filter_policy(
    variant: str, operations_topic: str, request: pytest.FixtureRequest
) -> None:
    """Judged by SNS's documented filter semantics (test_infra_filter_policies.sns_delivers):
    before, the SMS subscriber's `{"category": [{"exists": false}]}` branch let no alarm
    through. The routes still narrow what the evaluator sends to the operations topic."""
    synth: Synth = request.getfixturevalue(variant)
    ops = {"Ref": _topic_id(synth, operations_topic)}
    subscribers = sorted(
        json.dumps(sub["Properties"]["Endpoint"], sort_keys=True)
        for sub in synth.resources("AWS::SNS::Subscription").values()
        if sub["Properties"]["TopicArn"] == ops
    )
    assert subscribers
    assert _delivered_alarm_to(synth) == subscribers
    for sub in synth.resources("AWS::SNS::Subscription").values():
        if sub["Properties"]["TopicArn"] == ops and sub["Properties"]["Protocol"] == "sms":
            assert sub["Properties"]["FilterPolicy"] == {
                "severity": ["critical"],
                "kind": [{"anything-but": ["update"]}],
            }
