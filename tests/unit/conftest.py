"""Unit-test fixtures: the network is off for every test, and the repository's default plan is at hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_socket
from hypothesis import HealthCheck, settings

# Powertools reads the metrics namespace when the handler modules are imported; the stack
# sets it in the function environment, so the unit tests do the same before any import.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "IotWatch")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "iotwatch-unit")

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "tests" / "events"
DEFAULT_PLAN_FILE = REPO_ROOT / "monitoring-plan.yaml"

# For properties whose examples take long to build or to run (a whole replay, a year of
# audit events): how long they take depends on how loaded the machine is, not on the code,
# so a deadline would only make them flaky. Speed is measured by `make bench`.
# Used as @settings(settings.get_profile("slow_properties"), max_examples=N).
settings.register_profile("slow_properties", deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _no_network():
    """Any socket a unit test opens (boto3 included) fails with SocketBlockedError."""
    pytest_socket.disable_socket()
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def default_plan():
    from iotwatch.plan.loader import load_plan

    return load_plan(DEFAULT_PLAN_FILE, environ={})


@pytest.fixture
def default_series(default_plan):
    from iotwatch.plan.expand import expand_series

    return expand_series(default_plan)
