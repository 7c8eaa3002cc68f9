"""The Lambda code asset: what ships, what does not, and that it is reproducible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from infra_support import ENV_EMAIL, ENV_EMAIL_VAR, LITERAL_EMAIL, SMS_PARAMETER, Synth
from iotwatch.plan.expand import expand_series
from iotwatch.plan.loader import load_plan
from iotwatch.plan.runtime import read_runtime_plan

from infra.staging import stage_function_code

pytestmark = pytest.mark.infrastructure


def _shipped_asset(s: Synth) -> Path:
    """The directory CDK zips for the functions, found from the template's S3 key."""
    keys = {f["Properties"]["Code"]["S3Key"] for f in s.resources("AWS::Lambda::Function").values()}
    assert len(keys) == 1, "both functions share one code asset"
    asset_hash = next(iter(keys)).removesuffix(".zip")
    directory = s.outdir / f"asset.{asset_hash}"
    assert directory.is_dir()
    return directory


def _files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def test_asset_holds_the_package_and_the_compiled_plan(full: Synth) -> None:
    files = _files(_shipped_asset(full))
    assert "plan.json" in files
    assert "iotwatch/__init__.py" in files
    assert "iotwatch/plan/model/plan.py" in files
    assert "iotwatch/handlers/settings.py" in files
    assert "iotwatch/domain/series.py" in files


def test_asset_leaves_out_operator_tools_caches_and_third_party_code(full: Synth) -> None:
    directory = _shipped_asset(full)
    files = _files(directory)
    # the CLI, the local harness and the CDK app are packages of their own: nothing shipped
    # imports them
    tools = re.compile(r"^\s*(?:from|import) (?:iotwatch_cli|iotwatch_local|infra)\b", re.MULTILINE)
    assert not [f for f in files if f.endswith(".py") and tools.search((directory / f).read_text("utf-8"))]
    assert not [f for f in files if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]
    top_level = {f.split("/")[0] for f in files}
    assert top_level == {"iotwatch", "plan.json"}  # no boto3, pydantic, powertools, yaml…


def test_shipped_plan_is_the_plan_without_any_contact(full: Synth) -> None:
    directory = _shipped_asset(full)
    text = (directory / "plan.json").read_text(encoding="utf-8")
    for secret in (LITERAL_EMAIL, ENV_EMAIL, ENV_EMAIL_VAR, SMS_PARAMETER):
        assert secret not in text
    shipped = read_runtime_plan(directory / "plan.json")
    source = load_plan(full.plan_path, environ={ENV_EMAIL_VAR: ENV_EMAIL}, resolve_env=True)
    assert list(shipped.topics) == [t.name for t in source.notify.topics]
    assert "subscribers" not in text
    assert list(shipped.series) == expand_series(source)
    assert shipped.frequency.period_seconds == source.frequency.period_seconds
    assert shipped.frequency.evaluation == source.frequency.evaluation
    assert json.loads(text)["name"] == "test-fleet"


def test_no_contact_anywhere_in_the_asset(full: Synth) -> None:
    directory = _shipped_asset(full)
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (LITERAL_EMAIL, ENV_EMAIL):
                assert secret.encode() not in data, path


def test_staging_is_deterministic_so_the_asset_hash_is_stable(full: Synth, tmp_path: Path) -> None:
    plan = load_plan(full.plan_path, environ={ENV_EMAIL_VAR: ENV_EMAIL}, resolve_env=True)
    first = stage_function_code(plan, staging_root=tmp_path / "a")
    second = stage_function_code(plan, staging_root=tmp_path / "b")
    again = stage_function_code(plan, staging_root=tmp_path / "a")
    assert first.name == second.name
    assert again == first
    assert _files(first) == _files(second)
    for relative in _files(first):
        assert (first / relative).read_bytes() == (second / relative).read_bytes()
    # the synthesized app staged the very same content
    assert _files(full.stack.code_dir) == _files(first)
    assert full.stack.code_dir.name == first.name


def test_a_different_plan_gives_a_different_asset(full: Synth, minimal: Synth) -> None:
    assert _shipped_asset(full).name != _shipped_asset(minimal).name


def test_time_zones_are_bundled_only_for_plans_with_maintenance_windows(tmp_path: Path) -> None:
    from iotwatch.plan.loader import check_plan, read_plan_document

    data = read_plan_document("monitoring-plan.yaml")
    plain = check_plan(data).plan
    assert plain is not None and not plain.notify.maintenance_windows
    without = stage_function_code(plain, staging_root=tmp_path / "a")
    assert not (without / "tzdata").exists()

    data["notify"]["maintenance_windows"] = [
        {"name": "patch", "days": ["sun"], "start": "02:00", "end": "04:00", "timezone": "Europe/Berlin"}
    ]
    windowed = check_plan(data).plan
    assert windowed is not None
    with_zones = stage_function_code(windowed, staging_root=tmp_path / "b")
    assert (with_zones / "tzdata" / "zoneinfo" / "Europe" / "Berlin").is_file()


def test_time_zones_are_bundled_for_a_detection_clock_other_than_utc(tmp_path: Path) -> None:
    from iotwatch.plan.loader import check_plan, read_plan_document

    data = read_plan_document("monitoring-plan.yaml")
    data["resources"]["metrics"][0].setdefault("detection", {})["timezone"] = "UTC"
    assert not (stage_function_code(check_plan(data).plan, staging_root=tmp_path / "a") / "tzdata").exists()
    data["resources"]["metrics"][0]["detection"]["timezone"] = "Europe/Berlin"
    per_metric = stage_function_code(check_plan(data).plan, staging_root=tmp_path / "b")
    assert (per_metric / "tzdata" / "zoneinfo" / "Europe" / "Berlin").is_file()
    del data["resources"]["metrics"][0]["detection"]["timezone"]
    data.setdefault("detection", {})["timezone"] = "America/New_York"
    plan_wide = stage_function_code(check_plan(data).plan, staging_root=tmp_path / "c")
    assert (plan_wide / "tzdata" / "zoneinfo" / "America" / "New_York").is_file()
