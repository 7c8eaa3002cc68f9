"""Building the CDK app from a monitoring plan, usable in-process (tests, demo) and by app.py.

    app = build_app("monitoring-plan.yaml", outdir="cdk.out")
    app.synth()

Context keys (`cdk synth -c key=value`, or `context=` here):
- `plan`: path of the monitoring plan (default monitoring-plan.yaml, relative to the cwd);
- `stage`: deploys the same plan once more, as a stack of its own (`-c stage=dev`). The plan
  is renamed `<name>-<stage>` before anything is built, so everything named after the plan
  follows: stack IotWatch-<Name><Stage>, topics iotwatch-<name>-<stage>-<topic>, alarms
  iotwatch-<name>-<stage>-…, dashboard iotwatch-<name>-<stage>, descriptions, tags, the
  plan name in every alert, and the plan.json the Lambdas read. Lowercase letters and digits
  in words joined by single hyphens; `<name>-<stage>` must fit the 30 characters of a plan
  name. Without the key the stack is the plan's own (no suffix), as before; a staged name
  must not be another plan's name (plan `shop` at stage `dev` *is* plan `shop-dev`);
- `data_removal_policy`: `retain` (default) or `destroy` for the baselines table; `destroy`
  is for demos and throw-away stacks;
- `strict`: `true` refuses a plan with warnings (a misspelt metric or dimension that would
  leave a series empty), as `iotwatch plan validate --strict` does; exit status 1. Without it
  the warnings are printed on stderr and synth goes on;
- `reserved_concurrency`: `on` (default) reserves each function's concurrency (the evaluator
  runs one tick at a time); `off` for an account whose Lambda concurrency quota is too small
  to reserve anything (new accounts may start at 10), where CloudFormation refuses the stack
  with "decreases account's UnreservedConcurrentExecution below its minimum value".

Environment: account and region come from CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION, which the
CDK CLI sets from the credentials and region it runs with (`cdk deploy --profile prod`). Unless
both are set (an offline `cdk synth` or `python app.py`, the tests, the local demo) the stack
stays environment-agnostic: account and region are CloudFormation pseudo parameters resolved at
deploy time. Nothing in the stack needs them at synth (the Powertools layer ARN is an SSM-typed
template parameter, the dashboard's metrics carry no region so it draws its own, the Lambdas
read AWS_REGION at run time); a known environment only turns those references into literals.

Determinism: the same plan, code and context synthesize to byte-identical templates and asset
hashes (no timestamps, random ids or unordered JSON), so `cdk diff` stays quiet when nothing
changed; tests/infrastructure/test_infra_side_by_side.py holds that in place.

The feature flags in cdk.json are applied here too, so an in-process synth produces the same
template as `cdk synth` (with the same context and CDK_DEFAULT_* variables).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from iotwatch.plan.loader import DEFAULT_PLAN_FILE, check_plan_file
from iotwatch.plan.model.plan import PLAN_NAME_PATTERN, Plan

from infra.nag import enable_nag
from infra.naming import check_output_names
from infra.stack import IotWatchStack

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"
CONTEXT_PLAN = "plan"
CONTEXT_STAGE = "stage"
CONTEXT_DATA_REMOVAL = "data_removal_policy"
CONTEXT_RESERVED_CONCURRENCY = "reserved_concurrency"
CONTEXT_STRICT = "strict"
_SWITCH = {"on": True, "true": True, "off": False, "false": False}
_REMOVAL_POLICIES = {"retain": cdk.RemovalPolicy.RETAIN, "destroy": cdk.RemovalPolicy.DESTROY}
# Words of lowercase letters and digits joined by single hyphens: a leading, trailing or doubled
# hyphen would vanish from the stack name (IotWatch-ShopDev), which capitalises each word.
STAGE_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PLAN_NAME_MAX_LENGTH = 30  # PLAN_NAME_PATTERN's limit (checked by the tests)
ENV_ACCOUNT = "CDK_DEFAULT_ACCOUNT"
ENV_REGION = "CDK_DEFAULT_REGION"


class ContextError(ValueError):
    """A context value (`cdk synth -c key=value`) that cannot be used; the message names the key."""


def project_context() -> dict[str, Any]:
    """The `context` block of cdk.json (feature flags)."""
    try:
        return dict(json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {}))
    except FileNotFoundError:
        return {}


def build_app(
    plan_path: str | os.PathLike[str] | None = None,
    outdir: str | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> cdk.App:
    """An App with the plan's stack and cdk-nag attached. Raises PlanError for a bad plan,
    ContextError for a bad context value.

    `plan_path` wins over the `plan` context key. `environ` is where {env: VAR} contacts and
    CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION are read from (default: os.environ).
    """
    app = cdk.App(outdir=outdir, context={**project_context(), **(context or {})})
    path = Path(
        plan_path if plan_path is not None else app.node.try_get_context(CONTEXT_PLAN) or DEFAULT_PLAN_FILE
    )
    stage = _stage(app.node.try_get_context(CONTEXT_STAGE))
    removal = str(app.node.try_get_context(CONTEXT_DATA_REMOVAL) or "retain").lower()
    if removal not in _REMOVAL_POLICIES:
        raise ContextError(
            f"context {CONTEXT_DATA_REMOVAL} must be one of {', '.join(_REMOVAL_POLICIES)}, got {removal!r}"
        )
    reserve = _SWITCH.get(str(app.node.try_get_context(CONTEXT_RESERVED_CONCURRENCY) or "on").lower())
    if reserve is None:
        raise ContextError(f"context {CONTEXT_RESERVED_CONCURRENCY} must be on or off")
    strict = _SWITCH.get(str(app.node.try_get_context(CONTEXT_STRICT) or "false").lower())
    if strict is None:
        raise ContextError(f"context {CONTEXT_STRICT} must be true or false")
    env = os.environ if environ is None else environ
    check = check_plan_file(path, environ=env, resolve_env=True, strict=strict)
    for warning in check.warnings:  # synth goes on; a plan that watches nothing must still be said
        print(warning.at(str(path)), file=sys.stderr)
    assert check.plan is not None
    plan = staged_plan(check.plan, stage)
    check_output_names(plan, str(path))

    IotWatchStack(
        app,
        plan=plan,
        # Staged code lives beside the cloud assembly (cdk.out/.iotwatch-staging/<hash>).
        staging_root=app.outdir,
        data_removal_policy=_REMOVAL_POLICIES[removal],
        reserve_concurrency=reserve,
        environ=env,
        env=stack_environment(env),
    )
    enable_nag(app)
    return app


def _stage(value: Any) -> str | None:
    """The `stage` context value, checked; None when the key is absent."""
    if value is None:
        return None
    fix = f"use lowercase letters and digits, words joined by single hyphens (-c {CONTEXT_STAGE}=dev)"
    if not isinstance(value, str):
        raise ContextError(f"context {CONTEXT_STAGE} must be a string, got {value!r}: {fix}")
    if not value:
        # `-c stage=$STAGE` with STAGE unset must not quietly deploy the unstaged stack.
        raise ContextError(
            f"context {CONTEXT_STAGE} is empty: give a stage name (-c {CONTEXT_STAGE}=dev), or leave "
            "the key out to deploy the plan's own stack"
        )
    if not STAGE_PATTERN.match(value):
        raise ContextError(f"context {CONTEXT_STAGE}={value!r} is not a valid stage name: {fix}")
    return value


def staged_plan(plan: Plan, stage: str | None) -> Plan:
    """The plan renamed `<name>-<stage>`: every name the stack derives from the plan follows.
    The plan itself when `stage` is None."""
    if stage is None:
        return plan
    if not STAGE_PATTERN.match(stage):
        raise ContextError(f"context {CONTEXT_STAGE}={stage!r} is not a valid stage name")
    name = f"{plan.name}-{stage}"
    if len(name) > PLAN_NAME_MAX_LENGTH:
        room = PLAN_NAME_MAX_LENGTH - len(plan.name) - 1
        fix = (
            f"use a stage of at most {room} characters, or shorten the plan's name"
            if room > 0
            else f"shorten the plan's name to leave room for '-{stage}'"
        )
        raise ContextError(
            f"context {CONTEXT_STAGE}={stage!r} makes the plan name {name!r} {len(name)} characters "
            f"long, over the {PLAN_NAME_MAX_LENGTH} a plan name may have: {fix}"
        )
    assert re.match(PLAN_NAME_PATTERN, name), name  # a valid name, '-', a valid stage
    return plan.model_copy(update={"name": name})


def stack_environment(environ: Mapping[str, str]) -> cdk.Environment | None:
    """Account and region as the CDK CLI passes them (CDK_DEFAULT_*) when it knows both, else
    None: environment-agnostic.

    Both or nothing: without credentials the CLI still sets CDK_DEFAULT_REGION (us-east-1 when
    nothing is configured) but no account; pinning that region into an offline `cdk synth`
    would make it differ from the tests' synth for a region nobody chose. Deploying always
    resolves the account, so `cdk deploy` and `cdk diff` see both and the same template."""
    account = environ.get(ENV_ACCOUNT) or None
    region = environ.get(ENV_REGION) or None
    if account is None or region is None:
        return None
    return cdk.Environment(account=account, region=region)


def iotwatch_stack(app: cdk.App) -> IotWatchStack:
    """The (single) iotwatch stack of an app made by build_app."""
    stacks = [child for child in app.node.children if isinstance(child, IotWatchStack)]
    if len(stacks) != 1:
        raise LookupError(f"expected one IotWatchStack in the app, found {len(stacks)}")
    return stacks[0]


def build_stack(
    plan_path: str | os.PathLike[str],
    outdir: str | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> IotWatchStack:
    """build_app, then the stack: what tests and the demo usually want."""
    return iotwatch_stack(build_app(plan_path, outdir, context, environ=environ))
