"""Bounded views of a query result: what a `tool` frame, the model and a chat table show.

A result is already capped in bytes (`query.run_query`); a view is smaller still, because it is
sent to every reader of a stream, kept in the history and read by a model with a small context.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from sheetstream.workbooks.query import QueryResult, json_value


@dataclass(frozen=True, slots=True)
class Bounds:
    rows: int
    bytes: int  # of the rows as JSON
    cell_chars: int  # of a text cell, and of a column's name
    columns: int = 50  # the first ones are shown, the rest left out


# sent to every reader of the answer and kept in the history
TOOL_FRAME = Bounds(rows=20, bytes=32 * 1024, cell_chars=500)
# what a model that called `run_sql` reads back
FOR_MODEL = Bounds(rows=50, bytes=16 * 1024, cell_chars=500)
# the Markdown table of a `/sql` answer
CHAT_TABLE = Bounds(rows=20, bytes=16 * 1024, cell_chars=200, columns=20)


@dataclass(frozen=True, slots=True)
class Preview:
    columns: list[str]  # the first `Bounds.columns`, names cut to `cell_chars`
    rows: list[list[object]]  # JSON-safe values of those columns
    cut: bool  # rows or columns were left out, or cells or names shortened to fit


def preview(result: QueryResult, bounds: Bounds) -> Preview:
    """The first rows and columns of `result` within `bounds`, text cut to its length."""
    max_rows, max_bytes, cell_chars = bounds.rows, bounds.bytes, bounds.cell_chars
    width = min(len(result.columns), bounds.columns)
    columns = [_cut(name, cell_chars) for name in result.columns[:width]]
    cut = width < len(result.columns) or columns != result.columns[:width]
    rows: list[list[object]] = []
    size = 2 + len(orjson.dumps(columns))
    for row in result.rows:
        if len(rows) == max_rows:
            return Preview(columns, rows, True)
        values = []
        for cell in row[:width]:
            value = json_value(cell)
            if isinstance(value, str) and len(value) > cell_chars:
                value, cut = value[:cell_chars] + "…", True
            values.append(value)
        size += len(orjson.dumps(values)) + 1
        if size > max_bytes:
            return Preview(columns, rows, True)
        rows.append(values)
    return Preview(columns, rows, cut)


def _cut(name: str, chars: int) -> str:
    return name if len(name) <= chars else name[:chars] + "…"
