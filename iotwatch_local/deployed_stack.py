"""A stack as moto's CloudFormation created it: its outputs and resources, and its functions'
configuration, environment and staged code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from iotwatch_local.assembly import function_asset_dir


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


def _construct_path(template: Mapping[str, Any], logical_id: str) -> list[str]:
    path = template.get("Resources", {}).get(logical_id, {}).get("Metadata", {}).get("aws:cdk:path", "")
    return [p for p in str(path).split("/")[1:] if p and p != "Resource"]
