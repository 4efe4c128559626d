"""One column of a table view, typed from its cells, as Arrow.

A column of one kind keeps it: numbers (whole numbers become BIGINT later), dates and
date-times, times of day (TIME), durations (INTERVAL), booleans, text. Numbers beside a few
placeholders ("-", "n/a", "") stay numbers, the placeholders NULL. Any other mix is text, each
value written as a spreadsheet shows it, so nothing is lost; the cell view keeps every cell's own
type. Error cells are NULL here (and ``error`` in the cell view).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa  # type: ignore[import-untyped]

from sheetstream.workbooks.grid import (
    BOOLEAN,
    DATE,
    DURATION,
    ERROR,
    KIND_OF_TYPE,
    NUMBER,
    NUMBER_TYPES,
    TEXT,
    CellError,
    Value,
    as_timedelta,
    as_timestamp,
)

__all__ = ["PLACEHOLDERS", "Typed", "display", "typed_column"]

PLACEHOLDERS = frozenset({"-", "--", "–", "—", "n/a", "na", "n.a.", "nan", "null", "none", "?"})


@dataclass(frozen=True, slots=True)
class Typed:
    array: pa.Array
    kind: str  # "number", "text", "date", "time", "duration", "boolean", "empty"
    placeholders: int = 0  # text cells read as NULL beside numbers
    errors: int = 0
    mixed: bool = False  # values of several kinds, written as text


def display(value: Value) -> str:
    """A cell's value as text, as a spreadsheet shows it by default."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time(0) else value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
        sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        fraction = f"{secs % 1:.6f}".rstrip("0").rstrip(".")[1:]
        return f"{sign}{int(hours)}:{int(minutes):02d}:{int(secs):02d}{fraction}"
    return str(value)


def typed_column(values: Sequence[Value]) -> Typed:
    """The column of ``values`` (one table column's cells, "" for empty), typed. Whole columns
    are looked at by their set of Python types first: a cell at a time only where needed."""
    types = set(map(type, values))
    texts = [v for v in values if type(v) is str and v] if str in types else []
    present = {KIND_OF_TYPE.get(t, TEXT) for t in types if t is not str}
    if texts:
        present.add(TEXT)
    errors = sum(1 for v in values if type(v) is CellError) if CellError in types else 0
    present.discard(ERROR)
    n = len(values)
    if not present:
        return Typed(pa.nulls(n, pa.string()), "empty", errors=errors)
    if present == {NUMBER}:
        if types <= NUMBER_TYPES:
            return Typed(pa.array(values, type=pa.float64()), "number")
        numbers = [v if type(v) in NUMBER_TYPES else None for v in values]
        return Typed(pa.array(numbers, type=pa.float64()), "number", errors=errors)
    if present == {TEXT, NUMBER} and {t.strip().lower() for t in texts} <= PLACEHOLDERS:
        numbers = [v if type(v) in NUMBER_TYPES else None for v in values]
        return Typed(pa.array(numbers, type=pa.float64()), "number", len(texts), errors)
    if present == {TEXT}:
        strings = [v if type(v) is str and v else None for v in values]
        return Typed(pa.array(strings, type=pa.string()), "text", errors=errors)
    if present == {BOOLEAN}:
        flags = [v if type(v) is bool else None for v in values]
        return Typed(pa.array(flags, type=pa.bool_()), "boolean", errors=errors)
    if present == {DATE}:
        stamps = [as_timestamp(v) if type(v) in (dt.date, dt.datetime) else None for v in values]  # type: ignore[arg-type]
        return Typed(pa.array(stamps, type=pa.timestamp("us")), "date", errors=errors)
    if present == {DURATION}:
        if dt.timedelta not in types:
            times = [v if type(v) is dt.time else None for v in values]
            return Typed(pa.array(times, type=pa.time64("us")), "time", errors=errors)
        spans = [
            as_timedelta(v) if type(v) in (dt.time, dt.timedelta) else None  # type: ignore[arg-type]
            for v in values
        ]
        return Typed(pa.array(spans, type=pa.duration("us")), "duration", errors=errors)
    shown = [None if v == "" or type(v) is CellError else display(v) for v in values]
    return Typed(pa.array(shown, type=pa.string()), "text", errors=errors, mixed=True)
