"""The monitoring plan: one validated model shared by the CDK app, the Lambdas and the CLI.

Its sections answer the AWS IoT monitoring guide's six questions: goals, resources,
frequency, tools, owners (who monitors) and notify (who is told).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iotwatch.domain.discovery import WILDCARD
from iotwatch.domain.incidents.model import DEFAULT_GROUP_INTERVAL, DEFAULT_HISTORY_DAYS
from iotwatch.domain.routing import route_matches, routed_audit_topics, routed_topics
from iotwatch.domain.silences import WEEKDAYS, MaintenanceWindow
from iotwatch.plan.catalog import AWS_IOT_NAMESPACE

Severity = Literal["warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("warning", "critical")
Statistic = Literal["Sum", "Average", "Minimum", "Maximum", "SampleCount"]
MissingData = Literal["zero", "ignore", "breaching"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
assert WEEKDAYS == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_REPEAT_INTERVAL = 4 * 3600
# Metric x fixed-value combinations with a "*" per plan: each is one or more ListMetrics calls
# on every refresh and can add up to MAX_SERIES_PER_TEMPLATE series.
MAX_WILDCARD_TEMPLATES = 10
# What CloudWatch returns for a standard-resolution metric (every AWS namespace; AWS IoT
# publishes once a minute): periods of whole minutes.
STANDARD_PERIODS_HINT = (
    "{period} s is not a period CloudWatch accepts for {namespace} metrics (standard resolution, "
    "one datapoint a minute): use 60 or a multiple of it, e.g. 60, 120, 300, 600, 900, 1800 or 3600"
)
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$")

PLAN_NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"  # words joined by single hyphens (max_length 30)
TOPIC_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
E164_PATTERN = re.compile(r"^\+[1-9][0-9]{7,14}$")
SSM_NAME_PATTERN = re.compile(r"^/?[A-Za-z0-9_.\-/]{1,1011}$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


DetectionDirection = Literal["both", "up", "down"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Strict):
    """Deviation scores (robust z-scores against the baseline band) that raise each severity."""

    warning: float = Field(default=4.0, gt=0)
    critical: float = Field(default=7.0, gt=0)


class TrainingExclusion(_Strict):
    """A window baselines must not learn from: a holiday, a maintenance, a past incident."""

    start: datetime
    end: datetime
    reason: str = Field(min_length=1, max_length=200)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _ordered(self) -> TrainingExclusion:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        return self

    @property
    def window(self) -> tuple[int, int]:
        return int(self.start.timestamp()), int(self.end.timestamp())


class Detection(_Strict):
    """How a deviation becomes an alert. Every field but `exclude_from_training` can be
    overridden per metric."""

    sensitivity: Thresholds = Thresholds()
    pending_periods: int = Field(
        default=1, ge=1, le=12, description="consecutive deviating periods before alerting"
    )
    recovery_periods: int = Field(
        default=2, ge=1, le=12, description="consecutive normal periods before resolving"
    )
    min_volume: float = Field(
        default=20.0, ge=0, description="below this count per period neither expected nor actual can page"
    )
    min_relative_change: float = Field(
        default=0.2, ge=0, le=10, description="smallest |actual-expected|/expected that can page"
    )
    missing_data: MissingData = Field(
        default="zero",
        description="a period without datapoint: zero traffic, ignored, or deviating (breaching)",
    )
    direction: DetectionDirection | None = Field(
        default=None,
        description="which side pages: up, down or both; unset: up for error, throttle and failure "
        "metrics, both for the rest",
    )
    above: float | None = Field(default=None, description="a value above this always deviates")
    below: float | None = Field(default=None, description="a value below this always deviates")
    exclude_from_training: list[TrainingExclusion] = Field(default_factory=list)

    @model_validator(mode="after")
    def _limits_ordered(self) -> Detection:
        _check_limits(self.above, self.below)
        return self

    @property
    def excluded_windows(self) -> list[tuple[int, int]]:
        return [exclusion.window for exclusion in self.exclude_from_training]


class ThresholdsOverride(_Strict):
    warning: float | None = Field(default=None, gt=0)
    critical: float | None = Field(default=None, gt=0)


class DetectionOverride(_Strict):
    sensitivity: ThresholdsOverride | None = None
    pending_periods: int | None = Field(default=None, ge=1, le=12)
    recovery_periods: int | None = Field(default=None, ge=1, le=12)
    min_volume: float | None = Field(default=None, ge=0)
    min_relative_change: float | None = Field(default=None, ge=0, le=10)
    missing_data: MissingData | None = None
    direction: DetectionDirection | None = None
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _limits_ordered(self) -> DetectionOverride:
        _check_limits(self.above, self.below)
        return self


def _check_limits(above: float | None, below: float | None) -> None:
    if above is not None and below is not None and below >= above:
        raise ValueError(f"below ({below}) must be less than above ({above}): no value could be normal")


class MetricSpec(_Strict):
    metric: str = Field(min_length=1, max_length=255)
    namespace: str = Field(default=AWS_IOT_NAMESPACE, min_length=1, max_length=255)
    # A list value watches each listed value as its own series; "*" watches every value
    # CloudWatch has for that key (discovered with ListMetrics while running, not at synth).
    dimensions: dict[str, str | list[str]] = Field(default_factory=dict)
    statistic: Statistic = "Sum"
    period: int | None = Field(
        default=None, gt=0, description="seconds; defaults to frequency.period_seconds"
    )
    description: str | None = None
    runbook: str | None = None
    detection: DetectionOverride | None = None

    @property
    def wildcard_keys(self) -> tuple[str, ...]:
        """Dimension keys whose every value is watched (value "*"), sorted."""
        return tuple(sorted(k for k, v in self.dimensions.items() if v == WILDCARD))


RATIO_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]*$"
DEFAULT_MIN_DENOMINATOR = 100.0


class RatioSpec(_Strict):
    """A share: the sum of the `numerator` metrics over the sum of the `denominator` metrics, each
    with the entry's namespace and dimensions, read as Sums: "AuthError as a share of every
    connection attempt". Watched, learnt and paged like a metric, under `name`."""

    name: str = Field(min_length=1, max_length=255, pattern=RATIO_NAME_PATTERN)
    numerator: list[str] = Field(min_length=1, description="metrics whose sum is what failed")
    denominator: list[str] | None = Field(
        default=None,
        description="metrics whose sum is every attempt, the numerator's among them; default for "
        "AWS/IoT: every outcome of the numerator's operation (Connect.* for Connect.AuthError)",
    )
    namespace: str = Field(default=AWS_IOT_NAMESPACE, min_length=1, max_length=255)
    dimensions: dict[str, str | list[str]] = Field(default_factory=dict)
    min_denominator: float = Field(
        default=DEFAULT_MIN_DENOMINATOR,
        ge=1,
        description="attempts per period below which the share is neither learnt nor judged",
    )
    period: int | None = Field(
        default=None, gt=0, description="seconds; defaults to frequency.period_seconds"
    )
    description: str | None = None
    runbook: str | None = None
    detection: DetectionOverride | None = None

    @field_validator("numerator", "denominator", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("numerator", "denominator")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if any(not name for name in value):
            raise ValueError("metric names must not be empty")
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed twice: list each metric once")
        return value


class Resources(_Strict):
    metrics: list[MetricSpec] = Field(default_factory=list)
    ratios: list[RatioSpec] = Field(default_factory=list, description="shares of failed attempts")

    @model_validator(mode="after")
    def _watches_something(self) -> Resources:
        if not self.metrics and not self.ratios:
            raise ValueError("watch at least one metric (resources.metrics) or ratio (resources.ratios)")
        return self


DEFAULT_CATCH_UP = 6 * 3600
MAX_CATCH_UP = 24 * 3600


class Frequency(_Strict):
    evaluation: str = "rate(5 minutes)"
    baseline_refresh: str = "rate(1 day)"
    period_seconds: int = Field(default=300, description="CloudWatch period of each evaluated datapoint")
    history_days: int = Field(default=14, ge=1, le=63, description="history read when (re)building baselines")
    settle_seconds: int = Field(
        default=60, ge=0, le=900, description="how long to wait for CloudWatch to finish a period"
    )
    shard_size: int = Field(
        default=2000,
        ge=1,
        le=20000,
        description="series one evaluator invocation handles (a share of attempts counts each metric it "
        "reads); more fan out through SQS to parallel ones",
    )
    build_shard_size: int | None = Field(
        default=None,
        ge=1,
        le=20000,
        description="series one baseline-builder invocation learns; more fan out through SQS. "
        "Default: what keeps a build shard near a minute (1,000 series at 14 days of 5-minute history)",
    )
    catch_up: int = Field(
        default=DEFAULT_CATCH_UP,
        description="how far back a run evaluates the ticks iotwatch missed while it was down "
        "('6h', '90m' or minutes, at most 24h); 0: none, the gap is only reported",
    )

    @field_validator("catch_up", mode="before")
    @classmethod
    def _catch_up(cls, value: Any) -> int:
        seconds = parse_interval(value)
        if seconds > MAX_CATCH_UP:
            raise ValueError(
                "give at most 24h, e.g. '6h': a longer catch-up would not fit one evaluator run "
                "(iotwatch backtest shows what older ticks would have paged)"
            )
        return seconds

    @field_validator("period_seconds")
    @classmethod
    def _cloudwatch_period(cls, value: int) -> int:
        if value < 60 or value % 60:
            raise ValueError(STANDARD_PERIODS_HINT.format(period=value, namespace="AWS/IoT"))
        return value


class Tools(_Strict):
    dashboard: bool = True
    audit: bool = False  # alert on sensitive AWS IoT control-plane calls; settings under `audit`


AuditSeverity = Literal["warning", "critical", "off"]
AUDIT_ACTION_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9]{1,127}$")


class Audit(_Strict):
    """The control-plane audit: CloudTrail records of AWS IoT API calls, as EventBridge
    delivers them. Used when `tools.audit` is true."""

    actions: dict[str, AuditSeverity] = Field(
        default_factory=dict,
        description="sensitive IoT actions and their severity, added to or overriding the defaults; "
        "'off' drops a default",
    )
    root: AuditSeverity = Field(default="critical", description="any IoT call made with root credentials")
    failed: AuditSeverity = Field(
        default="warning", description="a failed sensitive call, or any denied IoT call (AccessDenied, ...)"
    )
    ignore_principals: list[str] = Field(
        default_factory=list,
        description="glob patterns on the principal name or ARN whose calls never page (still recorded)",
    )
    topics: list[str] | None = Field(
        default=None, description="topics for audit alerts; default: every topic routed that severity"
    )
    correlation_window: int = Field(
        default=3600, description="how far back a firing deviation looks for control-plane changes"
    )
    retention_days: int = Field(default=90, ge=1, le=3650, description="how long audit events are kept")
    create_trail: bool = Field(
        default=False, description="create a CloudTrail trail (for accounts without one in this region)"
    )
    trail_retention_days: int = Field(default=365, ge=1, le=3650)

    @field_validator("actions")
    @classmethod
    def _action_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not AUDIT_ACTION_PATTERN.match(name)]
        if bad:
            raise ValueError(
                f"{', '.join(repr(b) for b in bad)}: write IoT API action names as CloudTrail logs them, "
                "e.g. DeletePolicy, AttachPolicy, UpdateCertificate"
            )
        return value

    @field_validator("correlation_window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> int:
        seconds = parse_interval(value)
        if not 0 <= seconds <= 24 * 3600:
            raise ValueError("give at most 24h, e.g. '1h' or '30m' (0 turns correlation off)")
        return seconds


class Owners(_Strict):
    team: str = Field(min_length=1, max_length=100)
    runbook: str | None = None
    escalation: str | None = None


class Contact(_Strict):
    """Where a subscriber's address comes from: the plan itself, an environment variable
    read at synth time, or an SSM parameter resolved by CloudFormation at deploy time."""

    source: Literal["literal", "env", "ssm"]
    value: str

    @model_validator(mode="before")
    @classmethod
    def _from_plan_syntax(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"source": "literal", "value": data}
        if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in ("env", "ssm"):
            ((source, value),) = data.items()
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"'{source}' must name a non-empty {'variable' if source == 'env' else 'parameter'}"
                )
            pattern = ENV_NAME_PATTERN if source == "env" else SSM_NAME_PATTERN
            if not pattern.match(value):
                raise ValueError(
                    f"{value!r} is not a valid {'environment variable' if source == 'env' else 'SSM parameter'} name"
                )
            return {"source": source, "value": value}
        if isinstance(data, dict) and set(data) == {"source", "value"}:
            return data
        raise ValueError("write an address as a string, or {env: VARIABLE} or {ssm: /parameter/name}")

    def describe(self) -> str:
        """Safe to print: never the address itself unless it is a literal placeholder."""
        if self.source == "env":
            return f"from env ${self.value}"
        if self.source == "ssm":
            return f"from SSM {self.value}"
        return mask_contact(self.value)


def mask_contact(value: str) -> str:
    """Keeps contact data out of logs and summaries: 'o***@example.com', '+44*******89'."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return value[:3] + "*" * max(len(value) - 5, 0) + value[-2:]


class Subscriber(_Strict):
    """An e-mail address or an SMS number (E.164), literal or referenced from env / SSM."""

    email: Contact | None = None
    sms: Contact | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Subscriber:
        if (self.email is None) == (self.sms is None):
            raise ValueError("give exactly one of 'email' or 'sms' per subscriber")
        return self

    @property
    def protocol(self) -> Literal["email", "sms"]:
        return "email" if self.email is not None else "sms"

    @property
    def contact(self) -> Contact:
        contact = self.email if self.email is not None else self.sms
        assert contact is not None
        return contact


class Topic(_Strict):
    name: str
    description: str | None = None
    subscribers: list[Subscriber] = Field(default_factory=list)


class Route(_Strict):
    topic: str
    severities: list[Severity] = Field(default_factory=lambda: list(SEVERITIES), min_length=1)
    metrics: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="glob patterns")

    def matches(self, *, severity: str, metric: str) -> bool:
        return route_matches(self, severity=severity, metric=metric)


def parse_interval(value: Any) -> int:
    """'4h', '90m', '1h30m', '1d' or a number of minutes -> seconds; 0 or None -> 0."""
    if value is None or value is False:
        return 0
    if isinstance(value, bool):
        raise ValueError("give a duration such as '4h' or '30m', or 0 for none")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        if value != int(value):
            raise ValueError("give whole minutes, or a duration such as '90m'")
        return int(value) * 60
    if isinstance(value, str):
        match = _DURATION.match(value.lower())
        if value.strip() and match and any(match.groups()):
            days, hours, minutes = (int(g or 0) for g in match.groups())
            return ((days * 24 + hours) * 60 + minutes) * 60
        if value.strip() == "0":
            return 0
    raise ValueError(f"{value!r} is not a duration: write e.g. '4h', '30m', '1h30m' or minutes as a number")


class MaintenanceWindowSpec(_Strict):
    """A weekly window in local time in which deviations are recorded but not paged."""

    name: str = Field(min_length=1, max_length=64)
    days: list[Weekday] = Field(min_length=1)
    start: str = Field(description="HH:MM local time")
    end: str = Field(description="HH:MM local time; earlier than start ends the next day")
    timezone: str = "UTC"
    metrics: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="glob patterns")
    dimensions: dict[str, str] = Field(default_factory=dict)

    @field_validator("days", mode="before")
    @classmethod
    def _lower_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return (
            [v.lower()[:3] if isinstance(v, str) and len(v) >= 3 else v for v in value]
            if isinstance(value, list)
            else value
        )

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day: write HH:MM, 00:00 to 23:59")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
            ) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> MaintenanceWindowSpec:
        if self.start == self.end:
            raise ValueError(f"start and end are both {self.start}: the window would be empty")
        return self

    def domain(self) -> MaintenanceWindow:
        return MaintenanceWindow(
            name=self.name,
            days=tuple(self.days),
            start=self.start,
            end=self.end,
            timezone=self.timezone,
            metrics=tuple(self.metrics),
            dimensions=dict(self.dimensions),
        )


class Notify(_Strict):
    topics: list[Topic] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)
    repeat_interval: int = Field(
        default=DEFAULT_REPEAT_INTERVAL,
        description="seconds between reminders while an alert fires ('4h', '30m' or minutes); 0: none",
    )
    group_by: str | list[str] = Field(
        default="dimensions",
        description="which deviations share an incident: 'dimensions' (same dimension set; "
        "account-wide metrics join any), 'tick' (the whole plan, one incident at a time), "
        "or a list of dimension keys",
    )
    group_interval: int = Field(
        default=DEFAULT_GROUP_INTERVAL,
        description="while an incident is open, at most one update per topic this often "
        "('15m', '1h' or minutes); 0: on every evaluation that has news",
    )
    history_days: int = Field(
        default=DEFAULT_HISTORY_DAYS,
        ge=1,
        le=3650,
        description="days a resolved incident, its members and its notifications are kept",
    )
    maintenance_windows: list[MaintenanceWindowSpec] = Field(default_factory=list)
    operations_topic: str | None = Field(
        default=None, description="topic for alarms on iotwatch itself; default: the first topic"
    )

    @field_validator("repeat_interval", "group_interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> int:
        return parse_interval(value)

    @field_validator("group_by", mode="before")
    @classmethod
    def _grouping(cls, value: Any) -> Any:
        if isinstance(value, str) and value in ("tick", "dimensions"):
            return value
        if isinstance(value, list) and value and all(isinstance(k, str) and k for k in value):
            return value
        raise ValueError(
            f"got {value!r}: write 'dimensions' (same tick and dimension set), 'tick' (same tick), "
            "or a list of dimension keys such as [Protocol]"
        )

    @property
    def windows(self) -> tuple[MaintenanceWindow, ...]:
        return tuple(w.domain() for w in self.maintenance_windows)

    @property
    def operations(self) -> str:
        """The topic that receives alarms on iotwatch itself."""
        return self.operations_topic or self.topics[0].name


class Plan(_Strict):
    version: Literal[1] = 1
    name: str = Field(pattern=PLAN_NAME_PATTERN, max_length=30)
    goals: list[str] = Field(min_length=1)
    owners: Owners
    resources: Resources
    frequency: Frequency = Frequency()
    detection: Detection = Detection()
    tools: Tools = Tools()
    audit: Audit = Audit()
    notify: Notify

    @property
    def stack_name(self) -> str:
        return "IotWatch-" + "".join(part.capitalize() for part in self.name.split("-"))

    def topic_physical_name(self, topic: str) -> str:
        return f"iotwatch-{self.name}-{topic}"

    def topics_for(self, *, severity: str, metric: str) -> list[str]:
        """Topic names a deviation of `metric` at `severity` is routed to, in plan order, once each."""
        return routed_topics(self.notify.routes, severity=severity, metric=metric)

    def audit_topics_for(self, severity: str) -> list[str]:
        return routed_audit_topics(self.notify.routes, severity=severity, only=self.audit.topics)
