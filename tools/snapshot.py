"""What a refactor must not change, written to a folder: `python -m tools.snapshot OUT [--demo]`.

Compare two snapshots (the code before and after) with `diff -r BEFORE AFTER`:

- `scores/`: `iotwatch score` on every NAB dev file in bench/realdata (the bytes the judge reads);
- `templates/`: the synthesized CloudFormation template of the default plan and of every
  plan in examples/ (asset hashes included: a changed Lambda package changes them, so compare
  with `--no-assets` when only the code moved);
- `problems.txt`: every problem `plan validate` reports for systematic mutations of the same
  plans (each key deleted, misspelt, or given a value of each wrong kind);
- `demo.txt` (with `--demo`): what on-call receives in `iotwatch demo`.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
# the plans a user starts from: every key of them is mutated
PLANS = [REPO / "monitoring-plan.yaml", *sorted((REPO / "examples").glob("*.yaml"))]
WRONG_VALUES: tuple[Any, ...] = ("not-a-valid-value", -1, 0, 1.5, True, [], {}, None, "")
ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def _scores(out: Path) -> None:
    folder = out / "scores"
    folder.mkdir(parents=True)
    iotwatch = REPO / ".venv" / "bin" / "iotwatch"
    for data in sorted((REPO / "bench" / "realdata" / "data").rglob("*.csv")):
        result = subprocess.run(
            [str(iotwatch), "score", str(data.relative_to(REPO))], capture_output=True, check=False, cwd=REPO
        )
        name = f"{data.parent.name}__{data.name}"
        (folder / name).write_bytes(
            result.stdout + f"\n# exit {result.returncode}\n".encode() + result.stderr
        )


def _templates(out: Path, keep_assets: bool) -> None:
    from infra.app import build_app

    folder = out / "templates"
    folder.mkdir(parents=True)
    env = {"CDK_DEFAULT_ACCOUNT": "111111111111", "CDK_DEFAULT_REGION": "eu-west-1"}
    for plan in PLANS:
        with tempfile.TemporaryDirectory() as outdir:
            app = build_app(plan, outdir=outdir, environ={**os.environ, **env})
            assembly = app.synth()
            for stack in assembly.stacks:
                text = json.dumps(stack.template, indent=1, sort_keys=True)
                if not keep_assets:
                    text = ASSET_HASH.sub("<hash>", text)
                (folder / f"{plan.stem}__{stack.stack_name}.json").write_text(text + "\n", encoding="utf-8")


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from _paths(value, (*path, index))


def mutations(data: Any, wrong_values: tuple[Any, ...] = WRONG_VALUES) -> Iterator[tuple[str, Any]]:
    for path in _paths(data):
        parent_path, last = path[:-1], path[-1]
        label = ".".join(str(p) for p in path)
        deleted = copy.deepcopy(data)
        parent = _at(deleted, parent_path)
        del parent[last]
        yield f"delete {label}", deleted
        if isinstance(last, str):
            misspelt = copy.deepcopy(data)
            parent = _at(misspelt, parent_path)
            parent[last + "x"] = parent.pop(last)
            yield f"misspell {label}", misspelt
        for wrong in wrong_values:
            changed = copy.deepcopy(data)
            _at(changed, parent_path)[last] = wrong
            yield f"set {label} = {wrong!r}", changed


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _problems(out: Path) -> None:
    from iotwatch.plan.loader import PlanError, check_plan_file

    lines: list[str] = []
    environ = {"ONCALL_EMAIL": "oncall@example.com", "ONCALL_PHONE": "+15555550100"}
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "plan.yaml"
        for plan in PLANS:
            data = yaml.safe_load(plan.read_text(encoding="utf-8"))
            for label, mutated in mutations(data):
                target.write_text(yaml.safe_dump(mutated, sort_keys=False), encoding="utf-8")
                try:
                    check = check_plan_file(target, environ=environ)
                    found = [p.at(str(target.name)) for p in check.problems]
                except PlanError as exc:
                    found = [str(exc).replace(str(target), target.name)]
                except Exception as exc:  # a crash is behaviour too
                    found = [f"CRASH {type(exc).__name__}: {exc}"]
                lines.append(f"## {plan.name}: {label}")
                lines.extend(found)
    (out / "problems.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _demo(out: Path) -> None:
    from iotwatch_cli.main import main

    with tempfile.TemporaryDirectory() as folder:
        stream, errors = io.StringIO(), io.StringIO()
        code = main(["demo", "--out", folder], out=stream, err=errors)
    text = stream.getvalue().replace(folder, "<out>")
    text = re.sub(r" \.\.\. \d+\.\ds$", " ... <time>", text, flags=re.MULTILINE)
    text = re.sub(r"-[A-Z0-9]{12}\b", "-<physical id>", text)  # CloudFormation's random suffixes
    (out / "demo.txt").write_text(f"{text}\n# exit {code}\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--demo", action="store_true", help="also run the demo (~3 minutes)")
    parser.add_argument("--assets", action="store_true", help="keep asset hashes in templates")
    parser.add_argument("--only", choices=("scores", "templates", "problems", "demo"), action="append")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists: give a new folder")
    args.out.mkdir(parents=True)
    wanted = set(args.only or ("scores", "templates", "problems", *(("demo",) if args.demo else ())))
    if "scores" in wanted:
        _scores(args.out)
    if "templates" in wanted:
        _templates(args.out, args.assets)
    if "problems" in wanted:
        _problems(args.out)
    if "demo" in wanted:
        _demo(args.out)
    print(f"snapshot in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
