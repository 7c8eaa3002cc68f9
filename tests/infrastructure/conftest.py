"""Fixtures: the real CDK app synthesized in-process from plan files written here.

The plans several modules read (full, minimal, audited) are synthesized once per session (per
xdist worker): a synth takes seconds, and the tests only read the Synth they get."""

from __future__ import annotations

import os

import pytest
from infra_support import (
    AUDIT_PLAN,
    ENV_EMAIL,
    ENV_EMAIL_VAR,
    FULL_PLAN,
    MINIMAL_PLAN,
    Synth,
    synthesize_plan,
)

# infra_support.store_ports imports the handler modules (to read their store ports), and
# Powertools reads the metrics namespace at that import: set it as the function environment
# would, or a later integration test in the same worker finds a Metrics without a namespace.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "IotWatch")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "iotwatch-infrastructure")


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize_plan(tmp_path_factory.mktemp("full"), FULL_PLAN, environ={ENV_EMAIL_VAR: ENV_EMAIL})


@pytest.fixture(scope="session")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize_plan(
        tmp_path_factory.mktemp("minimal"),
        MINIMAL_PLAN,
        environ={},
        context={"data_removal_policy": "destroy"},
    )


@pytest.fixture(scope="session")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The full plan with the audit function on."""
    return synthesize_plan(tmp_path_factory.mktemp("audited"), AUDIT_PLAN, environ={ENV_EMAIL_VAR: ENV_EMAIL})
