"""Reading a metric exported as CSV: header, then `timestamp,value` rows in time order."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple


class CsvInputError(ValueError):
    """A row that cannot be used; the message names the line and what to fix."""


class CsvRow(NamedTuple):
    """One row as read (a tuple: a file can hold millions)."""

    line: int
    raw_timestamp: str
    ts: int
    value: float | None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def parse_timestamp(text: str) -> int:
    """`YYYY-MM-DD HH:MM:SS` or ISO 8601 (with `T`, fractions, `Z` or an offset); naive = UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    parsed = datetime.fromisoformat(cleaned)
    # What .timestamp() computes, minus its cost (and that of replace(tzinfo=UTC) for a naive
    # time): the seconds since the epoch, taken as UTC when naive.
    return int((parsed - (_NAIVE_EPOCH if parsed.tzinfo is None else _EPOCH)).total_seconds())


MAX_WARNINGS_PER_KIND = 5


def read_series_csv(
    lines: Iterable[str], *, source: str = "<stdin>", warnings: list[str] | None = None
) -> list[CsvRow]:
    """Rows in file order. With `warnings`, a row whose time repeats or goes back (an export
    with duplicates, a clock reset) is kept and scored as part of the latest period seen, and
    `warnings` says which lines; without it such a row is an error."""
    reader = csv.reader(lines)
    repeats: list[int] = []
    backwards: list[int] = []
    rows: list[CsvRow] = []
    header_seen = False
    previous: int | None = None
    for record in reader:
        line = reader.line_num
        if not header_seen:
            header_seen = True
            if len(record) < 2:
                raise CsvInputError(f"{source}:{line}: the header needs two columns (timestamp,value)")
            continue
        if not any(map(str.strip, record)):  # an empty or blank line
            continue
        if len(record) < 2:
            raise CsvInputError(f"{source}:{line}: expected two columns (timestamp,value), got {len(record)}")
        raw_ts, raw_value = record[0], record[1].strip()
        try:
            ts = parse_timestamp(raw_ts)
        except ValueError:
            raise CsvInputError(
                f"{source}:{line}: cannot read timestamp {raw_ts!r}; use YYYY-MM-DD HH:MM:SS or ISO 8601"
            ) from None
        value: float | None = None
        if raw_value:
            try:
                value = float(raw_value)
            except ValueError:
                raise CsvInputError(
                    f"{source}:{line}: value {raw_value!r} is not a number (leave it empty for no datapoint)"
                ) from None
            if not math.isfinite(value):
                raise CsvInputError(f"{source}:{line}: value {raw_value!r} is not a finite number")
        if previous is not None and ts <= previous:
            if warnings is None and ts < previous:
                raise CsvInputError(
                    f"{source}:{line}: time goes backwards ({raw_ts.strip()} is before the previous row); sort the file"
                )
            if warnings is not None:
                (repeats if ts == previous else backwards).append(line)
                ts = previous  # part of the latest period: never rewrites what was already scored
        previous = ts
        rows.append(CsvRow(line, raw_ts, ts, value))  # positional: keywords cost ~0.4 us a row
    if not header_seen:
        raise CsvInputError(f"{source}: empty input; expected a header line and rows of timestamp,value")
    if warnings is not None:
        _warn(warnings, source, repeats, "repeats the previous row's time")
        _warn(warnings, source, backwards, "goes back in time (a clock reset?)")
    return rows


def _warn(warnings: list[str], source: str, lines: list[int], what: str) -> None:
    for line in lines[:MAX_WARNINGS_PER_KIND]:
        warnings.append(f"warning: {source}:{line}: time {what}; scored as part of the latest period")
    if len(lines) > MAX_WARNINGS_PER_KIND:
        warnings.append(
            f"warning: {source}: {len(lines) - MAX_WARNINGS_PER_KIND} more line(s) like that, the last at line {lines[-1]}"
        )
