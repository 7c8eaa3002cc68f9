"""checkov, the IaC scanner many platform teams run on what they deploy, over the synthesized
templates: 0 failed checks, and every skip in the resource's metadata with its reason.

checkov runs once for the session (a few seconds), as a subprocess of its own virtualenv
(`make install` puts it in .venv/checkov: it pins a boto3 of its own), with `--skip-download`
so it never reaches for the network. It scans three templates in one go:
- the stack of the default monitoring plan (what `make deploy` deploys);
- the stack of a plan with everything that adds resources: the audit with its own trail,
  work queues (a "*" metric), the dashboard and its band widget;
- a probe: a function and a queue as CDK makes them by default, with no skip, which must fail
  the checks our stack passes only because it fixed or skipped them.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from infra_support import FULL_PLAN, REPO_ROOT, Synth, synthesize_text

pytestmark = pytest.mark.infrastructure

CHECKOV = REPO_ROOT / ".venv" / "checkov" / "bin" / "checkov"
EVERYTHING_PLAN = (
    FULL_PLAN.replace(
        "tools:\n  dashboard: true\n",
        "tools:\n  dashboard: true\n  audit: true\naudit:\n  create_trail: true\n",
    )
    .replace(
        "        - metric: RulesExecuted\n",
        "        - metric: RulesExecuted\n        - metric: TopicMatch\n          dimensions: {RuleName: '*'}\n",
    )
    .replace(
        # every device part: topic rules and their role, fleet metrics, insight rules, IoT logging
        "notify:\n",
        "devices:\n  fleet_indexing: enabled\n  groups: [{thing_group: eu-gateways}]\n"
        "  top_clients: [Connect.AuthError]\n  logging: {level: ERROR}\nnotify:\n",
        1,
    )
)
# What each skip is allowed to be about: the kinds the decision log explains.
SKIP_KINDS = {
    "CKV_AWS_117": "functions outside a VPC",
    "CKV_AWS_173": "function environment without a customer key",
    "CKV_AWS_158": "log groups without a customer key",
    "CKV_AWS_119": "the table with the AWS-managed key",
    "CKV_AWS_27": "queues with SQS-managed encryption",
    "CKV_AWS_116": "the band widget: synchronous only",
    "CKV_AWS_115": "the band widget: no concurrency cap",
    "CKV_AWS_18": "the trail's access-log bucket: no access log of its own",
    "CKV_AWS_67": "the audit trail: one region",
    "CKV_AWS_35": "the audit trail: SSE-S3, not a customer key",
}


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize_text(tmp_path_factory.mktemp("everything"), EVERYTHING_PLAN)


@pytest.fixture(scope="module")
def default_plan(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    plan = (REPO_ROOT / "monitoring-plan.yaml").read_text(encoding="utf-8")
    return synthesize_text(tmp_path_factory.mktemp("default"), plan, environ={})


def _probe_template() -> dict[str, Any]:
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="checkov-probe-"))
    stack = cdk.Stack(app, "Probe")
    lambda_.Function(
        stack,
        "Plain",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return event"),
        environment={"TABLE": "probe"},
    )
    sqs.Queue(stack, "Queue")
    return app.synth().get_stack_by_name("Probe").template  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def scan(everything: Synth, default_plan: Synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """checkov's JSON report per template name (everything, default, probe)."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make install`"
    folder = tmp_path_factory.mktemp("checkov")
    templates = {
        "everything": everything.template_json,
        "default": default_plan.template_json,
        "probe": _probe_template(),
    }
    for name, template in templates.items():
        (folder / f"{name}.template.json").write_text(json.dumps(template), encoding="utf-8")
    files = [arg for name in templates for arg in ("-f", str(folder / f"{name}.template.json"))]
    done = subprocess.run(
        [str(CHECKOV), *files, "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    by_template: dict[str, Any] = {name: {"failed": [], "passed": [], "skipped": []} for name in templates}
    for entry in reports:
        results = entry["results"]
        for outcome in ("failed", "passed", "skipped"):
            for check in results.get(f"{outcome}_checks", []):
                name = Path(check["file_path"]).name.removesuffix(".template.json")
                by_template[name][outcome].append(check)
    return by_template


def _where(check: dict[str, Any]) -> str:
    return f"{check['check_id']} on {check['resource']}: {check['check_name']}"


@pytest.mark.parametrize("template", ["everything", "default"])
def test_checkov_finds_nothing_failed(scan: dict[str, Any], template: str) -> None:
    failed = [_where(c) for c in scan[template]["failed"]]
    assert failed == [], "\n".join(failed)
    assert len(scan[template]["passed"]) >= 100, "checkov ran its CloudFormation checks"


def test_every_skip_is_a_known_kind_with_a_written_reason(scan: dict[str, Any]) -> None:
    skipped = scan["everything"]["skipped"] + scan["default"]["skipped"]
    assert skipped
    for check in skipped:
        comment = check.get("check_result", {}).get("suppress_comment", "")
        assert check["check_id"] in SKIP_KINDS, (
            f"{_where(check)}: a new kind of skip needs a decision log entry"
        )
        assert len(comment) >= 80 and comment != "No comment provided", f"{_where(check)}: {comment!r}"
    # the band widget is the only function without a dead-letter queue or a concurrency cap
    for check_id in ("CKV_AWS_116", "CKV_AWS_115"):
        resources = {c["resource"] for c in skipped if c["check_id"] == check_id}
        assert resources and all("BandWidget" in r for r in resources), resources


def test_checkov_is_not_a_rubber_stamp(scan: dict[str, Any]) -> None:
    """A function and a queue as CDK makes them fail the checks our stack fixed (dead-letter
    queue, reserved concurrency) or skipped with a reason (VPC, encryption)."""
    failed = {c["check_id"] for c in scan["probe"]["failed"]}
    assert {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173", "CKV_AWS_27"} <= failed
