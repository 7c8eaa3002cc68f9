"""The plan's JSON Schema for editors: generated from the model, checked in, referenced by every
example plan, and never flagging a plan `plan validate` accepts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from iotwatch.plan.model.base import StrictModel
from iotwatch.plan.schema import REGENERATE, SCHEMA_FILE, WIDENED, WIDENED_MODELS, plan_json_schema

from iotwatch_cli.main import main

from .conftest import REPO_ROOT

EXAMPLE_PLANS = [
    REPO_ROOT / "monitoring-plan.yaml",
    *sorted((REPO_ROOT / "tests" / "plans").glob("*.yaml")),
    *sorted((REPO_ROOT / "examples").glob("*.yaml")),
]


def test_the_checked_in_schema_is_the_models() -> None:
    out = io.StringIO()
    assert main(["plan", "schema"], out=out) == 0
    checked_in = (REPO_ROOT / SCHEMA_FILE).read_text(encoding="utf-8")
    assert checked_in == out.getvalue(), (
        f"{SCHEMA_FILE} is not the plan model's schema: after changing the model, run `{REGENERATE}` "
        "(from the repository root, with the venv's iotwatch) and commit the file"
    )


@pytest.mark.parametrize("path", EXAMPLE_PLANS, ids=lambda p: p.name)
def test_every_example_plan_names_the_schema_on_its_first_line_and_is_valid_under_it(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix), f"{path}: line 1 must be `{prefix}<relative path to {SCHEMA_FILE}>`"
    assert (path.parent / first.removeprefix(prefix)).resolve() == (REPO_ROOT / SCHEMA_FILE).resolve()
    errors = [
        f"{list(e.path)}: {e.message}"
        for e in jsonschema.Draft202012Validator(plan_json_schema()).iter_errors(
            yaml.safe_load(path.read_text(encoding="utf-8"))
        )
    ]
    assert errors == []


def _models(cls: type[StrictModel]) -> list[type[StrictModel]]:
    return [cls, *(m for sub in cls.__subclasses__() for m in _models(sub))]


def test_every_shorthand_the_model_reads_is_in_the_schema() -> None:
    """A before-validator reads more than its field's type says ('4h', one string for a list):
    the schema is widened there (iotwatch.plan.schema.WIDENED), or an editor flags a valid plan."""
    reading: set[Any] = set()
    for model in _models(StrictModel):
        decorators = model.__pydantic_decorators__
        for validator in decorators.field_validators.values():
            if validator.info.mode == "before":
                reading |= {(model.__name__, field) for field in validator.info.fields}
        if any(v.info.mode == "before" for v in decorators.model_validators.values()):
            reading.add(model.__name__)
    assert reading <= set(WIDENED) | set(WIDENED_MODELS), (
        "widen these in iotwatch/plan/schema.py, then regenerate: "
        f"{sorted(map(str, reading - set(WIDENED) - set(WIDENED_MODELS)))}"
    )


def test_the_schema_flags_what_an_editor_should() -> None:
    validator = jsonschema.Draft202012Validator(plan_json_schema())
    data = yaml.safe_load((REPO_ROOT / "monitoring-plan.yaml").read_text(encoding="utf-8"))
    data["frequency"]["evaluaton"] = "rate(5 minutes)"  # a misspelt key
    data["detection"]["direction"] = "sideways"
    found = {tuple(e.path) for e in validator.iter_errors(data)}
    assert ("frequency",) in found and ("detection", "direction") in found
