"""The backtest's picture of one series: actual, expected, the warning band and the alerting periods, as a PNG."""

from __future__ import annotations

import re
from pathlib import Path

from iotwatch.domain.series import Series
from iotwatch.service.backtest import SeriesBacktest


def plot_backtest(result: SeriesBacktest, path: Path, *, title: str | None = None) -> Path:
    """Actual (line), expected (dashed), warning band (shaded), alerting periods (red spans, onsets
    marked). Learning rows show the actual value only. Uses the Agg canvas, never pyplot."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure

    period = result.series.period
    rows = result.results
    times = np.array([r.ts for r in rows], dtype="datetime64[s]")
    nan = float("nan")
    values = result.values if len(result.values) == len(rows) else [None] * len(rows)
    actual = np.array(
        [r.score.actual if r.score else (nan if v is None else v) for r, v in zip(rows, values, strict=True)],
        dtype=float,
    )
    expected = np.array([r.score.expected if r.score else nan for r in rows], dtype=float)
    lower = np.array([r.score.lower if r.score else nan for r in rows], dtype=float)
    upper = np.array([r.score.upper if r.score else nan for r in rows], dtype=float)

    figure = Figure(figsize=(12, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if len(rows):
        axes.fill_between(
            times, lower, upper, color="tab:blue", alpha=0.15, linewidth=0, label="expected band (warning)"
        )
        axes.plot(times, actual, color="tab:blue", linewidth=1.2, label="actual")
        axes.plot(times, expected, color="black", linestyle="--", linewidth=0.8, alpha=0.7, label="expected")
        for i, episode in enumerate(result.episodes):
            axes.axvspan(
                float(date2num(np.datetime64(episode.start, "s"))),
                float(date2num(np.datetime64(episode.last + period, "s"))),
                color="tab:red",
                alpha=0.18,
                linewidth=0,
                label="alerting" if i == 0 else None,
            )
        onsets = [e.start for e in result.episodes if not e.started_before]
        if onsets:
            index = {r.ts: i for i, r in enumerate(rows)}
            ys = [actual[index[ts]] for ts in onsets]
            axes.plot(
                np.array(onsets, dtype="datetime64[s]"),
                ys,
                linestyle="none",
                marker="v",
                color="tab:red",
                markersize=8,
                label="alert fired",
            )
        learning = int(np.isnan(expected).sum())
        if learning == len(rows):
            axes.text(
                0.5, 0.5, "learning: no baseline yet", transform=axes.transAxes, ha="center", color="gray"
            )
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        axes.legend(loc="upper left", fontsize="small", ncols=5, frameon=False)
    else:
        axes.text(0.5, 0.5, "no rows in the window", transform=axes.transAxes, ha="center", color="gray")
    top = np.nanmax(np.concatenate([actual, upper])) if len(rows) and not np.isnan(actual).all() else 1.0
    axes.set_ylim(0, max(float(top), 1.0) * 1.18)  # headroom for the legend
    axes.set_ylabel(f"{result.series.statistic} per {period} s")
    axes.grid(True, alpha=0.3)
    heading = title or result.series.label
    axes.set_title(
        f"{heading} - {result.alerts_fired} alert(s), {result.alerting_periods} alerting period(s) (UTC)",
        fontsize="medium",
        loc="left",
    )
    figure.subplots_adjust(left=0.07, right=0.985, top=0.92, bottom=0.12)  # fixed: tight_layout costs a draw
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def plot_name(series: Series, taken: set[str]) -> str:
    """A file name from the series id: 'AWS/IoT|Connect.Success|Protocol=MQTT' -> 'Connect.Success_Protocol-MQTT.png'."""
    parts = [series.metric, *(f"{k}-{v}" for k, v in series.dimensions)]
    if series.namespace not in ("AWS/IoT", "csv"):
        parts.insert(0, series.namespace)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts)).strip("-") or "series"
    name, n = f"{stem}.png", 2
    while name in taken:
        name, n = f"{stem}-{n}.png", n + 1
    taken.add(name)
    return name
