"""EventBridge as it shapes a rule target's request, evaluated locally: the event pattern match,
the input transformer (InputPathsMap + InputTemplate) and a check of the PagerDuty Events API v2
body it must produce. Pure: no AWS, no clock (the ingestion time is a parameter).

So the demo can send a local PagerDuty stand-in exactly the bodies the deployed template's rules
would send. The transformation follows "Amazon EventBridge input transformation" in the
EventBridge user guide (tests/unit/test_input_transformer.py reproduces its examples):

- `<name>` is replaced by the value the InputPathsMap's JSON path finds in the event, or by one
  of the predefined variables (aws.events.rule-arn, aws.events.rule-name,
  aws.events.event.ingestion-time, aws.events.event, aws.events.event.json).
- Inside a JSON string (between double quotes) a string is inserted as its bare text, without
  escaping: a value with a quote in it breaks the JSON. An object or array there loses its
  inner quotes ("EventBridge removes internal quotes to ensure a valid string").
- Outside a string a value is inserted as JSON: a string gets its quotes (and its escapes), so
  a template that places free text outside quotes (`"summary": <summary>`) is always valid.
  A template that is not JSON at all (plain text) gets bare text everywhere.
- A path that finds nothing creates no variable: its placeholder is replaced by nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()

PAGERDUTY_EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")


def json_path(event: Any, path: str) -> Any:
    """The value at `path` ($, $.a.b-c, $.a[0], $.a.0) in `event`, or _MISSING."""
    if path == "$":
        return event
    if not path.startswith("$"):
        raise ValueError(f"{path!r} is not a JSON path: start it with '$.'")
    rest, current = path[1:], event
    while rest:
        step = _STEP.match(rest)
        if step is None:
            raise ValueError(f"{path!r}: use dot notation ($.detail.name) or an index ($.resources[0])")
        key, index = step.groups()
        rest = rest[step.end() :]
        if isinstance(current, list) and (index is not None or (key is not None and key.isdigit())):
            position = int(index if index is not None else key)
            current = current[position] if position < len(current) else _MISSING
        elif isinstance(current, dict) and key is not None:
            current = current.get(key, _MISSING)
        else:
            current = _MISSING
        if current is _MISSING:
            return _MISSING
    return current


def _predefined(
    event: Mapping[str, Any], rule_arn: str, rule_name: str, ingestion_time: str
) -> dict[str, Any]:
    return {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_name,
        "aws.events.event.ingestion-time": ingestion_time,
        "aws.events.event": {k: v for k, v in event.items() if k != "detail"},
        "aws.events.event.json": dict(event),
    }


def _in_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":")).replace('"', "")
    return json.dumps(value)


def transform(
    event: Mapping[str, Any],
    input_paths_map: Mapping[str, str],
    input_template: str,
    *,
    rule_arn: str = "",
    rule_name: str = "",
    ingestion_time: str = "",
) -> str:
    """The text EventBridge sends the target for `event`: `input_template` with each `<name>`
    replaced as the module docstring says."""
    variables = _predefined(event, rule_arn, rule_name, ingestion_time)
    for name, path in input_paths_map.items():
        if name.startswith("aws."):
            raise ValueError(f"InputPathsMap key {name!r}: names starting with 'aws.' are reserved")
        value = json_path(event, path)
        if value is not _MISSING:
            variables[name] = value
    is_json = input_template.lstrip()[:1] in ("{", "[")
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(input_template):
        char = input_template[i]
        placeholder = PLACEHOLDER.match(input_template, i) if char == "<" else None
        if placeholder is not None:
            name = placeholder.group(1)
            if name in variables:
                value = variables[name]
                out.append(json.dumps(value) if is_json and not in_string else _in_string(value))
            elif not name.startswith("aws.") and name not in input_paths_map:
                out.append(placeholder.group(0))  # not a variable: the text stays as written
            i = placeholder.end()
            continue
        if char == "\\" and i + 1 < len(input_template):
            out.append(input_template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        i += 1
    return "".join(out)


def transform_target(event: Mapping[str, Any], target: Mapping[str, Any], **predefined: str) -> str:
    """`transform` with a CloudFormation rule target's InputTransformer (template JSON keys)."""
    transformer = target["InputTransformer"]
    return transform(event, transformer.get("InputPathsMap", {}), transformer["InputTemplate"], **predefined)


def _value_matches(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, dict):
        if "prefix" in matcher:
            return isinstance(value, str) and value.startswith(matcher["prefix"])
        if "anything-but" in matcher:
            excluded = matcher["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return value is not _MISSING and value not in excluded
        if "exists" in matcher:
            return (value is not _MISSING) == bool(matcher["exists"])
        raise ValueError(f"unsupported event pattern matcher {matcher!r}")
    return value is not _MISSING and matcher == value


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether `event` matches an EventBridge event pattern of exact values, prefix,
    anything-but and exists matchers (each field's list: any one; an array value: any element)."""
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if not isinstance(value, Mapping) or not matches(rule, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(m, v) for m in rule for v in values):
            return False
    return True


def pagerduty_event_problems(body: Any) -> list[str]:
    """What makes `body` an invalid PagerDuty Events API v2 request (empty: valid), per its
    published schema: routing_key (32 characters), event_action, dedup_key (at most 255; required
    to acknowledge or resolve), and for a trigger a payload with summary (at most 1024), source
    and severity."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems: list[str] = []
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        problems.append("routing_key: a 32-character integration key is required")
    action = body.get("event_action")
    if action not in PAGERDUTY_EVENT_ACTIONS:
        problems.append(f"event_action: one of {', '.join(PAGERDUTY_EVENT_ACTIONS)}, got {action!r}")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        problems.append("dedup_key: a string of 1 to 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        problems.append(f"dedup_key: required to {action}")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*problems, "payload: required to trigger"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not 0 < len(summary) <= 1024:
            problems.append("payload.summary: a string of 1 to 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload.get("source"):
            problems.append("payload.source: a non-empty string")
        if payload.get("severity") not in PAGERDUTY_SEVERITIES:
            problems.append(
                f"payload.severity: one of {', '.join(PAGERDUTY_SEVERITIES)}, got {payload.get('severity')!r}"
            )
    links = body.get("links", [])
    if not isinstance(links, list) or not all(
        isinstance(x, dict) and isinstance(x.get("href"), str) for x in links
    ):
        problems.append("links: a list of {href, text}")
    return problems
