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
