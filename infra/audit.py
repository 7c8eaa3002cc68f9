"""Capability: watch the AWS IoT control plane. CloudTrail records every IoT API call; the
write calls reach the default event bus as "AWS API Call via CloudTrail" events, and the
audit function judges each one (sensitive action? root? denied?), records it and alerts.

EventBridge only gets these events while some CloudTrail trail in the region is logging.
Accounts that have none set `audit.create_trail` and get one here (`AuditTrail`).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from constructs import Construct
from iotwatch.telemetry import AUDIT_SERVICE

from infra.capability import Capability, FunctionSpec, StackParts
from infra.nag import skip_checkov
from infra.storage import AUDIT_TABLE_ACTIONS

AUDIT_HANDLER = "iotwatch.handlers.audit.handler"
IOT_EVENT_SOURCE = "aws.iot"
IOT_API_SOURCE = "iot.amazonaws.com"
CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"

# An audit event exists once: CloudTrail hands it to EventBridge (best effort) and nothing
# re-sends it, unlike a schedule tick that the next tick supersedes. So EventBridge retries
# far more than for a tick: up to 8 times with exponential backoff, for events up to 6 h old
# (as long as Lambda itself keeps an accepted asynchronous event), whichever ends first;
# enough to ride out throttling or a short Lambda problem. What still fails is not lost: it
# is parked in the dead-letter queue, kept 14 days.
AUDIT_CONCURRENCY = 5
RULE_RETRY_ATTEMPTS = 8
RULE_MAX_EVENT_AGE = Duration.hours(6)
# Versions of trail log files that were overwritten or deleted stay this long, so an
# accidental or malicious deletion can be undone; then they go, so nothing outlives the
# configured retention by more than this.
NONCURRENT_VERSION_DAYS = 30


class ControlPlaneAudit(Capability):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        parts: StackParts,
        trail_removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        plan = parts.plan
        # Sizing: one invocation is one CloudTrail record: parse and judge it in pure Python,
        # one conditional write (the record, deduplicated by event id) and at most a few SNS
        # publishes, so well under a second warm. 256 MB is enough memory by far; more would
        # only buy CPU for the cold start, and audit alerts are not latency-critical to the
        # second. 30 s leaves room for SDK retries when DynamoDB or SNS throttle.
        super().__init__(
            scope,
            construct_id,
            parts,
            FunctionSpec(
                "Audit",
                handler=AUDIT_HANDLER,
                service_name=AUDIT_SERVICE,
                purpose="alerts on sensitive AWS IoT control-plane calls",
                memory_size=256,
                timeout=Duration.seconds(30),
                table_actions=AUDIT_TABLE_ACTIONS,
                publishes=True,
                # Once Lambda has accepted the event from EventBridge, a handler error is
                # retried by Lambda and then dropped unless the function has a dead-letter queue.
                # A burst of IoT calls (a provisioning run makes thousands) queues in Lambda's
                # asynchronous queue (kept up to 6 h) instead of taking the account's concurrency
                # from the fleet's own functions: ~5 x 10 records a second drain 10,000 in minutes.
                reserved_concurrency=AUDIT_CONCURRENCY,
            ),
        )

        # The default rule state (ENABLED) matches every IoT call CloudTrail sends except the
        # read-only ones (Describe*, Get*, List*), which is what the audit judges: changes.
        self.rule = events.Rule(
            self,
            "IotApiCalls",
            description=self.describe("AWS IoT control-plane calls recorded by CloudTrail"),
            event_pattern=events.EventPattern(
                source=[IOT_EVENT_SOURCE],
                detail_type=[CLOUDTRAIL_API_CALL],
                detail={"eventSource": [IOT_API_SOURCE]},
            ),
        )
        self.invoke_from(self.rule, retry_attempts=RULE_RETRY_ATTEMPTS, max_event_age=RULE_MAX_EVENT_AGE)

        self.trail: AuditTrail | None = None
        if plan.audit.create_trail:
            self.trail = AuditTrail(
                self,
                "Trail",
                retention_days=plan.audit.trail_retention_days,
                removal_policy=trail_removal_policy,
            )

    @property
    def rule_name(self) -> str:
        return self.rule.rule_name


class AuditTrail(Construct):
    """A single-region CloudTrail trail of write management events, into a bucket of its own.

    - Write events only: the audit rule never receives read-only calls (see above), and the
      files are evidence of changes; reads would multiply the volume for nothing we use.
    - This region only, no global service events: AWS IoT is a regional service and the
      audit rule lives in this region's default bus.
    - Log file validation on, so tampering with a delivered file can be proven.
    - Files encrypted with S3-managed keys (SSE-S3, CloudTrail's default). A KMS key would
      add a key policy for CloudTrail and a monthly cost without keeping anyone out who can
      already read this bucket; nothing in the AwsSolutions pack asks for it.
    - The bucket is versioned and expires files after `retention_days`; no storage-class
      transitions: trail files are a few KB, and S3 neither moves objects under 128 KB by
      default nor would it pay off (Standard-IA and Glacier IR bill at least 128 KB each).
    - Server access logs go to a second bucket: trail management events do not record who
      reads or deletes the trail files (those are S3 data events), access logs do.
    - RETAIN unless the stack's data is disposable (a demo): this is audit evidence.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        expiry = Duration.days(retention_days)
        # the record of who read or deleted trail files: kept from being overwritten or deleted
        # as the trail files are (S3 server access logging delivers only to SSE-S3 buckets)
        self.access_logs = _evidence_bucket(
            self, "AccessLogs", rule_id="ExpireWithTheTrail", expiry=expiry, removal_policy=removal_policy
        )
        # No server access logs of its own (logging it into itself would loop, into a third
        # bucket only move the question). cdk-nag AwsSolutions-S1 agrees without an
        # acknowledgement: it counts a bucket that receives another bucket's access logs as
        # compliant; checkov does not.
        skip_checkov(
            self.access_logs,
            "CKV_AWS_18",
            "This bucket receives the trail bucket's server access logs: logging it into itself "
            "would loop, into a third bucket only move the question (cdk-nag S1 counts it as compliant).",
        )

        self.bucket = _evidence_bucket(
            self,
            "Bucket",
            rule_id="ExpireTrailFiles",
            expiry=expiry,
            removal_policy=removal_policy,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="trail-bucket/",
        )
        # CloudTrail adds the bucket policy it needs (GetBucketAcl, and PutObject under
        # AWSLogs/<account>/ with the bucket-owner-full-control ACL condition).
        self.trail = cloudtrail.Trail(
            self,
            "Trail",
            bucket=self.bucket,
            enable_file_validation=True,
            include_global_service_events=False,
            is_multi_region_trail=False,
            management_events=cloudtrail.ReadWriteType.WRITE_ONLY,
            send_to_cloud_watch_logs=False,
        )
        skip_checkov(
            self.trail,
            "CKV_AWS_67",
            "Single-region on purpose: AWS IoT is regional and the audit rule reads this region's "
            "default bus; a multi-region trail would bill every region's write events for nothing "
            "iotwatch reads (an organization trail, if you have one, already covers them).",
        )
        skip_checkov(
            self.trail,
            "CKV_AWS_35",
            "Trail files use SSE-S3 (CloudTrail's default) in a bucket that blocks public access, "
            "enforces SSL and is versioned: a KMS key would add a key policy for CloudTrail and a "
            "monthly cost without keeping out anyone who can already read this bucket.",
        )


def _evidence_bucket(
    scope: Construct,
    construct_id: str,
    *,
    rule_id: str,
    expiry: Duration,
    removal_policy: RemovalPolicy,
    server_access_logs_bucket: s3.IBucket | None = None,
    server_access_logs_prefix: str | None = None,
) -> s3.Bucket:
    """A bucket of audit evidence, as both of the trail's are: SSE-S3, no public access, TLS
    only, versioned, and expiring `expiry` after a file is written (an overwritten or deleted
    version NONCURRENT_VERSION_DAYS later). With Days set, S3 also removes expired delete
    markers once they are old enough (ExpiredObjectDeleteMarker cannot be combined with Days)."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=server_access_logs_bucket,
        server_access_logs_prefix=server_access_logs_prefix,
        lifecycle_rules=[
            s3.LifecycleRule(
                id=rule_id,
                expiration=expiry,
                noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
        removal_policy=removal_policy,
    )


__all__ = ["AUDIT_HANDLER", "AuditTrail", "ControlPlaneAudit"]
