"""The deviation phrases a subject, an e-mail and an SMS share: which way, how far, what was missed."""

from __future__ import annotations

from iotwatch.domain.deviation import PeriodScore
from iotwatch.domain.messages.model import Alert
from iotwatch.domain.messages.wording import clock, stamp
from iotwatch.domain.ratios import percent
from iotwatch.domain.slow_change import phrase as slow_change_phrase
from iotwatch.domain.times import duration_text


def headline_parts(alert: Alert, kind: str) -> tuple[str, str]:
    """(label, what happened): the label may be shortened to fit, the rest never is."""
    latest = alert.transition.latest
    if kind == "resolved":
        return alert.series.label, "back to normal"
    verb = "down" if latest.direction == "drop" else "up"
    if kind == "late":
        t = alert.transition
        span = f"{clock(t.since)}-{clock(t.ended)}Z"
        if alert.series.ratio is not None:
            shown = f"{verb} to {percent(latest.actual)} (normally {percent(latest.expected)})"
            return alert.series.label, f"was {shown} {span}"
        return alert.series.label, f"was {moved_phrase(latest, verb)} {span}"
    if alert.series.ratio is not None:
        now = f"{verb} to {percent(latest.actual)} (normally {percent(latest.expected)})"
        if kind == "reminder":
            return (
                alert.series.label,
                f"still {now} after {duration_text(alert.transition.at - alert.transition.since)}",
            )
        return alert.series.label, ("joined, " if kind == "update" else "") + now
    if kind == "reminder":
        after = f" after {duration_text(alert.transition.at - alert.transition.since)}"
        if latest.slow_change is not None:
            return alert.series.label, f"still {slow_change_phrase(latest.slow_change, short=True)}{after}"
        if latest.relative_change == float("inf"):
            return alert.series.label, f"still {verb}: new traffic{after}"
        return alert.series.label, f"still {verb} {abs(latest.relative_change) * 100:.0f}%{after}"
    joined = "joined, " if kind == "update" else ""
    if latest.slow_change is not None:  # the slow-change model saw it, not the band
        return alert.series.label, f"{joined}{slow_change_phrase(latest.slow_change, short=True)}"
    if latest.relative_change == float("inf"):
        return alert.series.label, f"{joined}{verb}: new traffic"
    return alert.series.label, f"{joined}{verb} {abs(latest.relative_change) * 100:.0f}%"


def moved_phrase(score: PeriodScore, verb: str) -> str:
    """'down 85%' (or 'up: new traffic'; or the slow change the period deviates by)."""
    if score.slow_change is not None:
        return slow_change_phrase(score.slow_change, short=True)
    if score.relative_change == float("inf"):
        return f"{verb}: new traffic"
    return f"{verb} {abs(score.relative_change) * 100:.0f}%"


def gap_sentence(gap: tuple[int, int, int], *, found: bool = True) -> str:
    """What iotwatch could not see: 'iotwatch could not evaluate from 13:55 to 14:55 UTC', and
    when the gap was longer than the catch-up span, how much of it was never evaluated."""
    start, end, caught_up_from = gap
    text = f"iotwatch could not evaluate from {clock(start)} to {clock(end)} UTC"
    if end - start >= 86400:
        text = f"iotwatch could not evaluate from {stamp(start)} to {stamp(end)}"
    if found:
        text += " and found this when it caught up"
    if caught_up_from > start:
        text += (
            f"; it caught up from {clock(caught_up_from)} UTC (its catch-up span): the "
            f"{duration_text(caught_up_from - start)} before were not evaluated"
        )
    return text


def direction_verb(alert: Alert) -> str:
    return "down" if alert.transition.latest.direction == "drop" else "up"
