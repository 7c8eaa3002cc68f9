"""One iotwatch function run as Lambda would run it on canned AWS, for the scale benches: its
staged plan.json and environment, its handler module after a cold start, an invocation
measured (our CPU less the canned clients', wall time, RSS growth, the bytes it logs), the
memory of its container at rest, and the figures each invocation is reported by."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from iotwatch.domain.times import iso_z as iso
from iotwatch.plan.cost.deployment import (
    BASELINE_BUILDER,
    DURATION_ALARM_FRACTION,
    EVALUATOR,
    FunctionSize,
    cpu_share,
)
from iotwatch.plan.runtime import RuntimePlan, runtime_plan_record

from bench.canned_aws import CannedAws
from bench.measure import Measurement, mb, measured
from iotwatch_local.lambda_runtime import LocalLambdaContext, cold_start, function_environment, logs_into

REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/iotwatch-bench-shards"
# Assumed latencies of one call from Lambda in the same region, for the duration estimate.
LATENCY_SECONDS = {"cloudwatch.": 0.3, "dynamodb.": 0.01, "sqs.": 0.02, "sns.": 0.05}
HANDLERS = {
    "evaluator": ("iotwatch.handlers.evaluator", "iotwatch-evaluator", EVALUATOR),
    "builder": ("iotwatch.handlers.baseline_builder", "iotwatch-baseline-builder", BASELINE_BUILDER),
}


def write_plan(plan: RuntimePlan, directory: Path) -> Path:
    """plan.json as infra.staging stages it."""
    path = directory / "plan.json"
    path.write_text(json.dumps(runtime_plan_record(plan)), encoding="utf-8")
    return path


def environment(plan_file: Path, service: str, table: str, topics: Mapping[str, str]) -> dict[str, str]:
    return {
        "IOTWATCH_TABLE": table,
        "IOTWATCH_TOPICS": json.dumps(dict(topics)),
        "IOTWATCH_PLAN_FILE": str(plan_file),
        "IOTWATCH_WORK_QUEUE": QUEUE_URL,
        "LAMBDA_TASK_ROOT": str(plan_file.parent),
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_METRICS_NAMESPACE": "IotWatch/fleet",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }


def handler_module(name: str, environ: Mapping[str, str]) -> ModuleType:
    """The handler module, imported inside the function's environment, its caches cleared (a
    new deployment: settings and plan are read again)."""
    import importlib

    with function_environment(environ):
        module = importlib.import_module(name)
    cold_start(module)
    return module


@dataclass(frozen=True)
class Invocation:
    result: Any
    measurement: Measurement
    canned_cpu_seconds: float
    calls: dict[str, int]
    log_bytes: int

    def count(self, prefix: str) -> int:
        return sum(n for op, n in self.calls.items() if op.startswith(prefix))

    @property
    def own_cpu_seconds(self) -> float:
        return self.measurement.cpu_seconds - self.canned_cpu_seconds

    def lambda_seconds(self, size: FunctionSize) -> float:
        """Our CPU at the function's vCPU share, plus each AWS call at its assumed latency."""
        waiting = sum(self.count(prefix) * latency for prefix, latency in LATENCY_SECONDS.items())
        return self.own_cpu_seconds / cpu_share(size.memory_mb) + waiting


def invoke(
    module: ModuleType, environ: Mapping[str, str], event: Any, deps: Any, aws: CannedAws
) -> Invocation:
    """One invocation as Lambda makes it; what it logs (Powertools' logger and the metrics
    document it prints) is counted as CloudWatch Logs would ingest it."""
    logs = io.StringIO()
    context = LocalLambdaContext(
        function_name=environ["POWERTOOLS_SERVICE_NAME"],
        memory_limit_in_mb=HANDLERS_BY_SERVICE[environ["POWERTOOLS_SERVICE_NAME"]].memory_mb,
        aws_request_id="bench",
    )
    aws.meter.reset()
    with function_environment(environ), contextlib.redirect_stdout(logs), logs_into(logs, module):
        result, measurement = measured(lambda: module.handler(event, context, deps))
    if os.environ.get("BENCH_SHOW_LOGS"):
        print(logs.getvalue(), file=sys.stderr)
    return Invocation(
        result, measurement, aws.meter.cpu_seconds, dict(aws.meter.calls), len(logs.getvalue().encode())
    )


HANDLERS_BY_SERVICE = {service: size for _, service, size in HANDLERS.values()}


def container_rss_mb(module: str, environ: Mapping[str, str], clients: Sequence[str]) -> tuple[float, float]:
    """(RSS at rest, peak RSS so far) of a container: a fresh interpreter that imported the
    handler, created its clients and loaded the plan (what a warm Lambda holds before an
    invocation; the peak is the plan's JSON being read at the cold start)."""
    code = (
        f"import {module} as m, boto3\n"
        f"[boto3.client(s) for s in {list(clients)!r}]\n"
        "m.setup.settings().plan\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print(status['VmRSS'].split()[0], status['VmHWM'].split()[0])\n"
    )
    env = {**os.environ, **environ}
    env.pop("AWS_ENDPOINT_URL", None)
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    rss, peak = output.stdout.strip().splitlines()[-1].split()
    return round(int(rss) / 1024, 1), round(int(peak) / 1024, 1)


def load_plan_in(module: ModuleType, environ: Mapping[str, str]) -> Measurement:
    """The cold start's plan load (plan.json into Series), measured apart from the invocations."""
    with function_environment(environ):
        _, measurement = measured(lambda: module.setup.settings().plan)
    return measurement


def scheduled_event(ts: float) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"bench-{int(ts)}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": iso(int(ts)),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/bench"],
        "detail": {},
    }


def container_figures(rest: tuple[float, float], load: Measurement, size: FunctionSize) -> dict[str, object]:
    return {
        "container_at_rest_mb": rest[0],
        "cold_start_peak_mb": rest[1],
        "plan_load_ms": round(load.cpu_seconds * 1000, 1),
        "plan_load_est_lambda_seconds": round(load.cpu_seconds / cpu_share(size.memory_mb), 2),
    }


def invocation_figures(
    prefix: str, inv: Invocation, size: FunctionSize, rest: tuple[float, float]
) -> dict[str, object]:
    """An invocation's figures; its memory is the container at rest plus what the call grew by
    (or the cold start's peak, if higher)."""
    rss = mb(inv.measurement.rss_peak_bytes)
    seconds = inv.lambda_seconds(size)
    memory = None if rss is None else round(max(rest[0] + rss, rest[1]), 1)
    return {
        f"{prefix}.get_metric_data_calls": inv.count("cloudwatch.GetMetricData"),
        f"{prefix}.dynamodb_requests": inv.count("dynamodb."),
        f"{prefix}.sqs_requests": inv.count("sqs."),
        f"{prefix}.cpu_ms": round(inv.own_cpu_seconds * 1000, 1),
        f"{prefix}.wall_ms": round(inv.measurement.wall_seconds * 1000, 1),
        f"{prefix}.rss_growth_mb": rss,
        f"{prefix}.memory_mb": memory,
        f"{prefix}.memory_limit_mb": size.memory_mb,
        f"{prefix}.est_lambda_seconds": round(seconds, 2),
        f"{prefix}.duration_alarm_seconds": size.timeout_seconds * DURATION_ALARM_FRACTION,
        f"{prefix}.within_limits": (memory is None or memory <= size.memory_mb)
        and seconds <= size.timeout_seconds * DURATION_ALARM_FRACTION,
        f"{prefix}.log_bytes": inv.log_bytes,
    }
