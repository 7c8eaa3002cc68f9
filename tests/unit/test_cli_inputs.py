"""Issue 24, "every input works or is refused clearly": what a new user hit in one afternoon,
each through the command as they ran it. The one rule for how the CLI ends is in
iotwatch_cli.errors (exit codes) and iotwatch_cli.entry (pipes, Ctrl-C, AWS settings)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import iotwatch.adapters.aws  # noqa: F401  (boto3's first import probes IPv6 with a socket: do it at collection)
import pytest
import yaml

from iotwatch_cli import entry
from iotwatch_cli.main import main

from .conftest import DEFAULT_PLAN_FILE, EVENTS_DIR, REPO_ROOT

START = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp())
PERIOD = 300


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def stamp(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def series_csv(path: Path, days: int = 3, *, header: bool = True, period: int = PERIOD) -> Path:
    """A steady daily wave, one row per `period`."""
    rows = [
        f"{stamp(START + i * period)},{1000 + (i % (86400 // period)) % 97}"
        for i in range(days * 86400 // period)
    ]
    path.write_text("\n".join((["timestamp,value"] if header else []) + rows) + "\n", encoding="utf-8")
    return path


def plan_file(tmp_path: Path, change: Any = None, *, name: str = "plan.yaml") -> Path:
    data = yaml.safe_load(DEFAULT_PLAN_FILE.read_text(encoding="utf-8"))
    if change is not None:
        change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- how the command ends ---------------------------------------------------------------------


def test_a_closed_pipe_ends_score_quietly_with_the_sigpipe_status(tmp_path: Path) -> None:
    """`iotwatch score x.csv | head` ended in a BrokenPipeError traceback."""
    path = series_csv(tmp_path / "x.csv", days=20)
    process = subprocess.Popen(
        [sys.executable, "-m", "iotwatch_cli.entry", "score", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=os.environ,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"timestamp,anomaly_score")
    process.stdout.close()  # what `head -1` does
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_a_closed_pipe_in_process_is_exit_141(monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert entry.main(["plan", "validate", str(DEFAULT_PLAN_FILE)]) == 141


def test_ctrl_c_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(argv: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("iotwatch_cli.main.main", interrupted)
    assert entry.main(["score", "x.csv"]) == 130
    assert capsys.readouterr().err == "iotwatch: interrupted\n"


def offline_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials from the environment and no instance metadata: nothing is looked up."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_the_cli_honours_aws_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The README tells CDK users to set AWS_REGION; botocore alone reads AWS_DEFAULT_REGION."""
    from iotwatch.adapters.aws import client

    offline_aws(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert client("dynamodb").meta.region_name == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    monkeypatch.delenv("AWS_REGION")
    assert client("dynamodb").meta.region_name == "us-east-2"


def test_no_region_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    offline_aws(monkeypatch, tmp_path)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    code = entry.main(["incidents", "--plan", str(DEFAULT_PLAN_FILE), "--table", "t"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("error: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)")
    assert "Traceback" not in err and "You must specify a region" not in err


# --- plan files -------------------------------------------------------------------------------


def test_a_binary_plan_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    code, out, err = run("plan", "validate", str(path))
    assert (code, out) == (2, "")
    assert f"{path}:1:1: error: (plan): not UTF-8 text" in err and "save it as UTF-8" in err


def test_schema_errors_carry_the_line_and_column_of_the_field(tmp_path: Path) -> None:
    text = DEFAULT_PLAN_FILE.read_text(encoding="utf-8")
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("  period_seconds: 300", "  period_seconds: 301", 1), encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  period_seconds:"))
    code, _, err = run("plan", "validate", str(path))
    assert code == 2
    # one wrong period_seconds is one error, not one per metric that inherits it
    assert "1 problem(s)" in err, err
    assert f"{path}:{line}:3: error: frequency.period_seconds: 301 s is not a period" in err
    assert err.count("301 s") == 1


def test_a_wrong_type_says_what_to_write_at_its_line(tmp_path: Path) -> None:
    text = DEFAULT_PLAN_FILE.read_text(encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  history_days:"))
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("  history_days: 14", "  history_days: two weeks", 1), encoding="utf-8")
    code, _, err = run("plan", "validate", str(path))
    assert code == 2
    assert f"{path}:{line}:3: error: frequency.history_days: " in err
    assert "(got 'two weeks'): write a whole number, e.g. 300" in err


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    text = DEFAULT_PLAN_FILE.read_text(encoding="utf-8")
    first = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("name:"))
    path.write_text(text + "name: other\n", encoding="utf-8")
    code, _, err = run("plan", "validate", str(path))
    assert code == 2
    last = len(text.splitlines()) + 1
    assert f"{path}:{last}:1: error: name: duplicate key (first at line {first})" in err


def test_json_duplicate_keys_are_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text('{"name": "a", "name": "b"}', encoding="utf-8")
    code, _, err = run("plan", "validate", str(path))
    assert code == 2 and "duplicate key 'name'" in err


def test_a_yaml_syntax_error_says_what_to_do(tmp_path: Path) -> None:
    """It said `expected <block end>, but found '?'` and nothing else."""
    text = DEFAULT_PLAN_FILE.read_text(encoding="utf-8")
    broken = text.replace("      description: Successful MQTT connections", "     description: x", 1)
    assert broken != text
    path = tmp_path / "plan.yaml"
    path.write_text(broken, encoding="utf-8")
    code, _, err = run("plan", "validate", str(path))
    assert code == 2
    assert "not valid YAML at line" in err
    assert "indentation" in err and "same column" in err


def misspelt_protocol(data: dict[str, Any]) -> None:
    data["resources"]["metrics"][0]["dimensions"]["Protocol"] = "HTTPS"


def test_a_warning_that_leaves_a_series_empty_comes_first_and_strict_fails(tmp_path: Path) -> None:
    path = plan_file(tmp_path, misspelt_protocol)
    code, out, err = run("plan", "validate", str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "1 warning(s):"
    assert "not 'HTTPS': did you mean HTTP?" in lines[1] and lines[1].startswith(f"  {path}:")
    assert "OK - plan 'fleet'" in out and "(with 1 warning(s), above)" in out
    strict = run("plan", "validate", "--strict", str(path))
    assert strict[0] == 1 and "--strict: 1 warning(s) fail the check" in strict[2]
    assert run("plan", "validate", "--strict", str(DEFAULT_PLAN_FILE))[0] == 0


def test_the_summary_shows_maintenance_windows_and_each_series_direction_and_limits(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["resources"]["metrics"][0]["detection"] = {"direction": "down", "below": 90000}
        data["notify"]["maintenance_windows"] = [
            {
                "name": "patch-tuesday",
                "days": ["tue"],
                "start": "02:00",
                "end": "04:00",
                "timezone": "Europe/Berlin",
            }
        ]

    code, out, err = run("plan", "validate", str(plan_file(tmp_path, change)))
    assert code == 0, err
    connect = next(line for line in out.splitlines() if line.startswith("  Connect.Success (MQTT)"))
    assert "pages when it falls; also pages below 90000 whatever the baseline" in connect
    assert "  patch-tuesday: tue 02:00-04:00 Europe/Berlin, for *" in out
    assert "Maintenance windows: none" in run("plan", "validate", str(DEFAULT_PLAN_FILE))[1]


# --- CSV input: score and backtest read it the same way ---------------------------------------


def score(path: Path, *args: str) -> tuple[int, str, str]:
    return run("score", str(path), "--plan", str(DEFAULT_PLAN_FILE), *args)


def test_a_file_without_a_header_keeps_its_first_row(tmp_path: Path) -> None:
    with_header = score(series_csv(tmp_path / "a.csv"))
    without = score(series_csv(tmp_path / "b.csv", header=False))
    assert with_header[0] == without[0] == 0
    assert without[1] == with_header[1]
    assert without[1].splitlines()[1].startswith(stamp(START))


def test_a_binary_csv_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"timestamp,value\n\xff\xfe\x00\x01")
    code, out, err = score(path)
    assert (code, out) == (2, "")
    assert f"{path}: not UTF-8 text" in err


def test_a_period_unlike_the_rows_spacing_is_said(tmp_path: Path) -> None:
    """`--period 60` on 5-minute data alerted on 696 rows without a word."""
    code, _, err = score(series_csv(tmp_path / "x.csv"), "--period", "60")
    assert code == 0
    assert (
        "--period 60 but the rows are 300 s apart (median): 4 period(s) between rows have no datapoint" in err
    )
    assert "leave --period out to score per 300 s" in err
    assert score(series_csv(tmp_path / "y.csv"), "--period", "300")[2] == ""


def test_a_blank_value_is_no_datapoint_and_its_row_carries_the_score_that_alerted(tmp_path: Path) -> None:
    """A blank row alerted with anomaly_score 0.0000: the score of the period before."""
    rows = [(START + i * PERIOD, 1000 + i % 7) for i in range(20 * 288)]
    silent = START + 19 * 86400 + 14 * 3600
    lines = ["timestamp,value"] + [
        f"{stamp(ts)},{'' if silent <= ts < silent + 1800 else v}" for ts, v in rows
    ]
    path = tmp_path / "x.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = score(path)
    assert code == 0, err
    blank = {stamp(ts) for ts, _ in rows if silent <= ts < silent + 1800}
    scored = [row.split(",") for row in out.splitlines()[1:] if row.split(",")[0] in blank]
    assert len(scored) == 6 and all(alert == "1" for _, _, alert in scored)
    assert all(float(score) >= 0.5 for _, score, _ in scored), scored
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2026-11-02 00:00:00,n/a\n", encoding="utf-8")
    message = score(bad)[2]
    assert (
        "value 'n/a' is not a number; write a number, or leave it empty for a period without a datapoint"
        in message
    )


# --- backtest --csv ---------------------------------------------------------------------------


def two_protocols(data: dict[str, Any]) -> None:
    data["resources"]["metrics"][0]["dimensions"]["Protocol"] = ["MQTT", "HTTP"]


def backtest(tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    return run("backtest", *argv, "--out", str(tmp_path / "out"))


def test_backtest_csv_names_a_series_with_dimensions(tmp_path: Path) -> None:
    plan = plan_file(tmp_path, two_protocols)
    data = series_csv(tmp_path / "connect.csv")
    code, _, err = backtest(tmp_path, "--plan", str(plan), "--csv", f"Connect.Success:Protocol=HTTP={data}")
    assert code == 0, err
    [entry_] = json.loads((tmp_path / "out" / "summary.json").read_text())["series"]
    assert entry_["series_id"] == "AWS/IoT|Connect.Success|Protocol=HTTP"
    # the metric alone names two series: which one is asked
    code, _, err = backtest(tmp_path, "--plan", str(plan), "--csv", f"Connect.Success={data}")
    assert code == 2
    assert "the plan watches Connect.Success as 2 series; name one: Connect.Success:Protocol=MQTT" in err


def test_backtest_csv_refuses_a_misspelt_metric(tmp_path: Path) -> None:
    data = series_csv(tmp_path / "x.csv")
    code, out, err = backtest(tmp_path, "--plan", str(DEFAULT_PLAN_FILE), "--csv", f"Conect.Success={data}")
    assert (code, out) == (2, "")
    assert "--csv Conect.Success: no such series in the plan: did you mean Connect.Success?" in err


def test_backtest_without_a_plan_uses_the_built_in_detection_as_score_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no monitoring-plan.yaml here
    data = series_csv(tmp_path / "x.csv")
    code, out, err = backtest(tmp_path, "--csv", f"PublishIn.Success={data}")
    assert code == 0, err
    assert "no monitoring-plan.yaml here and no --plan: replaying with iotwatch's default detection" in err
    assert "Backtest of plan 'built-in'" in out


# --- audit ------------------------------------------------------------------------------------


GUIDE = EVENTS_DIR / "cloudtrail" / "guide-attach-policy.json"


def test_audit_shows_what_each_call_touched() -> None:
    code, out, err = run("audit", str(GUIDE))
    assert code == 0, err
    assert out.splitlines()[2].strip() == "on ExamplePolicyForIoT -> cert/528ce36e8047"


def test_audit_counts_a_record_read_twice_once(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(GUIDE.read_bytes())
    (tmp_path / "copy of a.json").write_bytes(GUIDE.read_bytes())
    code, out, err = run("audit", str(tmp_path))
    assert code == 0
    assert "1 call(s): 1 sensitive" in out
    assert "1 record(s) read more than once (same eventID) counted once" in err


def test_readme_gives_every_command_its_exit_codes() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Seeing why iotwatch says what it says", 1)[1].split("\n## ", 1)[0]
    assert "exit" in section
    for code in ("0", "1", "2", "130", "141"):
        assert f"`{code}`" in section, code
