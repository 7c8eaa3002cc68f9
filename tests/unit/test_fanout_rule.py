"""Whether a run fans out has one home, `plan.fanout`: the stack (tests/infrastructure:
`test_a_plan_heavy_in_shares_gets_its_evaluator_work_queue`), the cost estimate and both
handlers ask it. A plan heavy in shares is where counting series and counting metric queries
disagree: 1,500 series of which 600 are shares of two metrics each read 2,100 queries, over
the evaluator's 2,000, so the tick must fan out and the stack must give it a queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from iotwatch.domain.ratios import query_weight
from iotwatch.handlers import baseline_builder, evaluator
from iotwatch.plan.cost.assumptions import Assumptions
from iotwatch.plan.cost.workload import measure_workload
from iotwatch.plan.expand import expand_series, expand_templates
from iotwatch.plan.fanout import DEFAULT_SHARD_SIZE, fans_out, may_fan_out
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.runtime import write_runtime_plan
from iotwatch.service.baselines import BuildTask
from iotwatch.service.fanout import ShardTask

from iotwatch_local.lambda_runtime import LocalLambdaContext

from .conftest import EVENTS_DIR
from .fakes import FakeNotifier, FakeReader, FakeStore

PLAIN, SHARES = 900, 600


def share_heavy_plan_data() -> dict[str, Any]:
    """900 rules' TopicMatch and 600 rule actions' failure share (Failure of Success + Failure)."""
    return {
        "version": 1,
        "name": "share-heavy",
        "goals": ["know when rules stop matching or their actions fail"],
        "owners": {"team": "iot-platform"},
        "resources": {
            "metrics": [
                {"metric": "TopicMatch", "dimensions": {"RuleName": [f"match_{i:04d}" for i in range(PLAIN)]}}
            ],
            "ratios": [
                {
                    "name": "RuleAction.FailureRate",
                    "numerator": ["Failure"],
                    "dimensions": {
                        "RuleName": [f"deliver_{i:04d}" for i in range(SHARES)],
                        "ActionType": "Kinesis",
                    },
                }
            ],
        },
        "frequency": {"evaluation": "rate(5 minutes)", "baseline_refresh": "rate(1 day)"},
        "tools": {"dashboard": False},
        "notify": {
            "topics": [{"name": "oncall", "subscribers": [{"email": "oncall@example.com"}]}],
            "routes": [{"topic": "oncall"}],
        },
    }


@pytest.fixture(scope="module")
def share_heavy() -> Plan:
    return Plan.model_validate(share_heavy_plan_data())


def test_the_plan_is_fewer_series_than_a_shard_but_more_queries(share_heavy: Plan) -> None:
    series = expand_series(share_heavy)
    assert len(series) == PLAIN + SHARES == 1_500 < DEFAULT_SHARD_SIZE
    assert sum(query_weight(s) for s in series) == PLAIN + 2 * SHARES == 2_100
    assert fans_out(series, DEFAULT_SHARD_SIZE)
    assert not fans_out(series, 2_100)  # exactly one invocation's worth stays in one
    assert may_fan_out(series, expand_templates(share_heavy), share_heavy.frequency.shard_size)


def test_a_plan_with_star_metrics_may_fan_out_whatever_its_named_series() -> None:
    plan = Plan.model_validate(
        {
            **share_heavy_plan_data(),
            "resources": {"metrics": [{"metric": "TopicMatch", "dimensions": {"RuleName": "*"}}]},
        }
    )
    templates = expand_templates(plan)
    assert templates and not expand_series(plan)
    assert may_fan_out([], templates, DEFAULT_SHARD_SIZE)
    assert not may_fan_out([], [], DEFAULT_SHARD_SIZE)


def test_the_cost_estimate_pays_for_the_work_queues_the_stack_makes(share_heavy: Plan) -> None:
    workload = measure_workload(share_heavy, Assumptions(), series_factor=1, discovered=[])
    assert workload.eval_queue and workload.build_queue
    assert len(workload.eval_shards) == 2


# --- both handlers, in-process, on the compiled plan.json ----------------------------------------


@dataclass
class RecordingQueue:
    bodies: list[str]

    def send(self, bodies: Sequence[str]) -> int:
        self.bodies += bodies
        return len(bodies)


class FanoutFakeStore(FakeStore):
    """FakeStore with the fan-out and build-shard records a dispatch writes."""

    def __init__(self) -> None:
        super().__init__()
        self.fanouts: dict[int, int] = {}
        self.builds: dict[str, int] = {}

    def start_fanout(self, window_end: int, shards: int) -> None:
        self.fanouts[window_end] = shards

    def fanout_shards(self, window_end: int) -> int | None:
        return self.fanouts.get(window_end)

    def start_build(self, generation: str, shards: int, *, expires_at: int) -> None:
        self.builds[generation] = shards

    def build_shards(self, generation: str) -> int | None:
        return self.builds.get(generation)


def _clear_caches() -> None:
    evaluator.setup.reset()
    baseline_builder.setup.reset()


@pytest.fixture
def deployed(share_heavy: Plan, tmp_path, monkeypatch):
    write_runtime_plan(share_heavy, tmp_path)
    monkeypatch.setenv("IOTWATCH_TABLE", "iotwatch-share-heavy-state")
    monkeypatch.setenv(
        "IOTWATCH_TOPICS",
        json.dumps({"oncall": "arn:aws:sns:eu-west-1:123456789012:iotwatch-share-heavy-oncall"}),
    )
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("IOTWATCH_PLAN_FILE", raising=False)
    monkeypatch.delenv("IOTWATCH_DASHBOARD", raising=False)
    _clear_caches()
    yield
    _clear_caches()


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def test_the_evaluator_fans_the_tick_out_and_reads_nothing_itself(deployed) -> None:
    queue, reader = RecordingQueue([]), FakeReader()
    deps = evaluator.EvaluatorDependencies(
        reader=reader, store=FanoutFakeStore(), notifier=FakeNotifier(), queue=queue
    )
    result = evaluator.handler(
        _event("evaluator-schedule"), LocalLambdaContext(function_name="IotWatch-ShareHeavy-Evaluator"), deps
    )
    assert result["series"] == 1_500 and result["shards"] == 2
    tasks = [ShardTask.from_body(b) for b in queue.bodies]
    assert [(t.shard, t.shards) for t in tasks] == [(0, 2), (1, 2)]
    assert reader.requests == []


def test_the_builder_fans_the_build_out(deployed) -> None:
    queue, reader = RecordingQueue([]), FakeReader()
    deps = baseline_builder.BuilderDependencies(reader=reader, store=FanoutFakeStore(), queue=queue)
    result = baseline_builder.handler(
        _event("baseline-refresh-schedule"),
        LocalLambdaContext(function_name="IotWatch-ShareHeavy-Evaluator"),
        deps,
    )
    # its limit is smaller (656: 21 days read, slow change's extra week included): 2,100 / 656
    assert result["shards"] == 4
    assert [BuildTask.from_body(b).shards for b in queue.bodies] == [4] * 4
    assert reader.requests == []
