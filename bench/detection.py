"""Detection quality on a simulated fleet with labelled incidents.

Every scenario simulates the nine baseline metrics for 14 days of warm-up history plus 14
evaluated days, then replays each series through `iotwatch.service.replay.replay` (the
evaluator's own scoring and alert-state code, baselines rebuilt daily from the history
before each instant). Normal life is part of the data: daily and weekly rhythm, Poisson
noise, quiet nights, growth, a planned rollout and a small sparse fleet; none of that is
labelled, so any alert there is false.

Reported per incident kind: recall (an alert on an affected series during the incident),
median time to detect in evaluation periods (the tick after the alerting period, counted
from the incident start), and false alerts (alert onsets outside every incident) per
series-week.
"""

from __future__ import annotations

import argparse
import calendar
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from iotwatch.domain.ratios import attempts_of, combine, metric_queries, query_key
from iotwatch.domain.series import Series
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan
from iotwatch.service.replay import ReplayPoint, replay

from iotwatch_local.traffic import DAY, Fleet, FleetChange, Incident, generate

HOUR = 3600
EVAL_START = calendar.timegm((2026, 3, 2, 0, 0, 0))  # a Monday
WARMUP_DAYS = 14
EVAL_DAYS = 14
PERIOD = 300
GRACE = 2 * HOUR  # alerts this long after an incident ends belong to it (recovery, reconnects)

DEVICE_METRICS = (
    "Connect.Success",
    "Ping.Success",
    "PublishIn.Success",
    "PublishOut.Success",
    "Subscribe.Success",
    "GetThingShadow.Accepted",
    "UpdateThingShadow.Accepted",
    "RulesExecuted",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    fleet: Fleet
    incidents: tuple[Incident, ...] = ()


@dataclass
class KindStats:
    incidents: int = 0
    detected: int = 0
    periods_to_detect: list[int] = field(default_factory=list)


def incident_times(day_offsets: Sequence[float]) -> list[int]:
    return [EVAL_START + int(d * DAY) for d in day_offsets]


def scenarios() -> list[Scenario]:
    # Incidents at different hours and weekdays, day and night, weekday and weekend.
    when = [0.55, 2.40, 4.62, 6.45, 8.70, 10.35, 12.58]
    out: list[Scenario] = [
        Scenario("steady", Fleet(devices=4000, seed=11)),
        Scenario("growth-1pct-day", Fleet(devices=3000, seed=12, daily_growth=0.01, growth_epoch=EVAL_START)),
        Scenario(
            "planned-rollout",
            Fleet(devices=3000, seed=13, changes=(FleetChange(EVAL_START + 5 * DAY, 4 * DAY, 1.5),)),
        ),
        Scenario("small-sparse-fleet", Fleet(devices=60, seed=14)),
    ]

    def kind(
        name: str, seed: int, duration: int, metrics: tuple[str, ...], factor: float, **extra: object
    ) -> None:
        incidents = tuple(
            Incident(t, t + duration, metrics, factor, description=name, kind=name, **extra)  # type: ignore[arg-type]
            for t in incident_times(when)
        )
        out.append(Scenario(name, Fleet(devices=4000, seed=seed), incidents))

    kind("broker-outage", 21, 30 * 60, DEVICE_METRICS, 0.0)
    kind("partial-connectivity-loss", 22, 60 * 60, DEVICE_METRICS, 0.6)
    kind("reconnect-storm", 23, 20 * 60, ("Connect.Success", "Subscribe.Success"), 5.0, reconnect_burst=False)
    kind(
        "shadow-update-storm",
        24,
        30 * 60,
        ("UpdateThingShadow.Accepted", "GetThingShadow.Accepted"),
        4.0,
        reconnect_burst=False,
    )
    kind("rules-engine-stall", 25, 45 * 60, ("RulesExecuted",), 0.1, reconnect_burst=False)
    kind(
        "slow-degradation",
        26,
        4 * HOUR,
        ("PublishIn.Success", "PublishOut.Success", "RulesExecuted"),
        0.4,
        ramp_seconds=3 * HOUR,
        reconnect_burst=False,
    )
    return out


def evaluate(plan_path: str) -> dict[str, object]:
    plan = load_plan(plan_path)
    series = expand_series(plan)
    refresh = 86400
    results: dict[str, object] = {}
    kinds: dict[str, KindStats] = {}
    false_total = 0
    series_weeks = 0.0
    rows_total = 0
    started = time.perf_counter()
    for scenario in scenarios():
        k_stats, false_alerts, rows, n_series = run_scenario_detailed(
            scenario, series, history_days=plan.frequency.history_days, refresh=refresh
        )
        rows_total += rows
        false_total += false_alerts
        series_weeks += n_series * EVAL_DAYS / 7
        results[scenario.name] = {
            "false_alerts": false_alerts,
            **{
                kind: {
                    "incidents": s.incidents,
                    "detected": s.detected,
                    "periods_to_detect": s.periods_to_detect,
                }
                for kind, s in k_stats.items()
            },
        }
        for kind, s in k_stats.items():
            total = kinds.setdefault(kind, KindStats())
            total.incidents += s.incidents
            total.detected += s.detected
            total.periods_to_detect += s.periods_to_detect
    elapsed = time.perf_counter() - started
    summary: dict[str, object] = {}
    all_detected = all_incidents = 0
    all_ttd: list[int] = []
    for kind, s in kinds.items():
        summary[f"{kind}.recall"] = round(s.detected / s.incidents, 3) if s.incidents else None
        summary[f"{kind}.median_periods_to_detect"] = (
            statistics.median(s.periods_to_detect) if s.periods_to_detect else None
        )
        all_detected += s.detected
        all_incidents += s.incidents
        all_ttd += s.periods_to_detect
    summary["all.recall"] = round(all_detected / all_incidents, 3) if all_incidents else None
    summary["all.median_periods_to_detect"] = statistics.median(all_ttd) if all_ttd else None
    summary["false_alerts_per_series_week"] = round(false_total / series_weeks, 4)
    summary["false_alerts"] = false_total
    summary["series_weeks"] = round(series_weeks, 1)
    summary["replay_rows_per_second"] = round(rows_total / elapsed)
    return {"summary": summary, "scenarios": results}


def run_scenario_detailed(
    scenario: Scenario, series: Sequence[Series], *, history_days: int, refresh: int
) -> tuple[dict[str, KindStats], int, int, int]:
    start = EVAL_START - WARMUP_DAYS * DAY
    end = EVAL_START + EVAL_DAYS * DAY
    data: dict[str, list[tuple[int, float]]] = {query_key(q): [] for q in metric_queries(series)}
    for q, ts, count in generate(scenario.fleet, series, start=start, end=end, incidents=scenario.incidents):
        data[query_key(q)].append((ts, float(count)))
    read = combine(series, data)  # a share of attempts from its parts, as the reader gives it
    onsets_by_metric: dict[str, list[int]] = {}
    rows = 0
    false_alerts = 0
    for s in series:
        values, attempts = dict(read[s.id]), attempts_of(s, read) or {}
        points = [ReplayPoint(ts, values.get(ts), attempts.get(ts)) for ts in range(start, end, PERIOD)]
        previous = False
        onsets: list[int] = []
        for result in replay(points, series=s, history_days=history_days, refresh_seconds=refresh):
            rows += 1
            if result.alert and not previous and result.ts >= EVAL_START:
                onsets.append(result.ts)
            previous = result.alert
        onsets_by_metric[s.metric] = onsets
        affected = [i for i in scenario.incidents if s.metric in i.metrics]
        false_alerts += sum(1 for o in onsets if not any(i.start <= o < i.end + GRACE for i in affected))
    stats: dict[str, KindStats] = {}
    for incident in scenario.incidents:
        k = stats.setdefault(incident.kind, KindStats())
        k.incidents += 1
        hits = [
            o
            for metric in incident.metrics
            for o in onsets_by_metric.get(metric, [])
            if incident.start <= o < incident.end
        ]
        if hits:
            k.detected += 1
            k.periods_to_detect.append((min(hits) + PERIOD - incident.start) // PERIOD)
    return stats, false_alerts, rows, len(series)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plan", default="monitoring-plan.yaml")
    parser.add_argument("--out", default="out/bench/detection.json")
    args = parser.parse_args()
    report = evaluate(args.plan)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, value in report["summary"].items():  # type: ignore[union-attr]
        print(f"detection.{name}: {value}")


if __name__ == "__main__":
    main()
