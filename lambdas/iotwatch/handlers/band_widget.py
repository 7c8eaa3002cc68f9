"""Band widget Lambda: a CloudWatch dashboard custom widget draws one series against its band.

Called by the console (with the viewer's permission to invoke it) each time the widget is
shown, refreshed, resized or its time range changes. A draw of the same finished range is
re-used for a couple of minutes, so a dashboard left open on auto-refresh does not read the
series again every few seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from iotwatch.adapters.cloudwatch import CloudWatchMetricReader
from iotwatch.domain.series import Series
from iotwatch.handlers.settings import FunctionSettings
from iotwatch.handlers.setup import FunctionSetup, state_store
from iotwatch.service.band_widget import (
    DESCRIPTION,
    WidgetRequestError,
    drawn_range,
    message_html,
    render_band_widget,
    widget_request,
)
from iotwatch.service.ports import BandWidgetStore, MetricReader

logger = Logger()

REUSE_SECONDS = 120
CACHED_DRAWS = 64


@dataclass
class WidgetDependencies:
    reader: MetricReader
    store: BandWidgetStore


def _wire(settings: FunctionSettings) -> WidgetDependencies:
    from iotwatch.adapters.aws import client

    return WidgetDependencies(
        reader=CloudWatchMetricReader(client("cloudwatch")), store=state_store(settings)
    )


# Draws by (series, range, canvas): a dashboard left open on auto-refresh re-uses them.
_drawn: OrderedDict[tuple[object, ...], tuple[float, str]] = OrderedDict()
setup = FunctionSetup(_wire, logger=logger, on_reset=_drawn.clear)


def _plan_series(series_id: str) -> Series | None:
    return next((s for s in setup.settings().plan.series if s.id == series_id), None)


@logger.inject_lambda_context(log_event=False)
def handler(
    event: dict[str, Any], context: LambdaContext, dependencies: WidgetDependencies | None = None
) -> str:
    if isinstance(event, dict) and event.get("describe"):
        return DESCRIPTION
    try:
        request = widget_request(event if isinstance(event, dict) else {})
    except WidgetRequestError as exc:
        logger.warning("band widget called without what to draw", reason=str(exc))
        return message_html(str(exc))
    series = _plan_series(request.series_id)
    if series is None:
        logger.warning("band widget asked for a series the plan does not watch", series=request.series_id)
        return message_html(
            f"'{request.series_id}' is not a series of plan '{setup.settings().plan.name}': "
            "the dashboard is older than the plan; deploy again."
        )
    now = time.time()
    settle = setup.settings().plan.frequency.settle_seconds
    key = (request.series_id, drawn_range(request, series, now=now, settle_seconds=settle), request.canvas)
    cached = _drawn.get(key)
    if cached is not None and now - cached[0] < REUSE_SECONDS:
        return cached[1]
    deps = dependencies or setup.dependencies()
    started = time.perf_counter()
    try:
        page = render_band_widget(
            request, series=series, reader=deps.reader, store=deps.store, now=now, settle_seconds=settle
        )
    except Exception as exc:  # shown in the widget; the next refresh tries again
        logger.exception("band widget could not read the series", series=series.id)
        return message_html(
            f"{series.label}: could not read the series or its baseline ({type(exc).__name__})."
        )
    _drawn[key] = (now, page)
    while len(_drawn) > CACHED_DRAWS:
        _drawn.popitem(last=False)
    logger.info("band widget drawn", series=series.id, ms=round((time.perf_counter() - started) * 1000, 1))
    return page
