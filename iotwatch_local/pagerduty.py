"""A local stand-in for PagerDuty's Events API v2, and the EventBridge half that feeds it.

moto cannot create the stack's EventBridge connections and API destinations, and EventBridge
rules never call HTTP there, so the demo does what the deployed stack would: it catches the
incident events the functions put on the default bus (a rule with an SQS target), runs the
synthesized template's own rules and input transformers on each (`api_destinations.api_calls`)
and posts the bodies to this server on 127.0.0.1. What arrives is what PagerDuty would get.

    with PagerDutyStandIn() as pagerduty:
        relay = EventRelay(template, secrets={"iotwatch/demo/pagerduty": "..."}, post=pagerduty.post)
        ... after each tick: relay.deliver()
        pagerduty.received  # [(path, body), ...]
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from iotwatch_local.api_destinations import api_calls
from iotwatch_local.input_transformer import pagerduty_event_problems

PAGERDUTY_HOST = "events.pagerduty.com"


class PagerDutyStandIn:
    """An HTTP server on loopback that takes Events API v2 requests as PagerDuty does (202 and a
    dedup key) and keeps each body it received."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                received.append((self.path, body))
                answer = json.dumps(
                    {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
                ).encode()
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return  # nothing per request

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> PagerDutyStandIn:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def post(self, url: str, body: Mapping[str, Any]) -> None:
        """Posts `body` to this server at the path of PagerDuty's `url`."""
        parts = urlsplit(url)
        if parts.hostname != PAGERDUTY_HOST:
            raise ValueError(f"not a PagerDuty Events API address: {url}")
        request = Request(
            self.url + parts.path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urlopen(request, timeout=5) as answer:
            answer.read()


class EventRelay:
    """The stack's incident events, caught on the default bus by an SQS rule, run through the
    synthesized template's rules to the PagerDuty stand-in."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        secrets: Mapping[str, str],
        post: Callable[[str, Mapping[str, Any]], None],
        events_client: Any,
        sqs_client: Any,
        name: str = "iotwatch-demo-events",
    ) -> None:
        self._template = template
        self._secrets = secrets
        self._post = post
        self._sqs = sqs_client
        self.events: list[dict[str, Any]] = []
        self._queue_url = sqs_client.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs_client.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events_client.put_rule(Name=name, EventPattern=json.dumps({"source": ["iotwatch"]}))
        events_client.put_targets(Rule=name, Targets=[{"Id": "inbox", "Arn": queue_arn}])

    def deliver(self) -> int:
        """Every event caught since the last call, through the template's API destinations;
        returns how many requests were sent."""
        sent = 0
        while True:
            answer = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return sent
            for message in messages:
                event = json.loads(message["Body"])
                self.events.append(event)
                for call in api_calls(self._template, event, self._secrets):
                    if urlsplit(call.url).hostname == PAGERDUTY_HOST:
                        self._post(call.url, call.body)
                        sent += 1
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


def pagerduty_verdict(
    received: list[tuple[str, dict[str, Any]]], incident_ids: list[str], plan: str
) -> dict[str, Any]:
    """Exactly one trigger and one resolve per incident, the incident id as dedup key, every body
    valid against the Events API v2's rules."""
    actions: dict[str, list[str]] = {}
    problems = []
    for path, body in received:
        actions.setdefault(str(body.get("dedup_key")), []).append(str(body.get("event_action")))
        problems += [f"{path}: {p}" for p in pagerduty_event_problems(body)]
    expected = {f"{plan}/{i}" for i in incident_ids}
    ok = (
        bool(received)
        and not problems
        and set(actions) == expected
        and all(a == ["trigger", "resolve"] for a in actions.values())
    )
    said = "; ".join(f"{key}: {', '.join(a)}" for key, a in actions.items()) or "nothing"
    text = (
        f"{len(received)} request(s), one trigger and one resolve per incident ({said})"
        if ok
        else f"FAILED: {said}; expected dedup keys {sorted(expected)}; problems {problems[:3]}"
    )
    return {"ok": ok, "requests": [body for _, body in received], "actions": actions, "text": text}
