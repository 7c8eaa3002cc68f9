"""`iotwatch incidents ack ID --by NAME` and `incidents mark ID --false-alarm|--expected`: what
on-call says about an incident, written to it in the stack's table (conditional on its
revision, as the evaluator writes it)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TextIO

from iotwatch.domain.incidents.feedback import VERDICT_TEXT, FeedbackError, acknowledge, mark
from iotwatch.domain.incidents.model import Incident, VerdictKind, expires_at

from iotwatch_cli import incidents as listing
from iotwatch_cli.errors import EXIT_FAILURE, EXIT_OK
from iotwatch_cli.stack_table import add_table_options, open_store, run_with_plan

FEEDBACK_ATTEMPTS = 5  # writes refused because the evaluator wrote the incident in between


def record_feedback(
    store: Any, incident_id: str, table: str, change: Callable[[Incident], str], *, history_days: int
) -> str:
    """Reads the incident, applies `change` and writes it if nobody (an evaluator tick) wrote it
    in between; else reads it again and applies `change` to what the tick wrote. What `change`
    returns is what the command prints. `history_days`: the plan's, for a resolved incident's
    expiry (the same the evaluator gives it)."""
    for _ in range(FEEDBACK_ATTEMPTS):
        incident = store.incidents.get_incident(incident_id)
        if incident is None:
            raise listing.missing(store, incident_id, table)
        try:
            said = change(incident)
        except FeedbackError as exc:
            raise listing.IncidentsError(f"error: {exc}") from None
        if store.incidents.save_incident(incident, expires_at=expires_at(incident, history_days)):
            return said
    raise listing.IncidentsError(
        f"error: incident {incident_id} kept changing while it was written ({FEEDBACK_ATTEMPTS} tries); "
        "run the command again",
        EXIT_FAILURE,
    )


def cmd_incident_ack(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    def action(plan: Any) -> int:
        incident_id = listing.normalise_id(args.id)
        if not args.by.strip():  # before any AWS call: a missing name is the user's to fix
            raise listing.IncidentsError("--by: say who acknowledges (a name or handle on-call knows)")
        store, table = open_store(args, plan)

        def ack(incident: Incident) -> str:
            acknowledge(incident, by=args.by, at=int(listing.clock()), note=args.note or "")
            return f"Acknowledged {incident.id} as {args.by.strip()}: no reminders until it escalates."

        print(
            record_feedback(store, incident_id, table, ack, history_days=plan.notify.history_days), file=out
        )
        return EXIT_OK

    return run_with_plan(args, out, err, action)


def cmd_incident_mark(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    def action(plan: Any) -> int:
        incident_id = listing.normalise_id(args.id)
        store, table = open_store(args, plan)
        kind: VerdictKind = "false-alarm" if args.false_alarm else "expected"

        def verdict(incident: Incident) -> str:
            mark(incident, kind, at=int(listing.clock()), by=args.by or "", note=args.note or "")
            return (
                f"Marked {incident.id} {VERDICT_TEXT[kind]}: its periods stay out of training "
                "from the next baseline build."
            )

        print(
            record_feedback(store, incident_id, table, verdict, history_days=plan.notify.history_days),
            file=out,
        )
        return EXIT_OK

    return run_with_plan(args, out, err, action)


def register(commands: Any) -> None:
    """Registers `incidents` on the top-level subparsers: its list and `show`
    (iotwatch_cli.incidents, which this module builds on), then `ack` and `mark`."""
    sub = listing.register(commands)
    ack = sub.add_parser("ack", help="say you are on it: on the timeline, and no more reminders")
    ack.add_argument("id", help="incident id, e.g. 261116-1305 (the SMS and e-mail give it)")
    ack.add_argument("--by", required=True, metavar="NAME", help="who is on it")
    ack.add_argument("--note", metavar="TEXT", default=None, help="what you are doing about it")
    add_table_options(ack, suppress=True)
    ack.set_defaults(func=cmd_incident_ack)
    mark_parser = sub.add_parser(
        "mark", help="what it was: a false alarm or expected; its periods stay out of training"
    )
    mark_parser.add_argument("id", help="incident id, e.g. 261116-1305")
    verdicts = mark_parser.add_mutually_exclusive_group(required=True)
    verdicts.add_argument("--false-alarm", action="store_true", help="nothing was wrong")
    verdicts.add_argument(
        "--expected", action="store_true", help="real, but planned (maintenance, a load test)"
    )
    mark_parser.add_argument("--by", metavar="NAME", default=None, help="who says so")
    mark_parser.add_argument("--note", metavar="TEXT", default=None, help="why")
    add_table_options(mark_parser, suppress=True)
    mark_parser.set_defaults(func=cmd_incident_mark)
