"""`iotwatch score` throughput as a user runs it: rows per second for the whole process
(start-up, parsing, the daily baseline rebuilds, judging every row, writing the output), the
fastest of several runs, since a shared machine only ever slows a run down.

The CSV is a year of simulated 5-minute PublishIn.Success (100,000 rows).
"""

from __future__ import annotations

import calendar
import io
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan

from iotwatch_local.traffic import Fleet, generate

ROWS = 100_000


def make_csv(plan_path: str, rows: int) -> str:
    series = [s for s in expand_series(load_plan(plan_path)) if s.metric == "PublishIn.Success"][:1]
    start = calendar.timegm((2026, 1, 5, 0, 0, 0))
    counts = {ts: c for _, ts, c in generate(Fleet(seed=3), series, start=start, end=start + rows * 300)}
    out = io.StringIO()
    out.write("timestamp,value\n")
    for ts in range(start, start + rows * 300, 300):
        out.write(f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M:%S},{counts.get(ts, '')}\n")
    return out.getvalue()


def measure(plan_path: str = "monitoring-plan.yaml", runs: int = 3, rows: int = ROWS) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        source, scored = Path(tmp) / "series.csv", Path(tmp) / "scored.csv"
        source.write_text(make_csv(plan_path, rows), encoding="utf-8")
        command = [sys.executable, "-m", "iotwatch_cli.main", "score", "--plan", plan_path, str(source)]
        timings = []
        for _ in range(runs):
            with scored.open("w", encoding="utf-8") as out:
                started = time.perf_counter()
                subprocess.run(command, stdout=out, check=True)
                timings.append(time.perf_counter() - started)
            assert scored.read_text(encoding="utf-8").count("\n") == rows + 1
    fastest = min(timings)
    return {
        "rows": rows,
        "runs": runs,
        "whole_process_seconds": round(fastest, 3),
        "rows_per_second": round(rows / fastest),
    }


if __name__ == "__main__":
    for name, value in measure().items():
        print(f"score.{name}: {value}")
