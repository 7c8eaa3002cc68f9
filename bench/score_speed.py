"""`iotwatch score` throughput: rows per second over a long CSV, median of several runs.

The CSV is a year of simulated 5-minute PublishIn.Success (100,000 rows); the figure
includes parsing, the daily baseline rebuilds and writing the output, but not process
start-up, so it measures our code rather than the interpreter.
"""

from __future__ import annotations

import calendar
import io
import statistics
import time
from datetime import UTC, datetime

from iotwatch.cli.main import main
from iotwatch.local.traffic import Fleet, generate
from iotwatch.plan.loader import expand_series, load_plan

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
    import sys

    text = make_csv(plan_path, rows)
    timings = []
    for _ in range(runs):
        stdin, sys.stdin = sys.stdin, io.StringIO(text)
        out = io.StringIO()
        try:
            started = time.perf_counter()
            code = main(["score", "--plan", plan_path, "-"], out=out)
            timings.append(time.perf_counter() - started)
        finally:
            sys.stdin = stdin
        assert code == 0 and out.getvalue().count("\n") == rows + 1
    median = statistics.median(timings)
    return {
        "rows": rows,
        "runs": runs,
        "median_seconds": round(median, 3),
        "rows_per_second": round(rows / median),
    }


if __name__ == "__main__":
    for name, value in measure().items():
        print(f"score.{name}: {value}")
