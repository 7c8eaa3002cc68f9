"""Detection on real data: `iotwatch score` with the default plan on the labelled NAB series
in bench/realdata (see its README), with the on-call figures NAB's scorer prints for an
`alert` column: windows with an alert and false alert episodes per series-week."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from iotwatch_cli.main import main
from iotwatch_cli.series_csv import parse_timestamp

DATA = Path(__file__).parent / "realdata"
WEEK = 7 * 86400


@dataclass(frozen=True)
class FileFigures:
    windows: int
    windows_alerted: int
    false_episodes: int
    weeks: float
    first_alert_positions: tuple[float, ...]


def probation_rows(rows: int) -> int:
    """NAB does not score the first 15 % of a file, at most 750 rows."""
    return int(min(math.floor(0.15 * rows), 0.15 * 5000))


def oncall_figures(times: list[int], alerts: list[bool], windows: list[tuple[int, int]]) -> FileFigures:
    """As NAB's scorer counts them (`score_nab.oncall_figures`): probation rows never alert,
    an episode is a rising edge, a window is alerted when any alerting row lies inside it."""
    skip = probation_rows(len(times))
    alerting = [False] * skip + alerts[skip:]
    rising = [i for i, on in enumerate(alerting) if on and not (i and alerting[i - 1])]
    outside = sum(1 for i in rising if not any(a <= times[i] <= b for a, b in windows))
    positions = []
    for a, b in windows:
        inside = [t for t, on in zip(times, alerting, strict=True) if on and a <= t <= b]
        if inside:
            positions.append((inside[0] - a) / (b - a))
    weeks = (times[-1] - times[skip]) / WEEK if len(times) > skip else 0.0
    return FileFigures(len(windows), len(positions), outside, weeks, tuple(positions))


def score_file(path: Path, plan_path: str) -> tuple[list[int], list[bool], int]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["score", "--plan", plan_path, str(path)], out=out, err=err)
    assert code == 0, err.getvalue()
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    return [parse_timestamp(r[0]) for r in rows], [r[2] == "1" for r in rows], len(rows)


def measure(plan_path: str = "monitoring-plan.yaml") -> dict[str, object]:
    labels = json.loads((DATA / "windows.json").read_text(encoding="utf-8"))
    total = FileFigures(0, 0, 0, 0.0, ())
    rows = 0
    started = time.perf_counter()
    for name, spans in sorted(labels.items()):
        times, alerts, n = score_file(DATA / "data" / name, plan_path)
        rows += n
        windows = [(parse_timestamp(a), parse_timestamp(b)) for a, b in spans]
        f = oncall_figures(times, alerts, windows)
        total = FileFigures(
            total.windows + f.windows,
            total.windows_alerted + f.windows_alerted,
            total.false_episodes + f.false_episodes,
            total.weeks + f.weeks,
            total.first_alert_positions + f.first_alert_positions,
        )
    elapsed = time.perf_counter() - started
    return {
        "files": len(labels),
        "windows_alerted": f"{total.windows_alerted}/{total.windows}",
        "false_episodes_per_series_week": round(total.false_episodes / total.weeks, 3),
        "false_episodes": total.false_episodes,
        "series_weeks": round(total.weeks, 1),
        "median_first_alert_position": round(statistics.median(total.first_alert_positions), 2)
        if total.first_alert_positions
        else None,
        "rows": rows,
        "rows_per_second": round(rows / elapsed),
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.real_data")
    parser.add_argument("--plan", default="monitoring-plan.yaml")
    parser.add_argument("--folds", type=int, default=0, help="out-of-fold figures over this many folds")
    parser.add_argument(
        "--sensitivities", help="operating points (warning) the folds choose among, e.g. 3.5,4,4.5"
    )
    args = parser.parse_args()
    if args.folds:
        from bench import real_data_folds

        points = (
            [float(w) for w in args.sensitivities.split(",")]
            if args.sensitivities
            else real_data_folds.SENSITIVITIES
        )
        for key, value in real_data_folds.measure(args.plan, args.folds, points).items():
            print(f"real_data_folds.{key}: {value}", flush=True)
    else:
        for key, value in measure(args.plan).items():
            print(f"real_data.{key}: {value}")
