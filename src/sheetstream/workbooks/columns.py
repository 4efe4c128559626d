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
    EMPTY,
    ERROR,
    NUMBER,
    TEXT,
    Value,
    kind,
)

__all__ = ["PLACEHOLDERS", "Typed", "display", "typed_column"]

PLACEHOLDERS = frozenset({"-", "--", "–", "—", "n/a", "na", "n.a.", "nan", "null", "none", "?"})


@dataclass(frozen=True, slots=True)
class Typed:
    array: pa.Array
    kind: str  # "number", "text", "date", "time", "duration", "boolean", "empty"
    placeholders: int = 0  # text cells read as NULL beside numbers
    errors: int = 0


def _duration(value: Value) -> dt.timedelta:
    if isinstance(value, dt.time):
        return dt.timedelta(
            hours=value.hour,
            minutes=value.minute,
            seconds=value.second,
            microseconds=value.microsecond,
        )
    assert isinstance(value, dt.timedelta)
    return value


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
    kinds = [kind(v) for v in values]
    present = set(kinds) - {EMPTY, ERROR}
    errors = kinds.count(ERROR)
    if not present:
        return Typed(pa.nulls(len(values), pa.string()), "empty", errors=errors)
    if present == {NUMBER}:
        array = pa.array([v if k == NUMBER else None for v, k in zip(values, kinds, strict=True)])
        return Typed(array.cast(pa.float64()), "number", errors=errors)
    if present == {TEXT, NUMBER}:
        texts = {str(v).strip().lower() for v, k in zip(values, kinds, strict=True) if k == TEXT}
        if texts <= PLACEHOLDERS:
            array = pa.array(
                [float(v) if k == NUMBER else None for v, k in zip(values, kinds, strict=True)],  # type: ignore[arg-type]
                type=pa.float64(),
            )
            return Typed(array, "number", kinds.count(TEXT), errors)
    if present == {TEXT}:
        array = pa.array([v if k == TEXT else None for v, k in zip(values, kinds, strict=True)])
        return Typed(array, "text", errors=errors)
    if present == {BOOLEAN}:
        array = pa.array([v if k == BOOLEAN else None for v, k in zip(values, kinds, strict=True)])
        return Typed(array, "boolean", errors=errors)
    if present == {DATE}:
        stamps = [
            None
            if k != DATE
            else v
            if isinstance(v, dt.datetime)
            else dt.datetime.combine(v, dt.time())  # type: ignore[arg-type]
            for v, k in zip(values, kinds, strict=True)
        ]
        return Typed(pa.array(stamps, type=pa.timestamp("us")), "date", errors=errors)
    if present == {DURATION}:
        if all(isinstance(v, dt.time) for v, k in zip(values, kinds, strict=True) if k == DURATION):
            times = [v if k == DURATION else None for v, k in zip(values, kinds, strict=True)]
            return Typed(pa.array(times, type=pa.time64("us")), "time", errors=errors)
        spans = [
            _duration(v) if k == DURATION else None for v, k in zip(values, kinds, strict=True)
        ]
        return Typed(pa.array(spans, type=pa.duration("us")), "duration", errors=errors)
    texts_out = [
        None if k in (EMPTY, ERROR) else display(v) for v, k in zip(values, kinds, strict=True)
    ]
    return Typed(pa.array(texts_out, type=pa.string()), "text", errors=errors)
