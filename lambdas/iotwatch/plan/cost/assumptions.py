"""What the plan cannot say: volumes, durations and item sizes the estimate assumes (CLI options override some)."""

from __future__ import annotations

from dataclasses import dataclass

GB = 1024**3
DAY = 86400


@dataclass(frozen=True)
class Assumptions:
    """What the plan cannot say. The CLI overrides the volumes (`--sms-per-month`, ...)."""

    month_days: int = 30
    # Lambda durations (billed, init included), kept above what bench/fanout_scale.py measures
    # on one core (an evaluator shard: ~0.4 ms of CPU per series, 2,000 series cold; a build
    # shard: ~6 ms per series of 4,032 points) scaled to the CPU share of the memory size,
    # plus the calls' latency.
    evaluator_base_seconds: float = 1.5  # GetMetricData, the batch reads, the claim, cold starts averaged in
    evaluator_ms_per_series: float = 4.0
    builder_base_seconds: float = 2.0
    builder_seconds_per_call: float = 1.0  # one history GetMetricData call of up to 100,800 points
    builder_ms_per_series: float = 50.0  # at BENCH_POINTS_PER_SERIES points; scales with points
    audit_seconds_per_event: float = 2.0  # mostly cold starts at 256 MB: events are sparse
    deploys_per_month: int = 4  # each successful deploy rebuilds every baseline
    # A warm evaluator keeps decoded baselines until the builder writes a new generation; it
    # reads them again when its container is new. A fanned-out tick's shards land on whichever
    # container is free, so they are counted as reading every baseline every tick.
    evaluator_cold_starts_per_day: int = 24
    # Notifications: None means per subscriber in the plan.
    emails_per_month: int | None = None
    emails_per_subscriber: int = 100  # alerts, reminders and resolutions per e-mail address
    sms_per_month: int | None = None
    sms_per_subscriber: int = 20  # critical pages and their resolutions per phone
    sms_price_usd: float = 0.00645  # one part to a US number; other countries differ widely
    incidents_per_month: int = 10  # each one writes its alert state a few times
    state_writes_per_incident: int = 4
    # the incident item (members, per-topic log, timeline): written when it opens, as members
    # join or recover, on updates and when it resolves; read every tick while it is open
    incident_item_kb: float = 5.0
    incident_writes_per_incident: int = 8
    # Event counters are published only in the hours that have events.
    firing_hours_per_incident: float = 2.0  # SeriesFiring, each tick an incident fires
    notifying_hours_per_incident: float = 2.0  # NotificationsSent: the page and the resolve
    series_per_incident: int = 5  # listed in each firing tick's log
    silenced_hours_per_month: float = 8.0  # DeviationsSilenced: maintenance windows that hold a page
    failed_notification_hours_per_month: float = 1.0  # NotificationsFailed
    # The audit (tools.audit): IoT control-plane write calls CloudTrail reports.
    audit_events_per_month: int = 1_000
    audit_alerts_per_month: int = 20  # sensitive calls that page (AuditAlerts)
    trail_events_per_month: int = 100_000  # every write management event of the region
    trail_bytes_per_event: int = 300  # gzip-compressed in the trail's files
    # The dashboard: each view draws every band widget on it once (one Lambda draw, one metric
    # read, a baseline and a state read). A screen left on auto-refresh is many views: a
    # 1-minute refresh is ~43,200 a month (--dashboard-views-per-month).
    dashboard_views_per_month: int = 300
    band_widget_seconds_per_draw: float = 0.3  # mostly warm: a view draws its widgets together
    # Item and log sizes (measured on the code: a 168-bucket baseline item is ~7.1 KB; the
    # likelihood tracker, written every tick, ~0.9 KB; tests/unit/test_plan_cost.py checks both).
    baseline_item_kb: float = 7.5
    state_item_kb: float = 0.5
    tracker_item_kb: float = 1.0  # ~0.9 KB measured, one write unit: change here when the tracker grows
    audit_item_kb: float = 0.7
    shard_result_kb: float = 1.0  # a fanned-out tick's shard result: its transitions and changed states
    evaluator_log_bytes_per_run: int = 1_500  # "evaluation complete" + the run's metrics document
    changed_series_log_bytes: int = 170  # one series in a tick's list of the series that changed
    builder_log_bytes_per_run: int = 1_200
    audit_log_bytes_per_event: int = 1_400
    band_widget_log_bytes_per_draw: int = 350
    # An idle SQS event source mapping long-polls its queue: Lambda keeps 2 to 5 pollers, each
    # a 20-second ReceiveMessage, on a queue with nothing in it.
    idle_queue_pollers: int = 5
    # Device signals (the plan's `devices` section): the fleet behind the lifecycle events and
    # the logs (`--devices`, `--disconnects-per-device-per-day`, ...).
    devices: int = 10_000
    disconnects_per_device_per_day: float = 2.0  # each one a lifecycle event on the topic rule
    connect_failures_per_device_per_day: float = 0.05  # refused connection attempts
    # AWS IoT log entries at ERROR level (failed connects, publishes, subscribes) per device
    failed_log_events_per_device_per_day: float = 1.0
    # at INFO, every connect, disconnect, publish and subscribe is logged too
    messages_per_device_per_day: float = 1_440.0  # one publish a minute
    iot_log_event_bytes: int = 450  # one JSON log entry of AWSIotLogsV2
    lookups_per_incident: int = 3  # paging ticks of an incident that look up where it is

    @property
    def month_hours(self) -> int:
        return self.month_days * 24

    @property
    def month_seconds(self) -> int:
        return self.month_days * DAY


DEFAULT_ASSUMPTIONS = Assumptions()
