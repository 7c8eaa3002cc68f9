"""Builds the Lambda code asset at synth time: the iotwatch package plus the compiled plan.

The directory is named after a hash of its content and written atomically, so the same plan
and code always give the same directory and the same CDK asset hash (`cdk diff` stays quiet),
and two synths running at once never see a half-written directory.

What goes in, and what stays out:
- `iotwatch/`, the package the Lambdas run (the operator CLI and the local harness are the
  packages `iotwatch_cli` and `iotwatch_local`, never shipped), without byte-code and tool caches, and without hidden files and editor backups (.DS_Store,
  .x.py.swp, x.py~): what a working tree collects must not change the asset hash;
- `plan.json` at the asset root (`IOTWATCH_PLAN_FILE`, read relative to LAMBDA_TASK_ROOT),
  written by `write_runtime_plan`, which strips every subscriber contact;
- no third-party packages: boto3 comes with the runtime, Powertools and pydantic with the
  public Powertools layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import iotwatch
from iotwatch.domain.local_time import UTC_NAME
from iotwatch.plan.model.plan import Plan
from iotwatch.plan.runtime import RUNTIME_PLAN_FILE, compile_runtime_plan, write_runtime_plan

PACKAGE_NAME = "iotwatch"
EXCLUDED_DIR_NAMES = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo", "~")
STAGING_DIR_NAME = ".iotwatch-staging"


def package_dir() -> Path:
    """The iotwatch package the Lambdas run (found through the import system, not a guessed path)."""
    return Path(iotwatch.__file__).resolve().parent


def _package_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(path relative to the asset root, source file) for every file shipped, in a stable order."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        relative_dir = here.relative_to(root)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in EXCLUDED_DIR_NAMES and not d.startswith(".") and not d.endswith(".egg-info")
        )
        for name in sorted(filenames):
            if name.endswith(EXCLUDED_SUFFIXES) or name.startswith("."):
                continue
            source = here / name
            yield (Path(PACKAGE_NAME) / relative_dir / name).as_posix(), source


def _zone_files() -> Iterator[tuple[str, Path]]:
    """The IANA time-zone database as the `tzdata` package: zoneinfo falls back to it when
    the Lambda runtime image has no /usr/share/zoneinfo (some Amazon Linux 2023 images)."""
    import tzdata

    root = Path(tzdata.__file__).parent
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIR_NAMES)
        here = Path(dirpath)
        for name in sorted(filenames):
            if not name.endswith(EXCLUDED_SUFFIXES):
                yield (Path("tzdata") / here.relative_to(root) / name).as_posix(), here / name


def uses_time_zones(plan: Plan) -> bool:
    """Only maintenance windows and a detection clock other than UTC (plan-wide or per metric)
    read the time-zone database: other plans ship without it."""
    if plan.notify.maintenance_windows:
        return True
    detections = [spec.detection for spec in plan.resources.metrics]
    detections += [spec.detection for spec in plan.resources.ratios]
    if plan.devices is not None:
        detections += [plan.devices.detection, *(g.detection for g in plan.devices.groups)]
    overrides = {d.timezone for d in detections if d is not None}
    return bool(({plan.detection.timezone} | overrides) - {None, UTC_NAME})


def stage_function_code(
    plan: Plan, *, staging_root: str | Path, source_dir: str | Path | None = None
) -> Path:
    """Writes (or reuses) `<staging_root>/.iotwatch-staging/<content hash>` and returns it."""
    root = Path(source_dir) if source_dir is not None else package_dir()
    files = list(_package_files(root))
    if uses_time_zones(plan):
        files += list(_zone_files())

    digest = hashlib.sha256()
    for relative, source in files:
        digest.update(relative.encode() + b"\0" + source.read_bytes() + b"\0")
    # Hash exactly what write_runtime_plan will write, without writing it first.
    plan_text = json.dumps(compile_runtime_plan(plan), indent=1, sort_keys=True)
    digest.update(RUNTIME_PLAN_FILE.encode() + b"\0" + plan_text.encode())

    base = Path(staging_root) / STAGING_DIR_NAME
    target = base / digest.hexdigest()[:32]
    if (target / RUNTIME_PLAN_FILE).is_file():
        return target

    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
    try:
        for relative, source in files:
            destination = scratch / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)  # content only: no mtimes or modes to disturb the hash
        write_runtime_plan(plan, scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not (target / RUNTIME_PLAN_FILE).is_file():  # lost a race to an identical, finished copy?
                raise
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return target
