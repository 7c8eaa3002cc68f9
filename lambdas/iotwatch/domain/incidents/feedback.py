"""What people tell iotwatch about an incident: "I'm on it" (ack) and what it was (a verdict).

Both are written by the CLI while the evaluator may be writing the same incident. The store's
revision check refuses the second writer; it reads the incident again and applies its own
change once more (`acknowledge`, `mark` for the CLI, `adopt_feedback` for the evaluator), so
neither loses the other's.
"""

from __future__ import annotations

from iotwatch.domain.incidents.model import Acknowledgement, Incident, Verdict, VerdictKind

FEEDBACK_KINDS = ("acknowledged", "marked")


class FeedbackError(ValueError):
    """An ack or a verdict that does not apply to this incident."""


def acknowledge(incident: Incident, *, by: str, at: int, note: str = "") -> Acknowledgement:
    """Records who is on it (the latest ack wins) and puts it on the timeline; reminders stop
    (`owed_messages`) until the incident escalates."""
    who = by.strip()
    if not who:
        raise FeedbackError("--by: say who acknowledges (a name or handle on-call knows)")
    if incident.status == "resolved":
        raise FeedbackError(f"incident {incident.id} is resolved: nothing pages for it any more")
    ack = Acknowledgement(by=who, at=at, note=note.strip())
    incident.acknowledged = ack
    incident.note(at, "acknowledged", f"acknowledged by {who}" + (f": {ack.note}" if ack.note else ""))
    return ack


VERDICT_TEXT = {"false-alarm": "a false alarm", "expected": "expected"}


def mark(incident: Incident, kind: VerdictKind, *, at: int, by: str = "", note: str = "") -> Verdict:
    """Records the verdict (the latest wins) and puts it on the timeline; its periods stay out
    of training from the next baseline build (`training_window`)."""
    verdict = Verdict(kind=kind, at=at, by=by.strip(), note=note.strip())
    incident.verdict = verdict
    who = f" by {verdict.by}" if verdict.by else ""
    text = f"marked {VERDICT_TEXT[kind]}{who}" + (f": {verdict.note}" if verdict.note else "")
    incident.note(at, "marked", text + "; its periods stay out of training")
    return verdict


def training_window(incident: Incident) -> tuple[int, int | None] | None:
    """[first deviating period, first normal period) of a marked incident (None for the end of
    one still open: up to the build); None when it has no verdict."""
    if incident.verdict is None:
        return None
    return incident.since, incident.ended if incident.status == "resolved" else None


def _last_escalation(incident: Incident) -> int:
    return max(
        (e.at for e in incident.events if e.kind == "paged" and e.text.startswith("escalated")), default=-1
    )


def adopt_feedback(incident: Incident, stored: Incident) -> bool:
    """The evaluator's copy of `incident`, refused because someone wrote it since it was read,
    takes what the CLI wrote (`stored`): its ack (unless this tick's escalation came after it),
    its verdict and their timeline lines; and `stored`'s revision, to be written again. False
    (nothing taken) when `stored` has other news than feedback: another run wrote it, and
    its write stands."""
    known = set(incident.events)
    if any(e.kind not in FEEDBACK_KINDS for e in stored.events if e not in known):
        return False
    if stored.acknowledged is not None and stored.acknowledged.at > _last_escalation(incident):
        incident.acknowledged = stored.acknowledged
    if stored.verdict is not None:
        incident.verdict = stored.verdict
    for event in stored.events:
        if event.kind in FEEDBACK_KINDS and event not in known:
            incident.note(event.at, event.kind, event.text, event.topics)
    incident.events.sort(key=lambda e: e.at)  # stable: a tick's own lines keep their order
    incident.revision = stored.revision
    return True
