"""The HTTP calls a synthesized template's EventBridge rules would make for one event, read from
the template itself: which rules match (event pattern), which API destination each target names
(endpoint, method, `*` path parameters, query string), the body its input transformer builds and
the body parameters its connection adds (a secret's value supplied by the caller, since
CloudFormation would resolve it at deploy time).

So the demo can post to a local PagerDuty stand-in exactly what the deployed stack would send.
Pure: no AWS, no network.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from iotwatch_local.input_transformer import json_path, matches, transform_target

_SECRET_REFERENCE = re.compile(r"\{\{resolve:secretsmanager:([^}]*)\}\}")


@dataclass(frozen=True)
class ApiCall:
    """One request EventBridge would make: the rule's logical id, method, URL and JSON body."""

    rule: str
    method: str
    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _logical_id(arn: Any) -> str | None:
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        return str(arn["Fn::GetAtt"][0])
    return None


def _secret_name(reference: str) -> str:
    """'NAME' or 'NAME:SecretString:field::' -> NAME (a name has no ':'; an ARN keeps its own)."""
    if reference.startswith("arn:"):
        return ":".join(reference.split(":")[:7])
    return reference.split(":", 1)[0]


def _resolve(value: Any, secrets: Mapping[str, str]) -> str:
    """A connection parameter's value with each Secrets Manager reference replaced by the caller's
    value for that secret (KeyError naming the secret when none was given)."""
    text = "".join(value["Fn::Join"][1]) if isinstance(value, dict) and "Fn::Join" in value else str(value)
    return _SECRET_REFERENCE.sub(lambda m: secrets[_secret_name(m.group(1))], text)


def api_calls(
    template: Mapping[str, Any], event: Mapping[str, Any], secrets: Mapping[str, str]
) -> list[ApiCall]:
    """Every API destination call the template's rules make for `event`, in template order.
    `secrets`: secret name -> the value CloudFormation would resolve into the connection."""
    resources: Mapping[str, Any] = template["Resources"]
    calls: list[ApiCall] = []
    for rule_id, rule in resources.items():
        if rule["Type"] != "AWS::Events::Rule":
            continue
        properties = rule["Properties"]
        pattern = properties.get("EventPattern")
        # only rules on this event's source: others may hold CloudFormation functions, not values
        if not pattern or event.get("source") not in pattern.get("source", []) or not matches(pattern, event):
            continue
        for target in properties.get("Targets", []):
            destination_id = _logical_id(target["Arn"])
            destination = resources.get(destination_id or "", {})
            if destination.get("Type") != "AWS::Events::ApiDestination":
                continue
            calls.append(_call(rule_id, target, destination["Properties"], resources, event, secrets))
    return calls


def _call(
    rule_id: str,
    target: Mapping[str, Any],
    destination: Mapping[str, Any],
    resources: Mapping[str, Any],
    event: Mapping[str, Any],
    secrets: Mapping[str, str],
) -> ApiCall:
    http = target.get("HttpParameters", {})
    url = str(destination["InvocationEndpoint"])
    for path in http.get("PathParameterValues", []):
        url = url.replace("*", str(json_path(event, path)), 1)
    if http.get("QueryStringParameters"):
        url += "?" + urlencode(http["QueryStringParameters"])
    body = json.loads(transform_target(event, target)) if "InputTransformer" in target else dict(event)
    connection = resources[_logical_id(destination["ConnectionArn"]) or ""]["Properties"]
    auth = connection.get("AuthParameters", {})
    headers: dict[str, str] = {}
    api_key = auth.get("ApiKeyAuthParameters")
    if api_key:
        headers[api_key["ApiKeyName"]] = _resolve(api_key["ApiKeyValue"], secrets)
    for parameter in auth.get("InvocationHttpParameters", {}).get("BodyParameters", []):
        body[parameter["Key"]] = _resolve(parameter["Value"], secrets)
    return ApiCall(rule=rule_id, method=str(destination["HttpMethod"]), url=url, body=body, headers=headers)
