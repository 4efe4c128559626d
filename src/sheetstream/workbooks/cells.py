"""The cell view: one row per non-empty cell of every sheet, with its own type, so that no
number a workbook holds is out of reach of SQL, whatever the layout around it.

    cells(sheet, row, col, address, type, number, text, boolean, date, duration, error, formula)

``row`` and ``col`` are 1-based, ``address`` is the A1 address (``D14``), ``type`` one of
``number``, ``text``, ``boolean``, ``date``, ``duration``, ``error``; the value is in the
column of that name (a time of day is a ``duration`` since midnight), ``formula`` the formula
text where the cell has one and the format keeps it (xlsx, xlsm).

Columns are built as Arrow arrays, a whole column of one type at a time where it can be, and
loaded with one ``CREATE TABLE``; the address is computed by DuckDB.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from sheetstream.workbooks.grid import (
    BOOLEAN,
    DATE,
    DURATION,
    ERROR,
    KIND_NAMES,
    NUMBER,
    TEXT,
    Sheet,
    Value,
    kind,
)
from sheetstream.workbooks.names import CELLS_TABLE
from sheetstream.workbooks.profile import quote_ident

__all__ = ["CELL_COLUMNS", "load_cells"]

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

_SCHEMA = pa.schema(
    [
        ("sheet_no", pa.int32()),
        ("row", pa.int32()),
        ("col", pa.int32()),
        ("kind", pa.int8()),
        ("number", pa.float64()),
        ("text", pa.string()),
        ("boolean", pa.bool_()),
        ("date", pa.timestamp("us")),
        ("duration", pa.duration("us")),
        ("error", pa.string()),
    ]
)
_VALUE_FIELD = {NUMBER: 4, TEXT: 5, BOOLEAN: 6, DATE: 7, DURATION: 8, ERROR: 9}

# 1-based column number → letters (up to XFD, 16384), then the 1-based row number
_ADDRESS = (
    "CASE WHEN col <= 26 THEN chr(64 + col) "
    "WHEN col <= 702 THEN chr(64 + (col - 1) // 26) || chr(65 + (col - 1) % 26) "
    "ELSE chr(64 + ((col - 1) // 26 - 1) // 26) || chr(65 + ((col - 1) // 26 - 1) % 26) "
    "|| chr(65 + (col - 1) % 26) END || row"
)


def _value(k: int, v: Value) -> object:
    if k == DATE and not isinstance(v, dt.datetime):
        return dt.datetime.combine(v, dt.time())  # type: ignore[arg-type]
    if k == DURATION and isinstance(v, dt.time):
        return dt.timedelta(
            hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond
        )
    if k == ERROR:
        return str(v)
    if k == NUMBER:
        return float(v)  # type: ignore[arg-type]
    return v


def _batch(
    sheet_no: int, col: int, k: int, rows: list[int], values: list[object]
) -> pa.RecordBatch:
    n = len(rows)
    arrays: list[pa.Array] = [
        pa.array([sheet_no] * n, type=pa.int32()),
        pa.array(rows, type=pa.int32()),
        pa.array([col] * n, type=pa.int32()),
        pa.array([k] * n, type=pa.int8()),
    ]
    target = _VALUE_FIELD[k]
    for index in range(4, len(_SCHEMA)):
        field_type = _SCHEMA.field(index).type
        arrays.append(
            pa.array(values, type=field_type) if index == target else pa.nulls(n, field_type)
        )
    return pa.RecordBatch.from_arrays(arrays, schema=_SCHEMA)


def _column_batches(sheet_no: int, c: int, column: Sequence[Value]) -> list[pa.RecordBatch]:
    present = set(map(type, column))
    if len(present) == 1 and str not in present:  # one type, no empty cell: a whole column
        k = kind(column[0])
        rows = list(range(1, len(column) + 1))
        return [_batch(sheet_no, c + 1, k, rows, [_value(k, v) for v in column])]
    by_kind: dict[int, tuple[list[int], list[object]]] = {}
    for r, v in enumerate(column):
        if v == "":
            continue
        k = kind(v)
        rows_k, values_k = by_kind.setdefault(k, ([], []))
        rows_k.append(r + 1)
        values_k.append(_value(k, v))
    return [_batch(sheet_no, c + 1, k, rs, vs) for k, (rs, vs) in by_kind.items()]


def load_cells(
    con: duckdb.DuckDBPyConnection,
    sheets: Sequence[Sheet],
    columns: Sequence[Sequence[Sequence[Value]]],
) -> int:
    """Create the cell view from every sheet (``columns[i]`` is sheet i's grid by columns);
    returns how many cells it holds."""
    batches: list[pa.RecordBatch] = []
    for sheet_no, by_column in enumerate(columns):
        for c, column in enumerate(by_column):
            batches.extend(_column_batches(sheet_no, c, column))
    cells = pa.Table.from_batches(batches, schema=_SCHEMA)
    names = pa.table(
        {
            "sheet_no": pa.array(range(len(sheets)), type=pa.int32()),
            "sheet": pa.array([s.name for s in sheets], type=pa.string()),
        }
    )
    formulas = pa.table(
        {
            "sheet_no": pa.array(
                [i for i, s in enumerate(sheets) for _ in s.formulas], type=pa.int32()
            ),
            "row": pa.array([r + 1 for s in sheets for r, _ in s.formulas], type=pa.int32()),
            "col": pa.array([c + 1 for s in sheets for _, c in s.formulas], type=pa.int32()),
            "formula": pa.array([f for s in sheets for f in s.formulas.values()], type=pa.string()),
        }
    )
    kinds = "[" + ", ".join(f"'{name}'" for name in KIND_NAMES) + "]"
    con.register("__cells", cells)
    con.register("__sheet_names", names)
    con.register("__formulas", formulas)
    try:
        con.execute(
            f"CREATE TABLE {quote_ident(CELLS_TABLE)} AS SELECT sheet, row, col, "
            f"{_ADDRESS} AS address, type, number, text, boolean, date, duration, error, "
            "formula FROM ("
            f"  SELECT c.sheet_no, n.sheet, c.row, c.col, {kinds}[c.kind + 1] AS type, "
            "  c.number, c.text, c.boolean, c.date, CAST(c.duration AS INTERVAL) AS duration, "
            "  c.error, f.formula "
            "  FROM __cells c JOIN __sheet_names n USING (sheet_no) "
            "  LEFT JOIN __formulas f ON f.sheet_no = c.sheet_no AND f.row = c.row "
            "  AND f.col = c.col"
            ") ORDER BY sheet_no, row, col"
        )
    finally:
        for view in ("__cells", "__sheet_names", "__formulas"):
            con.unregister(view)
    return int(cells.num_rows)
