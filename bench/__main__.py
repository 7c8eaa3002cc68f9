"""`make bench`: every figure as one `name: value` line, all of them in out/bench.json."""

from __future__ import annotations

import argparse
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from bench import cold_start, detection, evaluator_scale, fanout_scale, real_data, score_speed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--plan", default="monitoring-plan.yaml")
    parser.add_argument("--out", default="out/bench.json")
    parser.add_argument(
        "--full-memory",
        action="store_true",
        help="tracemalloc peaks for the single-invocation evaluator figures too (adds a minute)",
    )
    args = parser.parse_args()
    figures: dict[str, object] = {}
    speed = score_speed.measure(args.plan)
    figures.update({f"score.{k}": v for k, v in speed.items()})
    figures.update({f"cold_start.{k}": v for k, v in cold_start.measure().items()})
    for name, value in figures.items():
        print(f"{name}: {value}", flush=True)
    quality = detection.evaluate(args.plan)
    for name, value in cast(dict[str, object], quality["summary"]).items():
        figures[f"detection.{name}"] = value
        print(f"detection.{name}: {value}", flush=True)
    for name, value in real_data.measure(args.plan).items():
        figures[f"real_data.{name}"] = value
        print(f"real_data.{name}: {value}", flush=True)
    trace_up_to = 10**9 if args.full_memory else evaluator_scale.TRACE_UP_TO
    scale = {
        "evaluator": lambda: {
            **evaluator_scale.measure(args.plan, trace_up_to=trace_up_to),
            # after an outage: the plan's whole catch-up span at one full shard of series
            **evaluator_scale.measure_catch_up(args.plan),
        },
        # the evaluator and the baseline builder fanned out at 10,000 and 100,000 series
        "fanout": lambda: fanout_scale.measure(args.plan),
    }
    for prefix, measure in scale.items():
        for name, value in measure().items():
            figures[f"{prefix}.{name}"] = value
            print(f"{prefix}.{name}: {value}", flush=True)
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "figures": figures,
        "detection_scenarios": quality["scenarios"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
