"""Deploy a synthesized CDK cloud assembly (``cdk.out``) into moto's CloudFormation.

    with LocalAws() as aws, aws.env():
        stack = deploy_stack(Path("cdk.out"), "IotWatch-Fleet")
        env = stack.function_environment("Evaluator")       # what the stack gives the Lambda
        root = stack.function_asset_dir("Evaluator")        # the staged code, with plan.json

What ``cdk deploy`` does that moto needs done by hand, and where it is done:

- **Bootstrap**: the assets bucket(s) named in ``<stack>.assets.json`` are created and
  every file asset uploaded to its ``objectKey`` (directory assets zipped, as the CDK
  CLI does: `iotwatch_local.assembly`); the bootstrap version is put in SSM. Docker image
  assets cannot be built here and are skipped (noted in ``DeployedStack.adaptations``).
- **SSM parameters** the template reads are made resolvable on moto
  (`iotwatch_local.moto_parameters`).
- **moto bugs and resource types moto lacks** are worked around in the template
  (`iotwatch_local.moto_template`); every other type moto does not implement is listed in
  ``DeployedStack.skipped``, not silently lost.
- **Custom resources** would run their provider Lambda in Docker and leave the stack
  waiting forever: deploy refuses them up front with the list of offenders.

Known moto 5.2.5 gaps the caller should check with template assertions instead: it
ignores ``AWS::SNS::Subscription``, ``AWS::SNS::TopicPolicy``, ``AWS::SQS::QueuePolicy``,
``AWS::CloudWatch::Alarm`` and ``AWS::Scheduler::Schedule`` (they are in
``DeployedStack.skipped``, not among its resources), and drops Lambda layers,
architectures and logging config from the functions it creates. Other moto behaviour
worth knowing: CreateStack is synchronous (resources exist when it returns); a failing
resource fails the CreateStack call itself with no stack event naming it; an SQS queue's
``Ref`` is an ``https://sqs.<region>.amazonaws.com/...`` URL, which boto3 pointed at moto
still accepts; ``ListStackResources`` has an empty entry per skipped resource (dropped
here).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from iotwatch_local.assembly import DeployError, asset_bytes, read_assets, read_stack_artifact
from iotwatch_local.deployed_stack import DeployedStack, StackResource
from iotwatch_local.moto_parameters import BOOTSTRAP_VERSION, LocalParameters
from iotwatch_local.moto_template import adapt_template_for_moto, find_custom_resources

#: CloudFormation's TemplateBody limit; a larger template goes through the assets bucket.
MAX_TEMPLATE_BODY = 51_200

_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_PLACEHOLDER = re.compile(r"\$\{AWS::(AccountId|Region|Partition|URLSuffix)\}")
_TERMINAL_OK = {"CREATE_COMPLETE"}
_TERMINAL_FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "DELETE_COMPLETE",
    "DELETE_FAILED",
}


class _Deployer:
    """The local endpoint's S3 and CloudFormation for one deploy, and the notes of what it adapted."""

    def __init__(self, region: str | None) -> None:
        session = boto3.session.Session(region_name=region)
        self.region = session.region_name or "us-east-1"
        self.s3 = session.client("s3", region_name=self.region)
        self.cfn = session.client("cloudformation", region_name=self.region)
        # CreateStack must not be retried: moto creates the stack before it fails
        self.cfn_once = session.client(
            "cloudformation", region_name=self.region, config=Config(retries={"total_max_attempts": 1})
        )
        self.account_id: str = session.client("sts", region_name=self.region).get_caller_identity()["Account"]
        self.partition = "aws"
        self.adaptations: list[str] = []
        self.parameters = LocalParameters(session, self.region, self.adaptations)
        self._buckets: set[str] = set()

    # substitution -------------------------------------------------------------------------
    def resolve(self, text: str) -> str:
        values = {
            "AccountId": self.account_id,
            "Region": self.region,
            "Partition": self.partition,
            "URLSuffix": "amazonaws.com",
        }
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    # s3 -----------------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str) -> None:
        if bucket in self._buckets:
            return
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.s3.create_bucket(**kwargs)
        except ClientError as err:
            if err.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        self._buckets.add(bucket)

    def upload_assets(self, assembly_dir: Path, assets: Mapping[str, Any]) -> None:
        for asset_id, asset in assets.get("files", {}).items():
            source = assembly_dir / asset["source"]["path"]
            if "path" not in asset["source"]:
                raise DeployError(f"file asset {asset_id} is built by a command; run it before deploying")
            body = asset_bytes(source, asset["source"].get("packaging", "file"))
            for destination in asset.get("destinations", {}).values():
                bucket = self.resolve(destination["bucketName"])
                self.ensure_bucket(bucket)
                self.s3.put_object(Bucket=bucket, Key=self.resolve(destination["objectKey"]), Body=body)
        for asset_id, image in assets.get("dockerImages", {}).items():
            self.adaptations.append(
                f"docker image asset {asset_id} ({image.get('displayName', '')}) not built: no Docker here"
            )

    # stack --------------------------------------------------------------------------------
    def create_stack(
        self, stack_name: str, template: dict[str, Any], stack_params: Mapping[str, str], bucket: str
    ) -> str:
        body = json.dumps(template)
        kwargs: dict[str, Any] = {
            "StackName": stack_name,
            "Capabilities": _CAPABILITIES,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in stack_params.items()],
        }
        if len(body.encode("utf-8")) <= MAX_TEMPLATE_BODY:
            kwargs["TemplateBody"] = body
        else:
            key = f"iotwatch-local/{stack_name}-{int(time.time() * 1000)}.template.json"
            self.ensure_bucket(bucket)
            self.s3.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"))
            kwargs["TemplateURL"] = f"https://s3.amazonaws.com/{bucket}/{key}"
        try:
            stack_id: str = self.cfn_once.create_stack(**kwargs)["StackId"]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "AlreadyExistsException":
                # someone else's stack: report it, never delete it
                raise DeployError(
                    f"a stack named {stack_name} already exists on the local endpoint; reset the endpoint "
                    "or pass deployed_name= to deploy beside it"
                ) from err
            raise DeployError(self._create_failure_message(stack_name, err)) from err
        except ResponseParserError as err:
            raise DeployError(self._create_failure_message(stack_name, err)) from err
        return stack_id

    def _create_failure_message(self, stack_name: str, err: Exception) -> str:
        """moto creates resources inside the CreateStack call: a failing one fails the call itself.

        moto then answers a JSON error body to this XML API (botocore reports a parse
        error), names no resource, records no failure event and leaves the stack
        CREATE_IN_PROGRESS (listing its resources retries the failing creation). So the
        message is dug out of the raw body and the half-made stack is deleted, so the same
        name can be deployed again.
        """
        lines = [f"create_stack {stack_name} failed in moto (which names no resource): {_error_text(err)}"]
        try:
            self.cfn.delete_stack(StackName=stack_name)
            lines.append(f"  the partial stack {stack_name} was deleted")
        except (ClientError, ResponseParserError) as delete_err:
            lines.append(f"  the partial stack {stack_name} could not be deleted: {_error_text(delete_err)}")
        return "\n".join(lines)

    def check_code_objects(self, template: Mapping[str, Any]) -> None:
        """Fail before CreateStack, naming the resource, when a function's or layer's S3 code is missing.

        (Inside CreateStack moto would fail with an S3 error that names no resource.)
        """
        missing: list[str] = []
        for lid, res in template.get("Resources", {}).items():
            props = res.get("Properties", {})
            location = props.get("Code") if res.get("Type") == "AWS::Lambda::Function" else None
            if res.get("Type") == "AWS::Lambda::LayerVersion":
                location = props.get("Content")
            if not isinstance(location, dict) or "S3Bucket" not in location:
                continue
            bucket, key = location["S3Bucket"], location.get("S3Key")
            if isinstance(bucket, dict) and isinstance(bucket.get("Fn::Sub"), str):
                bucket = self.resolve(bucket["Fn::Sub"])
            if not isinstance(bucket, str) or not isinstance(key, str) or "${" in bucket:
                continue  # built from parameters or other resources: CloudFormation's business
            try:
                self.s3.head_object(Bucket=bucket, Key=key)
            except ClientError:
                missing.append(f"  {lid} ({res['Type']}): s3://{bucket}/{key}")
        if missing:
            raise DeployError(
                "code objects missing in the local S3 (not in the assembly's asset manifest?):\n"
                + "\n".join(missing)
            )

    def wait(self, stack_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            stack: dict[str, Any] = self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
            status = stack["StackStatus"]
            if status in _TERMINAL_OK:
                return stack
            if status in _TERMINAL_FAILED or time.monotonic() > deadline:
                raise DeployError(self._failure_message(stack, status, timeout))
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _failure_message(self, stack: Mapping[str, Any], status: str, timeout: float) -> str:
        lines = [
            f"stack {stack['StackName']} is {status}"
            + (f" after {timeout:.0f}s" if status.endswith("IN_PROGRESS") else "")
            + (f": {stack['StackStatusReason']}" if stack.get("StackStatusReason") else "")
        ]
        try:
            events = self.cfn.describe_stack_events(StackName=stack["StackId"])["StackEvents"]
        except ClientError:
            events = []
        for event in reversed(events):
            if (
                event.get("ResourceStatus", "").endswith(("FAILED", "IN_PROGRESS"))
                and event.get("LogicalResourceId") != stack["StackName"]
            ):
                reason = event.get("ResourceStatusReason") or ""
                lines.append(
                    f"  {event['LogicalResourceId']} ({event.get('ResourceType')}): "
                    f"{event['ResourceStatus']} {reason}".rstrip()
                )
        return "\n".join(lines)

    def list_resources(self, stack_id: str) -> dict[str, StackResource]:
        resources: dict[str, StackResource] = {}
        paginator = self.cfn.get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=stack_id):
            for summary in page["StackResourceSummaries"]:
                if not summary.get("LogicalResourceId"):
                    continue  # moto lists an empty entry for each resource type it skipped
                resources[summary["LogicalResourceId"]] = StackResource(
                    logical_id=summary["LogicalResourceId"],
                    physical_id=summary.get("PhysicalResourceId", ""),
                    type=summary["ResourceType"],
                )
        return resources


def _error_text(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', '')}: {error.get('Message', err)}"
    text = str(err)
    match = re.search(r"b'(\{.*\})'", text, re.S)
    if match:
        with contextlib.suppress(ValueError):
            body = json.loads(match.group(1))
            return f"{body.get('__type', '')}: {body.get('message', body.get('Message', ''))}"
    return text


def deploy_stack(
    assembly_dir: Path | str,
    stack_name: str,
    *,
    parameter_values: Mapping[str, str] | None = None,
    region: str | None = None,
    timeout: float = 60.0,
    deployed_name: str | None = None,
) -> DeployedStack:
    """Deploy ``stack_name`` from the cloud assembly ``assembly_dir`` into the endpoint boto3 points at.

    ``parameter_values`` maps SSM parameter names (``/iotwatch/fleet/oncall-phone``) or
    template parameter keys to values; SSM parameters not given and not already in SSM
    get a placeholder. ``deployed_name`` deploys under another CloudFormation stack
    name. Raises ``DeployError``, before creating anything, when the template holds
    custom resources or a function's code object is missing; with moto's reason (and the
    partial stack deleted) when a resource fails; with the stack's status and failed
    events when it does not reach CREATE_COMPLETE within ``timeout`` seconds.
    """
    started = time.monotonic()
    assembly_dir = Path(assembly_dir)
    parameter_values = dict(parameter_values or {})
    artifact = read_stack_artifact(assembly_dir, stack_name)
    template: dict[str, Any] = json.loads(artifact.template_path.read_text(encoding="utf-8"))

    custom = find_custom_resources(template)
    if custom:
        listing = "\n".join(f"  {lid}: {rtype}" for lid, rtype in sorted(custom.items()))
        raise DeployError(
            f"stack {stack_name} has custom resources, which moto runs in Docker and would wait on "
            f"forever; keep them out of the stack deployed locally:\n{listing}"
        )

    deployer = _Deployer(region)
    template = copy.deepcopy(template)

    deployer.adaptations.extend(adapt_template_for_moto(template, deployer.region))

    assets = read_assets(artifact.assets_path)
    deployer.upload_assets(assembly_dir, assets)
    if artifact.bootstrap_parameter:
        deployer.parameters.ensure_ssm(
            artifact.bootstrap_parameter,
            parameter_values.get(artifact.bootstrap_parameter) or BOOTSTRAP_VERSION,
        )
    stack_params, sources = deployer.parameters.rewrite_ssm_parameters(template, parameter_values)
    template = deployer.parameters.resolve_dynamic_references(template, parameter_values)
    deployer.check_code_objects(template)

    bucket = next(
        (
            deployer.resolve(d["bucketName"])
            for a in assets.get("files", {}).values()
            for d in a.get("destinations", {}).values()
        ),
        f"iotwatch-local-templates-{deployer.account_id}-{deployer.region}",
    )
    cfn_name = deployed_name or artifact.stack_name
    stack_id = deployer.create_stack(cfn_name, template, stack_params, bucket)
    stack = deployer.wait(stack_id, timeout)
    resources = deployer.list_resources(stack_id)

    skipped = {
        lid: res.get("Type", "")
        for lid, res in template.get("Resources", {}).items()
        if lid not in resources and "Condition" not in res
    }

    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}
    return DeployedStack(
        stack_name=cfn_name,
        stack_id=stack_id,
        region=deployer.region,
        account_id=deployer.account_id,
        outputs=outputs,
        resources=resources,
        assembly_dir=assembly_dir,
        template=template,
        skipped=skipped,
        adaptations=deployer.adaptations,
        ssm_parameters=dict(deployer.parameters.values),
        parameter_sources=sources,
        deploy_seconds=time.monotonic() - started,
    )


def wait_for_stack(stack_name: str, *, timeout: float = 60.0, region: str | None = None) -> dict[str, Any]:
    """Wait for a stack to reach CREATE_COMPLETE; ``DeployError`` with its failed resources otherwise."""
    return _Deployer(region).wait(stack_name, timeout)


def delete_stack(stack_name: str, *, timeout: float = 30.0) -> None:
    """Delete a stack deployed with ``deploy_stack`` and wait for it to go."""
    cfn = boto3.client("cloudformation")
    cfn.delete_stack(StackName=stack_name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        except ClientError:
            return
        if status == "DELETE_COMPLETE":
            return
        time.sleep(0.05)
    raise DeployError(f"stack {stack_name} not deleted after {timeout:.0f}s")
