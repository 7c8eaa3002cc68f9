"""The Logs Insights queries the dashboard runs over the functions' structured log lines.

They live beside the handlers (not in infra/), and the evaluator's line names beside the
lines (service/evaluation_report), so the field names have one home: `tests/unit/test_handlers.py` checks that every field a query reads is in the line
the handler writes, and `infra/dashboard.py` draws them.
"""

from __future__ import annotations

from iotwatch.service.evaluation_report import EVALUATION_COMPLETE, INCIDENT_LINE

AUDIT_RECORDED = "control-plane call recorded"  # one per IoT call the audit function keeps

INCIDENTS_QUERY = (
    f'filter message = "{INCIDENT_LINE}"',
    "stats latest(status) as status, latest(severity) as severity, latest(group) as group, "
    "latest(members) as members, latest(deviating) as deviating, min(since) as began, "
    "max(@timestamp) as last_change by incident",
    "sort began desc",
    "limit 50",
)
OPEN_INCIDENTS_QUERY = (
    # a fanned-out tick's other shards log no incidents_open: only the publishing one does
    f'filter message = "{EVALUATION_COMPLETE}" and ispresent(incidents_open)',
    "stats latest(incidents_open) as open_incidents",
)
# The run's counts are fields of its line, not custom metrics (each of those, published every
# tick, is USD 0.30 a month): a fanned-out tick's shards each log theirs, and they add up.
SERIES_NOW_QUERY = (
    f'filter message = "{EVALUATION_COMPLETE}" and not duplicate_run',
    "stats sum(series) as series, sum(learning) as learning, sum(firing) as firing, "
    "sum(skipped) as skipped by window_end",
    "sort window_end desc",
    "limit 1",
)
EVALUATOR_CALLS_QUERY = (
    f'filter message = "{EVALUATION_COMPLETE}"',
    "stats sum(get_metric_data_calls) as evaluator by bin(1h)",
)
AUDIT_BY_ACTION_QUERY = (
    f'filter message = "{AUDIT_RECORDED}"',
    "stats count(*) as calls, latest(who) as last_caller, max(@timestamp) as last_call by action",
    "sort calls desc",
    "limit 50",
)
