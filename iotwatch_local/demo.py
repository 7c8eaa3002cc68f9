"""`iotwatch demo`: the whole product on a local AWS endpoint, end to end.

synth the plan's stack -> deploy the template into moto's CloudFormation -> subscribe an
"on-call inbox" queue to every topic -> write 14 days of simulated fleet traffic ->
run the baseline builder as the stack's first deploy would -> replay a day of evaluator
ticks with an injected outage -> print what on-call receives and write summary.json.

The handlers run in-process with the environment read back from the deployed functions
and their staged code directory (with the compiled plan) as LAMBDA_TASK_ROOT.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from iotwatch.domain.times import iso_z as iso

from iotwatch_cli.incidents import incident_document, render_list, render_timeline, select

DAY = 86400
HOUR = 3600
# A fixed Monday, so every run replays the same traffic and prints the same pages.
REPLAY_DAY = calendar.timegm((2026, 11, 16, 0, 0, 0))
DEPLOYED_AT = REPLAY_DAY + 8 * HOUR
REPLAY_END = REPLAY_DAY + 16 * HOUR
INCIDENT_START = REPLAY_DAY + 13 * HOUR
INCIDENT_END = INCIDENT_START + 30 * 60
INCIDENT_METRICS = (
    "Connect.Success",
    "Ping.Success",
    "PublishIn.Success",
    "PublishOut.Success",
    "RulesExecuted",
    "GetThingShadow.Accepted",
    "UpdateThingShadow.Accepted",
)
ACCOUNT = "123456789012"
BACKTEST_DAYS = 14
# The outage's cause: a pipeline deletes the fleet's IoT policy four minutes before devices drop.
CAUSE_AT = INCIDENT_START - 4 * 60
CAUSE_ACTION = "DeletePolicy"


@dataclass(frozen=True)
class LocalLambdaContext:
    """What Powertools reads from the Lambda context object."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def scheduled_event(ts: int, rule_arn: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.UUID(int=ts)),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": iso(ts),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def stack_status_event(ts: int, stack_id: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.UUID(int=ts + 1)),
        "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation",
        "account": ACCOUNT,
        "time": iso(ts),
        "region": region,
        "resources": [stack_id],
        "detail": {"stack-id": stack_id, "status-details": {"status": "CREATE_COMPLETE"}},
    }


@contextlib.contextmanager
def logs_into(stream: TextIO, *modules: Any) -> Iterator[None]:
    """Powertools binds a handler module's logger to the stdout of its import (the first one in
    this process): point each module's logger at `stream` for now, and back after."""
    handlers = [m.logger.registered_handler for m in modules]
    previous = [h.stream for h in handlers]

    def point(handler: Any, target: Any) -> None:
        # not setStream: it flushes the old stream, which may be an earlier demo's closed file
        with contextlib.ExitStack() as held:
            handler.acquire()
            held.callback(handler.release)
            handler.stream = target

    for h in handlers:
        point(h, stream)
    try:
        yield
    finally:
        for h, old in zip(handlers, previous, strict=True):
            point(h, old)


def widget_event(params: dict[str, Any], title: str, start: int, end: int) -> dict[str, Any]:
    """What the CloudWatch console sends a custom widget's function: the widget's params at the
    top level and in the context, with the dashboard's time range (ms), size and theme."""
    return {
        **params,
        "widgetContext": {
            "dashboardName": "local",
            "widgetId": "widget-1",
            "accountId": ACCOUNT,
            "locale": "en",
            "timezone": {"label": "UTC", "offsetISO": "+00:00", "offsetInMinutes": 0},
            "period": 300,
            "isAutoPeriod": True,
            "timeRange": {"mode": "absolute", "start": start * 1000, "end": end * 1000},
            "theme": "light",
            "linkCharts": True,
            "title": title,
            "forms": {"all": {}},
            "params": params,
            "width": 600,
            "height": 300,
        },
    }


def draw_dashboard(stack: Any, path: Path, log: TextIO, *, start: int, end: int) -> dict[str, Any]:
    """Every band widget of the deployed dashboard, drawn by the band-widget function as the
    console would, into one HTML page; which of them show periods outside their band."""
    import boto3

    from infra.naming import OUTPUT_DASHBOARD_NAME

    name = stack.outputs.get(OUTPUT_DASHBOARD_NAME)
    if name is None:
        return {"widgets": 0}
    body = json.loads(boto3.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    widgets = [w["properties"] for w in body["widgets"] if w["type"] == "custom"]
    environ = stack.handler_environ("BandWidget")
    with function_environment(environ), contextlib.redirect_stdout(log):
        from iotwatch.handlers import band_widget
    for cached in (band_widget._settings, band_widget._series_by_id, band_widget._dependencies):
        cached.cache_clear()
    band_widget._drawn.clear()
    context = LocalLambdaContext(function_name=environ["AWS_LAMBDA_FUNCTION_NAME"], aws_request_id="draw")
    draw: Callable[..., str] = band_widget.handler
    drawn = []
    for widget in widgets:
        with function_environment(environ), contextlib.redirect_stdout(log), logs_into(log, band_widget):
            page = draw(widget_event(widget["params"], widget["title"], start, end), context)
        drawn.append((widget["title"], page))
    cells = "".join(
        f"<div style='display:inline-block;margin:8px;vertical-align:top'><b>{title}</b><br>{page}</div>"
        for title, page in drawn
    )
    path.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{name}</title>"
        f"<body style='font-family:sans-serif'><h2>{name}: each series against its band, "
        f"{iso(start)[:16]} to {iso(end)[11:16]} UTC</h2>{cells}</body>\n",
        encoding="utf-8",
    )
    outside = [t for t, page in drawn if "fill='#d62728'/>" in page or "fill='#ff7f0e'/>" in page]
    return {
        "widgets": len(drawn),
        "drawn": sum(1 for _, page in drawn if page.startswith("<svg")),
        "outside_band": outside,
        "path": str(path),
    }


def cloudtrail_event(
    ts: int,
    action: str,
    parameters: dict[str, Any],
    *,
    region: str,
    role: str = "deploy-bot",
    session: str = "ci-run-4711",
    event_id: str | None = None,
) -> dict[str, Any]:
    """An "AWS API Call via CloudTrail" event as EventBridge delivers it for an IoT call made
    with a role's temporary credentials."""
    event_id = event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"iotwatch-demo/{action}/{ts}"))
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"eventbridge/{event_id}")),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iot",
        "account": ACCOUNT,
        "time": iso(ts),
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": f"AROADEMO:{session}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
                "accountId": ACCOUNT,
                "accessKeyId": "ASIADEMO",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                        "accountId": ACCOUNT,
                        "userName": role,
                    },
                    "attributes": {"creationDate": iso(ts - 600), "mfaAuthenticated": "false"},
                },
            },
            "eventTime": iso(ts),
            "eventSource": "iot.amazonaws.com",
            "eventName": action,
            "awsRegion": region,
            "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6",
            "requestParameters": parameters,
            "responseElements": None,
            "eventID": event_id,
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
        },
    }


def control_plane_story(region: str) -> list[tuple[int, dict[str, Any]]]:
    """What CloudTrail delivers during the replay, by delivery time: a routine provisioning
    call (recorded, not paged), the policy deletion behind the outage, EventBridge delivering
    that one a second time (at least once), and an event no CloudTrail reader can use."""
    provisioning = cloudtrail_event(
        REPLAY_DAY + 10 * HOUR + 15 * 60, "CreateThing", {"thingName": "sensor-4711"}, region=region
    )
    cause = cloudtrail_event(CAUSE_AT, CAUSE_ACTION, {"policyName": "fleet-device-policy"}, region=region)
    malformed = {**cause, "id": "demo-malformed", "detail": {"eventSource": "iot.amazonaws.com"}}
    return [
        (REPLAY_DAY + 10 * HOUR + 16 * 60, provisioning),
        (CAUSE_AT + 2 * 60, cause),
        (CAUSE_AT + 3 * 60, cause),
        (CAUSE_AT + 3 * 60, malformed),
    ]


@contextlib.contextmanager
def function_environment(environ: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


def put_traffic(cloudwatch: Any, points: Iterator[tuple[Any, int, int]]) -> int:
    """Writes (series, ts, count) datapoints with as few PutMetricData calls as allowed."""
    batch: list[dict[str, Any]] = []
    namespace: str | None = None
    written = 0

    def flush() -> None:
        if batch:
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=list(batch))
            batch.clear()

    for series, ts, count in points:
        if namespace not in (None, series.namespace) or len(batch) >= 1000:
            flush()
        namespace = series.namespace
        batch.append(
            {
                "MetricName": series.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in series.dimensions],
                "Timestamp": datetime.fromtimestamp(ts, UTC),
                "Value": float(count),
                "Unit": "Count",
            }
        )
        written += 1
    flush()
    return written


def run_demo(*, plan_path: str, out_dir: str, stream: TextIO = sys.stdout) -> int:
    # Imported here: synth loads jsii (node), the rest needs the local endpoint's environment.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import boto3
    from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
    from iotwatch.adapters.store import DynamoStateStore
    from iotwatch.plan.expand import expand_series
    from iotwatch.plan.loader import PlanError, load_plan

    from infra.app import build_app
    from infra.naming import (
        OUTPUT_AUDIT_FUNCTION,
        OUTPUT_BASELINE_BUILDER_FUNCTION,
        OUTPUT_EVALUATOR_FUNCTION,
        OUTPUT_TABLE_NAME,
        topic_output_name,
    )
    from iotwatch_cli.backtest import cloudwatch_backtest, write_backtest
    from iotwatch_cli.main import refresh_interval
    from iotwatch_local.deploy import deploy_stack
    from iotwatch_local.endpoint import LocalAws
    from iotwatch_local.inbox import read_inbox, subscribe_inbox
    from iotwatch_local.traffic import Fleet, Incident, generate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step = Step(stream)
    say = stream.write
    try:
        plan = load_plan(plan_path)
    except PlanError as exc:
        print(exc, file=sys.stderr)
        return 2
    series = expand_series(plan)
    say(f"iotwatch demo: plan '{plan.name}' ({plan_path}), {len(series)} series, local AWS endpoint\n")

    assembly = out / "cdk.out"
    with step(f"synthesizing stack {plan.stack_name} (CDK app + cdk-nag)"):
        build_app(plan_path, outdir=str(assembly), context={"data_removal_policy": "destroy"}).synth()

    log_path = out / "lambda.log"
    with (
        LocalAws() as aws,
        aws.env(),
        log_path.open("w", encoding="utf-8") as lambda_log,
        contextlib.ExitStack() as logging_to_file,
    ):
        aws.reset()  # moto keeps its state per process: a second demo in one process starts clean
        region = boto3.session.Session().region_name or "us-east-1"
        with step("deploying the synthesized template into the local CloudFormation"):
            stack = deploy_stack(assembly, plan.stack_name)
        topics = {t.name: stack.outputs[topic_output_name(t.name)] for t in plan.notify.topics}
        inboxes = {name: subscribe_inbox(arn) for name, arn in topics.items()}
        evaluator_name = stack.outputs[OUTPUT_EVALUATOR_FUNCTION]
        builder_name = stack.outputs[OUTPUT_BASELINE_BUILDER_FUNCTION]
        evaluator_env = stack.handler_environ(evaluator_name)
        builder_env = stack.handler_environ(builder_name)
        audit_name = stack.outputs.get(OUTPUT_AUDIT_FUNCTION)
        audit_env = stack.handler_environ(audit_name) if audit_name else {}
        rules = stack.of_type("AWS::Events::Rule")
        rule_arn = next(iter(rules.values())).physical_id if rules else "local-rule"
        say(
            f"    table {stack.outputs[OUTPUT_TABLE_NAME]}, topics {', '.join(topics)}, "
            f"functions {evaluator_name}, {builder_name}\n"
        )

        fleet = Fleet()
        incident = Incident(INCIDENT_START, INCIDENT_END, INCIDENT_METRICS, factor=0.2)
        # The stack learns from the 14 days before the deploy; the backtest of those 14 days
        # needs 14 more before them to learn from, as a real account's CloudWatch would hold.
        history_start = DEPLOYED_AT - 2 * plan.frequency.history_days * DAY
        cloudwatch = boto3.client("cloudwatch")
        with step(f"writing {2 * plan.frequency.history_days} days of simulated fleet traffic to CloudWatch"):
            written = put_traffic(
                cloudwatch,
                generate(fleet, series, start=history_start, end=REPLAY_END, incidents=[incident]),
            )

        # Handlers import Powertools, whose logger binds to stdout at import: send both to the log file.
        with contextlib.redirect_stdout(lambda_log):
            with function_environment(builder_env):
                from iotwatch.handlers import baseline_builder
            with function_environment(evaluator_env):
                from iotwatch.handlers import evaluator
            with function_environment(audit_env or evaluator_env):
                from iotwatch.handlers import audit
        logging_to_file.enter_context(logs_into(lambda_log, baseline_builder, evaluator, audit))
        for module in (baseline_builder, evaluator, audit):
            # a cold start per demo: clients and settings must follow this run's endpoint and stack
            for cached in ("_settings", "_discovery", "_shard_discovery", "_dependencies"):
                if hasattr(module, cached):
                    getattr(module, cached).cache_clear()

        def invoke(
            handler: Callable[..., Any], environ: dict[str, str], event: dict[str, Any], name: str
        ) -> Any:
            context = LocalLambdaContext(function_name=name, aws_request_id=event["id"])
            with function_environment(environ), contextlib.redirect_stdout(lambda_log):
                return handler(event, context)

        with step("building baselines (the stack's CREATE_COMPLETE triggers the builder)"):
            built = invoke(
                baseline_builder.handler,
                builder_env,
                stack_status_event(DEPLOYED_AT, stack.stack_id, region),
                builder_name,
            )

        notifications: list[dict[str, Any]] = []
        story = control_plane_story(region) if audit_name else []
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
                    result = invoke(audit.handler, audit_env, cloudtrail, str(audit_name))
                    deliveries.append({"time": iso(delivered_at), "event_id": cloudtrail["id"], **result})
                invoke(
                    evaluator.handler, evaluator_env, scheduled_event(tick, rule_arn, region), evaluator_name
                )
                for topic, queue_url in inboxes.items():
                    for envelope in read_inbox(queue_url):
                        notifications.append(_notification_record(tick, topic, envelope))

        # what `iotwatch incidents` would list against this stack, read as the CLI reads it
        table = DynamoStateStore(boto3.client("dynamodb"), stack.outputs[OUTPUT_TABLE_NAME])
        incidents = table.list_incidents(since=DEPLOYED_AT)
        shares = _shares_summary(series, table, CloudWatchMetricReader(cloudwatch))

        # `iotwatch backtest` over the simulated fortnight up to the end of the replay: one PNG per
        # series, and proof that the fortnight before the outage pages nobody.
        backtest = write_backtest(
            cloudwatch_backtest(
                plan,
                series,
                CloudWatchMetricReader(cloudwatch),
                window_start=REPLAY_END - BACKTEST_DAYS * DAY,
                window_end=REPLAY_END,
                refresh_seconds=refresh_interval(plan),
            ),
            out / "plots",
        )

        with step("drawing the dashboard's band widgets, as the console does when on-call opens it"):
            dashboard = draw_dashboard(
                stack, out / "dashboard.html", lambda_log, start=DEPLOYED_AT, end=REPLAY_END
            )

    summary = _summary(plan, stack, topics, series, built, written, incident, notifications)
    summary["incidents"] = [incident_document(i) for i in incidents]
    summary["shares"] = shares
    summary["dashboard"] = dashboard
    summary["plots"] = [str(path) for path in backtest.plots]
    summary["audit"] = _audit_summary(deliveries, notifications)
    stray = [
        (sb.series.metric, iso(e.start))
        for sb in backtest.series
        for e in sb.episodes
        if not e.started_before and not INCIDENT_START <= e.start < INCIDENT_END + HOUR
    ]
    summary["backtest"] = {
        "days": BACKTEST_DAYS,
        "start": iso(REPLAY_END - BACKTEST_DAYS * DAY),
        "end": iso(REPLAY_END),
        "alerts": backtest.alerts_fired,
        "false_alerts": len(stray),
        "outside_incident": stray,
    }
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    _print_pages(stream, notifications)
    verdict = summary["verdict"]
    say("\n" + verdict["text"] + "\n")
    say("\n" + verdict["per_topic"]["text"] + "\n")
    say(f"Wrote {out / 'summary.json'}; function logs in {log_path}\n")
    say(
        f"Backtest of the {BACKTEST_DAYS} simulated days: {backtest.alerts_fired} alert(s) would have fired, "
        f"{len(stray)} outside the outage; {len(backtest.plots)} PNGs in {out / 'plots'}\n"
    )
    dashboard_ok = not plan.tools.dashboard or dashboard["drawn"] == len(series)
    if plan.tools.dashboard:
        say(
            f"Dashboard: {dashboard['drawn']} of {len(series)} series drawn against their band, "
            f"{len(dashboard['outside_band'])} with periods outside it; open {dashboard['path']}\n"
        )
    for share in shares:
        say(f"Share {share['series']}: {share['text']}\n")
    audit_ok = True
    if audit_name:
        audit_summary = summary["audit"]
        audit_ok = audit_summary["paged"] and audit_summary["quoted_by_incident"]
        say(
            f"Control-plane audit: {audit_summary['text']}\n"
            if audit_ok
            else f"Control-plane audit FAILED: {audit_summary['text']}\n"
        )
    _print_history(stream, incidents, plan_name=plan.name, table=stack.outputs[OUTPUT_TABLE_NAME])
    healthy = verdict["detected"] and not verdict["false_alerts"] and verdict["per_topic"]["one_each"]
    return 0 if healthy and not stray and audit_ok and dashboard_ok else 1


def _shares_summary(series: list[Any], store: Any, reader: Any) -> list[dict[str, Any]]:
    """Each share of attempts of the plan: judged over the replay, or why not (too few
    attempts a period for its min_denominator), from its stored baseline and its parts."""
    from iotwatch.domain.ratios import attempts_of, percent

    shares = [s for s in series if s.ratio is not None]
    if not shares:
        return []
    baselines = store.get_baselines([s.id for s in shares])
    read = reader.read(shares, start=DEPLOYED_AT, end=REPLAY_END)
    out = []
    for s in shares:
        tried = attempts_of(s, read) or {}
        judged = len(read.get(s.id, []))
        most = max(tried.values(), default=0.0)
        baseline = baselines.get(s.id)
        learnt = baseline is not None and baseline.usable
        values = [v for _, v in read.get(s.id, [])]
        if learnt and judged:
            text = (
                f"judged in {judged} of {len(range(DEPLOYED_AT, REPLAY_END, s.period))} periods of the replay "
                f"(up to {most:,.0f} {s.ratio.denominator_label} a period, {s.ratio.numerator_label} "
                f"{percent(min(values))} to {percent(max(values))}); it paged nothing: the outage took the "
                "failed attempts with the devices"
            )
        else:
            typical = sorted(tried.values())[len(tried) // 2] if tried else 0.0
            text = (
                f"not judged: its history never had the {s.ratio.min_denominator:,.0f} {s.ratio.denominator_label} "
                f"a period a share needs (min_denominator); the simulated fleet makes a median {typical:,.0f} a "
                f"period in the replay, {most:,.0f} at most"
            )
        out.append(
            {
                "series": s.label,
                "learnt": learnt,
                "periods_judged": judged,
                "most_attempts": most,
                "text": text,
            }
        )
    return out


def _audit_summary(deliveries: list[dict[str, Any]], notifications: list[dict[str, Any]]) -> dict[str, Any]:
    pages = [n for n in notifications if n["kind"] == "audit"]
    firing = [n for n in notifications if n["kind"] in ("firing", "escalated")]
    quoted = [n for n in firing if CAUSE_ACTION in n["email"]]
    paged = any(n["audit"]["action"] == CAUSE_ACTION for n in pages)
    recorded = sum(d["recorded"] for d in deliveries)
    duplicates = sum(d["duplicates"] for d in deliveries)
    rejected = sum(len(d["rejected"]) for d in deliveries)
    text = (
        f"{len(deliveries)} CloudTrail event(s) delivered, {recorded} call(s) recorded, "
        f"{duplicates} duplicate delivery(ies) not paged again, {rejected} malformed event(s) rejected; "
        f"{CAUSE_ACTION} at {iso(CAUSE_AT)[11:16]} UTC paged {len(pages)} time(s) "
        f"and is quoted by {len(quoted)} of {len(firing)} incident page(s)."
    )
    return {
        "deliveries": deliveries,
        "recorded": recorded,
        "duplicates": duplicates,
        "rejected": rejected,
        "pages": len(pages),
        "paged": paged,
        "quoted_by_incident": bool(quoted) and len(quoted) == len(firing),
        "text": text,
    }


def _notification_record(tick: int, topic: str, envelope: dict[str, Any]) -> dict[str, Any]:
    document = json.loads(envelope["Message"])
    attributes = {k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()}
    if document["kind"] == "audit":
        return {
            "time": iso(tick),
            "topic": topic,
            "kind": "audit",
            "category": document["category"],
            "severity": document["severity"],
            "action": document["audit"]["action"],
            "audit": document["audit"],
            "subject": envelope.get("Subject", document["subject"]),
            "email": document["email"],
            "sms": document["sms"],
            "attributes": attributes,
        }
    alerts = document["alerts"]
    return {
        "time": iso(tick),
        "topic": topic,
        "kind": document["kind"],
        "category": document["category"],
        "severity": document["severity"],
        "metric": alerts[0]["metric"],
        "dimensions": alerts[0]["dimensions"],
        "metrics": [
            {"metric": a["metric"], "dimensions": a["dimensions"], "score": a["score"]} for a in alerts
        ],
        "since": document["since"],
        "incident": document["incident"]["id"],
        "subject": envelope.get("Subject", document["subject"]),
        "email": document["email"],
        "sms": document["sms"],
        "attributes": attributes,
    }


def _summary(
    plan: Any,
    stack: Any,
    topics: dict[str, str],
    series: list[Any],
    built: dict[str, Any],
    written: int,
    incident: Any,
    notifications: list[dict[str, Any]],
) -> dict[str, Any]:
    from infra.naming import (
        OUTPUT_AUDIT_FUNCTION,
        OUTPUT_BASELINE_BUILDER_FUNCTION,
        OUTPUT_EVALUATOR_FUNCTION,
        OUTPUT_TABLE_NAME,
    )

    firing = [n for n in notifications if n["kind"] in ("firing", "escalated")]
    during = [n for n in firing if INCIDENT_START <= _epoch(n["time"]) <= INCIDENT_END + HOUR]
    outside = [n for n in firing if n not in during]
    first = min((_epoch(n["time"]) for n in during), default=None)
    periods = None if first is None else round((first - INCIDENT_START) / plan.frequency.period_seconds)
    detected = first is not None
    first_seen = iso(first)[11:16] if first is not None else "-"
    text = (
        f"Outage {iso(INCIDENT_START)[11:16]}-{iso(INCIDENT_END)[11:16]} UTC detected at {first_seen} UTC "
        f"({periods} evaluation period{'' if periods == 1 else 's'} after it began); "
        f"{len(outside)} page(s) outside the incident; "
        f"{len(notifications)} message(s) in all."
        if detected
        else f"Outage NOT detected; {len(outside)} page(s) outside the incident."
    )
    return {
        "stack": stack.stack_name,
        "region": stack.region,
        "resources": {
            "table": stack.outputs[OUTPUT_TABLE_NAME],
            "topics": topics,
            "functions": {
                "evaluator": stack.outputs[OUTPUT_EVALUATOR_FUNCTION],
                "baseline_builder": stack.outputs[OUTPUT_BASELINE_BUILDER_FUNCTION],
                **(
                    {"audit": stack.outputs[OUTPUT_AUDIT_FUNCTION]}
                    if OUTPUT_AUDIT_FUNCTION in stack.outputs
                    else {}
                ),
            },
            "dashboard": stack.outputs.get("DashboardName"),
        },
        "series": [s.id for s in series],
        "traffic": {
            "datapoints_written": written,
            "history_start": iso(DEPLOYED_AT - 2 * plan.frequency.history_days * DAY),
        },
        "baselines": {"built": built["built"], "built_at": iso(DEPLOYED_AT)},
        "incident": {
            "start": iso(incident.start),
            "end": iso(incident.end),
            "metrics": list(incident.metrics),
            "description": incident.description,
        },
        "replay": {"start": iso(DEPLOYED_AT), "end": iso(REPLAY_END)},
        "notifications": notifications,
        "verdict": {
            "detected": detected,
            "first_alert": iso(first) if first is not None else None,
            "detected_after_periods": periods,
            "false_alerts": len(outside),
            "text": text,
            "per_topic": _per_topic(topics, notifications),
        },
    }


def _per_topic(topics: dict[str, str], notifications: list[dict[str, Any]]) -> dict[str, Any]:
    """One incident, and per topic exactly one firing and one resolved message about it."""
    deviations = [n for n in notifications if n["kind"] != "audit"]
    kinds = {topic: [n["kind"] for n in deviations if n["topic"] == topic] for topic in topics}
    ids = sorted({n["incident"] for n in deviations})
    one_each = len(ids) == 1 and all(k == ["firing", "resolved"] for k in kinds.values())
    said = "; ".join(f"{topic}: {', '.join(k) or 'nothing'}" for topic, k in kinds.items())
    text = (
        f"Incident {ids[0]}: one firing and one resolved message per topic ({said})."
        if one_each
        else f"NOT one page per topic: incidents {ids or 'none'}; {said}."
    )
    return {"incidents": ids, "kinds": kinds, "one_each": one_each, "text": text}


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def _print_history(stream: TextIO, incidents: list[Any], *, plan_name: str, table: str) -> None:
    """What `iotwatch incidents` and `iotwatch incidents show` print against this stack."""
    say = stream.write
    since = REPLAY_DAY
    say(f"\n$ iotwatch incidents --table {table} --since {iso(since)}\n")
    say(render_list(select(incidents, metric=None), now=REPLAY_END, since=since, metric=None) + "\n")
    for incident in incidents:
        say(f"\n$ iotwatch incidents show {incident.id} --table {table}\n")
        say(render_timeline(incident, now=REPLAY_END, plan_name=plan_name) + "\n")


def _print_pages(stream: TextIO, notifications: list[dict[str, Any]]) -> None:
    say = stream.write
    say(f"\nWhat on-call received ({len(notifications)} message(s)):\n")
    shown_email: set[str] = set()
    for n in notifications:
        say(f"\n[{n['time'][11:16]} UTC] topic {n['topic']} - {n['kind']}, {n['severity']}\n")
        say(f"  e-mail subject: {n['subject']}\n")
        say(f"  SMS ({len(n['sms'])} chars): {n['sms']}\n")
        if n["kind"] not in shown_email:
            shown_email.add(n["kind"])
            say("  e-mail body:\n")
            for line in n["email"].splitlines():
                say(f"  | {line}\n")
