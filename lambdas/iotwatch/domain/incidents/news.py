"""What a tick says about a series, as the incidents take it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iotwatch.domain.deviation import AlertState, PeriodScore, Transition
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence

if TYPE_CHECKING:
    from iotwatch.domain.evaluation import SeriesOutcome


@dataclass(frozen=True, slots=True)
class SeriesNews:
    """One series this tick: its state after `decide`, what changed, the silence covering it."""

    series: Series
    state: AlertState
    transition: Transition | None  # firing | escalated | resolved, as `decide` found it
    latest: PeriodScore | None  # the newest scored period (None: not scored this tick)
    silence: Silence | None = None

    @property
    def firing(self) -> bool:
        return self.state.status == "firing"


def tick_news(outcomes: Iterable[SeriesOutcome]) -> list[SeriesNews]:
    """What the incidents need of a tick's outcomes: every series that changed or is firing."""
    return [
        SeriesNews(o.series, o.state, o.transition, o.scores[-1] if o.scores else None, o.silence)
        for o in outcomes
        if o.transition is not None or o.state.status == "firing"
    ]
