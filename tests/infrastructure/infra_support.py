"""Shared by the infrastructure tests: test plans, the in-process synth and template helpers.

A module with a unique name (not conftest) so that `import infra_support` is unambiguous."""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Capture, Match

# jsii prints an end-of-life banner on Node 20; silence it before aws_cdk starts its kernel.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[2]

# Contacts used by the test plans. Tests check that none of them leaks where it must not.
LITERAL_EMAIL = "team-literal@example.com"
ENV_EMAIL_VAR = "IOTWATCH_TEST_ONCALL_EMAIL"
ENV_EMAIL = "from-env-secret@example.com"
SMS_PARAMETER = "/iotwatch/test-fleet/oncall-phone"

FULL_PLAN = textwrap.dedent(
    f"""
    version: 1
    name: test-fleet
    goals:
      - Know within two periods when devices stop connecting.
      - Catch the rules engine stalling.
    owners:
      team: iot-platform
      runbook: https://runbooks.example.com/iotwatch
      escalation: iot-platform on-call rotation
    resources:
      metrics:
        - metric: Connect.Success
          dimensions: {{Protocol: [MQTT, HTTP]}}
        - metric: PublishIn.Success
          dimensions: {{Protocol: MQTT}}
          period: 60
          detection:
            sensitivity: {{warning: 3, critical: 9}}
        - metric: RulesExecuted
    frequency:
      evaluation: rate(5 minutes)
      baseline_refresh: cron(0 3 * * ? *)
    tools:
      dashboard: true
    notify:
      topics:
        - name: oncall-email
          subscribers:
            - email: {LITERAL_EMAIL}
            - email: {{env: {ENV_EMAIL_VAR}}}
        - name: oncall_sms
          subscribers:
            - sms: {{ssm: {SMS_PARAMETER}}}
      routes:
        - topic: oncall-email
          severities: [warning, critical]
        - topic: oncall_sms
          severities: [critical]
    """
)

# The full plan with the audit function on: the audit, cost and dashboard tests read one synth of it.
FULL_TOOLS = "tools:\n  dashboard: true\n"
assert FULL_TOOLS in FULL_PLAN
AUDIT_PLAN = FULL_PLAN.replace(FULL_TOOLS, "tools:\n  dashboard: true\n  audit: true\n")

MINIMAL_PLAN = textwrap.dedent(
    """
    version: 1
    name: quiet
    goals: [Notice when devices stop publishing.]
    owners: {team: platform}
    resources:
      metrics:
        - metric: PublishIn.Success
          dimensions: {Protocol: MQTT}
    frequency:
      evaluation: rate(10 minutes)
      baseline_refresh: rate(12 hours)
    tools: {dashboard: false}
    notify:
      topics:
        - name: alerts
          subscribers:
            - email: ops@example.com
      routes:
        - topic: alerts
    """
)


@dataclass
class Synth:
    """One synthesized app: the stack object, its template (dict and assertions.Template)."""

    app: Any
    stack: Any
    template: Any
    template_json: dict[str, Any]
    outdir: Path
    plan_path: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template_json["Resources"].items() if v["Type"] == resource_type}

    def function(self, handler: str) -> tuple[str, dict[str, Any]]:
        """(logical id, resource) of the function with this handler; ids are looked up, never hard-coded."""
        found = [
            (k, v)
            for k, v in self.resources("AWS::Lambda::Function").items()
            if v["Properties"]["Handler"] == handler
        ]
        assert len(found) == 1, f"expected one function with handler {handler}, found {len(found)}"
        return found[0]

    @property
    def metrics_namespace(self) -> str:
        """Where this stack's own metrics go: IotWatch/<plan name>."""
        return f"IotWatch/{self.stack.plan.name}"

    def dead_letter_queue(self) -> tuple[str, dict[str, Any]]:
        """(logical id, resource) of the dead-letter queue: the one queue that redrives nowhere
        (the evaluator's work queue redrives into it)."""
        found = [
            (k, v)
            for k, v in self.resources("AWS::SQS::Queue").items()
            if "RedrivePolicy" not in v.get("Properties", {})
        ]
        assert len(found) == 1, f"expected one queue without a redrive policy, found {len(found)}"
        return found[0]

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = list(self.resources(resource_type).items())
        assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
        return found[0]


def synthesize_plan(
    base: Path, text: str, *, environ: dict[str, str], context: dict[str, Any] | None = None
) -> Synth:
    """The plan `text` written to `base`/plan.yaml and synthesized into `base`/cdk.out."""
    plan_path = base / "plan.yaml"
    plan_path.write_text(text, encoding="utf-8")
    return synthesize(plan_path, base / "cdk.out", environ=environ, context=context)


def synthesize(
    plan_path: Path, outdir: Path, *, environ: dict[str, str], context: dict[str, Any] | None = None
) -> Synth:
    from aws_cdk.assertions import Template

    from infra.app import build_app, iotwatch_stack

    app = build_app(plan_path, outdir=str(outdir), context=context, environ=environ)
    assembly = app.synth()
    stack = iotwatch_stack(app)
    template_json = assembly.get_stack_by_name(stack.stack_name).template
    return Synth(app, stack, Template.from_json(template_json), template_json, outdir, plan_path)


def synthesize_text(
    base: Path,
    plan_text: str,
    *,
    environ: dict[str, str] | None = None,
    context: dict[str, Any] | None = None,
) -> Synth:
    """The app for a plan written out as `plan_text` in `base` (created), synthesized there."""
    base.mkdir(parents=True, exist_ok=True)
    plan_path = base / "plan.yaml"
    plan_path.write_text(plan_text, encoding="utf-8")
    return synthesize(
        plan_path,
        base / "cdk.out",
        environ={ENV_EMAIL_VAR: ENV_EMAIL} if environ is None else environ,
        context=context,
    )


# Only the known, harmless CDK pattern may warn in cfn-lint: W3005 (explicit DependsOn next
# to a GetAtt).
CFN_LINT_ALLOWED_WARNINGS = frozenset({"W3005"})


def nag_problems(synth: Synth) -> list[str]:
    """Every cdk-nag AwsSolutions finding not acknowledged in the app, as text."""
    from infra.nag import nag_findings

    return [str(f) for f in nag_findings(synth.app)]


def acknowledgements(synth: Synth) -> dict[tuple[str, str], str]:
    """(construct path, rule) -> reason, for every cdk-nag acknowledgement in the stack."""
    import aws_cdk as cdk

    found: dict[tuple[str, str], str] = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    found[(construct.node.path, rule)] = reason
    return found


def cfn_lint_problems(synth: Synth) -> tuple[list[str], set[str]]:
    """(cfn-lint errors as text, ids of the warnings outside CFN_LINT_ALLOWED_WARNINGS)."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(synth.template_json), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    warnings = {m.rule.id for m in matches if not m.rule.id.startswith("E")} - CFN_LINT_ALLOWED_WARNINGS
    return errors, warnings


def join_to_text(value: Any, placeholder: str = "<{}>") -> str:
    """Flattens an Fn::Join of strings and {Ref: X} / {Fn::GetAtt: [X, A]} into text with <X> markers."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(join_to_text(p, placeholder) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return placeholder.format(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return placeholder.format(".".join(value["Fn::GetAtt"]))
    return json.dumps(value)


# --- what each function calls on the table, derived from the code --------------------------------

STORE_PACKAGE = REPO_ROOT / "lambdas" / "iotwatch" / "adapters" / "store"


def _store_call_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(callees, DynamoDB actions) of every function and method in adapters/store, by name:
    a method's calls on `self`, on its table (`self._table.x`, `table.x`) and of the package's
    module functions; `self.client.<operation>` is a request (its action: the camel-cased name)."""
    import ast

    callees: dict[str, set[str]] = {}
    actions: dict[str, set[str]] = {}
    for path in sorted(STORE_PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        for function in functions:
            if function.name in callees and path.name != "table.py":
                continue  # table.py's DynamoTable methods are the ones repositories reach
            called, sent = callees.setdefault(function.name, set()), actions.setdefault(function.name, set())
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute):
                    owner = ast.unparse(node.value)
                    if owner == "self.client":
                        sent.add("dynamodb:" + "".join(w.capitalize() for w in node.attr.split("_")))
                    elif owner in ("self", "self._table", "table"):
                        called.add(node.attr)
                elif isinstance(node, ast.Name):
                    called.add(node.id)
    return callees, actions


def table_actions_of(ports: list[type]) -> set[str]:
    """Every DynamoDB action a store behind these ports (iotwatch.service.ports Protocols) can
    send: their methods, followed through the repositories to the table's requests."""
    callees, sent = _store_call_graph()
    methods = _port_methods(ports)
    assert methods <= set(callees), f"port methods no repository defines: {methods - set(callees)}"
    found: set[str] = set()
    seen: set[str] = set()
    todo = list(methods)
    while todo:
        name = todo.pop()
        if name in seen or name not in callees:
            continue
        seen.add(name)
        found |= sent[name]
        todo += callees[name]
    return found


def _port_methods(ports: list[type]) -> set[str]:
    """The methods of these ports, through the repositories a composed store's ports name as
    properties (EvaluationStore.runs is a RunLog: RunLog's methods)."""
    import typing

    methods: set[str] = set()
    for port in ports:
        for cls in port.__mro__:
            if cls.__module__ != "iotwatch.service.ports":
                continue
            for name, member in vars(cls).items():
                if name.startswith("_"):
                    continue
                if isinstance(member, property):
                    methods |= _port_methods([typing.get_type_hints(member.fget)["return"]])
                else:
                    methods.add(name)
    return methods


def store_ports(handler_module: str) -> list[type]:
    """The store ports a handler is wired with: its dependencies' `store`, the discovery's store
    when it discovers "*" metrics, and the audit records the evaluator quotes (incident
    publishing reads them when its store's `audit` is a ControlPlaneReader, as the Lambda's is)."""
    import dataclasses
    import importlib
    import typing

    from iotwatch.service import ports
    from iotwatch.service.discovery import SeriesDiscovery

    module = importlib.import_module(handler_module)
    dependencies = [
        cls
        for cls in vars(module).values()
        if dataclasses.is_dataclass(cls)
        and cls.__module__ == handler_module
        and cls.__name__.endswith("Dependencies")
    ]
    assert len(dependencies) == 1, handler_module
    found: list[type] = [typing.get_type_hints(dependencies[0])["store"]]
    if module.setup.discovers is not None:
        found.append(typing.get_type_hints(SeriesDiscovery.__init__)["store"])
    if any(ports.EvaluationStore in port.__mro__ for port in found):
        found.append(ports.ControlPlaneReader)  # the `audit` repository, when the store has one
    return found


def assert_table_access_is_what_the_code_calls(s: Synth, handler: str) -> set[str]:
    """The function's only DynamoDB statement grants exactly the actions its store ports can
    send (derived from the code: infra_support.table_actions_of), on the table alone."""
    _, function = s.function(handler)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    table_id, _ = s.only("AWS::DynamoDB::Table")
    expected = table_actions_of(store_ports(handler.rsplit(".", 1)[0]))
    granted = Capture()
    s.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": granted, "Resource": {"Fn::GetAtt": [table_id, "Arn"]}})]
                )
            },
        },
    )
    assert set(granted.as_array()) == expected
    statements = [
        statement
        for policy in s.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    every = {
        action
        for statement in statements
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action.startswith("dynamodb:")
    }
    assert every == expected, f"{handler}: {sorted(every - expected)} never called"
    assert not every & {
        "dynamodb:Scan",
        "dynamodb:DescribeTable",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    }
    return expected


# --- SNS filter semantics, as documented (moto evaluates no filter policy) ---------------------


def _value_matches(condition: Any, value: str) -> bool:
    if isinstance(condition, str):
        return condition == value
    if "prefix" in condition:
        return value.startswith(condition["prefix"])
    if "suffix" in condition:
        return value.endswith(condition["suffix"])
    if "anything-but" in condition:
        return value not in condition["anything-but"]
    raise AssertionError(f"operator this model does not know: {condition}")


def sns_delivers(policy: dict[str, Any] | None, attributes: dict[str, str | list[str]]) -> bool:
    """Whether SNS delivers a message with these message attributes to a subscription with this
    filter policy (MessageAttributes scope), as the SNS developer guide describes it: no policy
    takes everything; every key of a policy (of one `$or` branch) must match, one condition of
    its list sufficing; a String.Array matches when an element does; `{"exists": false}` matches
    a message without the key "only if at least one attribute is present" ("Key matching");
    and a message with no attributes at all matches no policy."""
    if policy is None:
        return True
    if not attributes:
        return False
    if "$or" in policy:
        return any(sns_delivers(branch, attributes) for branch in policy["$or"])
    for key, conditions in policy.items():
        present = key in attributes
        raw = attributes.get(key, [])
        values = raw if isinstance(raw, list) else [raw]
        if not any(
            (present == c["exists"])
            if isinstance(c, dict) and "exists" in c
            else any(_value_matches(c, v) for v in values)
            for c in conditions
        ):
            return False
    return True


CLOUDWATCH_ALARM: dict[str, str | list[str]] = {}  # an alarm notification carries no message attribute
