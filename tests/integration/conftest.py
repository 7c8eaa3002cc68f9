"""Integration tests run against moto in server mode on loopback, started once per session.

Fixtures:
- ``local_aws`` (session): the running ``LocalAws``; its ``url``, ``reset()``, ``env()``.
- ``aws_env`` (function): moto reset to empty, and ``os.environ`` pointing boto3 at it
  (``AWS_ENDPOINT_URL``, dummy credentials, region) for the test; yields the
  ``LocalAws``. Use this one in tests.
- ``fleet_assembly`` (session): the cloud assembly of the real CDK app synthesized from
  the default ``monitoring-plan.yaml`` (synth once per session, in a tmp dir).
- ``inboxes`` (function): an SQS queue subscribed to every topic of the module's ``fleet``
  (the ``IotWatch`` a module's fixture of that name gives), unsubscribed after the test.
- ``bus_inbox`` (function): the url of an SQS queue behind a rule on the default bus matching
  every iotwatch event (``bus_events_received`` reads it), removed after the test; needs the
  module's ``fleet`` deployed.
- ``handler_caches`` (function): the handlers' cached settings, series and clients
  cleared before and after the test (a cold start), so each test's invocations use the
  current endpoint and the environment of the stack it deployed.

``iotwatch_harness`` (beside this file) deploys an assembly and drives the real handlers.

Every test under this directory is marked ``integration`` and may open sockets to
loopback only (pytest-socket ``allow_hosts``), also when the run passes
``--disable-socket``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from iotwatch_harness import (
    DEFAULT_PLAN_FILE,
    Inboxes,
    IotWatch,
    bus_inbox_queue,
    clear_handler_caches,
    synthesize,
)

from iotwatch_local.endpoint import MOTO_UNSUPPORTED_WARNING, LocalAws

HERE = Path(__file__).parent
LOOPBACK = ["127.0.0.1", "localhost", "::1"]

# jsii (behind aws-cdk-lib) prints a banner on Node 20; synth in tests should be quiet.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
            if item.get_closest_marker("allow_hosts") is None:
                item.add_marker(pytest.mark.allow_hosts(LOOPBACK))
            # moto warns per resource type its CloudFormation skips; deploy_stack reports them
            item.add_marker(pytest.mark.filterwarnings(f"ignore:{MOTO_UNSUPPORTED_WARNING}:UserWarning"))


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def aws_env(local_aws: LocalAws) -> Iterator[LocalAws]:
    local_aws.reset()
    with local_aws.env():
        yield local_aws


@pytest.fixture(scope="session")
def fleet_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(DEFAULT_PLAN_FILE, tmp_path_factory.mktemp("fleet") / "cdk.out")


@pytest.fixture
def handler_caches() -> Iterator[None]:
    clear_handler_caches()
    yield
    clear_handler_caches()


@pytest.fixture
def inboxes(fleet: IotWatch) -> Iterator[Inboxes]:
    boxes = Inboxes(fleet.topics)
    yield boxes
    boxes.close()


@pytest.fixture
def bus_inbox(fleet: IotWatch, local_aws: LocalAws) -> Iterator[str]:
    with bus_inbox_queue(local_aws) as url:
        yield url
