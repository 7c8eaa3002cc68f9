"""`iotwatch demo`: the whole product on a local AWS endpoint, end to end.

synth the plan's stack -> deploy the template into moto's CloudFormation -> subscribe an
"on-call inbox" queue to every topic -> write 14 days of simulated fleet traffic ->
run the baseline builder as the stack's first deploy would -> replay a day of evaluator
ticks with an injected outage -> print what on-call receives and write summary.json.

The handlers run in-process with the environment read back from the deployed functions
and their staged code directory (with the compiled plan) as LAMBDA_TASK_ROOT.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from iotwatch.domain.series import Series
from iotwatch.domain.times import iso_z as iso
from iotwatch.plan.model.plan import Plan
from iotwatch.stack_outputs import (
    OUTPUT_AUDIT_FUNCTION,
    OUTPUT_BASELINE_BUILDER_FUNCTION,
    OUTPUT_EVALUATOR_FUNCTION,
    OUTPUT_TABLE_NAME,
    topic_output_name,
)

from iotwatch_local.demo_report import DemoRun, ReplayedDay, print_outcome, write_summary
from iotwatch_local.events import scheduled_event, stack_status_event
from iotwatch_local.lambda_runtime import LocalLambdaContext, cold_start, function_environment, logs_into
from iotwatch_local.scenario import (
    AUTH_ATTEMPTS,
    AUTH_CLIENTS,
    AUTH_END,
    AUTH_START,
    BACKTEST_DAYS,
    DAY,
    DEPLOYED_AT,
    INCIDENT_END,
    INCIDENT_METRICS,
    INCIDENT_START,
    OUTAGE_REASON,
    OUTAGE_SHARE,
    REPLAY_END,
    control_plane_story,
    group_sizes,
)


def pagerduty_topics(plan: Plan) -> set[str]:
    return {t.name for t in plan.notify.topics if any(s.protocol == "pagerduty" for s in t.subscribers)}


class Step:
    """Prints one progress line per demo step, with its duration."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    @contextlib.contextmanager
    def __call__(self, text: str) -> Iterator[None]:
        started = time.monotonic()
        self._stream.write(f"  {text} ...")
        self._stream.flush()
        yield
        self._stream.write(f" {time.monotonic() - started:.1f}s\n")


class StackFunctions:
    """The deployed stack's evaluator, baseline builder and audit handlers, imported in-process in
    their functions' environments and invoked as Lambda would, everything they print in `log`."""

    def __init__(self, stack: Any, log: TextIO) -> None:
        self.log = log
        self.evaluator_name = stack.outputs[OUTPUT_EVALUATOR_FUNCTION]
        self.builder_name = stack.outputs[OUTPUT_BASELINE_BUILDER_FUNCTION]
        self.evaluator_env = stack.handler_environ(self.evaluator_name)
        self.builder_env = stack.handler_environ(self.builder_name)
        self.audit_name: str | None = stack.outputs.get(OUTPUT_AUDIT_FUNCTION)
        self.audit_env = stack.handler_environ(self.audit_name) if self.audit_name else {}
        self._handlers: dict[str, tuple[Callable[..., Any], dict[str, str], str]] = {}

    @contextlib.contextmanager
    def loaded(self) -> Iterator[None]:
        """Handlers import Powertools, whose logger binds to stdout at import: both go to the log."""
        with contextlib.redirect_stdout(self.log):
            with function_environment(self.builder_env):
                from iotwatch.handlers import baseline_builder
            with function_environment(self.evaluator_env):
                from iotwatch.handlers import evaluator
            with function_environment(self.audit_env or self.evaluator_env):
                from iotwatch.handlers import audit
        self._handlers = {
            "builder": (baseline_builder.handler, self.builder_env, self.builder_name),
            "evaluator": (evaluator.handler, self.evaluator_env, self.evaluator_name),
            "audit": (audit.handler, self.audit_env, str(self.audit_name)),
        }
        with logs_into(self.log, baseline_builder, evaluator, audit):
            for module in (baseline_builder, evaluator, audit):
                cold_start(module)  # a cold start per demo: this run's endpoint and stack
            yield

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Calls the handler of `function` ("builder", "evaluator" or "audit") with `event`."""
        handler, environ, name = self._handlers[function]
        context = LocalLambdaContext(function_name=name, aws_request_id=event["id"])
        with function_environment(environ), contextlib.redirect_stdout(self.log):
            return handler(event, context)


def run_demo(*, plan_path: str, out_dir: str, stream: TextIO = sys.stdout) -> int:
    # Imported here: synth loads jsii (node), the rest needs the local endpoint's environment.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from iotwatch.plan.expand import expand_series
    from iotwatch.plan.loader import PlanError, load_plan

    from infra.app import build_app
    from iotwatch_local.endpoint import LocalAws

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step = Step(stream)
    try:
        plan = load_plan(plan_path)
        plan_path = demo_plan(plan_path, out / "plan.yaml", stream)
        plan = load_plan(plan_path)
    except PlanError as exc:
        print(exc, file=sys.stderr)
        return 2
    series = expand_series(plan)
    stream.write(
        f"iotwatch demo: plan '{plan.name}' ({plan_path}), {len(series)} series, local AWS endpoint\n"
    )

    assembly = out / "cdk.out"
    with step(f"synthesizing stack {plan.stack_name} (CDK app + cdk-nag)"):
        build_app(plan_path, outdir=str(assembly), context={"data_removal_policy": "destroy"}).synth()

    log_path = out / "lambda.log"
    with LocalAws() as aws, aws.env(), log_path.open("w", encoding="utf-8") as lambda_log:
        aws.reset()  # moto keeps its state per process: a second demo in one process starts clean
        run = run_scenario(plan, series, assembly, out, lambda_log, stream, aws)
    summary = write_summary(plan, series, run, out / "summary.json")
    return print_outcome(stream, plan, series, run, summary, out, log_path)


# The demo's PagerDuty service: a secret CloudFormation would resolve into the connection.
DEMO_PAGERDUTY_SECRET = "iotwatch/demo/pagerduty"
DEMO_ROUTING_KEY = "0" * 32  # an integration key is 32 characters


def demo_plan(plan_path: str, copy: Path, stream: TextIO) -> str:
    """A copy of the plan as the demo's account runs it: fleet indexing on (the groups get their
    fleet metrics) and, where the plan pages by SMS, PagerDuty on the same topic."""
    import yaml

    data = yaml.safe_load(Path(plan_path).read_text(encoding="utf-8"))
    devices = data.get("devices")
    if isinstance(devices, dict) and devices.get("groups"):
        devices["fleet_indexing"] = "enabled"
        stream.write(
            "iotwatch demo: the local account has fleet indexing with connectivity on, so the plan's "
            "groups get their fleet metrics (devices.fleet_indexing: enabled)\n"
        )
    paged = next(
        (t for t in data["notify"]["topics"] if any("sms" in s for s in t.get("subscribers", []))), None
    )
    if paged is not None and not any("pagerduty" in s for s in paged["subscribers"]):
        paged["subscribers"].append({"pagerduty": {"routing_key": {"secret": DEMO_PAGERDUTY_SECRET}}})
        stream.write(
            f"iotwatch demo: topic {paged['name']} pages PagerDuty too (a local stand-in for its Events "
            "API on 127.0.0.1)\n"
        )
    copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(copy)


def run_scenario(
    plan: Plan,
    series: Sequence[Series],
    assembly: Path,
    out: Path,
    lambda_log: TextIO,
    stream: TextIO,
    aws: Any,
) -> DemoRun:
    """Deploys the assembly, writes the fleet's traffic, builds the baselines, replays the day's
    ticks and reads back what `iotwatch incidents` and `iotwatch backtest` would show."""
    import boto3
    from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
    from iotwatch.adapters.store.state_store import DynamoStateStore
    from iotwatch.domain.where import is_device_signal
    from iotwatch.service.backtest import cloudwatch_backtest, refresh_interval

    from iotwatch_cli.backtest import write_backtest
    from iotwatch_local.dashboard import draw_dashboard
    from iotwatch_local.demo_report import shares_summary
    from iotwatch_local.deploy import deploy_stack
    from iotwatch_local.device_rules import emulate_device_rules
    from iotwatch_local.device_story import device_story
    from iotwatch_local.inbox import subscribe_inbox
    from iotwatch_local.pagerduty import EventRelay, PagerDutyStandIn, pagerduty_verdict
    from iotwatch_local.traffic import Fleet, Incident, generate, put_traffic

    step = Step(stream)
    region = boto3.session.Session().region_name or "us-east-1"
    with step("deploying the synthesized template into the local CloudFormation"):
        stack = deploy_stack(assembly, plan.stack_name)
    topics = {t.name: stack.outputs[topic_output_name(t.name)] for t in plan.notify.topics}
    inboxes = {name: subscribe_inbox(arn) for name, arn in topics.items()}
    functions = StackFunctions(stack, lambda_log)
    rules = stack.of_type("AWS::Events::Rule")
    rule_arn = next(iter(rules.values())).physical_id if rules else "local-rule"
    stream.write(
        f"    table {stack.outputs[OUTPUT_TABLE_NAME]}, topics {', '.join(topics)}, "
        f"functions {functions.evaluator_name}, {functions.builder_name}\n"
    )

    incident = Incident(INCIDENT_START, INCIDENT_END, INCIDENT_METRICS, factor=1 - OUTAGE_SHARE * 0.85)
    # the refused connects of the short scenario, as AWS/IoT counts them (about 80 a period)
    refused = Incident(
        AUTH_START,
        AUTH_END,
        ("Connect.AuthError",),
        factor=1000.0,
        description=f"{AUTH_CLIENTS} devices fail every connect after a CA change",
        kind="auth",
        reconnect_burst=False,
    )
    # The stack learns from the 14 days before the deploy; the backtest of those 14 days
    # needs 14 more before them to learn from, as a real account's CloudWatch would hold.
    history_start = DEPLOYED_AT - 2 * plan.frequency.history_days * DAY
    cloudwatch = boto3.client("cloudwatch")
    counters = [s for s in series if not is_device_signal(s.namespace)]
    with step(f"writing {2 * plan.frequency.history_days} days of simulated fleet traffic to CloudWatch"):
        written = put_traffic(
            cloudwatch,
            generate(Fleet(), counters, start=history_start, end=REPLAY_END, incidents=[incident, refused]),
        )
    story = None
    if plan.devices is not None:
        groups = [g.label for g in plan.devices.groups] or ["eu-gateways", "us-sensors"]
        story = device_story(
            group_sizes(groups),
            history_start=history_start,
            outage_start=INCIDENT_START,
            outage_end=INCIDENT_END,
            auth_start=AUTH_START,
            auth_end=AUTH_END,
            outage_share=OUTAGE_SHARE,
            outage_reason=OUTAGE_REASON,
            auth_clients=AUTH_CLIENTS,
            auth_attempts=AUTH_ATTEMPTS,
        )
        aws.serve_fleet(story.fleet)
        with step(
            f"running the stack's topic rules and fleet metrics over {len(story.fleet.things)} simulated "
            "devices (lifecycle events, fleet index)"
        ):
            emulated = emulate_device_rules(
                stack.template, story.fleet, cloudwatch, start=history_start, end=REPLAY_END
            )
            written += sum(emulated.datapoints.values())

    relay_template = json.loads((assembly / f"{plan.stack_name}.template.json").read_text(encoding="utf-8"))
    with functions.loaded(), PagerDutyStandIn() as pagerduty:
        relay = EventRelay(
            relay_template,
            secrets={DEMO_PAGERDUTY_SECRET: DEMO_ROUTING_KEY},
            post=pagerduty.post,
            events_client=boto3.client("events"),
            sqs_client=boto3.client("sqs"),
        )
        with step("building baselines (the stack's CREATE_COMPLETE triggers the builder)"):
            built = functions.invoke("builder", stack_status_event(DEPLOYED_AT, stack.stack_id, region))
        notifications, deliveries = replay_ticks(
            plan, functions, inboxes, rule_arn, region, step, story.fleet if story else None, relay
        )

        # what `iotwatch incidents` would list against this stack, read as the CLI reads it
        table = DynamoStateStore(boto3.client("dynamodb"), stack.outputs[OUTPUT_TABLE_NAME])
        incidents = table.incidents.list_incidents(since=DEPLOYED_AT)
        shares = shares_summary(series, table, CloudWatchMetricReader(cloudwatch))

        # `iotwatch backtest` over the simulated fortnight up to the end of the replay: one PNG per
        # series, and proof that the fortnight before the outage pages nobody.
        backtest = write_backtest(
            cloudwatch_backtest(
                plan,
                series,
                CloudWatchMetricReader(cloudwatch),
                window_start=REPLAY_END - BACKTEST_DAYS * DAY,
                window_end=REPLAY_END,
                refresh_seconds=refresh_interval(plan.frequency),
            ),
            out / "plots",
        )

        with step("drawing the dashboard's band widgets, as the console does when on-call opens it"):
            dashboard = draw_dashboard(
                stack, out / "dashboard.html", lambda_log, start=DEPLOYED_AT, end=REPLAY_END
            )
    paged = {
        n["incident"] for n in notifications if n.get("incident") and n["topic"] in pagerduty_topics(plan)
    }
    day = ReplayedDay(
        incident,
        written,
        built,
        notifications,
        deliveries,
        {**pagerduty_verdict(pagerduty.received, sorted(paged), plan.name), "events": relay.events}
        if pagerduty_topics(plan)
        else {},
    )
    return DemoRun(stack, topics, functions.audit_name, day, incidents, shares, backtest, dashboard)


def replay_ticks(
    plan: Plan,
    functions: StackFunctions,
    inboxes: dict[str, str],
    rule_arn: str,
    region: str,
    step: Step,
    fleet: Any = None,
    relay: Any = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every evaluator tick from the deploy to the end of the replay, the CloudTrail events of
    the story handed to the audit function as they arrive; what the inboxes received, and the
    audit function's answer to each event."""
    from iotwatch_local.demo_report import notification_record
    from iotwatch_local.inbox import read_inbox

    notifications: list[dict[str, Any]] = []
    story = control_plane_story(region) if functions.audit_name else []
    deliveries: list[dict[str, Any]] = []
    ticks = list(
        range(DEPLOYED_AT + plan.frequency.settle_seconds, REPLAY_END + 1, plan.frequency.period_seconds)
    )
    with step(
        f"replaying {len(ticks)} evaluator ticks {iso(ticks[0])[11:16]}-{iso(ticks[-1])[11:16]} UTC "
        f"(outage {iso(INCIDENT_START)[11:16]}-{iso(INCIDENT_END)[11:16]})"
    ):
        for tick in ticks:
            while story and story[0][0] <= tick:
                delivered_at, cloudtrail = story.pop(0)
                result = functions.invoke("audit", cloudtrail)
                deliveries.append({"time": iso(delivered_at), "event_id": cloudtrail["id"], **result})
            if fleet is not None:
                fleet.now = tick  # the fleet index answers as of the tick
            functions.invoke("evaluator", scheduled_event(tick, rule_arn, region))
            if relay is not None:
                relay.deliver()  # what EventBridge's rules would send PagerDuty for this tick
            for topic, queue_url in inboxes.items():
                for envelope in read_inbox(queue_url):
                    notifications.append(notification_record(tick, topic, envelope))
    return notifications, deliveries
