"""Ratio series in the domain: their parts, the shares computed from them, the baseline a share
learns, the sampling-noise floor and the volume gate it is judged with, and how it reads."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from botocore.stub import Stubber
from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.baseline.model import share_expectation, share_noise_floor
from iotwatch.domain.evaluation import Window, evaluate_series
from iotwatch.domain.likelihood import TrackerState
from iotwatch.domain.ratios import (
    attempts_key,
    attempts_of,
    combine,
    formula,
    metric_queries,
    parts,
    percent,
    query_key,
    query_weight,
    share_phrase,
    shares,
)
from iotwatch.domain.series import Ratio
from iotwatch.service.backtest import backtest_series, grid_points

from iotwatch_local.traffic import Fleet, poisson

from .fakes import AUTH_SHARE as AUTH
from .fakes import DAY, MONDAY, PERIOD, SHARE_DETECTION, flat_share_baseline, make_series, share_series
from .test_adapters import aws, result

CONNECT_OUTCOMES = AUTH.denominator


def auth_share(ratio: Ratio = AUTH):
    return share_series(ratio)


# --- parts and queries ---------------------------------------------------------------------------


def test_a_ratio_reads_each_metric_of_its_denominator_as_a_sum_with_its_dimensions():
    share = auth_share()
    assert [p.metric for p in parts(share)] == list(CONNECT_OUTCOMES)
    assert {(p.namespace, p.dimensions, p.statistic, p.period) for p in parts(share)} == {
        ("AWS/IoT", (("Protocol", "MQTT"),), "Sum", PERIOD)
    }
    assert query_weight(share) == 4
    assert parts(make_series("Connect.Success")) == (make_series("Connect.Success"),)


def test_a_metric_watched_on_its_own_and_in_a_share_is_one_query():
    success, share = make_series("Connect.Success"), auth_share()
    http_share = replace(share, dimensions=(("Protocol", "HTTP"),))
    queries = metric_queries([success, share, http_share])
    assert len(queries) == 8  # 4 per protocol; MQTT Connect.Success once
    assert len({query_key(q) for q in queries}) == 8
    # the same metric at another statistic is another query
    average = replace(success, statistic="Average")
    assert len(metric_queries([success, average])) == 2


def test_shares_need_min_denominator_attempts_and_count_a_missing_part_as_zero():
    by_metric = {
        "Connect.Success": [(0, 990.0), (300, 60.0), (600, 200.0)],
        "Connect.AuthError": [(0, 10.0), (300, 30.0)],  # none at 600: no traffic, zero
        "Connect.Throttle": [(900, 5.0)],
    }
    share_points, attempts = shares(AUTH, by_metric)
    assert share_points == [(0, 0.01), (600, 0.0)]  # 300 had 90 attempts: no share
    assert attempts == [(0, 1000.0), (300, 90.0), (600, 200.0), (900, 5.0)]


def test_combine_gives_each_series_its_points_and_a_ratio_its_attempts():
    success, share = make_series("Connect.Success"), auth_share()
    read = {query_key(q): [] for q in metric_queries([success, share])}
    read[query_key(success)] = [(0, 400.0)]
    read[query_key(parts(share)[1])] = [(0, 100.0)]
    data = combine([success, share], read)
    assert data[success.id] == [(0, 400.0)]
    assert data[share.id] == [(0, 0.2)]
    assert data[attempts_key(share.id)] == [(0, 500.0)]
    assert attempts_of(share, data) == {0: 500.0}
    assert attempts_of(success, data) is None


def test_the_reader_asks_once_for_each_part_in_one_call_and_returns_the_share():
    cloudwatch = aws("cloudwatch")
    success, share = make_series("Connect.Success"), auth_share()
    start, end = MONDAY, MONDAY + 2 * PERIOD
    reader = CloudWatchMetricReader(cloudwatch)
    with Stubber(cloudwatch) as stub:
        stub.add_response(
            "get_metric_data",
            {
                "MetricDataResults": [
                    result("m0", [(start, 700.0), (start + PERIOD, 50.0)]),  # Connect.Success
                    result("m1", [(start, 300.0)]),  # Connect.AuthError
                    result("m2", []),
                    result("m3", []),
                ]
            },
        )
        data = reader.read([success, share], start=start, end=end)
        stub.assert_no_pending_responses()
    assert reader.calls == 1
    assert data[success.id] == [(start, 700.0), (start + PERIOD, 50.0)]
    assert data[share.id] == [(start, 0.3)]  # 50 attempts at start + PERIOD: not enough for a share
    assert data[attempts_key(share.id)] == [(start, 1000.0), (start + PERIOD, 50.0)]


# --- the baseline of a share ---------------------------------------------------------------------


def test_a_share_baseline_is_a_gauge_that_skips_periods_without_a_share():
    start, end = MONDAY - 14 * DAY, MONDAY
    # a share of 2 % whenever there were enough attempts: every other hour only
    points = [(ts, 0.02) for ts in range(start, end, PERIOD) if (ts // 3600) % 2 == 0]
    shared = build_baseline(
        series_id="s", points=points, start=start, end=end, period=PERIOD, built_at=end, share=True
    )
    assert not shared.counts
    assert shared.level == 1.0
    # the hours without a share are not zero: every hour expects 2 %
    assert {round(shared.expectation_at(ts).expected, 6) for ts in range(end, end + DAY, 3600)} == {0.02}
    # read as a counter-style series, the gaps would be zeros pulling every odd hour down
    zeros = build_baseline(series_id="s", points=points, start=start, end=end, period=PERIOD, built_at=end)
    assert min(zeros.expectation_at(ts).expected for ts in range(end, end + DAY, 3600)) < 0.015


def test_a_share_baseline_of_a_fleet_that_doubles_keeps_the_share():
    """A share does not grow with the fleet: no fleet level, whatever the volumes did."""
    start, end = MONDAY - 14 * DAY, MONDAY
    points = [(ts, 0.5) for ts in range(start, end, PERIOD)]
    shared = build_baseline(
        series_id="s", points=points, start=start, end=end, period=PERIOD, built_at=end, share=True
    )
    assert shared.expectation_at(end).expected == pytest.approx(0.5)


def test_the_share_noise_floor_is_binomial_and_at_least_one_attempt():
    assert share_noise_floor(0.002, 4210) == pytest.approx(math.sqrt(0.002 * 0.998 * 4210) / 4210)
    assert share_noise_floor(0.002, 100) == pytest.approx(1 / 100)  # one attempt's worth
    assert share_noise_floor(0.5, 10_000) == pytest.approx(0.005)
    assert share_noise_floor(0.3, 0) == 0.0
    # a halved denominator widens the band by sqrt(2)
    assert share_noise_floor(0.01, 2000) / share_noise_floor(0.01, 4000) == pytest.approx(math.sqrt(2))


def test_share_expectation_only_widens_the_band():
    start, end = MONDAY - 14 * DAY, MONDAY
    rng = random.Random(3)
    points = [(ts, max(0.0, rng.gauss(0.01, 0.003))) for ts in range(start, end, PERIOD)]
    baseline = build_baseline(
        series_id="s", points=points, start=start, end=end, period=PERIOD, built_at=end, share=True
    )
    learnt = baseline.expectation_at(end)
    assert share_expectation(learnt, 1_000_000) == learnt  # plenty of attempts: the learnt spread
    few = share_expectation(learnt, 200)
    assert few.scale == pytest.approx(share_noise_floor(learnt.expected, 200))
    assert few.scale > learnt.scale
    assert share_expectation(learnt, None) == learnt


# --- judged like any series ----------------------------------------------------------------------


def _connects(fleet, start, end, *, share, volume=lambda ts: 1.0, rng):
    """Connect.Success and Connect.AuthError per period, the AuthError share `share(ts)`."""
    out: dict[str, list[tuple[int, float]]] = {"Connect.Success": [], "Connect.AuthError": []}
    for ts in range(start, end, PERIOD):
        lam = fleet.devices_at(ts) * fleet.online_fraction(ts) * 0.015 * volume(ts)
        ok, bad = poisson(rng, lam * (1 - share(ts))), poisson(rng, lam * share(ts))
        if ok:
            out["Connect.Success"].append((ts, float(ok)))
        if bad:
            out["Connect.AuthError"].append((ts, float(bad)))
    return out


def _firings(seed, *, share, volume=lambda ts: 1.0, days=2, normal=0.002, devices=40_000):
    """Replays `days` of 5-minute ticks of the AuthError share after 14 days at `normal`."""
    ratio = replace(AUTH, denominator=("Connect.Success", "Connect.AuthError"))
    series = auth_share(ratio)
    fleet, rng = Fleet(devices=devices), random.Random(seed)
    history, _ = shares(ratio, _connects(fleet, MONDAY - 14 * DAY, MONDAY, share=lambda ts: normal, rng=rng))
    baseline = build_baseline(
        series_id=series.id,
        points=history,
        start=MONDAY - 14 * DAY,
        end=MONDAY,
        period=PERIOD,
        built_at=MONDAY,
        share=True,
    )
    tracker = TrackerState()
    evaluate_series(
        series,
        datapoints=[p for p in history if p[0] >= MONDAY - 7 * DAY],
        baseline=baseline,
        state=None,
        window=Window(MONDAY - 7 * DAY, MONDAY, PERIOD),
        tracker=tracker,
    )
    points, attempts = shares(
        ratio, _connects(fleet, MONDAY, MONDAY + days * DAY, share=share, volume=volume, rng=rng)
    )
    values, tried = dict(points), dict(attempts)
    state, fired = None, []
    for end in range(MONDAY + 3 * PERIOD, MONDAY + days * DAY + PERIOD, PERIOD):
        window = Window(end - 3 * PERIOD, end, PERIOD)
        outcome = evaluate_series(
            series,
            datapoints=[(ts, values[ts]) for ts in window.period_starts if ts in values],
            baseline=baseline,
            state=state,
            window=window,
            tracker=tracker,
            attempts=tried,
        )
        state = outcome.state
        if outcome.transition is not None and outcome.transition.kind == "firing":
            fired.append(outcome.transition)
    return fired


OUTAGE_START = MONDAY + DAY + 13 * 3600


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_authorization_share_from_0_2_to_30_percent_pages_at_once(seed):
    fired = _firings(seed, share=lambda ts: 0.3 if OUTAGE_START <= ts < OUTAGE_START + 3600 else 0.002)
    [page] = fired
    assert page.since == OUTAGE_START
    assert page.severity == "critical"
    assert page.latest.actual == pytest.approx(0.3, abs=0.05)
    assert page.latest.attempts is not None and page.latest.attempts > 400


def test_connects_halving_overnight_with_the_share_unchanged_pages_nothing():
    """Ten fleets, three days each, half the connects from the first midnight on. Without the
    gates on a share (volume of what failed, change beyond chance) two of them page."""
    halved = [
        _firings(seed, share=lambda ts: 0.002, volume=lambda ts: 0.5 if ts >= MONDAY + DAY else 1.0, days=3)
        for seed in range(1, 11)
    ]
    assert [len(f) for f in halved] == [0] * 10


@pytest.mark.parametrize(("devices", "normal"), [(400_000, 0.01), (40_000, 0.05)])
def test_a_busier_fleet_with_a_higher_normal_share_pages_nothing_when_it_halves(devices, normal):
    """Where enough attempts fail for the volume gate, chance decides: the band's
    sampling-noise floor and the change-beyond-chance gate keep the noisier half fleet quiet."""
    halved = [
        _firings(
            seed,
            share=lambda ts: normal,
            volume=lambda ts: 0.5 if ts >= MONDAY + DAY else 1.0,
            days=3,
            normal=normal,
            devices=devices,
        )
        for seed in range(1, 6)
    ]
    assert [len(f) for f in halved] == [0] * 5


def test_a_few_failures_of_a_quiet_period_cannot_page_however_surprising():
    """The counters' volume gate on what failed: 12 of 150 attempts is 8 %, 40 times the normal
    0.2 % and far outside the band, but fewer than min_volume (20) failures."""
    series, end = auth_share(), MONDAY
    baseline = flat_share_baseline(series.id, end=end)

    def judged(share, attempts, judged_series=series):
        return evaluate_series(
            judged_series,
            datapoints=[(end, share)],
            baseline=baseline,
            state=None,
            window=Window(end, end + PERIOD, PERIOD),
            attempts={end: attempts},
        )

    quiet = judged(12 / 150, 150)
    assert quiet.transition is None
    assert quiet.scores[0].severity is None and quiet.scores[0].attempts == 150
    busy = judged(0.08, 1500)
    assert busy.transition is not None and busy.transition.severity == "critical"
    # the plan's absolute limit still pages a quiet period
    limited = replace(series, detection=replace(SHARE_DETECTION, above=0.05))
    capped = judged(12 / 150, 150, limited)
    assert capped.transition is not None and capped.transition.severity == "warning"


# --- how a share reads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.31, "31 %"), (0.031, "3.1 %"), (0.002, "0.2 %"), (0.0004, "0.04 %"), (0.0, "0 %"), (1.0, "100 %")],
)
def test_percent(share, text):
    assert percent(share) == text


def test_a_share_reads_with_its_parts():
    assert (
        share_phrase(auth_share(), 0.31, 4210, 0.002)
        == "AuthError 31 % of 4,210 connection attempts, normally 0.2 %"
    )
    unnamed = auth_share(
        replace(
            AUTH,
            numerator=("Connect.AuthError", "Connect.Throttle"),
            numerator_label="",
            denominator_label="",
        )
    )
    assert share_phrase(unnamed, 0.05, None) == "AuthError+Throttle 5.0 %"
    assert formula(AUTH) == "Connect.AuthError / Connect.{Success, AuthError, ClientError, Throttle}"
    assert formula(Ratio(("Errors",), ("Errors", "Requests"))) == "Errors / (Errors + Requests)"


def test_a_backtest_replays_a_share_with_its_attempts_as_the_evaluator_judges_it():
    """`iotwatch backtest` of a share: baselines learnt as shares, each period judged with its
    attempts; a fortnight at 0.2 % and a halved fleet are quiet, the 30 % hour is one alert."""
    ratio = replace(AUTH, denominator=("Connect.Success", "Connect.AuthError"))
    series = auth_share(ratio)
    start, end = MONDAY - 14 * DAY, MONDAY + 7 * DAY
    incident = MONDAY + 3 * DAY + 13 * 3600
    parts = _connects(
        Fleet(devices=40_000),
        start,
        end,
        share=lambda ts: 0.3 if incident <= ts < incident + 3600 else 0.002,
        volume=lambda ts: 0.5 if ts >= MONDAY + 5 * DAY else 1.0,
        rng=random.Random(5),
    )
    points, attempts = shares(ratio, parts)
    result = backtest_series(
        series,
        grid_points(points, start=start, end=end, period=PERIOD, attempts=dict(attempts)),
        history_days=14,
        refresh_seconds=DAY,
        window_start=MONDAY,
        window_end=end,
    )
    [episode] = result.episodes
    assert episode.start == incident
    assert result.series.ratio is ratio
