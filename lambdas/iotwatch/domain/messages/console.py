"""Links into the AWS console: a series' metric graph, the plan's dashboard, a CloudTrail event."""

from __future__ import annotations

from iotwatch.domain.series import Series
from iotwatch.domain.times import iso_z


def _rison(value: str) -> str:
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
    return "'" + "".join(ch if ch in safe else f"*{ord(ch):02x}" for ch in value)


def metric_console_url(series: Series, region: str, *, start: int, end: int) -> str:
    """The series in the CloudWatch console; a share as the metric math over its parts."""
    metrics = _console_metrics(series)
    graph = (
        f"~(metrics~({metrics})~view~'timeSeries~stat~{_rison(series.statistic)}~period~{series.period}"
        f"~region~{_rison(region)}~start~{_rison(iso_z(start))}~end~{_rison(iso_z(end))})"
    )
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#metricsV2?graph={graph}"


def _console_metrics(series: Series) -> str:
    def metric(name: str, options: str = "") -> str:
        parts = [series.namespace, name]
        for key, value in series.dimensions:
            parts += [key, value]
        return "~(" + "".join("~" + _rison(p) for p in parts) + options + ")"

    ratio = series.ratio
    if ratio is None:
        return metric(series.metric)
    names = list(dict.fromkeys((*ratio.denominator, *ratio.numerator)))
    ids = {name: f"m{i}" for i, name in enumerate(names)}
    expression = (
        f"100*({'+'.join(ids[n] for n in ratio.numerator)})/({'+'.join(ids[n] for n in ratio.denominator)})"
    )
    shown = f"~(~(expression~{_rison(expression)}~label~{_rison(series.metric + ' (%)')}~id~'e1))"
    return shown + "".join(metric(name, f"~(id~'{ids[name]}~visible~false)") for name in names)


def dashboard_url(name: str, region: str, *, start: int | None = None, end: int | None = None) -> str:
    """The plan's dashboard; with `start` (and `end`), opened at that time range (UTC)."""
    url = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{name}"
    )
    if start is None:
        return url
    return f"{url}?start={iso_z(start)}" + (f"&end={iso_z(end)}" if end is not None else "")


def short_dashboard_url(name: str, region: str) -> str:
    """The dashboard in as few characters as the console takes (for an SMS): the regional
    console host selects the region, without `?region=`."""
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home#dashboards/dashboard/{name}"


# the time around an incident its dashboard link shows: an hour before it began to an hour after
DASHBOARD_MARGIN = 3600


def incident_dashboard_url(name: str, region: str, *, since: int, until: int) -> str:
    """The dashboard from an hour before the incident began to an hour after `until` (its end,
    or the message's time while it is open)."""
    return dashboard_url(name, region, start=since - DASHBOARD_MARGIN, end=until + DASHBOARD_MARGIN)


def cloudtrail_event_url(event_id: str, region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}"
