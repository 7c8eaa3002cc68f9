"""`iotwatch plan cost` counting the series a plan's "*" metrics discovered, read from a
deployed table (the `DISCOVERY` items the functions write) on the local endpoint, found by
table name or through a stack's `TableName` output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
from iotwatch.adapters.store.state_store import DynamoStateStore
from iotwatch.domain.discovery import DiscoveredValues
from iotwatch.plan.expand import expand_templates
from iotwatch.plan.loader import load_plan
from iotwatch_harness import STATE_TABLE_TEMPLATE, create_state_table

from iotwatch_cli.main import main
from iotwatch_local.endpoint import LocalAws

PLAN = Path(__file__).resolve().parents[1] / "plans" / "wildcard-rules.yaml"
STACK = "IotWatch-RulesFleet"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["plan", "cost", *argv, str(PLAN)], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def discovered(table: str, rules: int) -> None:
    """What the functions store after listing: `rules` rules for each '*' metric."""
    store = DynamoStateStore(boto3.client("dynamodb"), table)
    for template in expand_templates(load_plan(PLAN, environ={})):
        values = tuple(
            tuple(sorted([*template.fixed, *((k, f"rule_{i:03d}") for k in template.wildcard)]))
            for i in range(rules)
        )
        store.discovered.put_discovered(DiscoveredValues(template.key, values, 1_795_000_000, rules))


def test_the_discovered_series_of_a_deployed_table_are_counted(aws_env: LocalAws) -> None:
    table = create_state_table("iotwatch-rules-fleet")
    discovered(table, 40)
    code, out, err = run("--json", "--table", table)
    assert (code, err) == (0, "")
    estimate = json.loads(out)
    assert (estimate["series"], estimate["discovered_series"]) == (1 + 2 * 40, 80)
    assert f"80 discovered series counted from table {table}" in estimate["notes"]
    _, assumed, _ = run("--json", "--expected-series", "80")
    # the same number of series costs the same, read or assumed
    assert json.loads(assumed)["total_usd"] == estimate["total_usd"]


def test_the_table_is_found_through_the_stack_and_a_wrong_name_is_said(aws_env: LocalAws) -> None:
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(STATE_TABLE_TEMPLATE))
    (output,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    discovered(output["OutputValue"], 3)
    code, out, _ = run("--stack", STACK)
    assert code == 0
    assert "plan 'rules-fleet', 7 series (6 discovered)" in out
    assert f"(stack {STACK})" in out
    code, out, err = run("--stack", "Missing")
    assert (code, out) == (2, "")
    assert "stack Missing not found" in err
    code, out, err = run("--table", "no-such-table")
    assert (code, out) == (1, "")
    assert "cannot read the discovered series from AWS" in err and "--expected-series" in err
