"""EventBridge rule matching as AWS does it, where moto does not: a scheduled rule (no event
pattern) never matches an event put on its bus.

moto (5.x) matches a rule without an event pattern against every PutEvents event, then raises
NotImplementedError for its Lambda target: the stack's evaluator and baseline schedules, on the
default bus, turned every incident event put there (notify.events, docs/events.md) into a
server error. On AWS a schedule rule only fires on its schedule."""

from __future__ import annotations

from typing import Any

from moto.events.models import Rule

from iotwatch_local.patching import CountedPatch


def _send_unless_scheduled(self: Rule, original_event: Any, transform_input: bool = True) -> None:
    if self.scheduled_expression:
        return
    _PATCH.original(self, original_event, transform_input)


_PATCH = CountedPatch(Rule, "send_to_targets", _send_unless_scheduled)
install = _PATCH.install
uninstall = _PATCH.uninstall
