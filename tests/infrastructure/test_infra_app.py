"""app.py and build_app: plan and context errors stop synth cleanly; {env: VAR} contacts; stages;
cdk.json. (Stages side by side and reproducible synths: test_infra_side_by_side.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from infra_support import ENV_EMAIL, ENV_EMAIL_VAR, FULL_PLAN, REPO_ROOT
from iotwatch.plan.loader import PlanError

from infra.app import ContextError, build_app, project_context

pytestmark = pytest.mark.infrastructure

BAD_PLAN = textwrap.dedent(
    """
    version: 1
    name: Bad_Name
    goals: [Something.]
    resources:
      metrics:
        - metric: Connect.Success
          dimensions: {Protocol: MQTT}
          colour: red
    frequency:
      evaluation: rate(5 minute)
    notify:
      topics:
        - name: oncall
          subscribers:
            - email: not-an-address
      routes:
        - topic: pager
    """
)


def _run_app(
    plan: Path,
    outdir: Path,
    extra_env: dict[str, str] | None = None,
    context: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`cdk synth -c plan=…` runs `python app.py` with the context in CDK_CONTEXT_JSON: do the same."""
    env = {k: v for k, v in os.environ.items() if k != ENV_EMAIL_VAR and not k.startswith("CDK_DEFAULT_")}
    env.update(
        CDK_CONTEXT_JSON=json.dumps({"plan": str(plan), **(context or {})}),
        CDK_OUTDIR=str(outdir),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        **(extra_env or {}),
    )
    return subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_bad_plan_stops_synth_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text(BAD_PLAN, encoding="utf-8")
    result = _run_app(plan, tmp_path / "cdk.out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for path in (
        "name",
        "owners",
        "resources.metrics[0].colour",
        "frequency.evaluation",
        "notify.topics[0].subscribers[0].email",
        "notify.routes[0].topic",
    ):
        assert f": {path}:" in result.stderr, (path, result.stderr)
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_app_py_synthesizes_the_plan_named_in_context(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(FULL_PLAN, encoding="utf-8")
    outdir = tmp_path / "cdk.out"
    result = _run_app(plan, outdir, {ENV_EMAIL_VAR: ENV_EMAIL})
    assert result.returncode == 0, result.stderr
    template = json.loads((outdir / "IotWatch-TestFleet.template.json").read_text(encoding="utf-8"))
    endpoints = [
        r["Properties"]["Endpoint"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SNS::Subscription"
    ]
    assert ENV_EMAIL in endpoints
    # synth output never shows a contact
    assert ENV_EMAIL not in result.stdout + result.stderr


def test_bad_stage_stops_synth_naming_the_context_key_and_no_traceback(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(FULL_PLAN, encoding="utf-8")
    result = _run_app(plan, tmp_path / "cdk.out", {ENV_EMAIL_VAR: ENV_EMAIL}, context={"stage": "Dev"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "context stage='Dev' is not a valid stage name" in result.stderr
    assert "-c stage=dev" in result.stderr
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_unset_env_contact_is_a_plan_error_naming_the_variable(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(FULL_PLAN, encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        build_app(plan, outdir=str(tmp_path / "cdk.out"), environ={})
    message = str(raised.value)
    assert "notify.topics[0].subscribers[1].email" in message
    assert ENV_EMAIL_VAR in message


def test_env_contact_must_itself_be_valid(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(FULL_PLAN, encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        build_app(plan, outdir=str(tmp_path / "cdk.out"), environ={ENV_EMAIL_VAR: "nobody"})
    assert "notify.topics[0].subscribers[1].email" in str(raised.value)
    assert "nobody" not in str(raised.value)  # the value of an env contact is never echoed


def test_topic_names_that_collide_as_outputs_are_a_plan_error(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        FULL_PLAN.replace("name: oncall_sms", "name: oncall_email").replace(
            "topic: oncall_sms", "topic: oncall_email"
        ),
        encoding="utf-8",
    )
    with pytest.raises(PlanError) as raised:
        build_app(plan, outdir=str(tmp_path / "cdk.out"), environ={ENV_EMAIL_VAR: ENV_EMAIL})
    assert "notify.topics[1].name" in str(raised.value)
    assert "TopicOncallEmailArn" in str(raised.value)


def test_unknown_removal_policy_context_is_refused(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(FULL_PLAN, encoding="utf-8")
    with pytest.raises(ContextError, match="data_removal_policy"):
        build_app(
            plan,
            outdir=str(tmp_path / "cdk.out"),
            context={"data_removal_policy": "snapshot"},
            environ={ENV_EMAIL_VAR: ENV_EMAIL},
        )


def test_cdk_json_runs_app_py_and_its_flags_apply_in_process() -> None:
    config = json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))
    assert "app.py" in config["app"]
    assert ".venv/bin/python" in config["app"]
    context = project_context()
    assert context == config["context"]
    assert context["@aws-cdk/aws-iam:minimizePolicies"] is True


def test_repository_plan_synthesizes(tmp_path: Path) -> None:
    """The monitoring-plan.yaml at the repo root is what `cdk deploy` uses by default."""
    from infra.app import iotwatch_stack
    from infra.nag import nag_findings

    app = build_app(REPO_ROOT / "monitoring-plan.yaml", outdir=str(tmp_path / "cdk.out"))
    app.synth()
    assert iotwatch_stack(app).stack_name == "IotWatch-Fleet"
    assert nag_findings(app) == []


# --- issue 24: a plan that cannot be read, and one that would watch nothing ---------------


def test_a_binary_plan_stops_synth_with_the_file_named_and_no_traceback(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary")
    result = _run_app(plan, tmp_path / "cdk.out")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{plan}:1:1: error: (plan): not UTF-8 text" in result.stderr
    assert "save it as UTF-8" in result.stderr


def _misspelt_protocol_plan(tmp_path: Path) -> Path:
    assert "{Protocol: MQTT}" in FULL_PLAN
    plan = tmp_path / "plan.yaml"
    plan.write_text(FULL_PLAN.replace("{Protocol: MQTT}", "{Protocol: HTTPS}", 1), encoding="utf-8")
    return plan


def test_strict_context_refuses_a_plan_with_warnings_with_exit_1(tmp_path: Path) -> None:
    plan = _misspelt_protocol_plan(tmp_path)
    result = _run_app(plan, tmp_path / "cdk.out", {ENV_EMAIL_VAR: ENV_EMAIL}, context={"strict": "true"})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "refused in strict mode" in result.stderr
    assert "not 'HTTPS': did you mean HTTP?" in result.stderr
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_synth_prints_the_plans_warnings_on_stderr_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _misspelt_protocol_plan(tmp_path)
    build_app(plan, outdir=str(tmp_path / "cdk.out"), environ={ENV_EMAIL_VAR: ENV_EMAIL})
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if "HTTPS" in x]
    assert line.startswith(f"{plan}:") and ": warning: " in line and "would stay empty" in line
    with pytest.raises(ContextError, match="context strict must be true or false"):
        build_app(plan, context={"strict": "maybe"}, environ={ENV_EMAIL_VAR: ENV_EMAIL})
