"""Capability: page where on-call lives. PagerDuty, Opsgenie and Slack/Teams subscribers of the
plan's topics, fed by EventBridge rules on iotwatch's incident events (source "iotwatch", the
detail-types of docs/events: one event per incident transition). No Lambda of ours in the path:

- PagerDuty Events API v2 and Opsgenie's Alert API are EventBridge API destinations. Their
  connection takes the key from Secrets Manager by a CloudFormation dynamic reference
  ({{resolve:secretsmanager:NAME}}): the template holds the secret's name, never the key, and
  EventBridge keeps the resolved key in a service-linked secret of its own. An input
  transformer builds each request body from the event (iotwatch_local.input_transformer
  evaluates the same templates locally). Free text (the summary) is placed outside quotes in
  every template, so EventBridge inserts it as a JSON string: a quote in a summary cannot break
  the body (values placed inside quotes are not escaped).
- PagerDuty: one alert per incident, dedup_key = the event's dedup_key ("<plan>/<incident id>");
  "Incident Opened", "Found Late" and "Escalated" trigger (an escalation re-triggers with the
  new severity; joiners and reminders do not), "Incident Resolved" resolves.
- Opsgenie: alias = the incident id (it is also the close call's URL path parameter, and the
  contract's dedup key carries a '/'); create on "Incident Opened"/"Found Late"/"Reminder"/
  "Escalated" (Opsgenie dedups an open alias), priority P1 on "Incident Escalated", close on
  "Incident Resolved".
- Chat: an SNS topic that carries Amazon Q Developer in chat applications' custom-notification
  format (threadId = the incident id: one thread per incident), subscribed by a Slack or Teams
  channel configuration that can do nothing in the account (guardrail AWSDenyAll).

Each rule matches the plan's own events (detail.plan) and the severities the plan routes to the
subscriber's topic; a route's metric filter is not applied here (wider, never narrower). Every
target retries and then dead-letters into the stack's dead-letter queue.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from aws_cdk import Duration, SecretValue, Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct
from iotwatch.plan.model.contacts import Chat, Opsgenie, PagerDuty, SecretReference, Subscriber
from iotwatch.plan.model.notify import SEVERITIES, Topic
from iotwatch.plan.model.plan import Plan

from infra.notifications import AlertTopics
from infra.scheduling import DeadLetters

EVENT_SOURCE = "iotwatch"
OPENED, UPDATED, ESCALATED = "Incident Opened", "Incident Updated", "Incident Escalated"
REMINDER, RESOLVED, LATE = "Incident Reminder", "Incident Resolved", "Incident Found Late"
INCIDENT_DETAIL_TYPES = (OPENED, UPDATED, ESCALATED, REMINDER, RESOLVED, LATE)
PAGERDUTY_TRIGGERS = [OPENED, ESCALATED, LATE]
EVENTS_PRINCIPAL = "events.amazonaws.com"

PAGERDUTY_ENDPOINT = "https://events.pagerduty.com/v2/enqueue"
OPSGENIE_HOSTS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
RETRY_ATTEMPTS = 24
MAX_EVENT_AGE = Duration.hours(6)

# The event fields every template reads (InputPathsMap).
INCIDENT_PATHS = {
    "dedup": "$.detail.dedup_key",
    "incident": "$.detail.incident.id",
    "severity": "$.detail.incident.severity",
    "summary": "$.detail.incident.summary",
    "since": "$.detail.incident.since",
    "members": "$.detail.incident.members",
    "plan": "$.detail.plan",
    "transition": "$.detail.transition",
    "dashboard": "$.detail.links.dashboard",
    "show": "$.detail.links.incident",
    "kind": "$.detail-type",
    "eventid": "$.id",
}


def _paths(*names: str) -> dict[str, str]:
    return {name: INCIDENT_PATHS[name] for name in names}


# PagerDuty Events API v2. routing_key is not here: the connection adds it to the body.
PAGERDUTY_TRIGGER = (
    '{"event_action": "trigger", "dedup_key": <dedup>, '
    '"payload": {"summary": <summary>, "source": <plan>, "severity": <severity>, "timestamp": <since>, '
    '"component": "iotwatch", "group": <plan>, '
    '"custom_details": {"incident": <incident>, "transition": <transition>, "members": <members>, '
    '"show": <show>}}, '
    '"links": [{"href": <dashboard>, "text": "iotwatch dashboard at the incident"}]}'
)
PAGERDUTY_RESOLVE = '{"event_action": "resolve", "dedup_key": <dedup>}'
PAGERDUTY_TRIGGER_PATHS = _paths(
    "dedup", "summary", "plan", "severity", "since", "incident", "transition", "members", "show", "dashboard"
)
PAGERDUTY_RESOLVE_PATHS = _paths("dedup")

# Opsgenie Alert API: create, update priority, close (by alias).
OPSGENIE_CREATE = (
    '{"message": <summary>, "alias": <incident>, "description": <summary>, "source": "iotwatch", '
    '"entity": <plan>, "tags": ["iotwatch", <severity>], '
    '"details": {"plan": <plan>, "severity": <severity>, "dashboard": <dashboard>, "show": <show>}, '
    '"priority": "<priority>"}'
)
OPSGENIE_ESCALATE = '{"priority": "P1"}'
OPSGENIE_CLOSE = '{"source": "iotwatch", "note": <summary>}'
OPSGENIE_PRIORITY = {"critical": "P1", "warning": "P3"}

# Amazon Q Developer in chat applications: custom notification, one thread per incident.
CHAT_NOTIFICATION = (
    '{"version": "1.0", "source": "custom", "id": <eventid>, '
    '"content": {"textType": "client-markdown", "title": <kind>, "description": <summary>, '
    '"nextSteps": ["Dashboard at the incident: <dashboard>", "`<show>`"], "keywords": [<severity>, <plan>]}, '
    '"metadata": {"threadId": <incident>, "summary": <summary>, "eventType": <kind>, '
    '"additionalContext": {"plan": <plan>, "severity": <severity>, "transition": <transition>}}}'
)
CHAT_PATHS = _paths(
    "eventid", "kind", "summary", "dashboard", "show", "severity", "plan", "incident", "transition"
)


def routed_severities(plan: Plan, topic: Topic) -> list[str]:
    """The severities the plan's routes send to `topic`, in the order of SEVERITIES."""
    routed = {s for r in plan.notify.routes if r.topic == topic.name for s in r.severities}
    return [s for s in SEVERITIES if s in routed]


def incident_pattern(plan: Plan, detail_types: Sequence[str], severities: Sequence[str]) -> dict[str, Any]:
    """The event pattern for this plan's incident events of `detail_types` at `severities`."""
    return {
        "source": [EVENT_SOURCE],
        "detail-type": list(detail_types),
        "detail": {"plan": [plan.name], "incident": {"severity": list(severities)}},
    }


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]


class OnCallDelivery(Construct):
    """The rules, connections, API destinations and chat topics for the plan's PagerDuty,
    Opsgenie and chat subscribers (the SNS-native kinds are subscribed by AlertTopics)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: Plan,
        topics: AlertTopics,
        dead_letters: DeadLetters,
        event_bus: events.IEventBus | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.plan = plan
        self._topics = topics
        self._dead_letters = dead_letters
        self._bus = event_bus
        self.rules: list[events.Rule] = []
        self.chat_topics: dict[str, sns.Topic] = {}
        self._connections: dict[str, events.Connection] = {}
        for topic in plan.notify.topics:
            severities = routed_severities(plan, topic)
            if not severities:
                continue  # nothing is routed here
            for subscriber in topic.subscribers:
                self._deliver(topic, subscriber, severities)

    def _deliver(self, topic: Topic, subscriber: Subscriber, severities: list[str]) -> None:
        if subscriber.pagerduty is not None:
            self._pagerduty(topic, subscriber.pagerduty, severities)
        elif subscriber.opsgenie is not None:
            self._opsgenie(topic, subscriber.opsgenie, severities)
        elif subscriber.chat is not None:
            self._chat(topic, subscriber.chat, severities)

    # --- API destinations -------------------------------------------------------------------

    def _connection(
        self, kind: str, key: SecretReference, *, header: str, prefix: str, in_body: str | None
    ) -> events.Connection:
        """One connection per service and secret. The key is a dynamic reference, resolved by
        CloudFormation at deploy time: never in the template."""
        ident = f"{kind}{_digest(kind, key.secret, key.json_key or '')}"
        if ident in self._connections:
            return self._connections[ident]
        reference = SecretValue.secrets_manager(key.secret, json_field=key.json_key)
        value = SecretValue.unsafe_plain_text(prefix + reference.unsafe_unwrap()) if prefix else reference
        connection = events.Connection(
            self,
            f"{ident}Connection",
            authorization=events.Authorization.api_key(header, value),
            body_parameters={in_body: events.HttpParameter.from_secret(reference)} if in_body else None,
            description=f"iotwatch {self.plan.name}: {kind}, key from Secrets Manager {key.secret}",
        )
        self._connections[ident] = connection
        return connection

    def _destination(
        self, ident: str, connection: events.Connection, endpoint: str, method: events.HttpMethod
    ) -> events.ApiDestination:
        return events.ApiDestination(
            self,
            ident,
            connection=connection,
            endpoint=endpoint,
            http_method=method,
            rate_limit_per_second=10,
            description=f"iotwatch {self.plan.name}: {endpoint}",
        )

    def _rule(
        self,
        ident: str,
        *,
        description: str,
        detail_types: Sequence[str],
        severities: Sequence[str],
        target: events.IRuleTarget,
        paths: dict[str, str],
        template: str,
    ) -> events.Rule:
        pattern = incident_pattern(self.plan, detail_types, severities)
        rule = events.Rule(
            self,
            ident,
            description=description,
            event_bus=self._bus,
            event_pattern=events.EventPattern(
                source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"]
            ),
            targets=[target],
        )
        # The L2 renders its own input; iotwatch's template is set as written (see the module
        # docstring on quoting), exactly what iotwatch_local.input_transformer evaluates.
        cfn = rule.node.default_child
        assert isinstance(cfn, events.CfnRule)
        transformer = (
            {"InputPathsMap": paths, "InputTemplate": template} if paths else {"InputTemplate": template}
        )
        cfn.add_property_override("Targets.0.InputTransformer", transformer)
        cfn.add_property_deletion_override("Targets.0.Input")
        self.rules.append(rule)
        return rule

    def _api_target(self, destination: events.ApiDestination, **parameters: Any) -> targets.ApiDestination:
        return targets.ApiDestination(
            destination,
            dead_letter_queue=self._dead_letters.queue,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            **parameters,
        )

    def _pagerduty(self, topic: Topic, pagerduty: PagerDuty, severities: list[str]) -> None:
        connection = self._connection(
            "PagerDuty", pagerduty.routing_key, header="X-Routing-Key", prefix="", in_body="routing_key"
        )
        ident = f"PagerDuty{_digest(topic.name, pagerduty.routing_key.secret)}"
        destination = self._destination(
            f"{ident}Events", connection, PAGERDUTY_ENDPOINT, events.HttpMethod.POST
        )
        self._rule(
            f"{ident}Trigger",
            description=f"iotwatch {self.plan.name}: incident events to PagerDuty ({topic.name}), trigger",
            # one alert per incident: its first page (or a late one), and an escalation that
            # raises its severity; joiners and reminders are iotwatch's news, not a new alert
            detail_types=PAGERDUTY_TRIGGERS,
            severities=severities,
            target=self._api_target(destination),
            paths=PAGERDUTY_TRIGGER_PATHS,
            template=PAGERDUTY_TRIGGER,
        )
        self._rule(
            f"{ident}Resolve",
            description=f"iotwatch {self.plan.name}: incident events to PagerDuty ({topic.name}), resolve",
            detail_types=[RESOLVED],
            severities=severities,
            target=self._api_target(destination),
            paths=PAGERDUTY_RESOLVE_PATHS,
            template=PAGERDUTY_RESOLVE,
        )

    def _opsgenie(self, topic: Topic, opsgenie: Opsgenie, severities: list[str]) -> None:
        connection = self._connection(
            "Opsgenie", opsgenie.api_key, header="Authorization", prefix="GenieKey ", in_body=None
        )
        ident = f"Opsgenie{_digest(topic.name, opsgenie.api_key.secret, opsgenie.region)}"
        alerts = f"{OPSGENIE_HOSTS[opsgenie.region]}/v2/alerts"
        by_alias = {"identifierType": "alias"}
        alias = ["$.detail.incident.id"]
        create = self._destination(f"{ident}CreateApi", connection, alerts, events.HttpMethod.POST)
        for severity in severities:  # the priority is a constant per rule: one create rule per severity
            paths = _paths("summary", "incident", "plan", "severity", "dashboard", "show")
            self._rule(
                f"{ident}Create{severity.title()}",
                description=f"iotwatch {self.plan.name}: {severity} incidents to Opsgenie ({topic.name}), create",
                detail_types=[OPENED, LATE, REMINDER, ESCALATED],  # Opsgenie dedups by alias
                severities=[severity],
                target=self._api_target(create),
                paths=paths,
                template=OPSGENIE_CREATE.replace("<priority>", OPSGENIE_PRIORITY[severity]),
            )
        if "critical" in severities:
            priority = self._destination(
                f"{ident}PriorityApi", connection, f"{alerts}/*/priority", events.HttpMethod.PUT
            )
            self._rule(
                f"{ident}Escalate",
                description=f"iotwatch {self.plan.name}: escalations to Opsgenie ({topic.name}), priority P1",
                detail_types=[ESCALATED],
                severities=["critical"],
                target=self._api_target(
                    priority, path_parameter_values=alias, query_string_parameters=by_alias
                ),
                paths={},
                template=OPSGENIE_ESCALATE,
            )
        close = self._destination(f"{ident}CloseApi", connection, f"{alerts}/*/close", events.HttpMethod.POST)
        self._rule(
            f"{ident}Close",
            description=f"iotwatch {self.plan.name}: resolved incidents to Opsgenie ({topic.name}), close",
            detail_types=[RESOLVED],
            severities=severities,
            target=self._api_target(close, path_parameter_values=alias, query_string_parameters=by_alias),
            paths=_paths("summary"),
            template=OPSGENIE_CLOSE,
        )

    # --- chat ---------------------------------------------------------------------------------

    def _chat_topic(self, topic: Topic) -> sns.Topic:
        """The topic that carries the custom-notification format for `topic`'s chat channels."""
        if topic.name in self.chat_topics:
            return self.chat_topics[topic.name]
        chat_topic = sns.Topic(
            self,
            f"Chat{_digest(topic.name)}",
            display_name="iotwatch",
            master_key=self._topics.key,
            enforce_ssl=True,
        )
        self._topics.allow_eventbridge()
        self._rule(
            f"Chat{_digest(topic.name)}Rule",
            description=f"iotwatch {self.plan.name}: incident events to chat ({topic.name})",
            detail_types=INCIDENT_DETAIL_TYPES,
            severities=routed_severities(self.plan, topic),
            target=targets.SnsTopic(
                chat_topic,
                dead_letter_queue=self._dead_letters.queue,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
            ),
            paths=CHAT_PATHS,
            template=CHAT_NOTIFICATION,
        )
        self.chat_topics[topic.name] = chat_topic
        return chat_topic

    def _chat(self, topic: Topic, chat: Chat, severities: list[str]) -> None:
        del severities  # the chat topic's rule carries them
        chat_topic = self._chat_topic(topic)
        name = self.plan.topic_physical_name(topic.name)[:128]
        ident = f"ChatChannel{_digest(topic.name, json.dumps(chat.model_dump(), sort_keys=True))}"
        # Notifications only: the channel's role has no permissions and the guardrail denies all,
        # so nobody can run AWS commands from the channel through this configuration.
        role = iam.Role(
            self,
            f"{ident}Role",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description=f"iotwatch {self.plan.name}: chat notifications only, no permissions",
        )
        deny_all = iam.ManagedPolicy.from_aws_managed_policy_name("AWSDenyAll")
        if chat.slack is not None:
            chatbot.SlackChannelConfiguration(
                self,
                ident,
                slack_channel_configuration_name=name,
                slack_workspace_id=chat.slack.workspace_id,
                slack_channel_id=chat.slack.channel_id,
                notification_topics=[chat_topic],
                guardrail_policies=[deny_all],
                role=role,
            )
            return
        assert chat.teams is not None
        chatbot.CfnMicrosoftTeamsChannelConfiguration(
            self,
            ident,
            configuration_name=name,
            team_id=chat.teams.team_id,
            # CloudFormation takes the id URL-encoded ('19%3A...%40thread.tacv2')
            teams_channel_id=quote(chat.teams.channel_id, safe=""),
            teams_tenant_id=chat.teams.tenant_id,
            iam_role_arn=role.role_arn,
            sns_topic_arns=[chat_topic.topic_arn],
            guardrail_policies=[deny_all.managed_policy_arn],
        )

    @property
    def stack(self) -> Stack:
        return Stack.of(self)
