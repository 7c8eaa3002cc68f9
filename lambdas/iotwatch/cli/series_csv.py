"""Reading a metric exported as CSV: header, then `timestamp,value` rows in time order."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


class CsvInputError(ValueError):
    """A row that cannot be used; the message names the line and what to fix."""


@dataclass(frozen=True)
class CsvRow:
    line: int
    raw_timestamp: str
    ts: int
    value: float | None


def parse_timestamp(text: str) -> int:
    """`YYYY-MM-DD HH:MM:SS` or ISO 8601 (with `T`, fractions, `Z` or an offset); naive = UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    parsed = datetime.fromisoformat(cleaned)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def read_series_csv(lines: Iterable[str], *, source: str = "<stdin>") -> list[CsvRow]:
    reader = csv.reader(lines)
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
        if not record or all(not cell.strip() for cell in record):
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
        if previous is not None and ts < previous:
            raise CsvInputError(
                f"{source}:{line}: time goes backwards ({raw_ts.strip()} is before the previous row); sort the file"
            )
        previous = ts
        rows.append(CsvRow(line=line, raw_timestamp=raw_ts, ts=ts, value=value))
    if not header_seen:
        raise CsvInputError(f"{source}: empty input; expected a header line and rows of timestamp,value")
    return rows
