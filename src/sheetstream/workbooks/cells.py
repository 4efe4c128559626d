"""The cell view: one row per non-empty cell of every sheet, with its own type, so that no
number a workbook holds is out of reach of SQL, whatever the layout around it.

    cells(sheet, row, col, address, type, number, text, boolean, date, duration, error, formula)

``row`` and ``col`` are 1-based, ``address`` is the A1 address (``D14``), ``type`` one of
``number``, ``text``, ``boolean``, ``date``, ``duration``, ``error``; the value is in the
column of that name (a time of day is a ``duration`` since midnight), ``formula`` the formula
text where the cell has one and the format keeps it (xlsx, xlsm).

A sheet's cells are made Arrow arrays, a whole column of one type at a time where it can be
(:func:`cell_parts`), and inserted with one statement (:func:`write_cells`), column by column;
the address is computed by DuckDB.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from sheetstream.workbooks.grid import (
    BOOLEAN,
    DATE,
    DURATION,
    ERROR,
    KIND_NAMES,
    NUMBER,
    NUMBER_TYPES,
    TEXT,
    Sheet,
    Value,
    as_timedelta,
    as_timestamp,
    kind,
)
from sheetstream.workbooks.names import CELLS_TABLE
from sheetstream.workbooks.profile import quote_ident

__all__ = ["CELL_COLUMNS", "CellParts", "cell_parts", "create_cells", "write_cells"]

CELL_COLUMNS = (
    "sheet",
    "row",
    "col",
    "address",
    "type",
    "number",
    "text",
    "boolean",
    "date",
    "duration",
    "error",
    "formula",
)

# one narrow table per type: (row, col, value); the other value columns are NULL in SQL
_VALUE_COLUMN = {
    NUMBER: ("number", pa.float64()),
    TEXT: ("text", pa.string()),
    BOOLEAN: ("boolean", pa.bool_()),
    DATE: ("date", pa.timestamp("us")),
    DURATION: ("duration", pa.duration("us")),
    ERROR: ("error", pa.string()),
}


def _address(col: str, row: str) -> str:
    """SQL for the A1 address of 1-based column `col` (up to XFD, 16384) and row `row`."""
    c = f"({col} - 1)"
    return (
        f"CASE WHEN {col} <= 26 THEN chr(64 + {col}) "
        f"WHEN {col} <= 702 THEN chr(64 + {c} // 26) || chr(65 + {c} % 26) "
        f"ELSE chr(64 + ({c} // 26 - 1) // 26) || chr(65 + ({c} // 26 - 1) % 26) "
        f"|| chr(65 + {c} % 26) END || {row}"
    )


def _value(k: int, v: Value) -> object:
    if k == DATE:
        return as_timestamp(v)  # type: ignore[arg-type]
    if k == DURATION:
        return as_timedelta(v)  # type: ignore[arg-type]
    if k == ERROR:
        return str(v)
    return v


_HEAD = 16  # a column's header and titles: at most this many cells above its values


def _column_parts(
    column: Sequence[Value],
) -> Iterator[tuple[int, Sequence[int], Sequence[object] | pa.Array]]:
    """(type, rows, values) of one column's cells, by type. A column of one type, or one below
    a few cells of others (its header), is taken whole; only other columns cell by cell."""
    last = type(column[-1]) if column else str
    head = 0
    while head < min(_HEAD, len(column)) and type(column[head]) is not last:
        head += 1
    rest = column[head:] if head else column
    whole = _whole(rest)
    if whole is None:
        yield from _cell_by_cell(column, 1)
        return
    if head:
        yield from _cell_by_cell(column[:head], 1)
    yield whole[0], range(head + 1, len(column) + 1), whole[1]


def _whole(column: Sequence[Value]) -> tuple[int, Sequence[object] | pa.Array] | None:
    """The column as one array when all its cells are of one type and none is empty."""
    present = set(map(type, column))
    if present <= NUMBER_TYPES and present:
        return NUMBER, column
    if present == {str}:
        return (TEXT, column) if "" not in column else None
    if present == {dt.datetime}:
        return DATE, column
    if present == {dt.date}:
        return DATE, pa.array(column, type=pa.date32()).cast(pa.timestamp("us"))
    return None


def _cell_by_cell(
    column: Sequence[Value], first: int
) -> Iterator[tuple[int, Sequence[int], Sequence[object]]]:
    by_kind: dict[int, tuple[list[int], list[object]]] = {}
    for r, v in enumerate(column, start=first):
        if v == "":
            continue
        k = kind(v)
        rows_k, values_k = by_kind.setdefault(k, ([], []))
        rows_k.append(r)
        values_k.append(_value(k, v))
    for k, (rows_k, values_k) in by_kind.items():
        yield k, rows_k, values_k


def create_cells(con: duckdb.DuckDBPyConnection) -> None:
    """The cell view's table, empty: :func:`write_cells` fills it sheet by sheet."""
    con.execute(
        f"CREATE TABLE {quote_ident(CELLS_TABLE)} (sheet VARCHAR, row INTEGER, col INTEGER, "
        "address VARCHAR, type VARCHAR, number DOUBLE, text VARCHAR, boolean BOOLEAN, "
        "date TIMESTAMP, duration INTERVAL, error VARCHAR, formula VARCHAR)"
    )


@dataclass(frozen=True, slots=True)
class CellParts:
    """One sheet's cells as Arrow, ready to write: a narrow table per type, and formulas."""

    by_kind: dict[int, pa.Table]
    formulas: pa.Table | None


def cell_parts(sheet: Sheet, columns: Sequence[Sequence[Value]]) -> CellParts:
    """The sheet's cells as Arrow (``columns`` is its grid by columns): after this the grid
    itself is not needed."""
    batches: dict[int, list[pa.RecordBatch]] = {}
    for c, column in enumerate(columns):
        for k, rows, values in _column_parts(column):
            name, value_type = _VALUE_COLUMN[k]
            n = len(rows)
            batch = pa.RecordBatch.from_arrays(
                [
                    pa.array(rows, type=pa.int32()),
                    pa.repeat(pa.scalar(c + 1, pa.int32()), n),
                    values if isinstance(values, pa.Array) else pa.array(values, type=value_type),
                ],
                names=["row", "col", name],
            )
            batches.setdefault(k, []).append(batch)
    formulas = None
    if sheet.formulas:
        formulas = pa.table(
            {
                "row": pa.array([r + 1 for r, _ in sheet.formulas], type=pa.int32()),
                "col": pa.array([c + 1 for _, c in sheet.formulas], type=pa.int32()),
                "formula": pa.array(list(sheet.formulas.values()), type=pa.string()),
            }
        )
    return CellParts({k: pa.Table.from_batches(b) for k, b in batches.items()}, formulas)


def write_cells(con: duckdb.DuckDBPyConnection, sheet_name: str, parts: CellParts) -> int:
    """Insert one sheet's cells, column by column (no sort: a sort of a large sheet's cells
    would hold them all in memory at once); returns how many."""
    if not parts.by_kind:
        return 0
    views = {f"__cells_{_VALUE_COLUMN[k][0]}": table for k, table in parts.by_kind.items()}
    if parts.formulas is not None:
        views["__formulas"] = parts.formulas
    selects = []
    for k in parts.by_kind:
        name, _ = _VALUE_COLUMN[k]
        values = ", ".join(
            (f"CAST({n} AS INTERVAL)" if n == "duration" else n) if n == name else "NULL"
            for n, _ in _VALUE_COLUMN.values()
        )
        selects.append(f"SELECT row, col, '{KIND_NAMES[k]}' AS type, {values} FROM __cells_{name}")
    formula, join = "NULL", ""
    if parts.formulas is not None:
        formula = "f.formula"
        join = " LEFT JOIN __formulas f ON f.row = c.row AND f.col = c.col"
    order = ", ".join(n for n, _ in _VALUE_COLUMN.values())
    try:
        for view, table in views.items():
            con.register(view, table)
        con.execute(
            f"INSERT INTO {quote_ident(CELLS_TABLE)} SELECT ?, c.row, c.col, "
            f"{_address('c.col', 'c.row')}, c.type, "
            f"{', '.join('c.' + n for n, _ in _VALUE_COLUMN.values())}, {formula} "
            f"FROM ({' UNION ALL '.join(selects)}) AS c ({'row, col, type, ' + order}){join}",
            [sheet_name],
        )
    finally:
        for view in views:
            con.unregister(view)
    return sum(table.num_rows for table in parts.by_kind.values())
