"""Incident events from a plan bigger than one shard: the invocation that pages the tick (the
last shard to finish) puts them, once each, exactly as one invocation would."""

from __future__ import annotations

import jsonschema
from iotwatch.handlers.settings import ENV_WORK_QUEUE
from iotwatch_harness import IotWatch
from test_events_stack import SCHEMA, bus_inbox, received  # noqa: F401  (bus_inbox: a fixture)
from test_fanout_stack import _drain, _in_one_invocation, _schedule, fleet, sharded_plan  # noqa: F401  (fixtures)

from iotwatch_local.endpoint import LocalAws


def test_a_sharded_tick_puts_each_transition_once(
    fleet: IotWatch,  # noqa: F811
    bus_inbox: str,  # noqa: F811
    local_aws: LocalAws,
) -> None:
    fleet.forget_everything_but_baselines()
    queue_url = fleet.evaluator_env[ENV_WORK_QUEUE]
    for tick in _schedule(fleet):
        fleet.evaluate(tick)
        records = _drain(queue_url)
        for record in [*records, records[0]]:  # SQS delivers at least once
            assert fleet.evaluate({"Records": [record]}) == {"batchItemFailures": []}
    sharded = received(local_aws, bus_inbox)
    for event in sharded:
        jsonschema.validate(event, SCHEMA, cls=jsonschema.Draft202012Validator)
    kinds = [e["detail-type"] for e in sharded]
    assert kinds[0] == "Incident Opened" and kinds[-1] == "Incident Resolved", kinds
    assert kinds.count("Incident Opened") == 1 and kinds.count("Incident Resolved") == 1
    assert len({e["detail"]["dedup_key"] for e in sharded}) == 1

    _in_one_invocation(fleet, _schedule(fleet)).close()
    single = received(local_aws, bus_inbox)
    assert [(e["detail-type"], e["detail"]) for e in sharded] == [
        (e["detail-type"], e["detail"]) for e in single
    ]
