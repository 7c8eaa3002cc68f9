"""cdk-nag (3.x) wiring: the AwsSolutions pack always runs, and every exception is written down.

cdk-nag 3 is a CDK policy-validation plugin: `Validations.of(app).add_plugins(...)`. Any
unacknowledged finding (error or warning) fails `cdk synth`. An acknowledgement names one
finding on one construct (and the constructs under it) and carries the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def enable_nag(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """`rule_id` is a rule (`AwsSolutions-SQS3`) or one finding of it (`AwsSolutions-IAM5[Resource::*]`)."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


@dataclass(frozen=True)
class NagFinding:
    rule: str
    severity: str
    description: str
    construct_paths: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.severity} {self.rule} at {', '.join(self.construct_paths)}: {self.description}"


def nag_findings(scope: IConstruct) -> list[NagFinding]:
    """Runs the AwsSolutions pack over `scope` directly and returns what it did not let pass."""
    report = AwsSolutionsChecks(verbose=True).validate_scope(scope)
    findings = []
    for violation in report.violations:
        paths = tuple(r.construct_path or r.resource_logical_id or "?" for r in violation.violating_resources)
        findings.append(
            NagFinding(violation.rule_name, violation.severity or "", violation.description, paths)
        )
    return findings


# --- checkov -------------------------------------------------------------------------------------
# checkov (the CloudFormation scanner many teams run on what they deploy) reads skips from each
# resource's Metadata: {"checkov": {"skip": [{"id": "CKV_AWS_117", "comment": "why"}]}}. Like a
# cdk-nag acknowledgement, every skip names one check on one resource and says why it does not
# apply; tests/infrastructure/test_infra_checkov.py runs checkov and requires 0 failed checks.

CHECKOV_METADATA = "checkov"


def skip_checkov(construct: IConstruct, check_id: str, reason: str) -> None:
    """Skips `check_id` on the CloudFormation resource of `construct` (an L1, or an L2 whose
    default child is one), keeping the skips already written there."""
    from aws_cdk import CfnResource

    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CloudFormation resource"
    metadata = resource.get_metadata(CHECKOV_METADATA) or {}
    skips = [s for s in metadata.get("skip", []) if s["id"] != check_id]
    resource.add_metadata(CHECKOV_METADATA, {"skip": [*skips, {"id": check_id, "comment": reason}]})
