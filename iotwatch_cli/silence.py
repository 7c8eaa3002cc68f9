"""`iotwatch silence add | list | remove`: ad-hoc silences, stored in the stack's table.

A silence mutes paging (deviations are still recorded and shown) for the series whose metric
matches a glob and whose dimensions include every `--dimension` given, or for one incident
(`--incident ID`: its updates, escalations and reminders; its RESOLVED still goes out), from
`--starts` (default now) until `--until` / for `--for`. The evaluator reads the active ones each run
with `DynamoStateStore.silences.list_silences`. Parsing, validation and rendering are pure functions;
only the `cmd_*` functions talk to AWS.
"""

from __future__ import annotations

import argparse
import fnmatch
import getpass
import os
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any, TextIO

from iotwatch.domain.incidents.model import ID_PATTERN as INCIDENT_ID
from iotwatch.domain.series import Series
from iotwatch.domain.silences import Silence, SilenceState, silence_state
from iotwatch.domain.times import duration_seconds, duration_text, iso_seconds, utc_minute
from iotwatch.domain.times import iso_z as iso

from iotwatch_cli.errors import EXIT_OK, CliError
from iotwatch_cli.formatting import columns, day_clock, from_now, shorten
from iotwatch_cli.parsing import command_group, dimension_options
from iotwatch_cli.stack_table import add_table_options, open_store, run_with_plan

ID_PREFIX = "s-"
ID_PATTERN = re.compile(r"^s-[0-9a-f]{8}$")
LONG_SILENCE_SECONDS = 7 * 86400
REASON_WIDTH = 48


def clock() -> float:
    """Now (a function, so tests can fix it)."""
    return time.time()


class SilenceError(CliError):
    """A `silence` problem the user can fix, or an AWS resource it cannot reach."""


# --- parsing -------------------------------------------------------------------------------


def new_silence_id() -> str:
    """Short enough to type from a phone: `s-` and 8 hex digits (4 billion values)."""
    return ID_PREFIX + secrets.token_hex(4)


def parse_duration(text: str) -> int:
    """'2h', '90m', '1h30m', '1d', '1d12h' -> seconds."""
    try:
        seconds = duration_seconds(text)
    except ValueError:
        raise SilenceError(f"--for {text!r}: write a duration such as 30m, 2h, 1h30m or 1d") from None
    if seconds <= 0:
        raise SilenceError(f"--for {text!r}: the duration must be longer than 0")
    return seconds


def parse_instant(text: str, option: str) -> int:
    """ISO 8601 -> epoch seconds; a time without offset is UTC (as everything iotwatch prints)."""
    try:
        return int(iso_seconds(text))
    except ValueError:
        raise SilenceError(
            f"{option} {text!r}: not an ISO 8601 time; write e.g. 2026-11-16T18:00Z or 2026-11-16T19:00+01:00"
        ) from None


def parse_dimensions(items: Sequence[str]) -> dict[str, str]:
    return dict(
        dimension_options(
            items,
            error=SilenceError,
            one_value_per="a silence matches one value per dimension (add a second silence for the other value)",
        )
    )


def build_silence(
    *,
    metric: str | None,
    dimensions: Sequence[str],
    until: str | None,
    duration: str | None,
    reason: str,
    starts: str | None,
    by: str | None,
    now: int,
    silence_id: str | None = None,
    incident: str | None = None,
) -> Silence:
    """The silence the `add` arguments describe, or SilenceError saying what to fix."""
    if incident is not None:
        incident = incident.strip().lstrip("#")
        if not INCIDENT_ID.match(incident):
            raise SilenceError(
                f"--incident {incident!r}: incident ids look like 261116-1305 (`iotwatch incidents` lists them)"
            )
        if dimensions:
            raise SilenceError("--dimension narrows a --metric silence; an --incident silence takes none")
        metric = None
    elif metric is None or not metric.strip():
        raise SilenceError("--metric is empty: give a metric name or glob, e.g. 'Connect.*' or '*'")
    if not reason.strip():
        raise SilenceError("--reason is empty: say why, e.g. --reason 'broker upgrade CHG-1234'")
    dims = parse_dimensions(dimensions)
    begin = parse_instant(starts, "--starts") if starts else now
    if until is not None:
        end = parse_instant(until, "--until")
    elif duration is not None:
        end = begin + parse_duration(duration)
    else:  # argparse requires one of them; kept for callers that build silences directly
        raise SilenceError("give --until TIME or --for DURATION")
    if end <= now:
        raise SilenceError(
            f"--until {iso(end)} is in the past (now is {iso(now)}): nothing would be silenced"
        )
    if end <= begin:
        raise SilenceError(f"--until {iso(end)} is not after --starts {iso(begin)}")
    return Silence(
        id=silence_id or new_silence_id(),
        starts=begin,
        ends=end,
        reason=" ".join(reason.split()),
        metrics=(metric.strip(),) if metric is not None else (),
        dimensions=dims,
        created_by=(by or default_author()).strip() or "unknown",
        created_at=now,
        incident=incident,
    )


def default_author() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return os.environ.get("USER", "unknown")


def plan_warnings(silence: Silence, plan_series: Sequence[Series]) -> list[str]:
    """What the silence will not do as the user may think: nothing in the plan matches, a
    dimension no matching series has, a very long silence."""
    warnings: list[str] = []
    by_metric = [s for s in plan_series if any(fnmatch.fnmatchcase(s.metric, p) for p in silence.metrics)]
    pattern = ", ".join(silence.metrics)
    if not by_metric:
        known = sorted({s.metric for s in plan_series})
        warnings.append(
            f"warning: metric {pattern!r} matches no series of the plan (it watches {', '.join(known)}); "
            "the silence is stored anyway (metric names are case-sensitive)"
        )
    else:
        covered = [s for s in by_metric if silence.matches(s)]
        for key, value in silence.dimensions.items():
            values = sorted({s.dimension_map[key] for s in by_metric if key in s.dimension_map})
            if not values:
                warnings.append(f"warning: no series of {pattern!r} in the plan has a dimension {key}")
            elif value not in values:
                warnings.append(
                    f"warning: no series of {pattern!r} in the plan has {key}={value} (plan: {', '.join(values)})"
                )
        if not warnings and not covered:
            warnings.append(
                f"warning: no series of the plan matches {pattern!r} with all of these dimensions"
            )
    if silence.ends - silence.starts > LONG_SILENCE_SECONDS:
        warnings.append(
            f"warning: the silence lasts {duration_text(silence.ends - silence.starts, to_days=True)}; "
            "for a recurring quiet time use notify.maintenance_windows in the plan"
        )
    return warnings


def covered_series(silence: Silence, plan_series: Sequence[Series]) -> list[Series]:
    return [s for s in plan_series if silence.matches(s)]


# --- rendering -----------------------------------------------------------------------------


# what `silence list` calls each state (a pending silence is "future" to people)
STATUS_TEXT = {SilenceState.PENDING: "future", SilenceState.ACTIVE: "active", SilenceState.EXPIRED: "expired"}


def dimensions_text(silence: Silence) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(silence.dimensions.items())) or "(any)"


def render_table(silences: Sequence[Silence], *, now: float) -> str:
    header = ("ID", "STATUS", "METRIC", "DIMENSIONS", "FROM (UTC)", "UNTIL", "REASON", "BY")
    rows = [
        (
            s.id,
            STATUS_TEXT[silence_state(s, now)],
            f"incident {s.incident}" if s.incident else ",".join(s.metrics),
            dimensions_text(s),
            utc_minute(s.starts),
            (f"ended {from_now(s.ends, now)}" if s.ends <= now else from_now(s.ends, now))
            + f" ({day_clock(s.ends, now)})",
            shorten(s.reason, REASON_WIDTH),
            s.created_by,
        )
        for s in silences
    ]
    return "\n".join(columns([header, *rows]))


def render_added(silence: Silence, *, covered: Sequence[Series], table: str, now: float) -> str:
    start = (
        "now"
        if silence.starts <= now
        else f"{utc_minute(silence.starts)} UTC ({from_now(silence.starts, now)})"
    )
    if silence.incident is not None:
        return "\n".join(
            [
                f"Added silence {silence.id} in {table}",
                f"  incident    {silence.incident}",
                f"  from        {start}",
                f"  until       {utc_minute(silence.ends)} UTC ({from_now(silence.ends, now)})",
                f"  reason      {silence.reason}",
                f"  by          {silence.created_by}",
                "Its members are still recorded; its updates, escalations and reminders wait until then "
                "(its RESOLVED does not).",
                f"End it early with: iotwatch silence remove {silence.id}",
            ]
        )
    lines = [
        f"Added silence {silence.id} in {table}",
        f"  metric      {', '.join(silence.metrics)}",
        f"  dimensions  {dimensions_text(silence)}",
        f"  from        {start}",
        f"  until       {utc_minute(silence.ends)} UTC ({from_now(silence.ends, now)})",
        f"  reason      {silence.reason}",
        f"  by          {silence.created_by}",
        f"  covers      {len(covered)} series of the plan"
        + (
            ": " + ", ".join(s.label for s in covered[:5]) + (", ..." if len(covered) > 5 else "")
            if covered
            else ""
        ),
        "Deviations of these series are still recorded and shown, but do not page until then.",
        f"End it early with: iotwatch silence remove {silence.id}",
    ]
    return "\n".join(lines)


# --- AWS -----------------------------------------------------------------------------------


def cmd_silence_add(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from iotwatch.plan.expand import expand_series

    def action(plan: Any) -> int:
        now = int(clock())
        silence = build_silence(
            incident=args.incident,
            metric=args.metric,
            dimensions=args.dimension,
            until=args.until,
            duration=args.duration,
            reason=args.reason,
            starts=args.starts,
            by=args.by,
            now=now,
        )
        series = expand_series(plan)
        store, table = open_store(args, plan)
        if silence.incident is not None:
            found = store.incidents.get_incident(silence.incident)
            if found is None or found.status != "open":
                state = "is resolved" if found is not None else f"is not in {table}"
                raise SilenceError(
                    f"incident {silence.incident} {state}: only an open incident can be silenced "
                    "(`iotwatch incidents` lists them)"
                )
        else:
            for warning in plan_warnings(silence, series):
                print(warning, file=err)
        store.silences.put_silence(silence)
        print(render_added(silence, covered=covered_series(silence, series), table=table, now=now), file=out)
        return EXIT_OK

    return run_with_plan(args, out, err, action)


def cmd_silence_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    def action(plan: Any) -> int:
        now = int(clock())
        store, table = open_store(args, plan)
        silences = store.silences.list_silences(now=now, include_expired=args.all)
        if not silences:
            which = "stored" if args.all else "active or future"
            print(f"No {which} silences in {table}.", file=out)
            return EXIT_OK
        print(render_table(silences, now=now), file=out)
        return EXIT_OK

    return run_with_plan(args, out, err, action)


def cmd_silence_remove(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    def action(plan: Any) -> int:
        silence_id = args.id.strip()
        if not ID_PATTERN.match(silence_id):
            raise SilenceError(
                f"{args.id!r} is not a silence id; ids look like s-1a2b3c4d (see `iotwatch silence list`)"
            )
        store, table = open_store(args, plan)
        if not store.silences.delete_silence(silence_id):
            raise SilenceError(
                f"error: no silence {silence_id} in {table}; `iotwatch silence list --all` shows the stored ones"
            )
        print(f"Removed silence {silence_id}: its series page again from the next evaluation.", file=out)
        return EXIT_OK

    return run_with_plan(args, out, err, action)


def register(commands: Any) -> None:
    """Registers `silence add|list|remove` on the top-level subparsers."""
    sub = command_group(commands, "silence", "mute paging for some series for a while (deploy stays as is)")

    add = sub.add_parser(
        "add", help="silence series matching a metric glob (and dimensions), or one incident, until a time"
    )
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--metric", metavar="GLOB", help="metric name or glob, e.g. 'Connect.*'")
    what.add_argument(
        "--incident", metavar="ID", help="an open incident: hold its updates and reminders, e.g. 261116-1305"
    )
    add.add_argument(
        "--dimension",
        action="append",
        default=[],
        metavar="K=V",
        help="only series with this dimension value, e.g. Protocol=MQTT (repeat for several)",
    )
    length = add.add_mutually_exclusive_group(required=True)
    length.add_argument("--until", metavar="ISO", help="end, ISO 8601 (UTC unless an offset is given)")
    length.add_argument(
        "--for", dest="duration", metavar="DURATION", help="length from the start: 30m, 2h, 1d"
    )
    add.add_argument("--reason", required=True, help="why (shown in `silence list` and to on-call)")
    add.add_argument("--starts", metavar="ISO", default=None, help="start, ISO 8601 (default: now)")
    add.add_argument("--by", default=None, help="who adds it (default: your login name)")
    add_table_options(add)
    add.set_defaults(func=cmd_silence_add)

    listing = sub.add_parser("list", help="active and future silences")
    listing.add_argument("--all", action="store_true", help="include ended ones (kept 30 days)")
    add_table_options(listing)
    listing.set_defaults(func=cmd_silence_list)

    remove = sub.add_parser("remove", help="end a silence now (delete it)")
    remove.add_argument("id", help="silence id, e.g. s-1a2b3c4d")
    add_table_options(remove)
    remove.set_defaults(func=cmd_silence_remove)
