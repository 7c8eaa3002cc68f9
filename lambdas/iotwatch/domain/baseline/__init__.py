"""Learning "normal" for one series from its own history (method `seasonal-level-v2`).

`model` holds the Baseline and what it expects, `build` the build and the hour-of-week
shape, `levels` the fleet-level solve, `layout` where training slots sit in the week,
`stats` the robust statistics. The names below stay importable from here for importers
that predate the split.
"""

from iotwatch.domain.baseline.build import build_baseline
from iotwatch.domain.baseline.model import (
    HOURS_PER_WEEK,
    METHOD,
    Baseline,
    Bucket,
    Expectation,
    hour_of_week,
    share_expectation,
    share_noise_floor,
)

__all__ = [
    "HOURS_PER_WEEK",
    "METHOD",
    "Baseline",
    "Bucket",
    "Expectation",
    "build_baseline",
    "hour_of_week",
    "share_expectation",
    "share_noise_floor",
]
