"""`iotwatch score FILE.csv`: the replay contract, checked from the outside (CLI in, CSV out).

Contract: header `timestamp,anomaly_score,alert`; one row per input row with the timestamp
echoed verbatim; anomaly_score in [0, 1]; alert 0/1 where the deployed evaluator at the
plan's default sensitivity would be alerting; causal (a prefix scores exactly like the
same rows of the whole file); bad input -> a message naming the line, exit code 2 and
nothing on stdout (the whole input is read before the first row is written).
"""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan

from iotwatch_cli.main import main
from iotwatch_local.traffic import Fleet, Incident, generate

from .conftest import DEFAULT_PLAN_FILE

PERIOD = 300
DAY = 86400
START = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())  # a Monday
DAYS = 16
OUTAGE_START = START + 15 * DAY + 13 * 3600  # Tuesday of the third week, 13:00 UTC
OUTAGE_END = OUTAGE_START + 30 * 60
HEADER = ["timestamp", "anomaly_score", "alert"]


def stamp(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@cache
def fleet_rows() -> tuple[tuple[int, int | None], ...]:
    """16 days of PublishIn.Success at 5-minute periods with a 30-minute outage (80 % of the
    fleet offline) on day 15; None where IoT sent no datapoint."""
    plan = load_plan(DEFAULT_PLAN_FILE, environ={})
    series = next(s for s in expand_series(plan) if s.metric == "PublishIn.Success")
    outage = Incident(OUTAGE_START, OUTAGE_END, (series.metric,), factor=0.2)
    counts = {
        ts: count
        for _, ts, count in generate(
            Fleet(), [series], start=START, end=START + DAYS * DAY, period=PERIOD, incidents=[outage]
        )
    }
    return tuple((ts, counts.get(ts)) for ts in range(START, START + DAYS * DAY, PERIOD))


def to_csv(rows: Sequence[tuple[str, object]], header: str = "timestamp,value") -> str:
    lines = [header]
    lines += [f"{ts},{'' if value is None else value}" for ts, value in rows]
    return "\n".join(lines) + "\n"


@cache
def fleet_csv() -> str:
    return to_csv([(stamp(ts), value) for ts, value in fleet_rows()])


def score(text: str | None, *args: str, path: Path | None = None) -> tuple[int, str, str]:
    """Runs `iotwatch score` on `text` (through stdin) or on `path`; returns (code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["score", str(path) if path else "-", "--plan", str(DEFAULT_PLAN_FILE), *args]
    if path is None:
        with mock.patch("sys.stdin", io.StringIO(text)):
            code = main(argv, out=out, err=err)
    else:
        code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def parse_output(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == HEADER
    return rows[1:]


@cache
def full_run() -> tuple[tuple[str, ...], ...]:
    code, out, err = score(fleet_csv())
    assert code == 0, err
    return tuple(tuple(row) for row in parse_output(out))


# --- the output format --------------------------------------------------------------------------


def test_one_row_per_input_row_with_scores_in_range_and_binary_alerts():
    rows = full_run()
    assert len(rows) == len(fleet_rows())
    for (timestamp, anomaly, alert), (ts, _) in zip(rows, fleet_rows(), strict=True):
        assert timestamp == stamp(ts)
        assert 0.0 <= float(anomaly) <= 1.0
        assert alert in ("0", "1")


def test_score_leaves_the_garbage_collector_as_it_found_it():
    """score tunes the collector while it replays (fewer collections, the input frozen); a
    process that goes on after it (the test run, the demo) must get it back as it was."""
    threshold = gc.get_threshold()
    code, _, _ = score(fleet_csv())
    assert code == 0
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


def test_the_header_comes_first_and_lines_end_with_newlines_only():
    code, out, _ = score(to_csv([("2026-11-02 00:00:00", 5)]))
    assert code == 0
    assert out.startswith("timestamp,anomaly_score,alert\n")
    assert "\r" not in out
    assert out.count("\n") == 2


def test_timestamps_are_echoed_verbatim_in_every_accepted_format():
    stamps = [
        "2026-11-02 00:00:00",
        "2026-11-02T00:05:00",
        "2026-11-02T00:10:00Z",
        "2026-11-02T00:15:00.000Z",
        "2026-11-02T01:20:00+01:00",
        "2026-11-01T19:25:00-05:00",
        "2026-11-02T00:30:00.250000+00:00",
        "2026-11-02t00:35:00z",
        " 2026-11-02 00:40:00",
    ]
    code, out, err = score(to_csv([(s, 100 + i) for i, s in enumerate(stamps)]))
    assert code == 0, err
    assert [row[0] for row in parse_output(out)] == stamps


def test_naive_times_are_utc_and_offsets_are_honoured():
    """The same instants written naive, with Z and with a +02:00 offset score identically."""
    rows = fleet_rows()[: 9 * 288]
    naive = to_csv([(stamp(ts), v) for ts, v in rows])
    zulu = to_csv([(datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), v) for ts, v in rows])
    shifted = to_csv(
        [(datetime.fromtimestamp(ts + 7200, UTC).strftime("%Y-%m-%dT%H:%M:%S+02:00"), v) for ts, v in rows]
    )
    results = []
    for text in (naive, zulu, shifted):
        code, out, err = score(text)
        assert code == 0, err
        results.append([row[1:] for row in parse_output(out)])
    assert results[0] == results[1] == results[2]
    assert any(float(r[0]) > 0 for r in results[0]), "the baseline scored something"


def test_a_header_without_rows_is_refused_with_what_a_row_looks_like():
    """Issue 24: it exited 0 without a word."""
    code, out, err = score("timestamp,value\n")
    assert (code, out) == (2, "")
    assert "<stdin>: no rows after the header" in err and "2026-11-02 00:00:00,42" in err


def test_blank_lines_are_not_rows():
    code, out, _ = score("timestamp,value\n2026-11-02 00:00:00,5\n\n2026-11-02 00:05:00,6\n")
    assert code == 0
    assert [row[0] for row in parse_output(out)] == ["2026-11-02 00:00:00", "2026-11-02 00:05:00"]


def test_extra_columns_are_ignored():
    plain = score(to_csv([(stamp(START + i * PERIOD), 10 + i) for i in range(5)]))
    extra = score(
        "timestamp,value,note\n" + "".join(f"{stamp(START + i * PERIOD)},{10 + i},x\n" for i in range(5))
    )
    assert plain == extra


def test_a_file_argument_and_stdin_give_the_same_output(tmp_path: Path):
    path = tmp_path / "series.csv"
    path.write_text(fleet_csv(), encoding="utf-8")
    code, out, err = score(None, path=path)
    assert code == 0, err
    assert tuple(tuple(r) for r in parse_output(out)) == full_run()


# --- what it says -------------------------------------------------------------------------------


def test_the_outage_alerts_within_two_rows_and_normal_days_never_alert():
    rows = full_run()
    times = [ts for ts, _ in fleet_rows()]
    alerting = [ts for ts, row in zip(times, rows, strict=True) if row[2] == "1"]
    assert alerting, "the outage was not alerted"
    first = times.index(alerting[0])
    assert alerting[0] >= OUTAGE_START
    assert first - times.index(OUTAGE_START) <= 2
    # every alerting row belongs to the outage: from its start to a few recovery periods after it
    assert all(OUTAGE_START <= ts <= OUTAGE_END + 3 * PERIOD for ts in alerting)
    outage_rows = [row for ts, row in zip(times, rows, strict=True) if OUTAGE_START <= ts < OUTAGE_END]
    assert all(row[2] == "1" for row in outage_rows)
    # the graded score marks the incident's first period; the rest of it is the same event
    assert float(outage_rows[0][1]) >= 0.5


def test_the_first_rows_are_learning_and_score_zero():
    rows = full_run()
    assert all(row[1:] == ("0.0000", "0") for row in rows[:288]), "no history on day one: nothing to score"


def test_empty_values_after_the_first_datapoint_are_no_traffic_and_page():
    """A broker that stops sending datapoints in the afternoon is an outage."""
    rows = list(fleet_rows()[: 15 * 288])
    silent_from = START + 14 * DAY + 14 * 3600
    silenced = [(ts, None if silent_from <= ts < silent_from + 3600 else v) for ts, v in rows]
    code, out, err = score(to_csv([(stamp(ts), v) for ts, v in silenced]))
    assert code == 0, err
    scored = parse_output(out)
    assert len(scored) == len(silenced)
    alerts = [ts for (ts, _), row in zip(silenced, scored, strict=True) if row[2] == "1"]
    assert alerts and silent_from <= alerts[0] <= silent_from + 2 * PERIOD
    assert all(silent_from <= ts <= silent_from + 3600 + 3 * PERIOD for ts in alerts)


def late_start_rows(days: int) -> list[tuple[int, int | None]]:
    """The fleet series, but the metric only appears at 01:00 on the first day."""
    return [(ts, None if ts < START + 3600 else v) for ts, v in fleet_rows()[: days * 288]]


def test_empty_values_before_the_first_datapoint_are_a_series_that_did_not_exist_yet():
    rows = late_start_rows(3)
    code, out, err = score(to_csv([(stamp(ts), v) for ts, v in rows]))
    assert code == 0, err
    scored = parse_output(out)
    assert len(scored) == len(rows)
    assert all(row[1:] == ["0.0000", "0"] for row in scored[:288])
    assert not [row for row in scored if row[2] == "1"]


# Regression: a 'global' fallback bucket used to get the (small) residual spread and paged.
def test_a_series_that_began_mid_day_does_not_page_while_it_learns():
    rows = late_start_rows(15)
    code, out, err = score(to_csv([(stamp(ts), v) for ts, v in rows]))
    assert code == 0, err
    assert not [row for row in parse_output(out) if row[2] == "1"]


def test_period_is_the_median_spacing_unless_given():
    """Ten-minute rows scored with --period 300 mean "no datapoint in every other 5-minute
    period": the same rows as a 5-minute file with an empty value between them. Without
    --period they are scored as 10-minute periods, which says something else."""
    rows = [(ts, v) for ts, v in fleet_rows()[: 10 * 288]]
    sparse = to_csv([(stamp(ts), v) for ts, v in rows if ts % 600 == 0])
    expanded = to_csv([(stamp(ts), v if ts % 600 == 0 else None) for ts, v in rows])
    forced = score(sparse, "--period", "300")
    assert forced[0] == 0
    expanded_rows = parse_output(score(expanded)[1])
    assert parse_output(forced[1]) == [row for row in expanded_rows if int(row[0][14:16]) % 10 == 0]
    default = score(sparse)
    assert default[0] == 0
    assert score(sparse, "--period", "600") == default
    assert parse_output(default[1]) != parse_output(forced[1])


def test_jittered_timestamps_snap_to_the_period_grid():
    """The grid is anchored at the first row; later rows a few seconds off snap to it."""
    rows = fleet_rows()[: 9 * 288]
    exact = to_csv([(stamp(ts), v) for ts, v in rows])
    jittered = to_csv([(stamp(ts + ((i * 37) % 41 - 20 if i else 0)), v) for i, (ts, v) in enumerate(rows)])
    exact_out = parse_output(score(exact, "--period", "300")[1])
    jittered_out = parse_output(score(jittered, "--period", "300")[1])
    assert [row[1:] for row in exact_out] == [row[1:] for row in jittered_out]
    assert [row[0] for row in jittered_out] != [row[0] for row in exact_out]  # but echoed as written


# --- causality ----------------------------------------------------------------------------------


def prefix_text(cut: int) -> str:
    return to_csv([(stamp(ts), v) for ts, v in fleet_rows()[:cut]])


@settings(settings.get_profile("slow_properties"), max_examples=6)
@given(cut=st.integers(min_value=1, max_value=DAYS * 288))
@example(cut=1)
@example(cut=14 * 288)  # the last row before a midnight baseline refresh
@example(cut=14 * 288 + 1)  # the first row after it
@example(cut=(OUTAGE_START - START) // PERIOD + 1)  # the outage's first row
@example(cut=(OUTAGE_START - START) // PERIOD + 2)  # the row the alert fires on
def test_scoring_a_prefix_gives_the_same_rows_as_the_full_run(cut: int):
    code, out, err = score(prefix_text(cut))
    assert code == 0, err
    assert tuple(tuple(r) for r in parse_output(out)) == full_run()[:cut]


def test_rows_after_a_cut_do_not_change_rows_before_it():
    """Changing the future (a huge spike after row k) leaves rows <= k alone."""
    rows = list(fleet_rows()[: 15 * 288])
    k = 14 * 288 + 100
    changed = rows[: k + 1] + [(ts, 10 * (v or 0) + 1_000_000) for ts, v in rows[k + 1 :]]
    original = parse_output(score(to_csv([(stamp(ts), v) for ts, v in rows]))[1])
    altered = parse_output(score(to_csv([(stamp(ts), v) for ts, v in changed]))[1])
    assert original[: k + 1] == altered[: k + 1]
    assert original[k + 1 :] != altered[k + 1 :]


# --- bad input ----------------------------------------------------------------------------------

GOOD = "2026-11-02 00:00:00,5\n2026-11-02 00:05:00,6\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("timestamp,value\n" + GOOD + "yesterday,7\n", 4, "cannot read timestamp 'yesterday'"),
        ("timestamp,value\n2026-13-02 00:00:00,5\n", 2, "cannot read timestamp"),
        ("timestamp,value\n" + GOOD + "2026-11-02 00:10:00,lots\n", 4, "value 'lots' is not a number"),
        ("timestamp,value\n2026-11-02 00:00:00,1e999\n", 2, "not a finite number"),
        ("timestamp,value\n2026-11-02 00:00:00,nan\n", 2, "not a finite number"),
        ("timestamp\n2026-11-02 00:00:00\n", 1, "header needs two columns"),
        ("timestamp,value\n" + GOOD + "2026-11-02 00:10:00\n", 4, "expected two columns"),
    ],
    ids=[
        "words-for-a-time",
        "month-13",
        "non-numeric",
        "infinite",
        "nan",
        "one-column-header",
        "missing-value-column",
    ],
)
def test_bad_input_names_the_line_exits_2_and_writes_nothing(
    tmp_path: Path, text: str, line: int, words: str
):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = score(None, path=path)
    assert code == 2
    assert out == ""
    assert f"{path}:{line}:" in err
    assert words in err
    code, out, err = score(text)  # the same from stdin
    assert (code, out) == (2, "")
    assert f"<stdin>:{line}:" in err


def test_bad_input_after_many_good_rows_still_writes_nothing():
    text = fleet_csv() + "2026-11-30 00:00:00,oops\n"
    code, out, err = score(text)
    assert (code, out) == (2, "")
    assert f":{len(fleet_rows()) + 2}:" in err


def test_an_empty_file_is_an_error():
    code, out, err = score("")
    assert (code, out) == (2, "")
    assert "<stdin>: empty input" in err


def test_a_blank_first_line_is_a_header_without_columns():
    code, out, err = score("\n\n")
    assert (code, out) == (2, "")
    assert "<stdin>:1: the header needs two columns" in err


def test_a_missing_file_is_an_error(tmp_path: Path):
    code, out, err = score(None, path=tmp_path / "nope.csv")
    assert (code, out) == (2, "")
    assert "nope.csv: cannot read" in err


@pytest.mark.parametrize("period", ["0", "-300"])
def test_a_period_that_is_not_positive_is_an_error(period: str):
    code, out, err = score(to_csv([("2026-11-02 00:00:00", 5)]), "--period", period)
    assert (code, out) == (2, "")
    assert "--period" in err


def test_a_bad_plan_is_an_error(tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: Not A Name\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with mock.patch("sys.stdin", io.StringIO(GOOD)):
        code = main(["score", "-", "--plan", str(plan)], out=out, err=err)
    assert (code, out.getvalue()) == (2, "")
    assert str(plan) in err.getvalue()


# --- real exports: repeats, clock resets, no plan file ------------------------------------------


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("2026-11-02 00:05:00,7\n", "repeats the previous row's time"),
        ("2026-11-02 00:01:00,7\n", "goes back in time"),
        ("2026-11-02T01:00:00+02:00,7\n", "goes back in time"),
    ],
    ids=["duplicate", "backwards", "backwards-by-offset"],
)
def test_a_repeated_or_backwards_time_is_scored_with_a_warning_naming_the_line(
    tmp_path: Path, extra: str, words: str
):
    path = tmp_path / "export.csv"
    path.write_text("timestamp,value\n" + GOOD + extra + "2026-11-02 00:10:00,8\n", encoding="utf-8")
    code, out, err = score(None, path=path)
    assert code == 0, err
    assert f"{path}:4: time {words}" in err
    rows = parse_output(out)
    assert [r[0] for r in rows] == [
        "2026-11-02 00:00:00",
        "2026-11-02 00:05:00",
        extra.split(",")[0],
        "2026-11-02 00:10:00",
    ]


def test_many_repeats_are_summarised_after_a_few_lines(tmp_path: Path):
    body = "".join(f"2026-11-02 00:05:00,{i}\n" for i in range(12))
    path = tmp_path / "dupes.csv"
    path.write_text("timestamp,value\n" + GOOD + body, encoding="utf-8")
    code, out, err = score(None, path=path)
    assert code == 0
    assert err.count("repeats the previous row's time") == 5
    assert "7 more line(s) like that, the last at line 15" in err
    assert len(parse_output(out)) == 14


def test_a_backwards_row_never_changes_what_was_scored_before_it():
    rows = fleet_rows()[: 3 * 288]
    text = to_csv([(stamp(ts), v) for ts, v in rows])
    reset = to_csv([(stamp(ts), v) for ts, v in rows] + [(stamp(rows[0][0]), 5)])
    _, clean, _ = score(text)
    code, with_reset, err = score(reset)
    assert code == 0 and "goes back in time" in err
    assert parse_output(with_reset)[:-1] == parse_output(clean)


def test_without_a_plan_file_score_uses_the_default_detection_and_says_so(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "series.csv"
    path.write_text(fleet_csv(), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert main(["score", str(path)], out=out, err=err) == 0
    assert (
        "no monitoring-plan.yaml here and no --plan: scoring with iotwatch's default detection"
        in err.getvalue()
    )
    assert (
        tuple(tuple(r) for r in parse_output(out.getvalue())) == full_run()
    )  # the example plan keeps the defaults


def test_plan_picks_the_detection(tmp_path: Path):
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        Path(DEFAULT_PLAN_FILE)
        .read_text(encoding="utf-8")
        .replace("{warning: 4, critical: 7}", "{warning: 40, critical: 70}"),
        encoding="utf-8",
    )
    code, out, err = score(fleet_csv(), "--plan", str(strict))
    assert code == 0, err
    assert "default detection" not in err
    assert not [r for r in parse_output(out) if r[2] == "1"], "a 40-sigma plan does not page on the outage"
    assert [r for r in full_run() if r[2] == "1"], "the example plan does"


# --- long files: baselines built ahead by a second process ------------------------------------


def test_a_long_file_scores_the_same_with_baselines_built_ahead_in_a_second_process(tmp_path: Path):
    """Over PREBUILD_MIN_ROWS rows a forked process builds each day's baseline while the replay
    judges rows: every row must come out as when the replay builds them itself."""
    import iotwatch.service.replay as replay_module

    plan = load_plan(DEFAULT_PLAN_FILE, environ={})
    series = next(s for s in expand_series(plan) if s.metric == "Ping.Success")
    days = 75
    counts = {ts: c for _, ts, c in generate(Fleet(seed=9), [series], start=START, end=START + days * DAY)}
    rows = [(stamp(ts), counts.get(ts)) for ts in range(START, START + days * DAY, PERIOD)]
    del rows[5000:5040]  # a gap with no rows at all
    rows[9000:9000] = [rows[8999]]  # a repeated time
    assert len(rows) > replay_module.PREBUILD_MIN_ROWS
    path = tmp_path / "long.csv"
    path.write_text(to_csv(rows), encoding="utf-8")

    built_here = mock.patch.object(replay_module, "training_baseline", wraps=replay_module.training_baseline)
    with built_here as inline_builds, mock.patch.object(replay_module, "PREBUILD_MIN_ROWS", 10**9):
        inline = score(None, path=path)
    with built_here as ahead_builds:
        ahead = score(None, path=path)
    assert inline[0] == 0 and ahead == inline
    assert inline_builds.call_count >= days and ahead_builds.call_count == 0  # built by the other process
    assert len(parse_output(ahead[1])) == len(rows)
