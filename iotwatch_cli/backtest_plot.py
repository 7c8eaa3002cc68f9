"""The backtest's picture of one series: actual, expected, the warning band and the alerting periods, as a PNG.

Over weeks one pixel is an hour or more: a 40-minute outage would be a one-pixel spike. So under
the whole window the picture zooms in on the alerts (a panel each, up to MAX_ZOOMS), and it
shades the learning periods (no baseline yet: nothing is judged there)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iotwatch.domain.series import Series
from iotwatch.service.backtest import AlertEpisode, SeriesBacktest

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH, HEIGHT, ZOOM_HEIGHT = 12.0, 4.2, 2.8  # inches at 100 dpi
MAX_ZOOMS = 4  # panels under the window; more alerts: the ones furthest from normal
ZOOM_CONTEXT = 2 * 3600  # seconds shown either side of an alert (at least 12 periods)
LEARNING_LABEL = "learning (no baseline yet)"


def zoomed_episodes(result: SeriesBacktest) -> list[AlertEpisode]:
    """The alerts that get a zoomed panel, in time order: all of them up to MAX_ZOOMS, else the
    MAX_ZOOMS with the largest peak deviation."""
    episodes = result.episodes
    if len(episodes) > MAX_ZOOMS:
        chosen = sorted(episodes, key=lambda e: abs(e.peak_score), reverse=True)[:MAX_ZOOMS]
        episodes = [e for e in episodes if e in chosen]
    return list(episodes)


def zoom_window(episode: AlertEpisode, period: int) -> tuple[int, int]:
    """[start, end) seconds around one alert: its periods and ZOOM_CONTEXT (or 12 periods) each side."""
    context = max(ZOOM_CONTEXT, 12 * period)
    return episode.start - context, episode.last + period + context


def learning_spans(result: SeriesBacktest) -> list[tuple[int, int]]:
    """[start, end) of each run of rows replayed without a baseline (nothing judged there)."""
    spans: list[tuple[int, int]] = []
    period = result.series.period
    for row in result.results:
        if row.baseline is not None:
            continue
        if spans and spans[-1][1] == row.ts:
            spans[-1] = (spans[-1][0], row.ts + period)
        else:
            spans.append((row.ts, row.ts + period))
    return spans


def plot_backtest(result: SeriesBacktest, path: Path, *, title: str | None = None) -> Path:
    """Writes `backtest_figure` as a PNG (the Agg canvas, never pyplot)."""
    figure = backtest_figure(result, title=title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def backtest_figure(result: SeriesBacktest, *, title: str | None = None) -> Figure:
    """Actual (line), expected (dashed), warning band (shaded), alerting periods (red spans,
    onsets marked), learning periods (grey, labelled) over the window; under it one panel per
    zoomed alert (`zoomed_episodes`). Learning rows show the actual value only."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    zooms = zoomed_episodes(result) if result.results else []
    height = HEIGHT + (ZOOM_HEIGHT if zooms else 0.0)
    figure = Figure(figsize=(WIDTH, height), dpi=100)
    FigureCanvasAgg(figure)
    if zooms:
        grid = figure.add_gridspec(
            2, len(zooms), height_ratios=[HEIGHT, ZOOM_HEIGHT], hspace=0.45, wspace=0.18
        )
        axes = figure.add_subplot(grid[0, :])
        zoom_axes = [figure.add_subplot(grid[1, i]) for i in range(len(zooms))]
    else:
        axes, zoom_axes = figure.add_subplot(), []
    series = _Drawn(result)
    if result.results:
        series.draw(axes, legend=True)
        _learning_note(axes, result)
        for i, (zoom, episode) in enumerate(zip(zoom_axes, zooms, strict=True)):
            start, end = zoom_window(episode, result.series.period)
            series.draw(zoom, legend=False, window=(start, end))
            zoom.set_title(
                f"alert {i + 1}: {_when(episode.start)}, {episode.periods} period(s)",
                fontsize="small",
                loc="left",
            )
            axes.annotate(
                str(i + 1),
                (series.num(episode.start), 1.0),
                xycoords=("data", "axes fraction"),
                ha="center",
                va="bottom",
                fontsize="small",
                color="tab:red",
            )
    else:
        axes.text(0.5, 0.5, "no rows in the window", transform=axes.transAxes, ha="center", color="gray")
    axes.set_ylabel(f"{result.series.statistic} per {result.series.period} s")
    heading = title or result.series.label
    zoomed = "" if len(zooms) == len(result.episodes) else f"; zoomed: the {len(zooms)} furthest from normal"
    axes.set_title(
        f"{heading} - {result.alerts_fired} alert(s), {result.alerting_periods} alerting period(s) (UTC){zoomed}",
        fontsize="medium",
        loc="left",
        pad=14 if zooms else 6,
    )
    bottom = 0.12 * HEIGHT / height
    figure.subplots_adjust(
        left=0.07, right=0.985, top=1 - 0.08 * HEIGHT / height, bottom=bottom
    )  # fixed: tight_layout costs a draw
    return figure


def _when(ts: int) -> str:
    from datetime import UTC, datetime

    return f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M}"


def _learning_note(axes: Any, result: SeriesBacktest) -> None:
    if all(r.baseline is None for r in result.results):
        axes.text(0.5, 0.5, "learning: no baseline yet", transform=axes.transAxes, ha="center", color="gray")


class _Drawn:
    """One series' arrays, drawn on the window's axes or on a zoomed slice of them."""

    def __init__(self, result: SeriesBacktest) -> None:
        import numpy as np

        self.result = result
        rows = result.results
        nan = float("nan")
        values = result.values if len(result.values) == len(rows) else [None] * len(rows)
        self.ts = np.array([r.ts for r in rows], dtype=np.int64)
        self.actual = np.array(
            [
                r.score.actual if r.score else (nan if v is None else v)
                for r, v in zip(rows, values, strict=True)
            ],
            dtype=float,
        )
        self.expected = np.array([r.score.expected if r.score else nan for r in rows], dtype=float)
        self.lower = np.array([r.score.lower if r.score else nan for r in rows], dtype=float)
        self.upper = np.array([r.score.upper if r.score else nan for r in rows], dtype=float)

    @staticmethod
    def num(ts: int) -> float:
        import numpy as np
        from matplotlib.dates import date2num

        return float(date2num(np.datetime64(ts, "s")))

    def draw(self, axes: Any, *, legend: bool, window: tuple[int, int] | None = None) -> None:
        import numpy as np
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        result, period = self.result, self.result.series.period
        keep = (
            np.ones(len(self.ts), dtype=bool)
            if window is None
            else (self.ts >= window[0]) & (self.ts < window[1])
        )
        times = self.ts[keep].astype("datetime64[s]")
        label = (lambda text: text) if legend else (lambda _text: None)
        axes.fill_between(
            times,
            self.lower[keep],
            self.upper[keep],
            color="tab:blue",
            alpha=0.15,
            linewidth=0,
            label=label("expected band (warning)"),
        )
        axes.plot(times, self.actual[keep], color="tab:blue", linewidth=1.2, label=label("actual"))
        axes.plot(
            times,
            self.expected[keep],
            color="black",
            linestyle="--",
            linewidth=0.8,
            alpha=0.7,
            label=label("expected"),
        )
        for i, (start, end) in enumerate(learning_spans(result)):
            axes.axvspan(
                self.num(start),
                self.num(end),
                color="0.5",
                alpha=0.15,
                linewidth=0,
                label=label(LEARNING_LABEL) if i == 0 else None,
            )
        for i, episode in enumerate(result.episodes):
            axes.axvspan(
                self.num(episode.start),
                self.num(episode.last + period),
                color="tab:red",
                alpha=0.18,
                linewidth=0,
                label=label("alerting") if i == 0 else None,
            )
        onsets = [e.start for e in result.episodes if not e.started_before]
        if window is not None:
            onsets = [ts for ts in onsets if window[0] <= ts < window[1]]
        if onsets:
            index = {int(ts): i for i, ts in enumerate(self.ts)}
            axes.plot(
                np.array(onsets, dtype="datetime64[s]"),
                [self.actual[index[ts]] for ts in onsets],
                linestyle="none",
                marker="v",
                color="tab:red",
                markersize=8,
                label=label("alert fired"),
            )
        if window is not None:
            axes.set_xlim(self.num(window[0]), self.num(window[1]))
        locator = AutoDateLocator() if window is None else AutoDateLocator(minticks=2, maxticks=4)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        shown = np.concatenate([self.actual[keep], self.upper[keep]])
        top = np.nanmax(shown) if len(shown) and not np.isnan(shown).all() else 1.0
        axes.set_ylim(0, max(float(top), 1.0) * (1.18 if legend else 1.05))  # headroom for the legend
        axes.grid(True, alpha=0.3)
        if legend:
            axes.legend(loc="upper left", fontsize="small", ncols=6, frameon=False)


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
