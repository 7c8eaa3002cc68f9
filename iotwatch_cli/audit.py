"""`iotwatch audit [--json] [--all-sources] PATH...`: who changed the IoT control plane.

Reads CloudTrail records from files: S3 log files (`{"Records": [...]}`, plain or `.gz`),
EventBridge events, single records (either shape, see `iotwatch.domain.audit`) or lists.
A directory means every `*.json` / `*.json.gz` under it (recursively, sorted), so an
`aws s3 sync` of a trail's bucket can be passed as is. Calls are printed oldest first.

A record read twice (the same eventID in a file and its copy) is counted once. Under each
call the table says what it touched (the policy, certificate, thing... its request named).

A file or record that cannot be read is named on stderr (`file: record 3: no eventName`,
records counted from 1) and skipped; everything else is still printed, and the exit code
is 2 at the end. No AWS access: this works on files only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from iotwatch.domain.audit.event import IOT_SOURCE, AuditEvent, AuditRecordError
from iotwatch.domain.audit.policy import AuditPolicy, judge
from iotwatch.domain.audit.reading import normalize, records_from_document
from iotwatch.domain.messages.audit import _target_phrase as touched  # one rule for "what was touched"

from iotwatch_cli.errors import EXIT_BAD_INPUT, EXIT_OK

DEFAULT_POLICY = AuditPolicy()  # the built-in sensitive actions, root and denied calls
TABLE_WIDTH = 120


@dataclass(frozen=True)
class Located:
    """An event and where it was read from, for messages and `--json`."""

    event: AuditEvent
    file: str
    record: int  # 1-based position in the file's records


def input_files(paths: list[str], err: TextIO) -> tuple[list[Path], bool]:
    """Files to read, in order; False if a path was missing or an empty directory."""
    files: list[Path] = []
    ok = True
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.endswith((".json", ".json.gz"))
            )
            if not found:
                print(f"{name}: no *.json or *.json.gz files in this directory", file=err)
                ok = False
            files += found
        elif path.exists():
            files.append(path)
        else:
            print(f"{name}: no such file or directory", file=err)
            ok = False
    return files, ok


def read_document(path: Path) -> Any:
    """Parsed JSON of a plain or gzip file (gzip recognised by its magic bytes, not its name)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw.decode("utf-8-sig"))


def read_events(files: list[Path], err: TextIO) -> tuple[list[Located], bool]:
    events: list[Located] = []
    ok = True
    for path in files:
        name = str(path)
        try:
            document = read_document(path)
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror or exc}", file=err)
            ok = False
            continue
        except (EOFError, zlib.error):
            print(f"{name}: not a valid gzip file (truncated or corrupt)", file=err)
            ok = False
            continue
        except UnicodeDecodeError:
            print(f"{name}: not UTF-8 text", file=err)
            ok = False
            continue
        except json.JSONDecodeError as exc:
            print(f"{name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=err)
            ok = False
            continue
        except (ValueError, RecursionError):
            print(f"{name}: not valid JSON (too deeply nested or malformed)", file=err)
            ok = False
            continue
        try:
            records = list(records_from_document(document))
        except AuditRecordError as exc:
            print(f"{name}: {exc}", file=err)
            ok = False
            continue
        for index, record in enumerate(records, start=1):
            try:
                events.append(Located(normalize(record), name, index))
            except AuditRecordError as exc:
                print(f"{name}: record {index}: {exc}", file=err)
                ok = False
    return events, ok


def unique_records(located: list[Located]) -> tuple[list[Located], int]:
    """Each call once: the same record read twice (a file and its copy, overlapping syncs of a
    trail's bucket) has one eventID. Records without one are all kept. (kept, dropped)."""
    seen: set[str] = set()
    kept: list[Located] = []
    for item in located:
        event_id = item.event.event_id
        if event_id is not None:
            if event_id in seen:
                continue
            seen.add(event_id)
        kept.append(item)
    return kept, len(located) - len(kept)


def is_shown(event: AuditEvent, all_sources: bool) -> bool:
    """IoT calls only, unless asked; a record naming no source (the guide's shape) is kept."""
    return all_sources or event.source in (None, IOT_SOURCE)


# --- rendering -----------------------------------------------------------------------------


def iso(event: AuditEvent) -> str:
    return event.time.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_json(item: Located, policy: AuditPolicy = DEFAULT_POLICY) -> dict[str, Any]:
    e = item.event
    verdict = judge(e, policy)
    return {
        "time": iso(e),
        "action": e.action,
        "source": e.source,
        "region": e.region,
        "account": e.account,
        "credentials": e.credentials,
        "temporary": e.temporary,
        "principal": e.principal,
        "principal_arn": e.principal_arn,
        "session": e.session,
        "via_service": e.via_service,
        "source_ip": e.source_ip,
        "user_agent": e.user_agent,
        "mfa": e.mfa,
        "error": e.error,
        "error_message": e.error_message,
        "sensitive": verdict.sensitive,
        "severity": verdict.severity,  # what the deployed audit would page at; None: no page
        "reasons": list(verdict.reasons),
        "is_root": e.is_root,
        "failed": e.failed,
        "key_parameters": e.key_parameters,
        "parameters": dict(e.parameters),
        "event_id": e.event_id,
        "file": item.file,
        "record": item.record,
    }


def clip(text: str, width: int) -> str:
    """Fits `text` in `width`, keeping both ends (role names and session ids both matter)."""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    head = (width - 3) // 2
    return text[:head] + "..." + text[len(text) - (width - 3 - head) :]


def outcome(event: AuditEvent) -> str:
    return event.error or "ok"


def fit_who(event: AuditEvent, width: int) -> str:
    """`credentials principal/session` in `width`, shortening the principal's middle first."""
    who = event.who
    if len(who) <= width or not event.principal or event.is_root:
        return clip(who, width)
    prefix, suffix = f"{event.credentials} ", f"/{event.session}" if event.session else ""
    room = width - len(prefix) - len(suffix)
    if room < 8:  # too narrow to keep the session: shorten the whole
        return clip(who, width)
    return prefix + clip(event.principal, room) + suffix


# natural-width caps; when the table is too wide, columns shrink in _SHRINK order to _FLOORS
_CAPS = (20, 31, 64, 39, 24, 13)
_FLOORS = (20, 20, 28, 15, 14, 13)
_SHRINK = (4, 3, 1, 2)  # outcome, from, action, who: WHO is what the table is for
# floors add up to 120 with the gaps: a table never exceeds 120 columns


def clip_end(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def render_table(items: list[Located], width: int = TABLE_WIDTH, policy: AuditPolicy = DEFAULT_POLICY) -> str:
    header = ("TIME (UTC)", "ACTION", "WHO", "FROM", "OUTCOME", "PAGES")
    rows = []
    for item in items:
        e = item.event
        flags = judge(e, policy).severity or ""
        if e.is_root:
            flags = (flags + " root").strip()
        rows.append((iso(e), e.action, e.who, e.source_ip or "-", outcome(e), flags))
    widths = [min(cap, max(len(header[i]), *(len(r[i]) for r in rows))) for i, cap in enumerate(_CAPS)]
    over = sum(widths) + 2 * (len(header) - 1) - width
    for column in _SHRINK:
        cut = min(max(0, over), max(0, widths[column] - _FLOORS[column]))
        widths[column] -= cut
        over -= cut
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for item, row in zip(items, rows, strict=True):
        cells = [clip_end(cell, w) for cell, w in zip(row, widths, strict=True)]
        cells[2] = fit_who(item.event, widths[2])
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        what = touched(item.event)
        if what:  # under the action, on a line of its own: an ARN does not fit a column
            indent = " " * (widths[0] + 2)
            lines.append(clip_end(f"{indent}on {what}", width))
    return "\n".join(lines)


def summary(items: list[Located], hidden: int, policy: AuditPolicy = DEFAULT_POLICY) -> str:
    verdicts = [judge(i.event, policy) for i in items]
    sensitive = sum(1 for v in verdicts if v.sensitive)
    pages = sum(1 for v in verdicts if v.pages)
    failed = sum(1 for i in items if i.event.failed)
    root = sum(1 for i in items if i.event.is_root)
    text = f"{len(items)} call(s): {sensitive} sensitive, {failed} failed, {root} by root; {pages} would page"
    if hidden:
        text += f"; {hidden} call(s) to other services not shown (--all-sources shows them)"
    return text


def plan_policy(path: str | None, err: TextIO) -> AuditPolicy | None:
    """The audit policy of the plan at `path`, or the built-in one without a plan; None if the
    plan is invalid (its problems are printed)."""
    if path is None:
        return DEFAULT_POLICY
    from iotwatch.plan.loader import PlanError, load_plan
    from iotwatch.plan.runtime import runtime_plan

    try:
        return runtime_plan(load_plan(path)).audit.policy
    except PlanError as exc:
        print(exc, file=err)
        return None


def cmd_audit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    policy = plan_policy(args.plan, err)
    if policy is None:
        return EXIT_BAD_INPUT
    files, paths_ok = input_files(args.paths, err)
    located, records_ok = read_events(files, err)
    located, repeated = unique_records(located)
    if repeated:
        print(f"note: {repeated} record(s) read more than once (same eventID) counted once", file=err)
    shown = [item for item in located if is_shown(item.event, args.all_sources)]
    shown.sort(key=lambda item: item.event.time)  # stable: same-second calls keep file order
    if args.json:
        for item in shown:
            print(json.dumps(as_json(item, policy), sort_keys=False, default=str), file=out)
    elif shown:
        print(render_table(shown, policy=policy), file=out)
        print("", file=out)
        print(summary(shown, len(located) - len(shown), policy), file=out)
    else:
        print(summary(shown, len(located) - len(shown), policy), file=out)
    return EXIT_OK if paths_ok and records_ok else EXIT_BAD_INPUT


def register(commands: Any) -> None:
    """Registers `audit` on the top-level subparsers."""
    audit = commands.add_parser(
        "audit", help="read CloudTrail records (files, .gz, directories) and show who changed AWS IoT"
    )
    audit.add_argument(
        "paths", nargs="+", metavar="PATH", help="CloudTrail JSON or .json.gz files, or directories of them"
    )
    audit.add_argument(
        "--json", action="store_true", help="one JSON object per call and line instead of a table"
    )
    audit.add_argument(
        "--all-sources",
        action="store_true",
        help=f"show calls to every AWS service, not only {IOT_SOURCE}",
    )
    audit.add_argument(
        "--plan",
        metavar="FILE",
        help="judge calls by this monitoring plan's audit section (sensitive actions, root, failed, "
        "ignored principals), as the deployed stack would; default: the built-in list",
    )
    audit.set_defaults(func=cmd_audit)
