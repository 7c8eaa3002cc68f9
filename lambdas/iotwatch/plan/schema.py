"""The plan's JSON Schema, for editors (the YAML language server completes keys and flags
mistakes as you type): generated from the pydantic model, so it cannot drift from what
`plan validate` accepts. Checked in as docs/monitoring-plan.schema.json; regenerate with

    iotwatch plan schema > docs/monitoring-plan.schema.json

Where the model accepts more than its field's type says (a before-validator reads the plan's
shorthand: '4h' for a duration, a single string for a list, `{env: VAR}` for an address), the
generated schema is widened here, so a valid plan never shows as wrong in the editor. The
schema is a help while typing; `plan validate` remains the check (cross-field rules, AWS names).
"""

from __future__ import annotations

import json
from typing import Any

from iotwatch.plan.model.plan import Plan

SCHEMA_FILE = "docs/monitoring-plan.schema.json"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = f"iotwatch plan schema > {SCHEMA_FILE}"

_DURATION = {
    "anyOf": [
        {"type": "string", "pattern": "^\\s*([0-9]+[dD])?\\s*([0-9]+[hH])?\\s*([0-9]+[mM])?\\s*$"},
        {"type": "number", "minimum": 0, "description": "minutes"},
        {"type": "null"},
    ],
    "examples": ["4h", "30m", "1h30m", "1d"],
}
_ADDRESS = {
    "description": "an address as a string, {env: VARIABLE} read at synth, or {ssm: /parameter/name}",
    "anyOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "object",
            "properties": {"env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
            "required": ["env"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"ssm": {"type": "string", "pattern": "^/?[A-Za-z0-9_.\\-/]{1,1011}$"}},
            "required": ["ssm"],
            "additionalProperties": False,
        },
    ],
}


def _one_or_many(prop: dict[str, Any]) -> dict[str, Any]:
    """A list field that also takes its one item alone."""
    if "anyOf" in prop:  # an optional list: [list, null]
        return {**prop, "anyOf": [prop["anyOf"][0].get("items", {"type": "string"}), *prop["anyOf"]]}
    items = prop.get("items", {"type": "string"})
    outer = {k: v for k, v in prop.items() if k in ("title", "description", "default")}
    return {**outer, "anyOf": [items, {k: v for k, v in prop.items() if k not in outer}]}


def _days(prop: dict[str, Any]) -> dict[str, Any]:
    # 'Monday', 'TUE' and a single day are read too (the first three letters, any case)
    return _one_or_many({**prop, "items": {"type": "string", "minLength": 3}})


def _switch(prop: dict[str, Any]) -> dict[str, Any]:
    # YAML's on/off/yes/no/true/false read as enabled/disabled
    outer = {k: v for k, v in prop.items() if k not in ("type", "enum")}
    return {**outer, "anyOf": [{"type": "string", "enum": prop["enum"]}, {"type": "boolean"}]}


def _duration(prop: dict[str, Any]) -> dict[str, Any]:
    return {**_DURATION, **{k: v for k, v in prop.items() if k in ("title", "description")}}


# (model, field) -> how its schema is widened: every field a before-validator reads more of
WIDENED: dict[tuple[str, str], Any] = {
    ("Frequency", "catch_up"): _duration,
    ("Notify", "repeat_interval"): _duration,
    ("Notify", "group_interval"): _duration,
    ("Notify", "group_by"): lambda prop: prop,  # its shorthand is already a string
    ("Audit", "correlation_window"): _duration,
    ("RatioSpec", "numerator"): _one_or_many,
    ("RatioSpec", "denominator"): _one_or_many,
    ("MaintenanceWindowSpec", "days"): _days,
    ("Devices", "fleet_indexing"): _switch,
}


def _or_off(definition: dict[str, Any]) -> dict[str, Any]:
    # `slow_change: off` (YAML reads a bare off as false)
    return {"anyOf": [definition, {"const": "off"}, {"const": False}]}


# a model read from the plan's shorthand as a whole: its replacement, or how it is widened
WIDENED_MODELS: dict[str, Any] = {
    "Contact": _ADDRESS,
    "SlowChange": _or_off,
    "SecretReference": lambda definition: definition,  # its before-validator only refuses (a literal key)
}


def plan_json_schema() -> dict[str, Any]:
    """The plan's JSON Schema (draft 2020-12), widened where the model reads shorthand."""
    schema = Plan.model_json_schema(mode="validation")
    definitions = schema.get("$defs", {})
    for (model, field), widen in WIDENED.items():
        properties = definitions.get(model, {}).get("properties", {})
        if field in properties:
            properties[field] = widen(properties[field])
    for model, replacement in WIDENED_MODELS.items():
        if model in definitions:
            definitions[model] = replacement(definitions[model]) if callable(replacement) else replacement
    return {
        "$schema": SCHEMA_DIALECT,
        "$comment": f"Generated from iotwatch's plan model; regenerate with: {REGENERATE}",
        **schema,
        "title": "iotwatch monitoring plan",
    }


def plan_json_schema_text() -> str:
    """The schema as checked in: sorted keys, two-space indent, a final newline."""
    return json.dumps(plan_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
