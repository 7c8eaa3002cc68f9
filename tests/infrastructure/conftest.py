"""Fixtures: the real CDK app synthesized in-process, once per test module, from plan files written here."""

from __future__ import annotations

import pytest
from infra_support import ENV_EMAIL, ENV_EMAIL_VAR, FULL_PLAN, MINIMAL_PLAN, Synth, synthesize


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    base = tmp_path_factory.mktemp("full")
    plan_path = base / "plan.yaml"
    plan_path.write_text(FULL_PLAN, encoding="utf-8")
    return synthesize(plan_path, base / "cdk.out", environ={ENV_EMAIL_VAR: ENV_EMAIL})


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    base = tmp_path_factory.mktemp("minimal")
    plan_path = base / "plan.yaml"
    plan_path.write_text(MINIMAL_PLAN, encoding="utf-8")
    return synthesize(plan_path, base / "cdk.out", environ={}, context={"data_removal_policy": "destroy"})
