"""Series and synthetic history for the scale benches (evaluator_scale, fanout_scale).

N series are built the way a plan expands them (metric x dimension values): the plan's
device metrics per Protocol, RulesExecuted, then per topic rule TopicMatch{RuleName} and
Success/Failure{ActionType, RuleName} (and, with `shares`, the rule action's failure share
over the two, for rules busy enough to make 100 runs a period), until there are N. Their traffic comes from
`iotwatch_local.traffic` (daily and weekly rhythm, Poisson noise, sparse series); series
of the same kind, size class and variant share one history (a "profile"), so 10,000 series
do not need 10,000 simulations.
"""

from __future__ import annotations

import calendar
import json
import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from iotwatch.adapters.store.series_items import BASELINE_SK, series_pk
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.baseline.model import Baseline
from iotwatch.domain.evaluation import Window, evaluate_series
from iotwatch.domain.likelihood import TrackerState
from iotwatch.domain.ratios import shares
from iotwatch.domain.series import DetectionSettings, Ratio, Series

from bench.canned_dynamodb import CannedDynamoDB
from iotwatch_local.traffic import Fleet, generate, poisson

NAMESPACE = "AWS/IoT"
PERIOD = 300
DAY = 86400
HISTORY_DAYS = 14
TRAINED_TO = calendar.timegm((2026, 3, 16, 0, 0, 0))  # a Monday, 00:00 UTC: the last rebuild
VARIANTS = 4  # independent noise draws per profile kind

MQTT_METRICS = (
    "Connect.Success",
    "Ping.Success",
    "PublishIn.Success",
    "PublishOut.Success",
    "Subscribe.Success",
    "GetThingShadow.Accepted",
    "UpdateThingShadow.Accepted",
    "DeleteThingShadow.Accepted",
)
HTTP_METRICS = ("PublishIn.Success", "GetThingShadow.Accepted", "UpdateThingShadow.Accepted")
ACTION_TYPES = ("Lambda", "Kinesis", "DynamoDBv2", "S3")
RULE_SIZES = (3000, 800, 150, 30)  # devices whose messages a rule matches, by size class
FAILURE_SHARE = 1 / 500  # Failure counts relative to the rule's traffic


@dataclass(frozen=True)
class Profile:
    """Traffic shape of a series: `metric` picks the per-device rate (unknown metrics get
    1 per online device and period), `devices` the fleet size."""

    metric: str
    devices: float
    variant: int

    @property
    def fleet(self) -> Fleet:
        seed = zlib.crc32(f"{self.metric}|{self.devices:.3f}|{self.variant}".encode()) & 0xFFFF
        return Fleet(devices=max(1, round(self.devices)), seed=seed)


@dataclass(frozen=True)
class ScaleSeries:
    series: Series
    profile: Profile
    parts: tuple[Profile, Profile] | None = None  # a share: the (Success, Failure) it reads


RULE_FAILURE_SHARE = Ratio(("Failure",), ("Success", "Failure"), 100.0, "Failure", "rule action runs")


def scale_series(n: int, detection: DetectionSettings, *, shares: bool = False) -> list[ScaleSeries]:
    """The first `n` series of a large plan, in plan order."""

    def make(metric: str, dims: Sequence[tuple[str, str]]) -> Series:
        return Series(NAMESPACE, metric, tuple(sorted(dims)), "Sum", PERIOD, detection)

    out: list[ScaleSeries] = []
    index = 0
    for metric in MQTT_METRICS:
        out.append(ScaleSeries(make(metric, [("Protocol", "MQTT")]), Profile(metric, 4000, index % VARIANTS)))
        index += 1
    for metric in HTTP_METRICS:
        out.append(ScaleSeries(make(metric, [("Protocol", "HTTP")]), Profile(metric, 600, index % VARIANTS)))
        index += 1
    out.append(ScaleSeries(make("RulesExecuted", []), Profile("RulesExecuted", 4000, 0)))
    rule = 0
    while len(out) < n:
        rule += 1
        name = f"fleet_rule_{rule:05d}"
        size = RULE_SIZES[rule % len(RULE_SIZES)]
        variant = (rule // len(RULE_SIZES)) % VARIANTS
        action = ACTION_TYPES[rule % len(ACTION_TYPES)]
        out.append(
            ScaleSeries(make("TopicMatch", [("RuleName", name)]), Profile("TopicMatch", size, variant))
        )
        out.append(
            ScaleSeries(
                make("Success", [("RuleName", name), ("ActionType", action)]),
                Profile("Success", size, variant),
            )
        )
        out.append(
            ScaleSeries(
                make("Failure", [("RuleName", name), ("ActionType", action)]),
                Profile("Failure", size * FAILURE_SHARE, variant),
            )
        )
        if shares and size >= 150:
            share = make("RuleAction.FailureRate", [("RuleName", name), ("ActionType", action)])
            share = replace(share, detection=replace(detection, missing_data="ignore", direction="up"))
            out.append(
                ScaleSeries(
                    replace(share, ratio=RULE_FAILURE_SHARE),
                    out[-1].profile,
                    (out[-2].profile, out[-1].profile),
                )
            )
    return out[:n]


def history_window() -> tuple[int, int]:
    return TRAINED_TO - HISTORY_DAYS * DAY, TRAINED_TO


@cache
def profile_history(profile: Profile) -> tuple[tuple[int, float], ...]:
    """14 days of 5-minute datapoints before TRAINED_TO (none for periods without traffic)."""
    start, end = history_window()
    rep = Series(NAMESPACE, profile.metric, (), "Sum", PERIOD, _ANY_DETECTION)
    return tuple((ts, float(count)) for _, ts, count in generate(profile.fleet, [rep], start=start, end=end))


def window_points(
    profile: Profile, *, start: int, end: int, rng: random.Random, factor: float = 1.0
) -> list[tuple[int, float]]:
    """Fresh datapoints for [start, end): the profile's expected traffic with Poisson noise,
    times `factor` (an injected deviation)."""
    fleet = profile.fleet
    points = []
    for ts in range(start, end, PERIOD):
        count = poisson(rng, fleet.expected_count(profile.metric, ts) * factor)
        if count > 0:
            points.append((ts, float(count)))
    return points


def expected_at(profile: Profile, ts: int) -> float:
    return profile.fleet.expected_count(profile.metric, ts)


@cache
def profile_baseline(profile: Profile) -> Baseline:
    """The baseline `build_baseline` learns from the profile's 14 days of history."""
    start, end = history_window()
    return build_baseline(
        series_id=f"profile:{profile.metric}:{profile.devices:g}:{profile.variant}",
        points=profile_history(profile),
        start=start,
        end=end,
        period=PERIOD,
        built_at=end + 600,
        version=12,
    )


@cache
def share_history(parts: tuple[Profile, Profile]) -> tuple[tuple[tuple[int, float], ...], dict[int, float]]:
    """A rule action's failure share over the two profiles' history, and its attempts."""
    points, attempts = shares(
        RULE_FAILURE_SHARE, {"Success": profile_history(parts[0]), "Failure": profile_history(parts[1])}
    )
    return tuple(points), dict(attempts)


@cache
def share_baseline(parts: tuple[Profile, Profile]) -> Baseline:
    start, end = history_window()
    return build_baseline(
        series_id=f"share:{parts[0].devices:g}:{parts[0].variant}",
        points=share_history(parts)[0],
        start=start,
        end=end,
        period=PERIOD,
        built_at=end + 600,
        version=12,
        share=True,
    )


def baseline_of(member: ScaleSeries) -> Baseline:
    return share_baseline(member.parts) if member.parts is not None else profile_baseline(member.profile)


def seed_baselines(dynamodb: CannedDynamoDB, members: Sequence[ScaleSeries], *, samples: int = 5) -> None:
    """Stores each series' profile baseline under the series' key, exactly as
    `DynamoStateStore.baselines.put_baseline` writes it. The item is written by the real store once per
    profile and copied with the series id put in (serializing 10,000 records would only
    measure the set-up); `samples` series spread over the list are checked against a real write."""
    capture = CannedDynamoDB(dynamodb.table_name)
    writer = DynamoStateStore(capture, dynamodb.table_name)
    templates: dict[object, dict[str, Any]] = {}

    def written(baseline: Baseline) -> dict[str, Any]:
        writer.baselines.put_baseline(baseline)
        return capture.partitions[series_pk(baseline.series_id)][BASELINE_SK]

    for m in members:
        key = m.parts or m.profile
        template = templates.get(key)
        if template is None:
            template = templates[key] = written(baseline_of(m))
        item = _with_series_id(template, baseline_of(m).series_id, m.series.id)
        dynamodb.partitions.setdefault(item["pk"]["S"], {})[BASELINE_SK] = item
    for m in members[:: max(1, len(members) // samples)]:
        real = written(replace(baseline_of(m), series_id=m.series.id))
        assert dynamodb.partitions[series_pk(m.series.id)][BASELINE_SK] == real, m.series.id


@cache
def profile_tracker(profile: Profile) -> dict[str, Any]:
    """The likelihood tracker's record after the profile's last week of history, judged
    against its baseline the way the evaluator's ticks would have left it."""
    start, end = TRAINED_TO - 7 * DAY, TRAINED_TO
    series = Series(NAMESPACE, profile.metric, (), "Sum", PERIOD, _ANY_DETECTION)
    tracker = TrackerState()
    evaluate_series(
        series,
        datapoints=[p for p in profile_history(profile) if p[0] >= start],
        baseline=profile_baseline(profile),
        state=None,
        window=Window(start, end, PERIOD),
        tracker=tracker,
    )
    return tracker.to_record()


@cache
def share_tracker(parts: tuple[Profile, Profile]) -> dict[str, Any]:
    """profile_tracker for a share, judged with its attempts."""
    start, end = TRAINED_TO - 7 * DAY, TRAINED_TO
    series = Series(NAMESPACE, "share", (), "Sum", PERIOD, _ANY_DETECTION, ratio=RULE_FAILURE_SHARE)
    points, attempts = share_history(parts)
    tracker = TrackerState()
    evaluate_series(
        series,
        datapoints=[p for p in points if p[0] >= start],
        baseline=share_baseline(parts),
        state=None,
        window=Window(start, end, PERIOD),
        tracker=tracker,
        attempts=attempts,
    )
    return tracker.to_record()


def seed_trackers(dynamodb: CannedDynamoDB, members: Sequence[ScaleSeries]) -> None:
    """Every series' tracker as the previous ticks left it (one learnt per profile), so a
    measured tick is a steady one, not the first a new deployment makes."""
    writer = DynamoStateStore(dynamodb, dynamodb.table_name)
    by_profile: dict[object, TrackerState] = {}
    trackers = {}
    for m in members:
        key = m.parts or m.profile
        tracker = by_profile.get(key)
        if tracker is None:
            record = share_tracker(m.parts) if m.parts is not None else profile_tracker(m.profile)
            tracker = by_profile[key] = TrackerState.from_record(record)
        trackers[m.series.id] = tracker
    writer.series_state.save_trackers(trackers)


def _with_series_id(item: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    record = item["record"]["S"]
    needle = f'"series_id":{json.dumps(old)}'
    assert record.count(needle) == 1, record[:200]
    return {
        **item,
        "pk": {"S": series_pk(new)},
        "record": {"S": record.replace(needle, f'"series_id":{json.dumps(new)}')},
    }


def get_metric_data_floor(series: int, *, datapoints_per_series: int = 1) -> int:
    """Fewest GetMetricData calls the API allows: 500 queries and 100,800 datapoints a call, a
    series' datapoints in one call (21 days of 5-minute periods fit 16 series, not 16.7)."""
    by_queries = math.ceil(series / 500)
    by_datapoints = math.ceil(series / max(1, 100_800 // max(datapoints_per_series, 1)))
    return max(by_queries, by_datapoints)


_ANY_DETECTION = DetectionSettings(4.0, 7.0, 2, 2, 20.0, 0.2)
