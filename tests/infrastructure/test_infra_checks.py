"""cdk-nag (AwsSolutions) and cfn-lint over the synthesized templates."""

from __future__ import annotations

import tempfile

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from infra_support import Synth, acknowledgements, cfn_lint_problems, nag_problems

from infra.nag import acknowledge, enable_nag, nag_findings

pytestmark = pytest.mark.infrastructure


def test_cdk_nag_reports_nothing_unacknowledged(full: Synth, minimal: Synth) -> None:
    for synth in (full, minimal):
        problems = nag_problems(synth)
        assert problems == [], "\n".join(problems)


def test_every_acknowledgement_carries_a_reason(full: Synth) -> None:
    acknowledged = {f"{path}: {rule}": reason for (path, rule), reason in acknowledgements(full).items()}
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
    errors, warnings = cfn_lint_problems(synth)
    assert errors == [], "\n".join(errors)
    assert warnings == set(), warnings  # beyond the known CFN_LINT_ALLOWED_WARNINGS
