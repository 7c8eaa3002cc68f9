"""The SSM parameters a template reads, made resolvable on moto's endpoint.

SSM-typed parameters (``AWS::SSM::Parameter::Value<...>``, what
``StringParameter.value_for_string_parameter`` synthesizes): moto resolves each one's
``Default`` (even when a value is passed) and cannot create names under ``/aws/``, so every
``/aws/...`` default is rewritten to a stand-in under ``/iotwatch-local/aws/...``: for the
Powertools layer (``/aws/service/powertools/...``) it holds the ARN of a tiny placeholder
layer published in moto's Lambda; for any other ``/aws/`` name, a value from
``parameter_values`` or a placeholder. SSM-typed parameters outside ``/aws/`` (e.g. an
on-call phone number kept in SSM) are created when missing, with the value from
``parameter_values`` or a clearly fake placeholder (``+15550100000`` for phone numbers).
``{{resolve:ssm:NAME}}`` dynamic references, which moto leaves unresolved, are substituted
the same way. ``/cdk-bootstrap/<qualifier>/version`` is put in SSM, since every stack's
``BootstrapVersion`` parameter reads it.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from iotwatch_local.assembly import DeployError

BOOTSTRAP_VERSION = "30"
#: Where ``/aws/...`` SSM parameters are mirrored for moto (which refuses that prefix).
LOCAL_SSM_PREFIX = "/iotwatch-local"
FAKE_PHONE_NUMBER = "+15550100000"
PLACEHOLDER_VALUE = "iotwatch-local-placeholder"
PLACEHOLDER_LAYER_NAME = "iotwatch-local-placeholder-layer"

_SSM_TYPE_PREFIX = "AWS::SSM::Parameter::Value<"
_DYNAMIC_SSM = re.compile(r"\{\{resolve:ssm:([^}:]+)(?::(\d+))?\}\}")


class LocalParameters:
    """SSM on the local endpoint for one deploy: what it wrote or relied on (`values`), and a
    note per change in the shared `adaptations`."""

    def __init__(self, session: Any, region: str, adaptations: list[str]) -> None:
        self.ssm = session.client("ssm", region_name=region)
        self.lambda_ = session.client("lambda", region_name=region)
        self.adaptations = adaptations
        self.values: dict[str, str] = {}
        self._placeholder_layer_arn: str | None = None

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
        self.values[name] = value

    def ensure_ssm(self, name: str, value: str | None, *, param_type: str = "String") -> str:
        """The parameter's value: ``value`` if given (written), else the existing one, else a placeholder."""
        if value is not None:
            self.put_ssm(name, value)
            return value
        existing = self.get_ssm(name)
        if existing is not None:
            self.values[name] = existing
            return existing
        placeholder = placeholder_for(name)
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
                elif is_powertools_layer(name):
                    value = self.placeholder_layer_arn()
                else:
                    value = placeholder_for(name)
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

        return walk_strings(template, substitute)


def walk_strings(node: Any, fn: Any) -> Any:
    if isinstance(node, str):
        return fn(node)
    if isinstance(node, list):
        return [walk_strings(v, fn) for v in node]
    if isinstance(node, dict):
        return {k: walk_strings(v, fn) for k, v in node.items()}
    return node


def placeholder_for(name: str) -> str:
    lowered = name.lower()
    if "phone" in lowered or "sms" in lowered:
        return FAKE_PHONE_NUMBER
    if "email" in lowered or "mail" in lowered:
        return "iotwatch-local@example.com"
    return PLACEHOLDER_VALUE


def is_powertools_layer(name: str) -> bool:
    return name.startswith("/aws/service/powertools/")
