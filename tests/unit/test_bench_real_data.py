"""The real-data bench counts what NAB's scorer counts for an `alert` column."""

from __future__ import annotations

import sys

from .conftest import REPO_ROOT

if str(REPO_ROOT) not in sys.path:  # `bench` lives beside the package, not in it
    sys.path.insert(0, str(REPO_ROOT))

from bench.real_data import DATA, oncall_figures, probation_rows

HOUR = 3600


def test_probation_is_15_percent_of_a_file_and_at_most_750_rows():
    assert probation_rows(100) == 15
    assert probation_rows(4032) == 604
    assert probation_rows(20_000) == 750


def test_episodes_are_rising_edges_outside_windows_and_a_window_counts_once():
    times = [i * HOUR for i in range(100)]
    alerts = [False] * 100
    for i in (5, 40, 41, 42, 60, 61, 80):  # 5: in probation; 40-42 and 80: outside; 60-61: inside
        alerts[i] = True
    figures = oncall_figures(times, alerts, [(55 * HOUR, 65 * HOUR)])
    assert figures.false_episodes == 2  # 40 (one episode of three rows) and 80; 5 is probation
    assert figures.windows_alerted == figures.windows == 1
    assert figures.first_alert_positions == (0.5,)
    assert figures.weeks == (99 - 15) * HOUR / (7 * 86400)


def test_the_dev_half_is_here_with_its_licence_and_labels():
    assert (DATA / "LICENSE-NAB.txt").read_text(encoding="utf-8").startswith("Copyright 2014-2024 Numenta")
    assert len(list((DATA / "data").glob("*/*.csv"))) == 27
