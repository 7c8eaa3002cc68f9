"""Nothing an asynchronous invocation carries is dropped: every function EventBridge invokes
parks what still fails after Lambda's retries in the dead-letter queue the `dead-letters`
alarm watches, and its role may send there. The band widget, invoked only synchronously by
the console, is the one function without (checkov's skip says so). Concurrency is reserved:
the evaluator runs one tick at a time (a run catching up after an outage finishes before the
next tick reads where it left off), unless the `reserved_concurrency` context turns it off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from infra_support import FULL_PLAN, Synth, synthesize_text

pytestmark = pytest.mark.infrastructure

EVALUATOR = "iotwatch.handlers.evaluator.handler"
BUILDER = "iotwatch.handlers.baseline_builder.handler"
BAND_WIDGET = "iotwatch.handlers.band_widget.handler"


def _invoked_by_rules(synth: Synth) -> set[str]:
    """Logical ids of the functions some EventBridge rule targets."""
    found = set()
    for rule in synth.resources("AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            arn = target["Arn"]
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                found.add(arn["Fn::GetAtt"][0])
    return found


def _role_statements(synth: Synth, function: dict[str, Any]) -> list[dict[str, Any]]:
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_every_function_eventbridge_invokes_dead_letters_into_the_alarmed_queue(full: Synth) -> None:
    queue_id, _ = full.dead_letter_queue()
    functions = full.resources("AWS::Lambda::Function")
    invoked = _invoked_by_rules(full)
    assert {full.function(EVALUATOR)[0], full.function(BUILDER)[0]} <= invoked
    for function_id in invoked:
        function = functions[function_id]
        assert function["Properties"]["DeadLetterConfig"] == {
            "TargetArn": {"Fn::GetAtt": [queue_id, "Arn"]}
        }, function_id
        sends = [
            s
            for s in _role_statements(full, function)
            if "sqs:SendMessage" in s["Action"] and s["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        ]
        assert sends, f"{function_id} cannot send to its dead-letter queue"
    # the dead-letters alarm watches that very queue
    [alarm] = [
        a["Properties"]
        for a in full.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmName", "").endswith("-dead-letters")
    ]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]
    # only the band widget, which the console invokes synchronously, has none
    widget_id, widget = full.function(BAND_WIDGET)
    assert widget_id not in invoked and "DeadLetterConfig" not in widget["Properties"]


def test_the_evaluator_and_builder_run_one_at_a_time(full: Synth, minimal: Synth) -> None:
    for synth in (full, minimal):
        for handler in (EVALUATOR, BUILDER):
            assert synth.function(handler)[1]["Properties"]["ReservedConcurrentExecutions"] == 1
    assert "ReservedConcurrentExecutions" not in full.function(BAND_WIDGET)[1]["Properties"]


def test_a_plan_that_fans_out_leaves_room_for_its_shards_and_the_context_can_reserve_nothing(
    tmp_path: Path,
) -> None:
    text = FULL_PLAN.replace(
        "  baseline_refresh: cron(0 3 * * ? *)\n",
        "  baseline_refresh: cron(0 3 * * ? *)\n  shard_size: 3\n  build_shard_size: 3\n",
    )
    sharded = synthesize_text(tmp_path / "sharded", text)
    # dispatch, a retry, and as many shards as the event source mapping lets run at once
    for handler, shards in ((EVALUATOR, 10), (BUILDER, 5)):
        function_id, function = sharded.function(handler)
        [mapping] = [
            m["Properties"]
            for m in sharded.resources("AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == {"Ref": function_id}
        ]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": shards}
        assert function["Properties"]["ReservedConcurrentExecutions"] == shards + 2
    unreserved = synthesize_text(tmp_path / "unreserved", FULL_PLAN, context={"reserved_concurrency": "off"})
    for function in unreserved.resources("AWS::Lambda::Function").values():
        assert "ReservedConcurrentExecutions" not in function["Properties"]
