"""The likely kind of failure behind an incident, from what fires, where it is concentrated and
the control-plane changes its page quotes: every page opens with it.

Pure and cheap: each clue adds points to a kind with one short line of evidence. The kind with
the most points wins when it has at least STRONG of them and leads the next by any margin;
otherwise the incident is "unclear" and the page says what points each way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from iotwatch.domain.ratios import percent
from iotwatch.domain.where import (
    CONNECT_FAILURE_PREFIX,
    DISCONNECT_PREFIX,
    FLEET_METRICS_NAMESPACE,
    Breakdown,
    FailureKind,
    FailureKindName,
    is_device_signal,
)

STRONG = 2  # points a kind needs to be named: one strong clue, or two weak ones
# a reason whose share is this much above its usual share (or this share with no usual) dominates
REASON_LEAD = 0.2
REASON_DOMINANT = 0.5
GROUP_CONCENTRATED = 0.8  # share of the disconnected devices in one value: one group's problem
ONE_CLIENT = 0.5  # one client's share of an error family: a rogue device
FEW_DEVICES = 3  # distinct clients behind a deviation at most this: a few devices, not the fleet

# disconnect / connect-failure reasons (AWS IoT lifecycle events) by the kind they point to
REASON_KINDS: dict[str, FailureKindName] = {
    "CONNECTION_LOST": "devices-or-network",
    "MQTT_KEEP_ALIVE_TIMEOUT": "devices-or-network",
    "AUTH_ERROR": "credentials-or-policy",
    "FORBIDDEN_ACCESS": "credentials-or-policy",
    "AUTHORIZATION_FAILURE": "credentials-or-policy",
    "AUTHORIZATION_FAILED": "credentials-or-policy",  # the connect-failure event's reason
    "AUTHENTICATION_FAILURE": "credentials-or-policy",
    "CUSTOMAUTH_TTL_EXPIRATION": "credentials-or-policy",
    "SERVER_ERROR": "aws-side",
    "SERVER_INITIATED_DISCONNECT": "aws-side",
    "THROTTLED": "throttling",
    "DUPLICATE_CLIENTID": "rogue-device",  # one identity on two devices: cloned credentials
}

# CloudTrail actions (as the audit trail names them) by the kind a change of them points to
CHANGE_KINDS: dict[str, FailureKindName] = {
    **dict.fromkeys(
        (
            "DeletePolicy",
            "DetachPolicy",
            "DetachPrincipalPolicy",
            "CreatePolicyVersion",
            "SetDefaultPolicyVersion",
            "DeletePolicyVersion",
            "UpdateCertificate",
            "UpdateCACertificate",
            "DeleteCACertificate",
            "DeleteCertificate",
            "DetachThingPrincipal",
            "UpdateAuthorizer",
            "DeleteAuthorizer",
            "UpdateDomainConfiguration",
        ),
        "credentials-or-policy",
    ),
    **dict.fromkeys(
        ("DeleteTopicRule", "DisableTopicRule", "ReplaceTopicRule", "DeleteTopicRuleDestination"),
        "rules-engine",
    ),
}

# AWS/IoT's outcomes of an HTTP action, every one a failure (dimensions RuleName, ActionType)
HTTP_ACTION_FAILURES = (
    "HttpCode_Other",
    "HttpCode_4XX",
    "HttpCode_5XX",
    "HttpInvalidUrl",
    "HttpRequestTimeout",
    "HttpUnknownHost",
)
# AWS/IoT rule and action outcomes that are failures (dimensions RuleName, ActionType)
RULE_FAILURES = ("Failure", "ErrorActionFailure", "ParseError", "RuleNotFound", *HTTP_ACTION_FAILURES)

LABELS: dict[FailureKindName, str] = {
    "devices-or-network": "devices or their network",
    "credentials-or-policy": "credentials or policy",
    "aws-side": "the AWS side",
    "throttling": "throttling",
    "rules-engine": "the rules engine or a downstream action",
    "rogue-device": "one rogue device",
    "unclear": "unclear",
}


@dataclass(frozen=True, slots=True)
class FiringSignal:
    """A firing member of an incident as the classifier weighs it."""

    metric: str
    namespace: str
    dimensions: tuple[tuple[str, str], ...] = ()
    up: bool = True  # deviating above normal; False: below


class _Member(Protocol):
    @property
    def metric(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def dimensions(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def peak_score(self) -> float: ...


class _Change(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def at(self) -> int: ...


def signals_of(members: Iterable[_Member]) -> list[FiringSignal]:
    """An incident's firing members (incidents.model.Member) as signals."""
    return [FiringSignal(m.metric, m.namespace, tuple(m.dimensions), m.peak_score >= 0) for m in members]


class _Tally:
    def __init__(self) -> None:
        self.points: dict[FailureKindName, int] = {}
        self.lines: dict[FailureKindName, list[str]] = {}
        self.broker_errors = False  # ServerError up or SERVER_ERROR disconnects: not the devices

    def add(self, kind: FailureKindName, points: int, line: str) -> None:
        self.points[kind] = self.points.get(kind, 0) + points
        if line not in self.lines.setdefault(kind, []):
            self.lines[kind].append(line)


def classify(
    firing: Sequence[FiringSignal], breakdown: Breakdown | None = None, changes: Sequence[_Change] = ()
) -> FailureKind:
    """The likely kind of failure, with what points to it and what points elsewhere."""
    tally = _Tally()
    _weigh_metrics(tally, firing)
    _weigh_devices(tally, firing)
    if breakdown is not None:
        _weigh_breakdown(tally, breakdown)
    for change in changes:
        kind = CHANGE_KINDS.get(change.action)
        if kind is not None:
            tally.add(kind, STRONG, f"{change.action} in CloudTrail before it began")
    if tally.broker_errors and "devices-or-network" in tally.points:  # devices: broker errors normal
        tally.add("devices-or-network", -STRONG, "but the broker's server errors are up too")
    return _verdict(tally)


def _verdict(tally: _Tally) -> FailureKind:
    ranked = sorted(
        (k for k, p in tally.points.items() if p > 0), key=lambda k: tally.points[k], reverse=True
    )
    # clues that weigh nothing (a rule failing while PublishIn is down too) still say so
    weightless = tuple(
        f"{LABELS[k]}? {tally.lines[k][0]}" for k, p in tally.points.items() if p <= 0 and tally.lines[k]
    )
    if not ranked:
        return FailureKind(
            "unclear", (), weightless or ("nothing points to one kind: a drop alone fits several",)
        )
    best = ranked[0]
    runner = tally.points[ranked[1]] if len(ranked) > 1 else 0
    if tally.points[best] >= STRONG and tally.points[best] > runner:
        others = tuple(f"{LABELS[k]}? {tally.lines[k][0]}" for k in ranked[1:])
        return FailureKind(best, tuple(tally.lines[best]), others + weightless)
    each_way = tuple(f"{LABELS[k]}? {tally.lines[k][0]}" for k in ranked)
    return FailureKind("unclear", each_way, weightless)


def _outcome(metric: str) -> str:
    return metric.rsplit(".", 1)[-1]


def _weigh_metrics(tally: _Tally, firing: Sequence[FiringSignal]) -> None:
    """AWS/IoT's own metrics and shares: error families up, traffic down."""
    dropped_protocols: set[str] = set()
    publish_in_down = False
    rule_failures: list[str] = []
    for s in firing:
        if is_device_signal(s.namespace):
            continue
        outcome = _outcome(s.metric)
        if s.up and "AuthError" in outcome:
            tally.add("credentials-or-policy", STRONG, f"{s.metric} up")
        elif s.up and ("Throttle" in outcome or "Throttled" in outcome):
            tally.add("throttling", STRONG, f"{s.metric} up")
        elif s.up and "ServerError" in outcome:
            tally.add("aws-side", STRONG, f"{s.metric} up")
            tally.broker_errors = True
        elif s.up and outcome in RULE_FAILURES:
            rule = dict(s.dimensions).get("RuleName")
            rule_failures.append(f"{s.metric} up" + (f" for rule {rule}" if rule else ""))
        elif not s.up and outcome == "Success" and s.metric.startswith(("Connect", "PublishIn", "Ping")):
            protocol = dict(s.dimensions).get("Protocol")
            if protocol:
                dropped_protocols.add(protocol)
            publish_in_down |= s.metric.startswith("PublishIn")
    if len(dropped_protocols) > 1:
        tally.add("aws-side", 1, f"traffic down on {' and '.join(sorted(dropped_protocols))} at once")
    for line in rule_failures:
        if publish_in_down:  # fewer messages in: the rules only feel it
            tally.add("rules-engine", 0, f"{line}, but PublishIn is down too")
        else:
            tally.add("rules-engine", STRONG, f"{line} while PublishIn is normal")


def _weigh_devices(tally: _Tally, firing: Sequence[FiringSignal]) -> None:
    """iotwatch's device signals: lifecycle counts per reason, connected devices per group."""
    groups_down = sorted(s.metric for s in firing if s.namespace == FLEET_METRICS_NAMESPACE and not s.up)
    if len(groups_down) == 1:
        tally.add("devices-or-network", 1, f"only group {groups_down[0]} lost devices")
    elif len(groups_down) > 1:
        tally.add("aws-side", 1, f"{len(groups_down)} groups lost devices at once")
    for s in firing:
        if not is_device_signal(s.namespace) or s.namespace == FLEET_METRICS_NAMESPACE or not s.up:
            continue
        reason = s.metric.removeprefix(DISCONNECT_PREFIX).removeprefix(CONNECT_FAILURE_PREFIX)
        kind = REASON_KINDS.get(reason)
        if kind is not None:
            tally.add(kind, STRONG, f"{s.metric} up")
            tally.broker_errors |= reason == "SERVER_ERROR"


def _weigh_breakdown(tally: _Tally, breakdown: Breakdown) -> None:
    for r in breakdown.reasons:
        kind = REASON_KINDS.get(r.reason)
        usual = r.usual_share
        leads = r.share - usual >= REASON_LEAD if usual is not None else r.share >= REASON_DOMINANT
        if kind is not None and leads:
            normally = f", normally {percent(usual)}" if usual is not None else ""
            tally.add(kind, STRONG, f"{r.reason} {percent(r.share)} of disconnects{normally}")
            tally.broker_errors |= r.reason == "SERVER_ERROR"
    for fb in breakdown.fields[:1]:
        if not fb.values:
            continue
        top = fb.values[0]
        if top.share >= GROUP_CONCENTRATED:
            tally.add("devices-or-network", 1, f"{percent(top.share)} in {top.value}")
        elif len(fb.values) > 1 and top.share < REASON_DOMINANT:
            tally.add("aws-side", 1, f"spread over {len(fb.values)}+ {fb.field} values")
    for tc in breakdown.top_clients:
        if tc.clients and tc.clients[0].share >= ONE_CLIENT:
            first = tc.clients[0]
            tally.add(
                "rogue-device", STRONG, f"{first.client_id} makes {percent(first.share)} of {tc.metric}"
            )
        if tc.distinct_clients is not None and tc.distinct_clients <= FEW_DEVICES:
            tally.add("rogue-device", 1, f"{tc.metric} from {tc.distinct_clients} device(s)")
        elif tc.distinct_clients is not None:
            tally.add("rogue-device", -1, f"{tc.metric} from {tc.distinct_clients:,} devices")
