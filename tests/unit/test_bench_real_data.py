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


def test_folds_are_fixed_and_every_category_with_enough_files_is_in_every_fold():
    from bench.real_data_folds import folds

    names = sorted(str(p.relative_to(DATA / "data")) for p in (DATA / "data").glob("*/*.csv"))
    dealt = folds(names, 3)
    assert dealt == folds(list(reversed(names)), 3)  # the order files come in changes nothing
    assert sorted(n for fold in dealt for n in fold) == names  # each file in exactly one fold
    assert [len(f) for f in dealt] == [9, 9, 9]
    for fold in dealt:
        assert sum(n.startswith("realAWSCloudwatch/") for n in fold) >= 2


def test_the_operating_point_is_the_one_alerting_most_training_windows_within_the_ceiling():
    from bench.real_data import FileFigures
    from bench.real_data_folds import Output, choose_sensitivity

    def run(alerted: int, episodes: int) -> dict[str, Output]:
        return {"a": Output([], FileFigures(10, alerted, episodes, 10.0, ()))}

    # 4.5 alerts fewer; 3.5 alerts most but pages 0.5 per week, over the 0.35 ceiling
    runs = {3.5: run(9, 5), 4.0: run(8, 3), 4.5: run(6, 1)}
    assert choose_sensitivity(runs, ["a"]) == 4.0
    assert choose_sensitivity({3.5: run(9, 5)}, ["a"]) == 4.0  # none within it: the default
