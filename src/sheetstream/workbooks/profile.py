"""Summarise the tables of a parsed workbook's DuckDB file with SQL aggregates.

:func:`profile_database` runs, per table, one aggregate query for every column's figures, one
``UNPIVOT … GROUP BY`` query for the top values of all text columns, and one query for the first
rows. Everything returned is ``json.dumps``-safe.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass
from typing import Any

import duckdb

from sheetstream.workbooks.columns import display

__all__ = ["ROW_COLUMN", "SAMPLE_ROWS", "TOP_VALUES", "SheetInfo", "json_safe", "profile_database"]

ROW_COLUMN = "_row"
SAMPLE_ROWS = 5
TOP_VALUES = 5
# The value index: every value of a text column with at most this many, each at most
# VALUE_CHARS long, so that a question can name them ("revenue in the North")
INDEXED_VALUES = 200
VALUE_CHARS = 80
INDEX_CHARS = 64 * 1024  # a table's whole index; columns past it keep their top values only


@dataclass(frozen=True)
class SheetInfo:
    """One table as loaded: its sheet's name, the table it went to, where it was found (its
    header row, 0 for none; its range) and how (`layout`), and what loading it noticed."""

    name: str
    table: str
    hidden: bool = False
    header_row: int = 1
    number: int = 1  # the sheet's position in the workbook, 1-based
    layout: str = "table"
    range: str = ""
    notes: tuple[str, ...] = ()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def json_safe(value: object) -> object:
    """Dates as ISO strings, Decimal as int/float, NaN/inf as None, other oddities as str."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if math.isfinite(as_float) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return display(value)  # 30:00:00, as a spreadsheet shows a duration
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def _kind(duck_type: str) -> str:
    t = duck_type.upper()
    if t in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"} or t.startswith("U"):
        return "integer" if "INT" in t else "text"
    if t in {"FLOAT", "DOUBLE", "REAL"} or t.startswith("DECIMAL"):
        return "number"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    if t == "BOOLEAN":
        return "boolean"
    if t == "INTERVAL":
        return "duration"
    if t.startswith("TIME"):
        return "time"
    return "text"


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE table_name = ? AND schema_name = 'main' AND database_name = current_database() "
        "ORDER BY column_index",
        [table],
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows if r[0] != ROW_COLUMN]


def _profile_table(con: duckdb.DuckDBPyConnection, sheet: SheetInfo) -> dict[str, Any]:
    table = quote_ident(sheet.table)
    columns = _table_columns(con, sheet.table)
    kinds = [_kind(t) for _, t in columns]

    # One aggregate query: per column count/distinct, and min/max/mean/sum where they apply.
    selects = ["count(*)"]
    layout: list[list[str]] = []
    for (name, _), kind in zip(columns, kinds, strict=True):
        c = quote_ident(name)
        fields = ["non_null", "distinct"]
        selects += [f"count({c})", f"count(DISTINCT {c})"]
        if kind in {"integer", "number"}:
            fields += ["min", "max", "mean", "sum"]
            selects += [f"min({c})", f"max({c})", f"avg({c})", f"sum({c})"]
        elif kind in {"date", "datetime", "time", "duration"}:
            fields += ["min", "max"]
            selects += [f"min({c})", f"max({c})"]
        layout.append(fields)
    agg = con.execute(f"SELECT {', '.join(selects)} FROM {table}").fetchone()
    assert agg is not None
    rows = int(agg[0])

    out_cols: list[dict[str, Any]] = []
    pos = 1
    for (name, _), kind, fields in zip(columns, kinds, layout, strict=True):
        col: dict[str, Any] = {"name": name, "type": kind}
        for field in fields:
            col[field] = json_safe(agg[pos])
            pos += 1
        if col["non_null"] == 0:
            col = {"name": name, "type": "empty", "non_null": 0, "distinct": 0}
        out_cols.append(col)

    # One query for the top values of every text column.
    text_cols = [c["name"] for c in out_cols if c["type"] == "text"]
    if text_cols:
        on = ", ".join(quote_ident(n) for n in text_cols)
        top = con.execute(
            f"SELECT col, val, n FROM ("
            f"  SELECT col, val, count(*) AS n FROM ("
            f"    UNPIVOT (SELECT {on} FROM {table}) ON {on} INTO NAME col VALUE val"
            f"  ) GROUP BY col, val"
            f") QUALIFY row_number() OVER (PARTITION BY col ORDER BY n DESC, val) <= {TOP_VALUES}"
            f" ORDER BY col, n DESC, val"
        ).fetchall()
        by_col: dict[str, list[dict[str, Any]]] = {n: [] for n in text_cols}
        for col_name, val, n in top:
            by_col[str(col_name)].append({"value": json_safe(val), "count": int(n)})
        for entry in out_cols:
            if entry["type"] == "text":
                entry["top"] = by_col[entry["name"]]
        _index_values(con, table, out_cols)

    sample_rows: list[list[object]] = []
    sample_row_numbers: list[int] = []
    if columns:
        select = ", ".join([ROW_COLUMN] + [quote_ident(n) for n, _ in columns])
        fetched = con.execute(
            f"SELECT {select} FROM {table} ORDER BY {ROW_COLUMN} LIMIT {SAMPLE_ROWS}"
        ).fetchall()
        for r in fetched:
            sample_row_numbers.append(int(r[0]))
            sample_rows.append([json_safe(v) for v in r[1:]])

    return {
        "name": sheet.name,
        "table": sheet.table,
        "rows": rows,
        "hidden": sheet.hidden,
        "header_row": sheet.header_row,
        "layout": sheet.layout,
        "range": sheet.range,
        "sheet_number": sheet.number,
        "notes": list(sheet.notes),
        "columns": out_cols,
        "sample_rows": sample_rows,
        "sample_row_numbers": sample_row_numbers,
    }


def _index_values(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[dict[str, Any]]
) -> None:
    """Every value of the text columns with few enough, into their profile as `values`."""
    few = [
        c["name"] for c in columns if c["type"] == "text" and 0 < c["distinct"] <= INDEXED_VALUES
    ]
    if not few:
        return
    on = ", ".join(quote_ident(n) for n in few)
    rows = con.execute(
        f"SELECT col, list(DISTINCT val ORDER BY val) FROM ("
        f"  UNPIVOT (SELECT {on} FROM {table}) ON {on} INTO NAME col VALUE val"
        f") WHERE length(val) <= {VALUE_CHARS} GROUP BY col"
    ).fetchall()
    values = {str(name): [str(v) for v in vals] for name, vals in rows}
    budget = INDEX_CHARS
    for entry in columns:
        indexed = values.get(entry["name"])
        if indexed is None:
            continue
        budget -= sum(len(v) for v in indexed)
        if budget < 0:
            break
        entry["values"] = indexed


def profile_database(
    con: duckdb.DuckDBPyConnection, sheets: list[SheetInfo], cells: int | None = None
) -> dict[str, Any]:
    """Profile each table on ``con``; returns ``{"sheets": [...]}``, JSON-safe, with
    ``"cells"`` (the cell view's table and size) when the workbook has one."""
    profile: dict[str, Any] = {"sheets": [_profile_table(con, sheet) for sheet in sheets]}
    if cells is not None:
        profile["cells"] = {"table": "cells", "rows": cells}
    return profile
