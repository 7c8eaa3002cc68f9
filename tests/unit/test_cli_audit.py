"""`iotwatch audit`: files, .gz, EventBridge events, directories, source filtering, the
table and --json output, and errors that name the file and record without stopping the run."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Any

from iotwatch_cli.audit import render_table
from iotwatch_cli.main import main

from .conftest import EVENTS_DIR

CLOUDTRAIL = EVENTS_DIR / "cloudtrail"
GUIDE = str(CLOUDTRAIL / "guide-attach-policy.json")
S3_LOG = str(CLOUDTRAIL / "s3-log-file.json")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["audit", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_guide_record_as_json():
    code, out, err = run("--json", GUIDE)
    assert (code, err) == (0, "")
    (row,) = json_lines(out)
    assert row["time"] == "2016-04-08T23:51:36Z"
    assert row["action"] == "AttachPolicy"
    assert row["credentials"] == "role" and row["temporary"] is True
    assert row["principal"] == "iotmonitor-us-east-1-InstanceRole-1C5T1YCYMHPYT"
    assert row["principal_arn"].endswith(
        ":role/executionServiceEC2Role/iotmonitor-us-east-1-beta-InstanceRole-1C5T1YCYMHPYT"
    )
    assert row["session"] == "i-35d0a4b6"
    assert "111111111111" in row["via_service"]
    assert row["source_ip"] == "52.90.213.26"
    assert row["error"] is None
    assert row["sensitive"] is True and row["severity"] == "warning"
    assert row["parameters"]["policyName"] == "ExamplePolicyForIoT"
    for key in ("source", "region", "account", "via_service", "is_root", "failed", "file", "record"):
        assert key in row


def test_guide_record_as_table():
    code, out, err = run(GUIDE)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "(UTC)", "ACTION", "WHO", "FROM", "OUTCOME", "PAGES"]
    assert "2016-04-08T23:51:36Z" in lines[1] and "AttachPolicy" in lines[1]
    assert "i-35d0a4b6" in lines[1] and "52.90.213.26" in lines[1] and "warning" in lines[1]
    assert lines[1].split()[2] == "role"
    assert "1 call(s): 1 sensitive, 0 failed, 0 by root" in out


def test_table_fits_120_columns_for_every_sample():
    code, out, _ = run("--all-sources", str(CLOUDTRAIL))
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 120


def test_s3_log_file_shows_only_iot_calls_by_default():
    _, out, _ = run("--json", S3_LOG)
    assert [r["action"] for r in json_lines(out)] == ["AttachPolicy", "ListThings"]
    _, table, _ = run(S3_LOG)
    assert "2 call(s) to other services not shown" in table


def test_all_sources_shows_every_call():
    _, out, _ = run("--json", "--all-sources", S3_LOG)
    rows = json_lines(out)
    assert [r["action"] for r in rows] == ["AttachPolicy", "CreateBucket", "DeletePolicy", "ListThings"]
    iam = rows[2]
    assert iam["source"] == "iam.amazonaws.com" and iam["sensitive"] is False  # IAM's DeletePolicy


def test_gzip_log_file(tmp_path: Path):
    packed = tmp_path / "123456789012_CloudTrail_eu-west-1_20261116T1000Z_abc.json.gz"
    packed.write_bytes(gzip.compress(Path(S3_LOG).read_bytes()))
    code, out, err = run("--json", str(packed))
    assert (code, err) == (0, "")
    assert [r["action"] for r in json_lines(out)] == ["AttachPolicy", "ListThings"]


def test_eventbridge_event():
    _, out, _ = run("--json", str(CLOUDTRAIL / "eventbridge-api-call.json"))
    (row,) = json_lines(out)
    assert row["action"] == "DisableTopicRule" and row["severity"] == "critical"


def test_directory_reads_json_and_gz_sorted_by_time(tmp_path: Path):
    shutil.copy(GUIDE, tmp_path / "a.json")
    nested = tmp_path / "AWSLogs" / "2026" / "11" / "16"
    nested.mkdir(parents=True)
    (nested / "log.json.gz").write_bytes(gzip.compress(Path(S3_LOG).read_bytes()))
    (tmp_path / "notes.txt").write_text("not CloudTrail")
    code, out, err = run("--json", str(tmp_path))
    assert (code, err) == (0, "")
    rows = json_lines(out)
    assert [r["action"] for r in rows] == ["AttachPolicy", "AttachPolicy", "ListThings"]
    assert rows[0]["time"] < rows[1]["time"]


def test_every_identity_type_in_the_samples():
    _, out, _ = run("--json", str(CLOUDTRAIL))
    seen = {r["credentials"] for r in json_lines(out)}
    assert seen == {
        "root",
        "iam-user",
        "role",
        "federated",
        "aws-service",
        "aws-account",
        "identity-center",
        "unknown",
    }


def test_bad_json_file_among_good_ones(tmp_path: Path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"Records": [')
    code, out, err = run("--json", GUIDE, str(bad), S3_LOG)
    assert code == 2
    assert [r["action"] for r in json_lines(out)] == ["AttachPolicy", "AttachPolicy", "ListThings"]
    assert "broken.json: not valid JSON" in err
    assert "Traceback" not in err


def test_corrupt_gzip_and_missing_path(tmp_path: Path):
    corrupt = tmp_path / "cut.json.gz"
    corrupt.write_bytes(gzip.compress(b'{"Records": []}')[:12])
    code, out, err = run(GUIDE, str(corrupt), str(tmp_path / "nope.json"))
    assert code == 2
    assert "AttachPolicy" in out
    assert "cut.json.gz: not a valid gzip file" in err
    assert "nope.json: no such file or directory" in err


def test_record_missing_event_name_is_named_and_others_printed(tmp_path: Path):
    log = json.loads(Path(S3_LOG).read_text())
    del log["Records"][2]["eventName"]
    path = tmp_path / "cloudtrail.json"
    path.write_text(json.dumps(log))
    code, out, err = run("--json", "--all-sources", str(path))
    assert code == 2
    assert f"{path}: record 3: no eventName" in err
    assert [r["action"] for r in json_lines(out)] == ["AttachPolicy", "CreateBucket", "ListThings"]


def test_not_a_cloudtrail_document(tmp_path: Path):
    path = tmp_path / "numbers.json"
    path.write_text("[1, 2]")
    code, _, err = run(str(path))
    assert code == 2
    assert "record 1: not a JSON object" in err and "record 2" in err


def test_empty_directory(tmp_path: Path):
    code, _, err = run(str(tmp_path))
    assert code == 2 and "no *.json or *.json.gz files" in err


def test_render_table_keeps_role_and_session_when_clipping():
    from iotwatch.domain.audit.reading import normalize

    from iotwatch_cli.audit import Located

    event = normalize(json.loads(Path(GUIDE).read_text()))
    table = render_table([Located(event, "x", 1)], width=90)
    row = table.splitlines()[1]
    assert row.split()[1] == "AttachPolicy"
    who = row.split()[3]
    assert row.split()[2] == "role"
    assert who.startswith("iotm") and "..." in who and who.endswith("/i-35d0a4b6")


def test_a_plan_judges_calls_as_the_deployed_audit_would(tmp_path: Path):
    from iotwatch.plan.loader import read_plan_document

    from .conftest import REPO_ROOT

    plan = read_plan_document(REPO_ROOT / "monitoring-plan.yaml")
    plan["audit"] = {"actions": {"AttachPolicy": "critical"}}
    strict = tmp_path / "strict.yaml"
    strict.write_text(json.dumps(plan), encoding="utf-8")
    plan["audit"] = {"ignore_principals": ["iotmonitor-*"]}
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(json.dumps(plan), encoding="utf-8")

    (row,) = json_lines(run("--json", "--plan", str(strict), GUIDE)[1])
    assert row["sensitive"] is True and row["severity"] == "critical"
    assert row["reasons"] == ["AttachPolicy is a sensitive action (critical)"]
    (row,) = json_lines(run("--json", "--plan", str(lenient), GUIDE)[1])
    assert row["sensitive"] is True and row["severity"] is None
    assert "ignore_principals" in row["reasons"][0]
    code, out, _ = run("--plan", str(lenient), GUIDE)
    assert code == 0 and "0 would page" in out


def test_an_invalid_plan_stops_before_reading_any_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: fleet\naudit: {actions: {DeletePolicy: loud}}\n", encoding="utf-8")
    code, out, err = run("--plan", str(bad), GUIDE)
    assert code == 2 and out == ""
    assert str(bad) in err and "audit.actions.DeletePolicy" in err
