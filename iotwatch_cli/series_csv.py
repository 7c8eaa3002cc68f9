"""Reading a metric exported as CSV: `timestamp,value` rows in time order, under a header line
(detected: a first line that reads as a row is a row), for `score` and `backtest --csv` alike.

A blank value is a period without a datapoint, judged as the plan's `detection.missing_data`
says (by default `zero`: no traffic). The period is the rows' median spacing unless given; a
given period that does not match the rows is said (`period_of`)."""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable
from typing import NamedTuple

from iotwatch.domain.times import iso_seconds


class CsvInputError(ValueError):
    """A row that cannot be used; the message names the line and what to fix."""


class CsvRow(NamedTuple):
    """One row as read (a tuple: a file can hold millions)."""

    line: int
    raw_timestamp: str
    ts: int
    value: float | None


def parse_timestamp(text: str) -> int:
    """`YYYY-MM-DD HH:MM:SS` or ISO 8601 (with `T`, fractions, `Z` or an offset); naive = UTC."""
    return int(iso_seconds(text))


MAX_WARNINGS_PER_KIND = 5


def read_series_csv(
    lines: Iterable[str], *, source: str = "<stdin>", warnings: list[str] | None = None
) -> list[CsvRow]:
    """Rows in file order. With `warnings`, a row whose time repeats or goes back (an export
    with duplicates, a clock reset) is kept and scored as part of the latest period seen, and
    `warnings` says which lines; without it such a row is an error. A file that is not UTF-8
    text, or has no rows, is an error naming the file."""
    try:
        return _read_rows(lines, source, warnings)
    except UnicodeDecodeError as exc:
        raise CsvInputError(
            f"{source}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the CSV as UTF-8"
        ) from None
    except csv.Error as exc:  # a NUL byte, an unclosed quote at the end
        raise CsvInputError(f"{source}: not a CSV file ({exc}); expected rows of timestamp,value") from None


def _read_rows(lines: Iterable[str], source: str, warnings: list[str] | None) -> list[CsvRow]:
    reader = csv.reader(lines)
    repeats: list[int] = []
    backwards: list[int] = []
    rows: list[CsvRow] = []
    previous: int | None = None
    first = next(reader, None)
    if first is None:
        raise CsvInputError(f"{source}: empty input; expected a header line and rows of timestamp,value")
    if len(first) < 2:
        raise CsvInputError(f"{source}:1: the header needs two columns (timestamp,value)")
    # a header is any first line that is not a row; an export without one keeps its first row
    records = itertools.chain([first], reader) if _is_row(first) else reader
    for record in records:
        line = reader.line_num
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
                    f"{source}:{line}: value {raw_value!r} is not a number; write a number, or leave it "
                    "empty for a period without a datapoint (judged as detection.missing_data says)"
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
    if not rows:
        raise CsvInputError(
            f"{source}: no rows after the header; expected rows of timestamp,value (e.g. 2026-11-02 00:00:00,42)"
        )
    if warnings is not None:
        _warn(warnings, source, repeats, "repeats the previous row's time")
        _warn(warnings, source, backwards, "goes back in time (a clock reset?)")
    return rows


def _is_row(record: list[str]) -> bool:
    """A first line whose first column is a time and second a number (or empty) is data."""
    try:
        parse_timestamp(record[0])
        value = record[1].strip()
        if value:
            float(value)
    except ValueError:
        return False
    return True


def period_of(rows: list[CsvRow], given: int | None, source: str, warnings: list[str]) -> int:
    """The seconds per period: `given`, else the rows' median spacing. A given period that is
    not the spacing is kept (a sparse export scored on the deployed grid is a question worth
    asking), and `warnings` says what it means: periods without a datapoint in between, or
    several rows in one period."""
    from iotwatch.service.replay import median_spacing

    spacing = median_spacing([r.ts for r in rows])
    if given is None or len(rows) < 2 or given == spacing:
        return given or spacing
    if given < spacing:
        meaning = (
            f"{spacing // given - 1 if spacing % given == 0 else 'most'} period(s) between rows have no "
            "datapoint and are judged as detection.missing_data says (by default: no traffic, which pages)"
        )
    else:
        meaning = "several rows fall in one period and are scored as that period"
    warnings.append(
        f"warning: {source}: --period {given} but the rows are {spacing} s apart (median): {meaning}; "
        f"leave --period out to score per {spacing} s"
    )
    return given


def _warn(warnings: list[str], source: str, lines: list[int], what: str) -> None:
    for line in lines[:MAX_WARNINGS_PER_KIND]:
        warnings.append(f"warning: {source}:{line}: time {what}; scored as part of the latest period")
    if len(lines) > MAX_WARNINGS_PER_KIND:
        warnings.append(
            f"warning: {source}: {len(lines) - MAX_WARNINGS_PER_KIND} more line(s) like that, the last at line {lines[-1]}"
        )
