"""Ratio series: the share of attempts that failed, computed from the parts CloudWatch holds.

A ratio series (`Series.ratio`) is read as its parts: one Sum query per metric of its
denominator (the numerator's metrics are among them), each with the series' namespace,
dimensions and period. The reader asks GetMetricData for every distinct query of a run once,
so a metric that is both watched on its own and part of a share costs one query, and the
share is computed here, not with CloudWatch metric math: the evaluator, the builder, the
dashboard's widget and the local endpoint (which has no metric math) all get it from the
same code.

A period's share exists when its attempts (the denominator's sum) reach the ratio's
`min_denominator`; below that it has no datapoint, so it is neither learnt nor judged (a
ratio is a gauge: a missing period is not measured, it is not zero). The attempts of every
period with any are kept beside the shares (`attempts_key`), for the band's sampling-noise
floor and for the messages ("AuthError 31 % of 4,210 connection attempts").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from iotwatch.domain.series import Ratio, Series

Points = list[tuple[int, float]]

ATTEMPTS_SUFFIX = "#attempts"


def parts(series: Series) -> tuple[Series, ...]:
    """The metric queries `series` reads: itself, or each metric of its ratio's denominator."""
    ratio = series.ratio
    if ratio is None:
        return (series,)
    names = dict.fromkeys((*ratio.denominator, *ratio.numerator))
    return tuple(
        Series(series.namespace, name, series.dimensions, "Sum", series.period, series.detection)
        for name in names
    )


def query_key(query: Series) -> str:
    """What makes two queries the same GetMetricData query."""
    return f"{query.id}|{query.statistic}|{query.period}"


def metric_queries(series: Iterable[Series]) -> list[Series]:
    """Every distinct metric query `series` need, in order: what one run asks GetMetricData for."""
    found: dict[str, Series] = {}
    for s in series:
        for query in parts(s):
            found.setdefault(query_key(query), query)
    return list(found.values())


def query_weight(series: Series) -> int:
    """Metric queries one series costs on its own (a share: each metric it adds up)."""
    return 1 if series.ratio is None else len(parts(series))


def attempts_key(series_id: str) -> str:
    """Where a read puts a ratio series' attempts per period, beside its shares."""
    return series_id + ATTEMPTS_SUFFIX


def attempts_of(
    series: Series, datapoints: Mapping[str, Sequence[tuple[int, float]]]
) -> dict[int, float] | None:
    """A ratio series' attempts per period start, from what a read returned; None for a metric."""
    if series.ratio is None:
        return None
    return dict(datapoints.get(attempts_key(series.id), ()))


def combine(series: Iterable[Series], read: Mapping[str, Sequence[tuple[int, float]]]) -> dict[str, Points]:
    """Each series' datapoints from the queries' (keyed by `query_key`): a metric's as read, a
    ratio's shares (and its attempts under `attempts_key`)."""
    out: dict[str, Points] = {}
    for s in series:
        if s.ratio is None:
            out[s.id] = list(read.get(query_key(s), ()))
            continue
        by_name = {q.metric: read.get(query_key(q), ()) for q in parts(s)}
        out[s.id], out[attempts_key(s.id)] = shares(s.ratio, by_name)
    return out


def shares(ratio: Ratio, by_metric: Mapping[str, Iterable[tuple[int, float]]]) -> tuple[Points, Points]:
    """(shares, attempts) per period start, oldest first. A part without a datapoint in a period
    counted nothing then (AWS IoT sends no datapoint without traffic). A share is only given
    where the attempts reach `min_denominator`; attempts wherever there were any."""
    attempts: dict[int, float] = {}
    for name in ratio.denominator:
        for ts, value in by_metric.get(name, ()):
            attempts[ts] = attempts.get(ts, 0.0) + value
    failed: dict[int, float] = {}
    for name in ratio.numerator:
        for ts, value in by_metric.get(name, ()):
            failed[ts] = failed.get(ts, 0.0) + value
    floor = max(ratio.min_denominator, 0.0)
    found = sorted((ts, n) for ts, n in attempts.items() if n > 0)
    share_points = [(ts, min(failed.get(ts, 0.0) / n, 1.0)) for ts, n in found if n >= floor]
    return share_points, found


# --- how people read a share ---------------------------------------------------------------------


def percent(share: float) -> str:
    """'31 %', '3.1 %', '0.2 %', '0.04 %': two significant digits where they matter."""
    value = share * 100.0
    if value == 0:
        return "0 %"
    if abs(value) >= 10:
        return f"{value:.0f} %"
    if abs(value) >= 0.1:
        return f"{value:.1f} %"
    return f"{value:.2f} %"


def percent_range(lower: float, upper: float) -> str:
    """'0-0.5 %'."""
    return f"{percent(lower).removesuffix(' %')}-{percent(upper)}"


def share_phrase(series: Series, share: float, attempts: float | None, expected: float | None = None) -> str:
    """'AuthError 31 % of 4,210 connection attempts, normally 0.2 %'."""
    ratio = series.ratio
    assert ratio is not None, series.id
    what = ratio.numerator_label or "+".join(short_name(m) for m in ratio.numerator)
    of = ratio.denominator_label or "attempts"
    text = f"{what} {percent(share)}"
    if attempts is not None:
        text += f" of {attempts:,.0f} {of}"
    if expected is not None:
        text += f", normally {percent(expected)}"
    return text


def formula(ratio: Ratio) -> str:
    """'Connect.AuthError / Connect.{Success, AuthError, ClientError}': what adds up to what."""
    return f"{_sum(ratio.numerator)} / {_sum(ratio.denominator)}"


def _sum(metrics: Sequence[str]) -> str:
    """'Connect.{Throttle, ClientIDThrottle}' when all are one operation's, else '(A + B)'."""
    operations = {m.rpartition(".")[0] for m in metrics}
    if len(metrics) > 1 and len(operations) == 1 and "" not in operations:
        (operation,) = operations
        return f"{operation}.{{{', '.join(short_name(m) for m in metrics)}}}"
    return f"({' + '.join(metrics)})" if len(metrics) > 1 else metrics[0]


def short_name(metric: str) -> str:
    """'Connect.AuthError' -> 'AuthError'; a name without an operation stays as it is."""
    return metric.rpartition(".")[2] or metric
