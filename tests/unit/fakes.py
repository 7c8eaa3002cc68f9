"""In-memory stand-ins for the adapters (they implement the ports in iotwatch.service.ports)
and small builders for domain objects. No AWS, no network."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.baseline.model import HOURS_PER_WEEK, METHOD, Baseline, Bucket
from iotwatch.domain.deviation import AlertState
from iotwatch.domain.incidents.feedback import training_window
from iotwatch.domain.incidents.model import Incident
from iotwatch.domain.incidents.record import decode_incident, encode_incident
from iotwatch.domain.likelihood import TrackerState
from iotwatch.domain.messages.model import OutboxItem, RenderedMessage
from iotwatch.domain.ratios import combine, metric_queries, query_key
from iotwatch.domain.series import DetectionSettings, Ratio, Series
from iotwatch.domain.silences import Silence
from iotwatch.service import ports

PERIOD = 300
DAY = 86400
# A Monday, 00:00 UTC (checked below rather than trusted).
MONDAY = int(datetime(2025, 11, 24, tzinfo=UTC).timestamp())
assert datetime.fromtimestamp(MONDAY, UTC).weekday() == 0

DETECTION = DetectionSettings(
    warning=4.0,
    critical=7.0,
    pending_periods=2,
    recovery_periods=2,
    min_volume=20.0,
    min_relative_change=0.2,
)


def make_series(
    metric: str = "PublishIn.Success",
    dimensions: Sequence[tuple[str, str]] = (("Protocol", "MQTT"),),
    *,
    namespace: str = "AWS/IoT",
    detection: DetectionSettings = DETECTION,
    period: int = PERIOD,
    runbook: str | None = "https://wiki.example.com/runbook",
    description: str | None = None,
) -> Series:
    return Series(
        namespace=namespace,
        metric=metric,
        dimensions=tuple(dimensions),
        statistic="Sum",
        period=period,
        detection=detection,
        runbook=runbook,
        description=description,
    )


# A share of attempts: AuthError over the connect outcomes (domain.ratios).
SHARE_DETECTION = replace(DETECTION, pending_periods=1, missing_data="ignore", direction="up")
AUTH_SHARE = Ratio(
    numerator=("Connect.AuthError",),
    denominator=("Connect.Success", "Connect.AuthError", "Connect.ClientError", "Connect.Throttle"),
    min_denominator=100,
    numerator_label="AuthError",
    denominator_label="connection attempts",
)


def share_series(ratio: Ratio = AUTH_SHARE, *, description: str | None = None) -> Series:
    """Connect.AuthErrorRate (MQTT): the share `ratio` of the connect outcomes."""
    series = make_series("Connect.AuthErrorRate", detection=SHARE_DETECTION, description=description)
    return replace(series, ratio=ratio)


def flat_share_baseline(series_id: str, *, share: float = 0.002, end: int = MONDAY) -> Baseline:
    """A share's baseline learnt from 14 days at the same `share`."""
    start = end - 14 * DAY
    return build_baseline(
        series_id=series_id,
        points=[(ts, share) for ts in range(start, end, PERIOD)],
        start=start,
        end=end,
        period=PERIOD,
        built_at=end,
        share=True,
    )


def flat_baseline(
    series_id: str, *, expected: float, scale: float, period: int = PERIOD, source: str = "hour-of-week"
) -> Baseline:
    """A baseline expecting the same value at every hour of the week."""
    return Baseline(
        series_id=series_id,
        version=1,
        method=METHOD,
        period=period,
        trained_from=MONDAY - 14 * DAY,
        trained_to=MONDAY,
        built_at=MONDAY,
        datapoints=14 * DAY // period,
        buckets=tuple(Bucket(expected, scale, 24, source) for _ in range(HOURS_PER_WEEK)),
    )


class FakeReader:
    """Serves datapoints from memory for [start, end), like GetMetricData would."""

    def __init__(self, points: dict[str, dict[int, float]] | None = None) -> None:
        self.points: dict[str, dict[int, float]] = points if points is not None else {}
        self.calls = 0
        self.requests: list[tuple[tuple[str, ...], int, int]] = []

    def set(self, series_id: str, ts: int, value: float) -> None:
        self.points.setdefault(series_id, {})[ts] = value

    def read(self, series: Sequence[Series], *, start: int, end: int) -> dict[str, list[tuple[int, float]]]:
        """A ratio series is served from its parts' points, as CloudWatchMetricReader reads it."""
        self.calls += 1
        self.requests.append((tuple(s.id for s in series), start, end))
        read: dict[str, list[tuple[int, float]]] = {}
        for query in metric_queries(series):
            values = self.points.get(query.id, {})
            read[query_key(query)] = [
                (ts, values[ts])
                for ts in range(start - start % query.period, end, query.period)
                if ts in values and ts >= start
            ]
        return combine(series, read)


class FakeStore:
    """Baselines and alert states in dicts, with the same optimistic locking as DynamoDB."""

    def __init__(self, baselines: Iterable[Baseline] = ()) -> None:
        self.stored_baselines: dict[str, Baseline] = {b.series_id: b for b in baselines}
        self.states: dict[str, AlertState] = {}
        self.trackers: dict[str, dict[str, object]] = {}  # as records, like the table holds them
        self.saved: list[AlertState] = []
        self.claimed_runs: set[int] = set()
        self.completed: int | None = None  # the newest window a run completed

        self.outbox_items: dict[str, OutboxItem] = {}
        self.stored_silences: list[Silence] = []  # ad-hoc silences, as `iotwatch silence add` stores them
        # incidents as the table holds them: (encoded text, revision, expires_at), by id
        self.stored_incidents: dict[str, tuple[str, int, int | None]] = {}
        self.incident_writes: list[str] = []  # ids, in the order they were written

    # Each repository a use case is given (service.ports) is this one in-memory table.
    @property
    def runs(self) -> FakeStore:
        return self

    @property
    def outbox(self) -> FakeStore:
        return self

    @property
    def baselines(self) -> FakeStore:
        return self

    @property
    def series_state(self) -> FakeStore:
        return self

    @property
    def incidents(self) -> FakeStore:
        return self

    @property
    def silences(self) -> FakeStore:
        return self

    @property
    def shards(self) -> FakeStore:
        return self

    def get_open_incidents(self) -> list[Incident]:
        return [i for i in self.all_incidents() if i.status == "open"]

    def get_incident(self, incident_id: str) -> Incident | None:
        stored = self.stored_incidents.get(incident_id)
        return decode_incident(stored[0], None, revision=stored[1]) if stored else None

    def marked_windows(self, *, since: int, now: int) -> list[tuple[int, int]]:
        """Like DynamoStateStore: the periods of the marked incidents opened at or after `since`."""
        windows = [training_window(i) for i in self.all_incidents() if i.opened_at >= since]
        return [(start, end if end is not None else now) for start, end in filter(None, windows)]

    def list_incidents(self, *, since: int) -> list[Incident]:
        """Like DynamoStateStore: opened at or after `since`, or still open, oldest first."""
        return [i for i in self.all_incidents() if i.opened_at >= since or i.status == "open"]

    def all_incidents(self) -> list[Incident]:
        return [
            decode_incident(text, None, revision=revision)
            for _, (text, revision, _) in sorted(self.stored_incidents.items())
        ]

    def save_incident(self, incident: Incident, *, expires_at: int | None = None) -> bool:
        """Like DynamoStateStore: refused when someone wrote the incident since it was read."""
        current = self.stored_incidents.get(incident.id)
        if current is not None and current[1] != incident.revision:
            return False
        text, _ = encode_incident(incident)
        assert text is not None
        self.stored_incidents[incident.id] = (text, incident.revision + 1, expires_at)
        self.incident_writes.append(incident.id)
        return True

    def list_silences(self, *, now: int | None = None, include_expired: bool = False) -> list[Silence]:
        """Like DynamoStateStore: silences not ended at `now` (every one without `now`)."""
        if include_expired or now is None:
            return list(self.stored_silences)
        return [s for s in self.stored_silences if s.ends > now]

    def claim_run(self, window_end: int) -> bool:
        if window_end in self.claimed_runs:
            return False
        self.claimed_runs.add(window_end)
        return True

    def release_run(self, window_end: int) -> None:
        self.claimed_runs.discard(window_end)

    def last_completed(self) -> int | None:
        return self.completed

    def complete_run(self, window_end: int) -> None:
        self.completed = max(self.completed or 0, window_end)

    def put_outbox(self, item: OutboxItem) -> None:
        self.outbox_items[item.key] = item

    def list_outbox(self) -> list[OutboxItem]:
        return [self.outbox_items[k] for k in sorted(self.outbox_items)]

    def delete_outbox(self, key: str) -> None:
        self.outbox_items.pop(key, None)

    def get_baselines(self, series_ids: Sequence[str]) -> dict[str, Baseline]:
        return {sid: self.stored_baselines[sid] for sid in series_ids if sid in self.stored_baselines}

    def put_baseline(self, baseline: Baseline) -> None:
        self.stored_baselines[baseline.series_id] = baseline

    def get_baseline_versions(self, series_ids: Sequence[str]) -> dict[str, int]:
        return {sid: self.stored_baselines[sid].version for sid in series_ids if sid in self.stored_baselines}

    def get_states(self, series_ids: Sequence[str]) -> dict[str, AlertState]:
        return {sid: self.states[sid] for sid in series_ids if sid in self.states}

    def get_trackers(self, series_ids: Sequence[str]) -> dict[str, TrackerState]:
        return {
            sid: TrackerState.from_record(self.trackers[sid]) for sid in series_ids if sid in self.trackers
        }

    def save_trackers(self, trackers: Mapping[str, TrackerState]) -> None:
        for sid, tracker in trackers.items():
            self.trackers[sid] = json.loads(json.dumps(tracker.to_record()))

    def save_state(self, state: AlertState) -> bool:
        current = self.states.get(state.series_id)
        if current is not None and current.revision != state.revision:
            return False
        self.states[state.series_id] = replace(state, revision=state.revision + 1)
        self.saved.append(state)
        return True


class PublishFailed(RuntimeError):
    pass


@dataclass
class FakeNotifier:
    """Records what would have been published; topics in `failing` raise instead."""

    failing: set[str] = field(default_factory=set)
    sent: list[tuple[str, RenderedMessage]] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    published: int = 0
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def publish(self, topic: str, message: RenderedMessage) -> str:
        self.attempts.append(topic)
        if topic in self.failing:
            raise PublishFailed(f"SNS said no to {topic}")
        self.sent.append((topic, message))
        self.published += 1
        return f"msg-{next(self._ids)}"

    def publish_raw(
        self, topic: str, *, subject: str, message: str, attributes: dict[str, dict[str, str]]
    ) -> str:
        """What the outbox sends: the stored SNS body, turned back into the rendered message."""
        bodies = json.loads(message)
        rendered = RenderedMessage(
            subject=subject,
            email=bodies["email"],
            sms=bodies["sms"],
            attributes=attributes,
            document=json.loads(bodies["sqs"]),
        )
        return self.publish(topic, rendered)

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.sent]


# The fakes implement the ports the use cases are typed against (`mypy tests/unit/fakes.py`).
_evaluation_store: ports.EvaluationStore = FakeStore()
_baseline_writer: ports.BaselineWriter = FakeStore()
_band_widget_store: ports.BandWidgetStore = FakeStore()
_reader: ports.CountingMetricReader = FakeReader()
_notifier: ports.CountingNotifier = FakeNotifier()
