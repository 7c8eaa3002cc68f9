"""A template rewritten for what moto 5.2.5 cannot create as CDK writes it, and the custom
resources it refuses: pure functions over the template's JSON.

- ``AWS::KMS::Key`` ``Tags`` are respelt ``TagKey``/``TagValue`` (moto otherwise fails
  CreateStack with ``KeyError: 'TagKey'``).
- An ``AWS::DynamoDB::GlobalTable`` (CDK's ``TableV2``) with one replica is deployed as the
  equivalent ``AWS::DynamoDB::Table``.
- SQS event source mappings are left out (moto would invoke the function in Docker), and
  references to alarms (which moto skips) become the ARN they would have had.
- Custom resources would run their provider Lambda in Docker and leave the stack waiting
  forever: `find_custom_resources` lists them so the deploy can refuse them up front.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MOTO_ACCOUNT_ID = "123456789012"  # the account moto answers as by default


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
    # moto cannot create EventBridge connections and API destinations (PagerDuty, Opsgenie):
    # they, and the rules that target them, are left out; the demo runs those rules itself
    # (iotwatch_local.api_destinations, from the synthesized template)
    outside = {"AWS::Events::Connection", "AWS::Events::ApiDestination"}
    left_out = {lid for lid, res in resources.items() if res.get("Type") in outside}
    while left_out:  # and what refers to them: the rules, the policy that may invoke them
        referring = {
            lid for lid, res in resources.items() if lid not in left_out and _refers_to(res, left_out)
        }
        if not referring:
            break
        left_out |= referring
    for lid in sorted(left_out):
        notes.append(f"{lid}: {resources.pop(lid)['Type']} left out (API destinations run locally)")
    # moto skips alarms, then fails the whole stack on a reference to one (a dashboard's
    # alarm-status widget): refer to them by the ARN they would have had
    alarms = {lid for lid, res in resources.items() if res.get("Type") == "AWS::CloudWatch::Alarm"}
    if alarms:
        for section in ("Resources", "Outputs"):
            if section in template:
                template[section] = _replace_references(template[section], alarms, region)
        notes.append(f"{len(alarms)} reference(s) to AWS::CloudWatch::Alarm replaced by their ARN for moto")
    return notes


def _refers_to(node: Any, logical_ids: set[str]) -> bool:
    if isinstance(node, dict):
        if node.get("Ref") in logical_ids or ("Fn::GetAtt" in node and node["Fn::GetAtt"][0] in logical_ids):
            return True
        return any(_refers_to(v, logical_ids) for v in node.values())
    if isinstance(node, list):
        return any(_refers_to(v, logical_ids) for v in node)
    return False


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
