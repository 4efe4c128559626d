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
    cell_chars: int


# sent to every reader of the answer and kept in the history
TOOL_FRAME = Bounds(rows=20, bytes=32 * 1024, cell_chars=500)
# what a model that called `run_sql` reads back
FOR_MODEL = Bounds(rows=50, bytes=16 * 1024, cell_chars=500)
# the Markdown table of a `/sql` answer
CHAT_TABLE = Bounds(rows=20, bytes=16 * 1024, cell_chars=200)


@dataclass(frozen=True, slots=True)
class Preview:
    rows: list[list[object]]  # JSON-safe values
    cut: bool  # rows were left out or cells shortened to fit


def preview(result: QueryResult, bounds: Bounds) -> Preview:
    """The first rows of `result` within `bounds`, text cells cut to its length."""
    max_rows, max_bytes, cell_chars = bounds.rows, bounds.bytes, bounds.cell_chars
    rows: list[list[object]] = []
    size = 2
    cut = False
    for row in result.rows:
        if len(rows) == max_rows:
            return Preview(rows, True)
        values = []
        for cell in row:
            value = json_value(cell)
            if isinstance(value, str) and len(value) > cell_chars:
                value, cut = value[:cell_chars] + "…", True
            values.append(value)
        size += len(orjson.dumps(values)) + 1
        if size > max_bytes:
            return Preview(rows, True)
        rows.append(values)
    return Preview(rows, cut)
