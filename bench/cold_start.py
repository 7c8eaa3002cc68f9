"""Cold start: importing a handler module and creating the clients it uses, against
importing boto3 and creating exactly those clients (what any Python Lambda pays anyway).

Each figure is the median of fresh interpreter processes, the two sides interleaved; the
ratio is the median of each back-to-back pair's ratio (`ratio_of_medians` is also given), so
the load a shared machine happens to carry at a moment hits both sides of a pair alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import iotwatch

HANDLERS = {
    "evaluator": ("iotwatch.handlers.evaluator", ("cloudwatch", "dynamodb", "sns", "sqs")),
    "baseline_builder": ("iotwatch.handlers.baseline_builder", ("cloudwatch", "dynamodb", "sqs")),
    "audit": ("iotwatch.handlers.audit", ("dynamodb", "sns")),
    "band_widget": ("iotwatch.handlers.band_widget", ("cloudwatch", "dynamodb")),
}

_TIMER = """
import time, sys
t = time.perf_counter()
{body}
sys.stdout.write(repr(time.perf_counter() - t))
"""


def _run(body: str, env: dict[str, str]) -> float:
    output = subprocess.run(
        [sys.executable, "-X", "frozen_modules=on", "-c", _TIMER.format(body=body)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return float(output.strip().splitlines()[-1])


def _environment(task_root: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "IOTWATCH_TABLE": "iotwatch-bench",
            "IOTWATCH_TOPICS": json.dumps({"oncall-email": "arn:aws:sns:us-east-1:123456789012:bench"}),
            "LAMBDA_TASK_ROOT": task_root,
            "IOTWATCH_WORK_QUEUE": "https://sqs.us-east-1.amazonaws.com/123456789012/bench-shards",
            "POWERTOOLS_SERVICE_NAME": "iotwatch-bench",
            "POWERTOOLS_METRICS_NAMESPACE": "IotWatch",
            "PYTHONDONTWRITEBYTECODE": "",
            # the package imported from a directory on sys.path, as Lambda imports it from its
            # task root, not through the development install's editable finder (which costs
            # the handler side ~10 ms more and exists only in a checkout)
            "PYTHONPATH": str(Path(iotwatch.__file__).resolve().parent.parent),
        }
    )
    return env


def measure(runs: int = 9, plan_path: str = "monitoring-plan.yaml") -> dict[str, float]:
    from iotwatch.plan.loader import load_plan
    from iotwatch.plan.runtime import write_runtime_plan

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as task_root:
        write_runtime_plan(load_plan(plan_path), task_root)
        env = _environment(task_root)
        for name, (module, services) in HANDLERS.items():
            clients = "; ".join(f"boto3.client({s!r})" for s in services)
            reference = f"import boto3; {clients}"
            handler = f"import {module} as m; m.setup.settings(); m.setup.series() if m.setup.discovers else None; m.setup.dependencies()"
            _run(reference, env)  # warm the file cache for both sides
            _run(handler, env)
            ref_times, handler_times = [], []
            for _ in range(runs):
                ref_times.append(_run(reference, env))
                handler_times.append(_run(handler, env))
            ref, own = statistics.median(ref_times), statistics.median(handler_times)
            figures[f"{name}.boto3_clients_ms"] = round(ref * 1000, 1)
            figures[f"{name}.handler_ms"] = round(own * 1000, 1)
            # the median of each back-to-back pair's ratio: a pair shares the machine's load of
            # its moment, which on a shared machine drifts more than our import time differs
            pairs = [h / r for h, r in zip(handler_times, ref_times, strict=True)]
            figures[f"{name}.ratio"] = round(statistics.median(pairs), 3)
            figures[f"{name}.ratio_of_medians"] = round(own / ref, 3)
    return figures


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for key, value in measure().items():
        print(f"cold_start.{key}: {value}")
