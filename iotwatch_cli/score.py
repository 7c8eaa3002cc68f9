"""`iotwatch score FILE`: replay a metric exported as CSV through the plan's default detection
and print, for each row, the anomaly score and whether iotwatch would have alerted."""

from __future__ import annotations

import argparse
import csv
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from iotwatch.domain.series import Series
from iotwatch.plan.loader import DEFAULT_PLAN_FILE, PlanError
from iotwatch.plan.model.detection import Detection
from iotwatch.plan.model.frequency import Frequency
from iotwatch.plan.model.plan import Plan

from iotwatch_cli.errors import EXIT_BAD_INPUT, EXIT_OK
from iotwatch_cli.plan_file import plan_or_builtin

OUTPUT_BLOCK = 1000  # rows of `score` output per write
REPLAY_GC_THRESHOLD = 100_000  # allocations between young-generation collections while replaying


def cmd_score(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch.service.backtest import refresh_interval
    from iotwatch.service.replay import ReplayPoint, prebuilt_baselines, replay, snap_to_grid

    from iotwatch_cli.series_csv import CsvInputError, period_of, read_series_csv

    try:
        plan = score_plan(args.plan, err)
    except PlanError as exc:
        print(exc, file=err)
        return EXIT_BAD_INPUT
    warnings: list[str] = []
    try:
        if args.file == "-":
            rows = read_series_csv(sys.stdin, source="<stdin>", warnings=warnings)
        else:
            with open(args.file, encoding="utf-8", newline="") as handle:
                rows = read_series_csv(handle, source=args.file, warnings=warnings)
    except OSError as exc:
        print(f"{args.file}: cannot read: {exc.strerror}", file=err)
        return EXIT_BAD_INPUT
    except CsvInputError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_BAD_INPUT
    if args.period is not None and args.period <= 0:
        print("error: --period must be a positive number of seconds", file=err)
        return EXIT_BAD_INPUT
    period = period_of(rows, args.period, args.file if args.file != "-" else "<stdin>", warnings)
    for warning in warnings:
        print(warning, file=err)
    snapped, _ = snap_to_grid([r.ts for r in rows], period)
    series = score_series(plan, period)
    refresh = refresh_interval(plan.frequency)
    points = [ReplayPoint(ts, r.value) for ts, r in zip(snapped, rows, strict=True)]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "anomaly_score", "alert"])
    history_days, excluded = plan.frequency.history_days, plan.detection.excluded_windows
    with (
        few_collections(),
        prebuilt_baselines(
            points, series=series, history_days=history_days, refresh_seconds=refresh, excluded=excluded
        ) as prebuilt,
    ):
        replayed = replay(
            points,
            series=series,
            history_days=history_days,
            refresh_seconds=refresh,
            excluded=excluded,
            prebuilt=prebuilt,
        )
        # one write per row costs more than the row's judgement: lines go out in blocks
        block: list[str] = []
        for row, result in zip(rows, replayed, strict=True):
            block.append(f"{row.raw_timestamp},{result.anomaly_score:.4f},{1 if result.alert else 0}\n")
            if len(block) == OUTPUT_BLOCK:
                out.write("".join(block))
                block.clear()
        out.write("".join(block))
    return EXIT_OK


@contextmanager
def few_collections() -> Iterator[None]:
    """The replay allocates a few short-lived objects per row and makes no reference cycles:
    the garbage collector need not walk the parsed file (frozen) nor run every 700 allocations."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(REPLAY_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@dataclass(frozen=True)
class ScoringPlan:
    """What `score` takes from a plan: its default detection and how often baselines rebuild."""

    detection: Detection
    frequency: Frequency


def score_plan(path: str | None, err: TextIO) -> ScoringPlan:
    """The plan `--plan` names; without one, the plan file here, else the built-in defaults
    (said on stderr: iotwatch_cli.plan_file.plan_or_builtin)."""
    plan = plan_or_builtin(path, err, "scoring")
    if plan is None:
        return ScoringPlan(Detection(), Frequency())
    return ScoringPlan(plan.detection, plan.frequency)


def score_series(plan: Plan | ScoringPlan, period: int) -> Series:
    """The series a CSV replays as: the plan's default detection, at the CSV's period."""
    from iotwatch.plan.expand import unlisted_detection

    return Series(
        namespace="csv",
        metric="value",
        dimensions=(),
        statistic="Sum",
        period=period,
        detection=unlisted_detection(plan.detection, "value"),
    )


def register(commands: Any) -> None:
    """Registers `score` on the top-level subparsers."""
    score = commands.add_parser(
        "score", help="replay a metric exported as CSV: what would iotwatch have said at each row?"
    )
    score.add_argument(
        "file",
        help="CSV of timestamp,value rows, under a header line or not (- for stdin); empty value: no datapoint",
    )
    score.add_argument(
        "--plan",
        default=None,
        help=f"plan whose default detection to use (default: {DEFAULT_PLAN_FILE} if present, else built-in)",
    )
    score.add_argument("--period", type=int, default=None, help="seconds per row (default: median spacing)")
    score.set_defaults(func=cmd_score)
