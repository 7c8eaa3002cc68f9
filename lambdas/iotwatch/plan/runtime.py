"""The plan as the Lambdas see it: compiled to JSON at synth time and shipped in the code asset.

Subscriber contacts are stripped: the functions publish to topics and never need an
address, so none travels into the asset or a log line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from iotwatch.plan.model import Plan

RUNTIME_PLAN_FILE = "plan.json"


def compile_runtime_plan(plan: Plan) -> dict[str, Any]:
    data = plan.model_dump(mode="json")
    for topic in data["notify"]["topics"]:
        topic["subscribers"] = []
    return data


def write_runtime_plan(plan: Plan, directory: str | Path) -> Path:
    path = Path(directory) / RUNTIME_PLAN_FILE
    path.write_text(json.dumps(compile_runtime_plan(plan), indent=1, sort_keys=True), encoding="utf-8")
    return path


def read_runtime_plan(path: str | Path) -> Plan:
    return Plan.model_validate_json(Path(path).read_text(encoding="utf-8"))
