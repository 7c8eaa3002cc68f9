"""cdk-nag (AwsSolutions) and cfn-lint over the synthesized templates."""

from __future__ import annotations

import json
import tempfile

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cfnlint.api import ManualArgs, lint
from infra_support import Synth

from infra.nag import acknowledge, enable_nag, nag_findings

pytestmark = pytest.mark.infrastructure


def test_cdk_nag_reports_nothing_unacknowledged(full: Synth, minimal: Synth) -> None:
    for synth in (full, minimal):
        findings = nag_findings(synth.app)
        assert findings == [], "\n".join(str(f) for f in findings)


def test_every_acknowledgement_carries_a_reason(full: Synth) -> None:
    acknowledged: dict[str, str] = {}
    for construct in full.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    acknowledged[f"{construct.node.path}: {rule}"] = reason
    assert acknowledged, "expected the documented acknowledgements (IAM5 for X-Ray/GetMetricData/KMS, SQS3)"
    for where, reason in acknowledged.items():
        assert len(reason) >= 40, f"{where} needs a real reason, got {reason!r}"
    rules = sorted(where.split(": ", 1)[1] for where in acknowledged)
    assert not [r for r in rules if r.endswith("AwsSolutions-IAM5") or r.endswith("AwsSolutions-IAM4")], (
        "acknowledge IAM5 findings one by one (Resource::*, Action::…), never the whole rule"
    )


def test_nag_is_not_a_rubber_stamp() -> None:
    """The same wiring fails synth on an unacknowledged finding, and an acknowledgement lifts it."""
    app = cdk.App(outdir=tempfile.mkdtemp(prefix="nag-"))
    stack = cdk.Stack(app, "NagProbe")
    queue = sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    enable_nag(app)
    rules = {f.rule for f in nag_findings(app)}
    assert {"AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= rules
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    acknowledge(
        queue, "AwsSolutions-SQS2", "a probe queue in a test, never deployed; checks acknowledgements"
    )
    assert "AwsSolutions-SQS2" not in {f.rule for f in nag_findings(app)}


@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_cfn_lint_finds_no_errors(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    matches = lint(json.dumps(synth.template_json), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    errors = [m for m in matches if m.rule.id.startswith("E")]
    assert errors == [], "\n".join(str(m) for m in errors)
    # Only the known, harmless CDK pattern may warn: W3005 (explicit DependsOn next to a GetAtt).
    warnings = {m.rule.id for m in matches if not m.rule.id.startswith("E")}
    assert warnings <= {"W3005"}, warnings
