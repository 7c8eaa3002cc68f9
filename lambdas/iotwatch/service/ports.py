"""What the use cases need of the outside world, as protocols: the adapters implement them
against AWS, the unit tests' fakes in memory; no use case names a concrete adapter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from iotwatch.domain.audit.recorded import RecordedCall
from iotwatch.domain.baseline.model import Baseline
from iotwatch.domain.deviation import AlertState
from iotwatch.domain.discovery import Dimensions, DiscoveredValues, SeriesTemplate
from iotwatch.domain.incidents.model import Incident
from iotwatch.domain.likelihood import TrackerState
from iotwatch.domain.messages.model import OutboxItem, RenderedMessage
from iotwatch.domain.metric_calls import Datapoints
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence
from iotwatch.domain.where import Breakdown

if TYPE_CHECKING:  # the evaluator's cold start loads the event builder only when it has events
    from iotwatch.domain.messages.events import BusEvent, EventsOutcome


class StructuredLogger(Protocol):
    """Powertools' Logger, as a use case logs through it: keyword arguments become log fields."""

    def info(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def warning(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def error(self, msg: object, *args: object, **kwargs: Any) -> None: ...


# --- CloudWatch, SNS, SQS -------------------------------------------------------------------------


class MetricReader(Protocol):
    def read(self, series: Sequence[Series], *, start: int, end: int) -> Datapoints: ...


class CountingMetricReader(MetricReader, Protocol):
    calls: int  # GetMetricData calls made, for the run's log line


class MetricLister(Protocol):
    calls: int

    def list_dimension_sets(self, template: SeriesTemplate) -> tuple[tuple[Dimensions, ...], int]: ...


class Notifier(Protocol):
    def publish(self, topic: str, message: RenderedMessage) -> str: ...
    def publish_raw(
        self, topic: str, *, subject: str, message: str, attributes: dict[str, dict[str, str]]
    ) -> str: ...


class CountingNotifier(Notifier, Protocol):
    published: int  # messages published, for the run's log line


class WhereLookup(Protocol):
    """Where a deviation is concentrated (fleet index, Contributor Insights), asked only in a
    tick that pages. Never raises: what it could not look up is a `LookupGap` in the answer."""

    def look_up(self, *, metrics: Sequence[str], since: int, now: int) -> Breakdown: ...


class WorkQueue(Protocol):
    def send(self, bodies: Sequence[str]) -> int: ...


# --- the state table, one protocol per kind of record ---------------------------------------------


class RunLog(Protocol):
    def claim_run(self, window_end: int) -> bool: ...
    def release_run(self, window_end: int) -> None: ...
    def last_completed(self) -> int | None: ...
    def complete_run(self, window_end: int) -> None: ...


class OutboxWriter(Protocol):
    def put_outbox(self, item: OutboxItem) -> None: ...


class Outbox(OutboxWriter, Protocol):
    def list_outbox(self) -> list[OutboxItem]: ...
    def delete_outbox(self, key: str) -> None: ...


class BaselineReader(Protocol):
    def get_baselines(self, series_ids: Sequence[str]) -> dict[str, Baseline]: ...


class BaselineWriter(Protocol):
    def get_baseline_versions(self, series_ids: Sequence[str]) -> dict[str, int]: ...
    def put_baseline(self, baseline: Baseline) -> None: ...


@runtime_checkable
class GenerationMarker(Protocol):
    """A store whose warm readers cache baselines until a rebuild marks a new generation."""

    def mark_baselines_built(self, generation: str) -> None: ...


class StateReader(Protocol):
    def get_states(self, series_ids: Sequence[str]) -> dict[str, AlertState]: ...


class SeriesStateStore(StateReader, Protocol):
    def save_state(self, state: AlertState) -> bool: ...
    def get_trackers(self, series_ids: Sequence[str]) -> dict[str, TrackerState]: ...
    def save_trackers(self, trackers: Mapping[str, TrackerState]) -> None: ...


class IncidentStore(Protocol):
    def get_open_incidents(self) -> list[Incident]: ...
    def get_incident(self, incident_id: str) -> Incident | None: ...
    def save_incident(self, incident: Incident, *, expires_at: int | None = None) -> bool: ...


@runtime_checkable
class MarkedIncidents(Protocol):
    """The periods of incidents on-call marked (`iotwatch incidents mark`)."""

    def marked_windows(self, *, since: int, now: int) -> list[tuple[int, int]]: ...


class SilenceReader(Protocol):
    def list_silences(self, *, now: int | None = None, include_expired: bool = False) -> list[Silence]: ...


@runtime_checkable
class ControlPlaneReader(Protocol):
    """A store that keeps the audited control-plane calls a page may quote."""

    def list_audit_calls(self, *, start: int, end: int) -> list[RecordedCall]: ...


class AuditRecorder(Protocol):
    def record_audit_call(
        self, call: RecordedCall, *, expires_at: int, owed: Sequence[str] = (), now: float = 0.0
    ) -> bool: ...
    def resume_audit_call(
        self, call: RecordedCall, *, now: float, stale_after: float
    ) -> list[str] | None: ...
    def audit_topic_done(self, call: RecordedCall, topic: str) -> None: ...
    def release_audit_call(self, call: RecordedCall) -> None: ...


class FanoutLog(Protocol):
    def start_fanout(self, window_end: int, shards: int) -> None: ...
    def fanout_shards(self, window_end: int) -> int | None: ...
    def get_shard_result(self, window_end: int, shard: int) -> str | None: ...
    def put_shard_result(self, window_end: int, shard: int, result: str) -> bool: ...
    def finish_shard(self, window_end: int, shard: int) -> tuple[int, int]: ...
    def list_shard_results(self, window_end: int) -> list[str]: ...
    def claim_publish(self, window_end: int) -> bool: ...
    def release_publish(self, window_end: int) -> None: ...


class BuildLog(Protocol):
    def start_build(self, generation: str, shards: int, *, expires_at: int) -> None: ...
    def build_shards(self, generation: str) -> int | None: ...
    def finish_build_shard(self, generation: str, shard: int) -> tuple[int, int]: ...


class DiscoveryStore(Protocol):
    def list_discovered(self) -> dict[str, DiscoveredValues]: ...
    def put_discovered(self, entry: DiscoveredValues) -> None: ...


# --- what each use case reads and writes: the repositories of one store, by kind -------------------
# Read-only properties: a store holds its repositories as attributes (adapters.store.state_store).


class BaselineBuilder(BaselineWriter, GenerationMarker, Protocol):
    """Baselines as a (fanned-out) build writes them, marking the generation when done."""


class EvaluationStore(Protocol):
    """An evaluator run (service.evaluation); audit records are quoted when its `audit` is a
    ControlPlaneReader."""

    @property
    def runs(self) -> RunLog: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def baselines(self) -> BaselineReader: ...
    @property
    def series_state(self) -> SeriesStateStore: ...
    @property
    def incidents(self) -> IncidentStore: ...
    @property
    def silences(self) -> SilenceReader: ...


class FanoutStore(EvaluationStore, Protocol):
    """A fanned-out tick (service.fanout)."""

    @property
    def shards(self) -> FanoutLog: ...


class BuildShardStore(Protocol):
    """A baseline build, whole or one shard of a fanned-out one (service.baselines)."""

    @property
    def baselines(self) -> BaselineBuilder: ...
    @property
    def shards(self) -> BuildLog: ...
    @property
    def incidents(self) -> MarkedIncidents: ...


class AuditStore(Protocol):
    """One audit delivery (service.audit)."""

    @property
    def audit(self) -> AuditRecorder: ...
    @property
    def outbox(self) -> OutboxWriter: ...


class BandWidgetStore(Protocol):
    """One band-widget draw (service.band_widget)."""

    @property
    def baselines(self) -> BaselineReader: ...
    @property
    def series_state(self) -> StateReader: ...


class EventPublisher(Protocol):
    """Puts incident and audit events on the plan's bus; never raises (failures are counted)."""

    def publish(self, events: Sequence[BusEvent]) -> EventsOutcome: ...
