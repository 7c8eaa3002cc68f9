"""Subscribers: e-mail and SMS addresses (literal, from an environment variable or from SSM, kept
out of logs), and where on-call lives: PagerDuty, Opsgenie, Slack/Teams through Amazon Q
Developer in chat applications, an HTTPS webhook, an SQS queue or a Lambda function."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from iotwatch.plan.model.base import StrictModel

EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
E164_PATTERN = re.compile(r"^\+[1-9][0-9]{7,14}$")
SSM_NAME_PATTERN = re.compile(r"^/?[A-Za-z0-9_.\-/]{1,1011}$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Contact(StrictModel):
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


SECRET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
SECRET_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
SQS_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
LAMBDA_ARN_PATTERN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$"
)
# What a key pasted in place of a secret's name looks like: a PagerDuty integration (routing)
# key is 32 letters and digits, an Opsgenie API key a UUID.
_LITERAL_KEY_PATTERNS = (
    re.compile(r"^[A-Za-z0-9]{32}$"),
    re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
)
_PUT_IT_IN_SECRETS_MANAGER = (
    "store the key in AWS Secrets Manager (aws secretsmanager create-secret --name NAME "
    "--secret-string KEY) and write {secret: NAME}"
)


class SecretReference(StrictModel):
    """A key iotwatch never holds: a Secrets Manager secret (name or ARN), optionally one JSON key
    of it. CloudFormation resolves it at deploy time ({{resolve:secretsmanager:...}}) straight
    into the EventBridge connection, which keeps it in a secret of its own; the template, the
    synth output and the logs only ever carry the secret's name."""

    secret: str
    json_key: str | None = Field(
        default=None, description="a key of a JSON secret; default: the whole string"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_literal_key(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError(f"never write a key in the plan: {_PUT_IT_IN_SECRETS_MANAGER}")
        if isinstance(data, dict) and "ssm" in data:
            raise ValueError(
                "CloudFormation cannot resolve an SSM SecureString into an EventBridge connection "
                f"(ssm-secure works for a short list of properties only): {_PUT_IT_IN_SECRETS_MANAGER}"
            )
        if isinstance(data, dict) and "env" in data:
            raise ValueError(
                f"an environment variable would put the key into the template: {_PUT_IT_IN_SECRETS_MANAGER}"
            )
        return data

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, value: str) -> str:
        if any(p.match(value) for p in _LITERAL_KEY_PATTERNS):
            raise ValueError(
                f"this looks like a literal key, not a secret's name: {_PUT_IT_IN_SECRETS_MANAGER}"
            )
        if value.startswith("arn:"):
            if not SECRET_ARN_PATTERN.match(value):
                raise ValueError(
                    f"{value!r} is not a Secrets Manager secret ARN "
                    "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
                )
        elif not SECRET_NAME_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a Secrets Manager secret name (letters, digits, /_+=.@-)")
        return value

    def dynamic_reference(self) -> str:
        """The CloudFormation dynamic reference that resolves to the key at deploy time."""
        field = f":SecretString:{self.json_key}" if self.json_key else ""
        return "{{resolve:secretsmanager:" + self.secret + field + "}}"

    def describe(self) -> str:
        return f"key from Secrets Manager {self.secret}" + (f" ({self.json_key})" if self.json_key else "")


class PagerDuty(StrictModel):
    """A PagerDuty service through its Events API v2: one alert per incident (dedup key), resolved
    by iotwatch. The routing key is the service's Events API v2 integration key."""

    routing_key: SecretReference


class Opsgenie(StrictModel):
    """An Opsgenie team through its Alert API: one alert per incident (alias), closed by iotwatch."""

    api_key: SecretReference
    region: Literal["us", "eu"] = Field(default="us", description="api.opsgenie.com or api.eu.opsgenie.com")


class SlackChannel(StrictModel):
    workspace_id: str = Field(
        pattern=r"^[0-9A-Z]{1,255}$", description="the Slack workspace (team) id, e.g. T0123ABCD"
    )
    channel_id: str = Field(pattern=r"^[A-Za-z0-9]{1,255}$", description="the channel id, e.g. C0123ABCD")


_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class TeamsChannel(StrictModel):
    team_id: str = Field(pattern=_UUID)
    tenant_id: str = Field(pattern=_UUID)
    channel_id: str = Field(pattern=r"^\S{1,256}$", description="e.g. 19:abc...@thread.tacv2")


class Chat(StrictModel):
    """A Slack or Microsoft Teams channel through Amazon Q Developer in chat applications
    (formerly AWS Chatbot): incidents arrive in its custom-notification format, one thread per
    incident. The workspace or team must already be authorized in that service's console."""

    slack: SlackChannel | None = None
    teams: TeamsChannel | None = None

    @model_validator(mode="after")
    def _one_channel(self) -> Chat:
        if (self.slack is None) == (self.teams is None):
            raise ValueError(
                "give exactly one of 'slack' ({workspace_id, channel_id}) or 'teams' ({team_id, tenant_id, channel_id})"
            )
        return self


class Subscriber(StrictModel):
    """Exactly one of: an e-mail address, an SMS number (E.164), PagerDuty, Opsgenie, a chat
    channel, an HTTPS webhook (the JSON document), an SQS queue or a Lambda function (ARN)."""

    email: Contact | None = None
    sms: Contact | None = None
    pagerduty: PagerDuty | None = None
    opsgenie: Opsgenie | None = None
    chat: Chat | None = None
    https: Contact | None = Field(
        default=None, description="a webhook URL (https://...) that receives the JSON document"
    )
    sqs: str | None = Field(default=None, description="a queue ARN that receives the JSON document")
    lambda_: str | None = Field(
        default=None, alias="lambda", description="a function ARN invoked with the SNS event"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Subscriber:
        given = [kind for kind in SUBSCRIBER_KINDS if getattr(self, _FIELD.get(kind, kind)) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of {', '.join(SUBSCRIBER_KINDS)} per subscriber"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @field_validator("https")
    @classmethod
    def _webhook(cls, value: Contact | None) -> Contact | None:
        if value is not None and value.source == "literal":
            problem = webhook_problem(value.value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("sqs")
    @classmethod
    def _queue(cls, value: str | None) -> str | None:
        if value is not None and not SQS_ARN_PATTERN.match(value):
            raise ValueError(f"{value!r} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:QUEUE)")
        return value

    @field_validator("lambda_")
    @classmethod
    def _function(cls, value: str | None) -> str | None:
        if value is not None and not LAMBDA_ARN_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
            )
        return value

    @property
    def protocol(self) -> SubscriberKind:
        return next(kind for kind in SUBSCRIBER_KINDS if getattr(self, _FIELD.get(kind, kind)) is not None)

    @property
    def contact(self) -> Contact:
        """The address of an e-mail, SMS or HTTPS subscriber."""
        contact = self.email or self.sms or self.https
        if contact is None:
            raise ValueError(f"a {self.protocol} subscriber has no address")
        return contact

    def describe(self) -> str:
        """Safe to print: masked addresses, secrets by name only."""
        if self.pagerduty is not None:
            return self.pagerduty.routing_key.describe()
        if self.opsgenie is not None:
            return f"{self.opsgenie.api_key.describe()}, {self.opsgenie.region}"
        if self.chat is not None:
            return f"Slack {self.chat.slack.channel_id}" if self.chat.slack else "Microsoft Teams channel"
        if self.sqs is not None or self.lambda_ is not None:
            return str(self.sqs or self.lambda_)
        if self.https is not None and self.https.source == "literal":
            return self.https.value.split("?", 1)[0]  # a token may ride in the query string
        return self.contact.describe()


SubscriberKind = Literal["email", "sms", "pagerduty", "opsgenie", "chat", "https", "sqs", "lambda"]
SUBSCRIBER_KINDS: tuple[SubscriberKind, ...] = (
    "email",
    "sms",
    "pagerduty",
    "opsgenie",
    "chat",
    "https",
    "sqs",
    "lambda",
)
_FIELD = {"lambda": "lambda_"}


def webhook_problem(url: str) -> str | None:
    """Why `url` cannot be an HTTPS subscription's endpoint, or None."""
    parsed = urlsplit(url)
    if parsed.scheme != "https":
        return (
            f"{url.split('?', 1)[0]!r} is not an https:// URL: SNS delivers to webhooks over HTTPS only here"
        )
    if not parsed.hostname:
        return "the webhook URL has no host name"
    if parsed.username or parsed.password:
        return "credentials in the webhook URL would land in git: put the URL in SSM ({ssm: /param}) or {env: VAR}"
    return None
