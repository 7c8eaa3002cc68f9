"""Scoring a period and the alert state machine built on it."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from iotwatch.domain.baseline.model import Expectation
from iotwatch.domain.deviation import AlertState, decide, score_period
from iotwatch.domain.evaluation import Window, evaluate_series

from .fakes import DETECTION, MONDAY, PERIOD, flat_baseline, make_series

# A series expecting 1,000 per period with a robust spread of 50: with thresholds 4 / 7,
# the warning band is 800-1,200 and critical starts below 650 or above 1,350.
EXPECT = Expectation(expected=1000.0, scale=50.0, source="hour-of-week")
NORMAL, WARN_DROP, CRIT_DROP, WARN_SURGE, CRIT_SURGE = 1000.0, 750.0, 500.0, 1300.0, 1500.0
ALL_GATES_OPEN = replace(DETECTION, min_volume=0.0, min_relative_change=0.0)


def scores(*actuals, start=MONDAY, detection=DETECTION):
    return [score_period(start + i * PERIOD, a, EXPECT, detection) for i, a in enumerate(actuals)]


# --- scoring -------------------------------------------------------------------------------


def test_score_is_signed_distance_in_robust_units():
    below = score_period(MONDAY, 700.0, EXPECT, DETECTION)
    above = score_period(MONDAY, 1200.0, EXPECT, DETECTION)
    assert below.score == pytest.approx((700 - 1000) / 50)
    assert below.direction == "drop"
    assert above.score == pytest.approx((1200 - 1000) / 50)
    assert above.direction == "surge"
    assert below.relative_change == pytest.approx(-0.3)
    assert (below.lower, below.upper) == (pytest.approx(1000 - 4 * 50), pytest.approx(1000 + 4 * 50))


@pytest.mark.parametrize(
    ("actual", "severity"),
    [
        (1000 - 3.99 * 50, None),
        (1000 - 4.0 * 50, "warning"),
        (1000 - 6.99 * 50, "warning"),
        (1000 - 7.0 * 50, "critical"),
        (0.0, "critical"),
        (1000 + 3.99 * 50, None),
        (1000 + 4.0 * 50, "warning"),
        (1000 + 7.0 * 50, "critical"),
    ],
)
def test_severity_thresholds(actual, severity):
    assert score_period(MONDAY, actual, EXPECT, ALL_GATES_OPEN).severity == severity


def test_thresholds_come_from_the_series_settings():
    strict = replace(ALL_GATES_OPEN, warning=2.0, critical=3.0)
    assert score_period(MONDAY, 1000 - 2.5 * 50, EXPECT, strict).severity == "warning"
    assert score_period(MONDAY, 1000 - 3.0 * 50, EXPECT, strict).severity == "critical"


def test_min_volume_keeps_tiny_counts_from_paging():
    quiet = Expectation(expected=6.0, scale=1.0, source="hour-of-week")
    # 6 -> 0 is six robust units down and -100 %, but neither count reaches min_volume 20
    assert score_period(MONDAY, 0.0, quiet, DETECTION).severity is None
    # 6 -> 15 is +9 units, still under the volume gate
    assert score_period(MONDAY, 15.0, quiet, DETECTION).severity is None
    # the same drop pages once the plan says such small volumes matter
    assert score_period(MONDAY, 0.0, quiet, replace(DETECTION, min_volume=5.0)).severity == "warning"
    # and a surge that crosses min_volume is judged on its score
    assert score_period(MONDAY, 25.0, quiet, DETECTION).severity == "critical"


def test_min_relative_change_keeps_statistically_tiny_shifts_from_paging():
    huge = Expectation(expected=100_000.0, scale=400.0, source="hour-of-week")
    # -5 % is 12.5 robust units, but not the 20 % change the plan asks for
    assert score_period(MONDAY, 95_000.0, huge, DETECTION).severity is None
    assert (
        score_period(MONDAY, 95_000.0, huge, replace(DETECTION, min_relative_change=0.05)).severity
        == "critical"
    )
    assert score_period(MONDAY, 75_000.0, huge, DETECTION).severity == "critical"


@pytest.mark.parametrize("source", ["hour-of-day", "global"])
def test_fallback_baselines_need_a_big_change_to_page(source):
    fallback = Expectation(expected=1000.0, scale=50.0, source=source)
    # -30 % is six robust units: enough against a full hour-of-week baseline, not against a fallback
    assert score_period(MONDAY, 700.0, EXPECT, DETECTION).severity == "warning"
    assert score_period(MONDAY, 700.0, fallback, DETECTION).severity is None
    assert score_period(MONDAY, 400.0, fallback, DETECTION).severity == "critical"
    assert score_period(MONDAY, 1600.0, fallback, DETECTION).severity == "critical"


def test_traffic_where_none_was_expected_is_an_infinite_relative_surge():
    nothing = Expectation(expected=0.0, scale=1.0, source="hour-of-week")
    score = score_period(MONDAY, 40.0, nothing, DETECTION)
    assert score.relative_change == math.inf
    assert score.direction == "surge"
    assert score.severity == "critical"
    assert score_period(MONDAY, 0.0, nothing, DETECTION).relative_change == 0.0


def test_a_series_without_any_history_never_scores_a_severity():
    unknown = Expectation(expected=0.0, scale=1.0, source="none")
    assert score_period(MONDAY, 10_000.0, unknown, DETECTION).severity is None


# --- the state machine -----------------------------------------------------------------------

OK = AlertState(series_id="s")


def test_one_deviating_period_does_not_fire():
    state, transition = decide(OK, scores(NORMAL, NORMAL, CRIT_DROP), DETECTION, period=PERIOD)
    assert transition is None
    assert state.status == "ok"
    assert state.last_evaluated == MONDAY + 3 * PERIOD


def test_pending_periods_in_a_row_fire_from_the_first_of_them():
    recent = scores(NORMAL, WARN_DROP, WARN_DROP)
    state, transition = decide(OK, recent, DETECTION, period=PERIOD)
    assert transition is not None
    assert (transition.kind, transition.severity) == ("firing", "warning")
    assert transition.since == recent[1].ts
    assert transition.at == recent[-1].ts + PERIOD
    assert transition.latest == recent[-1]
    assert (state.status, state.severity, state.since) == ("firing", "warning", recent[1].ts)


def test_deviations_in_opposite_directions_do_not_fire():
    _, transition = decide(OK, scores(NORMAL, CRIT_DROP, CRIT_SURGE), DETECTION, period=PERIOD)
    assert transition is None


def test_deviations_with_a_normal_period_between_do_not_fire():
    _, transition = decide(OK, scores(CRIT_DROP, NORMAL, CRIT_DROP), DETECTION, period=PERIOD)
    assert transition is None


def test_pending_periods_is_honoured():
    three = replace(DETECTION, pending_periods=3)
    _, transition = decide(OK, scores(NORMAL, CRIT_DROP, CRIT_DROP), three, period=PERIOD)
    assert transition is None
    recent = scores(CRIT_DROP, CRIT_DROP, CRIT_DROP)
    _, transition = decide(OK, recent, three, period=PERIOD)
    assert transition is not None and transition.since == recent[0].ts
    one = replace(DETECTION, pending_periods=1)
    _, transition = decide(OK, scores(NORMAL, NORMAL, WARN_SURGE), one, period=PERIOD)
    assert transition is not None and transition.severity == "warning"


@pytest.mark.parametrize(
    ("actuals", "severity"),
    [
        ((CRIT_DROP, WARN_DROP), "warning"),
        ((WARN_DROP, CRIT_DROP), "warning"),
        ((CRIT_DROP, CRIT_DROP), "critical"),
        ((CRIT_SURGE, WARN_SURGE), "warning"),
    ],
)
def test_firing_severity_is_the_mildest_pending_period(actuals, severity):
    recent = scores(NORMAL, *actuals)
    _, transition = decide(OK, recent, DETECTION, period=PERIOD)
    assert transition.severity == severity
    assert transition.peak_score == pytest.approx(min(recent, key=lambda s: -abs(s.score)).score)


def test_too_few_periods_to_judge_do_not_fire():
    _, transition = decide(OK, scores(CRIT_DROP), DETECTION, period=PERIOD)
    assert transition is None


def test_no_periods_change_nothing():
    assert decide(OK, [], DETECTION, period=PERIOD) == (OK, None)


def firing(severity="warning", since=MONDAY, revision=4):
    return AlertState(
        series_id="s", status="firing", severity=severity, since=since, peak_score=-5.0, revision=revision
    )


def test_warning_escalates_to_critical_when_the_pending_periods_are_all_critical():
    state = firing("warning")
    recent = scores(WARN_DROP, CRIT_DROP, CRIT_DROP, start=MONDAY + 2 * PERIOD)
    new, transition = decide(state, recent, DETECTION, period=PERIOD)
    assert (transition.kind, transition.severity) == ("escalated", "critical")
    assert transition.since == state.since  # the incident started earlier
    assert (new.status, new.severity, new.since) == ("firing", "critical", state.since)
    assert new.peak_score == pytest.approx(-10.0)


def test_one_critical_period_does_not_escalate():
    new, transition = decide(
        firing("warning"), scores(WARN_DROP, WARN_DROP, CRIT_DROP), DETECTION, period=PERIOD
    )
    assert transition is None
    assert new.severity == "warning"
    assert new.peak_score == pytest.approx(-10.0)  # the peak is still remembered


def test_a_firing_series_stays_quiet_while_it_keeps_deviating():
    new, transition = decide(
        firing("critical"), scores(CRIT_DROP, CRIT_DROP, CRIT_DROP), DETECTION, period=PERIOD
    )
    assert transition is None
    assert (new.status, new.severity) == ("firing", "critical")


def test_resolution_needs_recovery_periods_of_normal():
    state = firing("critical")
    _, transition = decide(state, scores(CRIT_DROP, CRIT_DROP, NORMAL), DETECTION, period=PERIOD)
    assert transition is None
    recent = scores(CRIT_DROP, NORMAL, NORMAL)
    new, transition = decide(state, recent, DETECTION, period=PERIOD)
    assert (transition.kind, transition.severity) == ("resolved", "critical")
    assert transition.since == state.since
    assert transition.ended == recent[1].ts  # the first normal period's start
    assert transition.at == recent[-1].ts + PERIOD
    assert (new.status, new.severity, new.since) == ("ok", None, None)
    assert new.revision == state.revision  # the store's lock counter survives the reset


def test_recovery_periods_is_honoured():
    slow = replace(DETECTION, recovery_periods=3)
    state = firing()
    _, transition = decide(state, scores(CRIT_DROP, NORMAL, NORMAL), slow, period=PERIOD)
    assert transition is None
    recent = scores(CRIT_DROP, NORMAL, NORMAL, NORMAL)
    _, transition = decide(state, recent, slow, period=PERIOD)
    assert transition.kind == "resolved"
    assert transition.ended == recent[1].ts


def test_a_flapping_series_does_not_resolve():
    _, transition = decide(firing(), scores(NORMAL, CRIT_DROP, NORMAL), DETECTION, period=PERIOD)
    assert transition is None


def test_resolved_ended_is_the_first_normal_period_even_when_more_are_visible():
    """A resolve that could not be sent is decided again one tick later (the evaluator keeps
    the old state); by then three normal periods are visible and the first is the end."""
    state = firing("critical", since=MONDAY - 4 * PERIOD)
    recent = scores(NORMAL, NORMAL, NORMAL)
    _, transition = decide(state, recent, DETECTION, period=PERIOD)
    assert transition.kind == "resolved"
    assert transition.ended == recent[0].ts


# --- a series that goes silent ------------------------------------------------------------------


def test_a_silent_series_during_expected_traffic_fires_as_a_drop():
    series = make_series()
    baseline = flat_baseline(series.id, expected=1000.0, scale=50.0)
    window = Window(start=MONDAY, end=MONDAY + 3 * PERIOD, period=PERIOD)
    outcome = evaluate_series(series, datapoints=[], baseline=baseline, state=None, window=window)
    assert [s.actual for s in outcome.scores] == [0.0, 0.0, 0.0]
    assert outcome.transition is not None
    assert outcome.transition.latest.direction == "drop"
    assert (outcome.transition.kind, outcome.transition.severity) == ("firing", "critical")
    assert outcome.transition.since == MONDAY  # every visible period is silent: it began at the first


def test_a_silent_series_where_nothing_is_expected_stays_ok():
    series = make_series("DeleteThingShadow.Accepted")
    baseline = flat_baseline(series.id, expected=0.0, scale=1.0)
    window = Window(start=MONDAY, end=MONDAY + 3 * PERIOD, period=PERIOD)
    outcome = evaluate_series(series, datapoints=[], baseline=baseline, state=None, window=window)
    assert outcome.transition is None
    assert outcome.status == "ok"


# --- direction and absolute limits --------------------------------------------------------------


def test_an_up_only_metric_does_not_page_when_it_falls():
    up = replace(ALL_GATES_OPEN, direction="up")
    assert score_period(MONDAY, CRIT_DROP, EXPECT, up).severity is None
    assert score_period(MONDAY, CRIT_SURGE, EXPECT, up).severity == "critical"
    down = replace(ALL_GATES_OPEN, direction="down")
    assert score_period(MONDAY, CRIT_SURGE, EXPECT, down).severity is None
    assert score_period(MONDAY, WARN_DROP, EXPECT, down).severity == "warning"


def test_a_known_limit_pages_inside_the_learned_band_and_where_gates_hold_back():
    limited = replace(DETECTION, above=1100.0, below=950.0)
    assert score_period(MONDAY, 1150.0, EXPECT, limited).severity == "warning"  # inside the band
    assert score_period(MONDAY, 900.0, EXPECT, limited).severity == "warning"
    assert score_period(MONDAY, NORMAL, EXPECT, limited).severity is None
    assert (
        score_period(MONDAY, CRIT_SURGE, EXPECT, limited).severity == "critical"
    )  # the band's verdict stands
    unsure = Expectation(expected=1000.0, scale=50.0, source="none")
    assert score_period(MONDAY, 1150.0, unsure, limited).severity == "warning"  # no history, a known number
