"""The devices' side of a demo day, ready to wire into `iotwatch demo` (iotwatch_local.demo):

    story = device_story(["eu-gateways", "us-sensors"], history_start=..., outage_start=INCIDENT_START,
                         outage_end=INCIDENT_END, auth_start=..., auth_end=...)
    aws.serve_fleet(story.fleet)                                   # fleet index + insight reports
    emulate_device_rules(stack.template, story.fleet, boto3.client("cloudwatch"),
                         start=history_start, end=REPLAY_END)      # topic rules, fleet metrics
    for tick in ticks:
        story.fleet.now = tick                                     # the index answers as of the tick
        ... invoke the evaluator ...

The usual disconnects (churn) give the reason series a normal to learn; the outage takes
`outage_share` of the first group offline with one reason and brings it back; a CA change makes
a handful of devices of the last group fail every connect (AUTH_ERROR, connect_failed, ERROR
log lines for the top-clients rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iotwatch_local.devices import SimulatedFleet

DAY = 86400


@dataclass
class DeviceStory:
    fleet: SimulatedFleet
    outage_group: str
    lost: list[str]  # the devices the outage took offline
    auth_clients: list[str]  # the devices failing auth after the CA change


def device_story(
    groups: Sequence[str] | Mapping[str, int],
    *,
    history_start: int,
    outage_start: int,
    outage_end: int,
    auth_start: int,
    auth_end: int,
    devices_per_group: int = 2000,
    churn_per_device_per_day: float = 1.0,
    outage_share: float = 0.94,
    outage_reason: str = "CONNECTION_LOST",
    auth_clients: int = 3,
    auth_attempts: int = 30,
    seed: int = 7,
    stray_clients: int = 12,
    stray_failures_per_period: float = 2.0,
) -> DeviceStory:
    if not groups:
        raise ValueError("device_story needs at least one thing group (the plan's devices.groups)")
    fleet = SimulatedFleet(
        groups=groups, devices_per_group=devices_per_group, start=history_start - DAY, seed=seed
    )
    fleet.churn(history_start, outage_start, per_device_per_day=churn_per_device_per_day)
    if stray_clients:
        # every real fleet has a few clients with stale or foreign certificates refused now and
        # then: the failed-connect count has a normal to learn, and the CA change stands out of it
        periods = (outage_start - history_start) / 300
        fleet.fail_auth(
            [f"stray-client-{i:02d}" for i in range(stray_clients)],
            start=history_start,
            end=outage_start,
            attempts=max(1, round(stray_failures_per_period * periods / stray_clients)),
        )
    names = list(groups)
    outage_group = names[0]
    lost = fleet.disconnect(outage_group, share=outage_share, reason=outage_reason, at=outage_start, over=120)
    fleet.reconnect(lost, at=outage_end, over=300)
    failing = fleet.fail_auth(
        auth_clients, group=names[-1], start=auth_start, end=auth_end, attempts=auth_attempts
    )
    fleet.now = history_start
    return DeviceStory(fleet, outage_group, lost, failing)
