"""Deploy a synthesized CDK cloud assembly (``cdk.out``) into moto's CloudFormation.

    with LocalAws() as aws, aws.env():
        stack = deploy_stack(Path("cdk.out"), "IotWatch-Fleet")
        env = stack.function_environment("Evaluator")       # what the stack gives the Lambda
        root = stack.function_asset_dir("Evaluator")        # the staged code, with plan.json

What ``cdk deploy`` does that moto needs done by hand, and how it is done here:

- **Bootstrap**: the assets bucket(s) named in ``<stack>.assets.json`` are created and
  every file asset uploaded to its ``objectKey`` (directory assets zipped, as the CDK
  CLI does); ``/cdk-bootstrap/<qualifier>/version`` is put in SSM, since every stack's
  ``BootstrapVersion`` parameter reads it. Docker image assets cannot be built here and
  are skipped (noted in ``DeployedStack.adaptations``).
- **SSM-typed parameters** (``AWS::SSM::Parameter::Value<...>``, what
  ``StringParameter.value_for_string_parameter`` synthesizes): moto resolves each one's
  ``Default`` (even when a value is passed) and cannot create names under ``/aws/``, so
  every ``/aws/...`` default is rewritten to a stand-in under ``/iotwatch-local/aws/...``:
  for the Powertools layer (``/aws/service/powertools/...``) it holds the ARN of a tiny
  placeholder layer published in moto's Lambda; for any other ``/aws/`` name, a value
  from ``parameter_values`` or a placeholder. SSM-typed parameters outside ``/aws/``
  (e.g. an on-call phone number kept in SSM) are created when missing, with the value
  from ``parameter_values`` or a clearly fake placeholder (``+15550100000`` for phone
  numbers). ``{{resolve:ssm:NAME}}`` dynamic references, which moto leaves unresolved,
  are substituted the same way.
- **moto bugs worked around**: ``AWS::KMS::Key`` ``Tags`` are respelt ``TagKey``/``TagValue``
  (moto 5.2.5 otherwise fails CreateStack with ``KeyError: 'TagKey'``).
- **Resource types moto lacks** are reported, not silently lost: an
  ``AWS::DynamoDB::GlobalTable`` (CDK's ``TableV2``) with one replica is deployed as the
  equivalent ``AWS::DynamoDB::Table``; every other type moto does not implement is
  listed in ``DeployedStack.skipped``.
- **Custom resources** (``Custom::*``, ``AWS::CloudFormation::CustomResource``) would run
  their provider Lambda in Docker and leave the stack waiting forever: deploy refuses
  them up front with the list of offenders.

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
import io
import json
import re
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

BOOTSTRAP_VERSION = "30"
#: Where ``/aws/...`` SSM parameters are mirrored for moto (which refuses that prefix).
LOCAL_SSM_PREFIX = "/iotwatch-local"
FAKE_PHONE_NUMBER = "+15550100000"
PLACEHOLDER_VALUE = "iotwatch-local-placeholder"
PLACEHOLDER_LAYER_NAME = "iotwatch-local-placeholder-layer"
MOTO_ACCOUNT_ID = "123456789012"  # the account moto answers as by default
#: CloudFormation's TemplateBody limit; a larger template goes through the assets bucket.
MAX_TEMPLATE_BODY = 51_200

_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_SSM_TYPE_PREFIX = "AWS::SSM::Parameter::Value<"
_DYNAMIC_SSM = re.compile(r"\{\{resolve:ssm:([^}:]+)(?::(\d+))?\}\}")
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

# asset.<hash> directory -> its zip (content-addressed, so never stale)
_ZIP_CACHE: dict[str, bytes] = {}


class DeployError(RuntimeError):
    """The stack could not be deployed into the local endpoint; the message says why."""


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    physical_id: str
    type: str


@dataclass
class DeployedStack:
    """A stack as moto created it, with the assembly it came from."""

    stack_name: str
    stack_id: str
    region: str
    account_id: str
    outputs: dict[str, str]
    resources: dict[str, StackResource]
    assembly_dir: Path
    template: dict[str, Any]
    #: logical id -> type of the (unconditional) template resources moto did not create.
    skipped: dict[str, str] = field(default_factory=dict)
    #: human-readable notes of what was changed to make the template deployable on moto.
    adaptations: list[str] = field(default_factory=list)
    #: SSM parameters the deploy created or relied on: name -> value.
    ssm_parameters: dict[str, str] = field(default_factory=dict)
    #: template parameter key -> SSM parameter name it was pointed at.
    parameter_sources: dict[str, str] = field(default_factory=dict)
    deploy_seconds: float = 0.0

    # resources --------------------------------------------------------------------------
    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id].physical_id

    def of_type(self, resource_type: str) -> dict[str, StackResource]:
        return {k: r for k, r in self.resources.items() if r.type == resource_type}

    @property
    def functions(self) -> dict[str, StackResource]:
        return self.of_type("AWS::Lambda::Function")

    def function(self, key: str) -> StackResource:
        """One ``AWS::Lambda::Function`` by logical id, function name, construct id or a part of them.

        Tried in order, the first tier with matches decides: exact logical id, exact
        function name, a construct id on the ``aws:cdk:path``, a logical-id prefix, a
        name prefix, a substring of the logical id (``"Evaluator"`` finds
        ``FunctionsEvaluatorFunctionBCA4A55E``). Raises ``KeyError``
        (listing the functions) when nothing or more than one function matches.
        """
        functions = self.functions
        construct_ids = {lid: _construct_path(self.template, lid) for lid in functions}
        tiers: list[list[str]] = [
            [lid for lid in functions if lid == key],
            [lid for lid, r in functions.items() if r.physical_id == key],
            [lid for lid, path in construct_ids.items() if key in path],
            [lid for lid in functions if lid.startswith(key)],
            [lid for lid, r in functions.items() if r.physical_id.startswith(key)],
            # in-process synth writes no aws:cdk:path metadata: construct ids survive inside
            # the logical id (FunctionsEvaluatorFunctionBCA4A55E)
            [lid for lid in functions if key in lid],
        ]
        for matches in tiers:
            unique = sorted(set(matches))
            if len(unique) == 1:
                return functions[unique[0]]
            if len(unique) > 1:
                raise KeyError(f"{key!r} matches several functions: {unique}")
        listing = ", ".join(f"{lid} ({r.physical_id})" for lid, r in sorted(functions.items())) or "none"
        raise KeyError(f"no function matches {key!r}; the stack has: {listing}")

    def function_configuration(self, key: str, *, lambda_client: Any = None) -> dict[str, Any]:
        client = lambda_client or boto3.client("lambda", region_name=self.region)
        config: dict[str, Any] = client.get_function_configuration(
            FunctionName=self.function(key).physical_id
        )
        return config

    def function_environment(self, key: str, *, lambda_client: Any = None) -> dict[str, str]:
        """The environment variables moto holds for the function (as CloudFormation resolved them)."""
        config = self.function_configuration(key, lambda_client=lambda_client)
        return dict(config.get("Environment", {}).get("Variables", {}))

    def function_asset_dir(self, key: str) -> Path:
        """The staged code directory of the function in the cloud assembly (``asset.<hash>``).

        It is what the Lambda runtime unpacks into ``LAMBDA_TASK_ROOT``: the handler
        modules and whatever the CDK app staged beside them (e.g. ``plan.json``).
        """
        return function_asset_dir(self.assembly_dir, self.template, self.function(key).logical_id)

    def handler_environ(self, key: str, *, lambda_client: Any = None) -> dict[str, str]:
        """Everything to put in ``os.environ`` to call the function's handler in-process.

        The function's own variables plus the ones the Lambda runtime sets that code
        reads (``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``, memory, region).
        """
        resource = self.function(key)
        config = self.function_configuration(key, lambda_client=lambda_client)
        env = dict(config.get("Environment", {}).get("Variables", {}))
        env.update(
            {
                "LAMBDA_TASK_ROOT": str(self.function_asset_dir(resource.logical_id)),
                "AWS_LAMBDA_FUNCTION_NAME": config.get("FunctionName", resource.physical_id),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
            }
        )
        return env


# ------------------------------------------------------------------------------------------
# the cloud assembly


@dataclass(frozen=True)
class StackArtifact:
    artifact_id: str
    stack_name: str
    template_path: Path
    assets_path: Path | None
    bootstrap_parameter: str | None


def read_stack_artifact(assembly_dir: Path, stack_name: str) -> StackArtifact:
    """Find a stack in ``manifest.json`` by artifact id, stack name or display name (nested assemblies too)."""
    assembly_dir = Path(assembly_dir)
    manifest_path = assembly_dir / "manifest.json"
    if not manifest_path.is_file():
        raise DeployError(f"{assembly_dir} is not a cloud assembly: no manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    artifacts: dict[str, Any] = manifest.get("artifacts", {})
    stacks = {k: v for k, v in artifacts.items() if v.get("type") == "aws:cloudformation:stack"}
    for artifact_id, artifact in stacks.items():
        props = artifact.get("properties", {})
        names = {artifact_id, props.get("stackName", artifact_id), artifact.get("displayName")}
        if stack_name in names:
            assets_path = None
            for dep in artifact.get("dependencies", []):
                dep_art = artifacts.get(dep, {})
                if dep_art.get("type") == "cdk:asset-manifest":
                    assets_path = assembly_dir / dep_art["properties"]["file"]
            return StackArtifact(
                artifact_id=artifact_id,
                stack_name=props.get("stackName", artifact_id),
                template_path=assembly_dir / props["templateFile"],
                assets_path=assets_path,
                bootstrap_parameter=props.get("bootstrapStackVersionSsmParameter"),
            )
    for artifact in artifacts.values():  # stages
        if artifact.get("type") == "cdk:cloud-assembly":
            nested = assembly_dir / artifact["properties"]["directoryName"]
            try:
                return read_stack_artifact(nested, stack_name)
            except DeployError:
                continue
    available = sorted(v.get("properties", {}).get("stackName", k) for k, v in stacks.items())
    raise DeployError(f"no stack {stack_name!r} in {manifest_path}; it has: {available or 'no stacks'}")


def read_assets(assets_path: Path | None) -> dict[str, Any]:
    if assets_path is None or not assets_path.is_file():
        return {"files": {}, "dockerImages": {}}
    data: dict[str, Any] = json.loads(assets_path.read_text(encoding="utf-8"))
    return data


def function_asset_dir(assembly_dir: Path, template: Mapping[str, Any], logical_id: str) -> Path:
    """The asset directory in ``assembly_dir`` holding the code of the function ``logical_id``.

    Uses the ``aws:asset:path`` metadata CDK writes on the resource, else matches the
    function's ``Code.S3Key`` with the asset manifests' object keys.
    """
    assembly_dir = Path(assembly_dir)
    resource = template.get("Resources", {}).get(logical_id)
    if resource is None:
        raise KeyError(f"no resource {logical_id!r} in the template")
    meta_path = resource.get("Metadata", {}).get("aws:asset:path")
    candidates: list[Path] = []
    if meta_path:
        candidates.append(assembly_dir / meta_path)
    s3_key = resource.get("Properties", {}).get("Code", {}).get("S3Key")
    if isinstance(s3_key, str):
        for assets_file in sorted(assembly_dir.glob("*.assets.json")):
            for asset in read_assets(assets_file).get("files", {}).values():
                if any(d.get("objectKey") == s3_key for d in asset.get("destinations", {}).values()):
                    candidates.append(assembly_dir / asset["source"]["path"])
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    if candidates:
        raise DeployError(f"the code asset of {logical_id} is not a directory: {candidates[0]}")
    raise DeployError(f"{logical_id} has no file asset in {assembly_dir} (inline or external code?)")


def _construct_path(template: Mapping[str, Any], logical_id: str) -> list[str]:
    path = template.get("Resources", {}).get(logical_id, {}).get("Metadata", {}).get("aws:cdk:path", "")
    return [p for p in str(path).split("/")[1:] if p and p != "Resource"]


# ------------------------------------------------------------------------------------------
# template checks and rewrites


def find_custom_resources(template: Mapping[str, Any]) -> dict[str, str]:
    """logical id -> type of every custom resource (which moto would run in Docker)."""
    return {
        lid: res.get("Type", "")
        for lid, res in template.get("Resources", {}).items()
        if res.get("Type", "").startswith("Custom::")
        or res.get("Type") == "AWS::CloudFormation::CustomResource"
    }


def _global_table_as_table(logical_id: str, resource: dict[str, Any], region: str) -> dict[str, Any]:
    """An ``AWS::DynamoDB::GlobalTable`` with one replica as the equivalent ``AWS::DynamoDB::Table``."""
    props = resource.get("Properties", {})
    replicas = props.get("Replicas", [])
    replica = next(
        (r for r in replicas if r.get("Region") in (region, None)), replicas[0] if replicas else {}
    )
    table: dict[str, Any] = {
        k: props[k]
        for k in (
            "TableName",
            "KeySchema",
            "AttributeDefinitions",
            "LocalSecondaryIndexes",
            "StreamSpecification",
            "TimeToLiveSpecification",
        )
        if k in props
    }
    table["BillingMode"] = props.get("BillingMode", "PAY_PER_REQUEST")
    if "GlobalSecondaryIndexes" in props:
        table["GlobalSecondaryIndexes"] = [
            {k: v for k, v in gsi.items() if k in ("IndexName", "KeySchema", "Projection")}
            for gsi in props["GlobalSecondaryIndexes"]
        ]
    if "SSESpecification" in props:
        sse = props["SSESpecification"]
        table["SSESpecification"] = {"SSEEnabled": sse.get("SSEEnabled", True)}
        if sse.get("SSEType"):
            table["SSESpecification"]["SSEType"] = sse["SSEType"]
        kms_key = replica.get("SSESpecification", {}).get("KMSMasterKeyId")
        if kms_key is not None:
            table["SSESpecification"]["KMSMasterKeyId"] = kms_key
    for key in ("PointInTimeRecoverySpecification", "DeletionProtectionEnabled", "TableClass", "Tags"):
        if key in replica:
            table[key] = replica[key]
    new = {k: v for k, v in resource.items() if k != "Properties"}
    new["Type"] = "AWS::DynamoDB::Table"
    new["Properties"] = table
    return new


def adapt_template_for_moto(template: dict[str, Any], region: str) -> list[str]:
    """Rewrite, in place, what moto 5.2.5 cannot create as written; return a note per change."""
    notes: list[str] = []
    resources = template.get("Resources", {})
    for lid, res in list(resources.items()):
        rtype = res.get("Type", "")
        props = res.get("Properties", {})
        if rtype == "AWS::DynamoDB::GlobalTable" and len(props.get("Replicas", [])) <= 1:
            resources[lid] = _global_table_as_table(lid, res, region)
            notes.append(f"{lid}: AWS::DynamoDB::GlobalTable deployed as AWS::DynamoDB::Table")
        elif rtype == "AWS::KMS::Key" and props.get("Tags"):
            # moto hands CloudFormation's Key/Value tags to KMS's tagger, which wants
            # TagKey/TagValue, and the whole CreateStack fails with a KeyError
            props["Tags"] = [{"TagKey": t.get("Key"), "TagValue": t.get("Value")} for t in props["Tags"]]
            notes.append(f"{lid}: AWS::KMS::Key tags spelt TagKey/TagValue for moto")
    # moto runs an SQS event source itself, invoking the function in Docker, which fails and
    # eats the message: the queue is left for the caller to deliver in-process
    for lid, res in list(resources.items()):
        if res.get("Type") == "AWS::Lambda::EventSourceMapping":
            del resources[lid]
            notes.append(
                f"{lid}: AWS::Lambda::EventSourceMapping left out (messages are delivered in-process)"
            )
    # moto skips alarms, then fails the whole stack on a reference to one (a dashboard's
    # alarm-status widget): refer to them by the ARN they would have had
    alarms = {lid for lid, res in resources.items() if res.get("Type") == "AWS::CloudWatch::Alarm"}
    if alarms:
        for section in ("Resources", "Outputs"):
            if section in template:
                template[section] = _replace_references(template[section], alarms, region)
        notes.append(f"{len(alarms)} reference(s) to AWS::CloudWatch::Alarm replaced by their ARN for moto")
    return notes


def _replace_references(node: Any, alarms: set[str], region: str) -> Any:
    if isinstance(node, list):
        return [_replace_references(v, alarms, region) for v in node]
    if not isinstance(node, dict):
        return node
    get_att = node.get("Fn::GetAtt")
    ref = node.get("Ref")
    if len(node) == 1 and isinstance(get_att, list) and get_att and get_att[0] in alarms:
        return f"arn:aws:cloudwatch:{region}:{MOTO_ACCOUNT_ID}:alarm:{get_att[0]}"
    if len(node) == 1 and ref in alarms:
        return str(ref)
    return {k: _replace_references(v, alarms, region) for k, v in node.items()}


def _walk_strings(node: Any, fn: Any) -> Any:
    if isinstance(node, str):
        return fn(node)
    if isinstance(node, list):
        return [_walk_strings(v, fn) for v in node]
    if isinstance(node, dict):
        return {k: _walk_strings(v, fn) for k, v in node.items()}
    return node


def _placeholder_for(name: str) -> str:
    lowered = name.lower()
    if "phone" in lowered or "sms" in lowered:
        return FAKE_PHONE_NUMBER
    if "email" in lowered or "mail" in lowered:
        return "iotwatch-local@example.com"
    return PLACEHOLDER_VALUE


def _is_powertools_layer(name: str) -> bool:
    return name.startswith("/aws/service/powertools/")


# ------------------------------------------------------------------------------------------
# deploy


class _Deployer:
    def __init__(self, region: str | None) -> None:
        session = boto3.session.Session(region_name=region)
        self.region = session.region_name or "us-east-1"
        self.s3 = session.client("s3", region_name=self.region)
        self.ssm = session.client("ssm", region_name=self.region)
        self.cfn = session.client("cloudformation", region_name=self.region)
        # CreateStack must not be retried: moto creates the stack before it fails
        self.cfn_once = session.client(
            "cloudformation", region_name=self.region, config=Config(retries={"total_max_attempts": 1})
        )
        self.lambda_ = session.client("lambda", region_name=self.region)
        self.account_id: str = session.client("sts", region_name=self.region).get_caller_identity()["Account"]
        self.partition = "aws"
        self.adaptations: list[str] = []
        self.ssm_values: dict[str, str] = {}
        self._buckets: set[str] = set()
        self._placeholder_layer_arn: str | None = None

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
            body = _asset_bytes(source, asset["source"].get("packaging", "file"))
            for destination in asset.get("destinations", {}).values():
                bucket = self.resolve(destination["bucketName"])
                self.ensure_bucket(bucket)
                self.s3.put_object(Bucket=bucket, Key=self.resolve(destination["objectKey"]), Body=body)
        for asset_id, image in assets.get("dockerImages", {}).items():
            self.adaptations.append(
                f"docker image asset {asset_id} ({image.get('displayName', '')}) not built: no Docker here"
            )

    # ssm ----------------------------------------------------------------------------------
    def get_ssm(self, name: str) -> str | None:
        try:
            value: str = self.ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as err:
            if err.response["Error"]["Code"] in ("ParameterNotFound", "ValidationException"):
                return None
            raise
        return value

    def put_ssm(self, name: str, value: str, *, overwrite: bool = True) -> None:
        self.ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=overwrite)
        self.ssm_values[name] = value

    def ensure_ssm(self, name: str, value: str | None, *, param_type: str = "String") -> str:
        """The parameter's value: ``value`` if given (written), else the existing one, else a placeholder."""
        if value is not None:
            self.put_ssm(name, value)
            return value
        existing = self.get_ssm(name)
        if existing is not None:
            self.ssm_values[name] = existing
            return existing
        placeholder = _placeholder_for(name)
        if "List" in param_type:
            placeholder = f"{placeholder},{placeholder}"
        self.put_ssm(name, placeholder, overwrite=False)
        self.adaptations.append(
            f"SSM parameter {name} did not exist: created with placeholder {placeholder!r}"
        )
        return placeholder

    def placeholder_layer_arn(self) -> str:
        if self._placeholder_layer_arn is None:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                zf.writestr("python/iotwatch_local_placeholder.py", "# stands in for a public layer\n")
            arn: str = self.lambda_.publish_layer_version(
                LayerName=PLACEHOLDER_LAYER_NAME,
                Description="iotwatch local deploy: stands in for the Powertools layer",
                Content={"ZipFile": buffer.getvalue()},
                CompatibleRuntimes=["python3.11", "python3.12", "python3.13", "python3.14"],
            )["LayerVersionArn"]
            self._placeholder_layer_arn = arn
        return self._placeholder_layer_arn

    def rewrite_ssm_parameters(
        self, template: dict[str, Any], parameter_values: Mapping[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Make every SSM-typed parameter resolvable by moto; return (create_stack params, key -> ssm name)."""
        stack_params: dict[str, str] = {}
        sources: dict[str, str] = {}
        for key, spec in template.get("Parameters", {}).items():
            ptype = spec.get("Type", "String")
            if not ptype.startswith(_SSM_TYPE_PREFIX):
                if key in parameter_values:
                    stack_params[key] = parameter_values[key]
                continue
            name = spec.get("Default")
            if not name:
                raise DeployError(f"SSM-typed parameter {key} has no Default name to resolve")
            given = parameter_values.get(name, parameter_values.get(key))
            if key == "BootstrapVersion" or name.startswith("/cdk-bootstrap/"):
                self.ensure_ssm(name, given or BOOTSTRAP_VERSION)
                sources[key] = name
                continue
            if name.startswith("/aws/"):
                local_name = f"{LOCAL_SSM_PREFIX}{name}"
                if given is not None:
                    value = given
                elif _is_powertools_layer(name):
                    value = self.placeholder_layer_arn()
                else:
                    value = _placeholder_for(name)
                self.put_ssm(local_name, value)
                spec["Default"] = local_name
                sources[key] = local_name
                self.adaptations.append(f"parameter {key}: {name} -> {local_name} = {value}")
                continue
            self.ensure_ssm(name, given, param_type=ptype)
            sources[key] = name
        return stack_params, sources

    def resolve_dynamic_references(
        self, template: dict[str, Any], parameter_values: Mapping[str, str]
    ) -> Any:
        def substitute(text: str) -> str:
            if "{{resolve:ssm:" not in text:
                return text

            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                value = self.ensure_ssm(name, parameter_values.get(name))
                self.adaptations.append(f"dynamic reference {{{{resolve:ssm:{name}}}}} substituted")
                return value

            return _DYNAMIC_SSM.sub(one, text)

        return _walk_strings(template, substitute)

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


def _asset_bytes(source: Path, packaging: str) -> bytes:
    if not source.exists():
        raise DeployError(f"asset source {source} does not exist")
    if packaging == "file" or (packaging != "zip" and source.is_file()):
        return source.read_bytes()
    if source.is_file():  # already a zip
        return source.read_bytes()
    # CDK stages directory assets as asset.<content hash>: the name alone identifies the content
    cache_key = str(source.resolve()) if source.name.startswith("asset.") else None
    if cache_key is not None and cache_key in _ZIP_CACHE:
        return _ZIP_CACHE[cache_key]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(p for p in source.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes(), compresslevel=1)
    data = buffer.getvalue()
    if cache_key is not None:
        _ZIP_CACHE[cache_key] = data
    return data


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
        deployer.ensure_ssm(
            artifact.bootstrap_parameter,
            parameter_values.get(artifact.bootstrap_parameter) or BOOTSTRAP_VERSION,
        )
    stack_params, sources = deployer.rewrite_ssm_parameters(template, parameter_values)
    template = deployer.resolve_dynamic_references(template, parameter_values)
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
        ssm_parameters=dict(deployer.ssm_values),
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


def stack_names(assembly_dir: Path | str) -> list[str]:
    """Names of the stacks in a cloud assembly (top level)."""
    manifest = json.loads((Path(assembly_dir) / "manifest.json").read_text(encoding="utf-8"))
    return [
        a.get("properties", {}).get("stackName", k)
        for k, a in manifest.get("artifacts", {}).items()
        if a.get("type") == "aws:cloudformation:stack"
    ]
