"""Inspect, then parse one workbook into a DuckDB file; run as a child process by :mod:`.parse`.

    python -m sheetstream.workbooks.parse_worker SRC FORMAT DEST_DB [--memory-mb N]
        [--inspect-limits JSON]

The package is inspected first (:func:`.inspect.inspect`: ZIP bombs, XML attacks, huge
ranges and string tables), here rather than in the server, so that what inspection itself
needs is held by this capped process too.

Spreadsheets (xlsx, xlsm, xls, ods) are read with fastexcel (calamine); csv with DuckDB's
``read_csv``. Every sheet becomes one table named after the sheet (sanitised), with a first
column ``_row`` holding the spreadsheet row number of each record (the header is the first
non-empty row; the record below it is header row + 1). Rows that are entirely blank are dropped,
so ``_row`` can skip numbers.

On success the profile (:func:`.profile.profile_database`), with the inspection's warnings as
``package_warnings``, is printed as one JSON line and the exit status is 0. On failure one
JSON line ``{"error": ..., "kind": ...}`` is printed and the status is 1; ``kind`` is
``"memory"`` when an allocation failed, ``"rejected"`` when inspection refused the file (with
its HTTP ``status``), else ``"unreadable"``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, cast

import duckdb
import fastexcel
import pyarrow as pa  # type: ignore[import-untyped]

from sheetstream.errors import SheetstreamError
from sheetstream.workbooks.inspect import Format, InspectLimits, WorkbookRejected, inspect
from sheetstream.workbooks.profile import ROW_COLUMN, SheetInfo, profile_database, quote_ident

__all__ = ["SPREADSHEET_FORMATS", "column_names", "main", "table_names"]

SPREADSHEET_FORMATS = frozenset({"xlsx", "xlsm", "xls", "ods"})
_INSPECTED = frozenset({"xlsx", "xlsm", "xls", "ods", "csv"})
_HEADER_PROBE_ROWS = 64
_MAX_INT_DOUBLE = 2.0**53


class WorkerError(SheetstreamError):
    code = "bad_request"


def _reserved_words(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'"
    ).fetchall()
    return {str(r[0]).lower() for r in rows}


def table_names(sheet_names: list[str], reserved: AbstractSet[str] = frozenset()) -> list[str]:
    """Lowercase, runs of non-alphanumerics → ``_``, not starting with a digit, not a reserved
    SQL word, unique (``_2``, ``_3`` … on clashes)."""
    used: set[str] = set()
    out: list[str] = []
    for raw in sheet_names:
        base = re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_") or "sheet"
        if base[0].isdigit():
            base = f"sheet_{base}"
        if base in reserved or base == ROW_COLUMN:
            base = f"{base}_sheet"
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        out.append(name)
    return out


def column_names(headers: list[tuple[object, int]]) -> list[str]:
    """``headers`` is (header cell value or None, 0-based spreadsheet column index). Empty headers
    become ``column_<n>`` (n = 1-based column number); duplicates (case-insensitively, as DuckDB
    compares names) get ``_2``, ``_3`` …; ``_row`` is reserved."""
    used = {ROW_COLUMN}
    out: list[str] = []
    for value, index in headers:
        text = "" if value is None else str(value).strip()
        base = text or f"column_{index + 1}"
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name.lower())
        out.append(name)
    return out


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header_row(reader: fastexcel.ExcelReader, idx: int) -> tuple[int, dict[int, object]] | None:
    """Absolute 0-based index of the first non-empty row and its cells by column index, or None
    when the sheet is empty."""
    n_rows = _HEADER_PROBE_ROWS
    while True:
        raw = reader.load_sheet(idx, header_row=None, skip_rows=0, n_rows=n_rows)
        if raw.width == 0 or raw.height == 0:
            return None
        table = raw.to_arrow()
        cols = [c.absolute_index for c in raw.available_columns()]
        data = [table.column(i).to_pylist() for i in range(table.num_columns)]
        for r in range(table.num_rows):
            cells = {cols[i]: data[i][r] for i in range(len(cols))}
            if not all(_is_blank(v) for v in cells.values()):
                return r, cells
        if table.num_rows < n_rows:
            return None
        n_rows *= 8


def _integral_and_dates(
    con: duckdb.DuckDBPyConnection, view: str, schema: pa.Schema
) -> dict[str, str]:
    """Which double columns hold only whole numbers (→ BIGINT) and which timestamp columns only
    midnights (→ DATE), found with one aggregate query."""
    checks: list[tuple[str, str, str]] = []
    for field in schema:
        c = quote_ident(field.name)
        if pa.types.is_floating(field.type):
            expr = f"bool_and({c} = trunc({c}) AND abs({c}) <= {_MAX_INT_DOUBLE})"
            checks.append((field.name, "BIGINT", expr))
        elif pa.types.is_timestamp(field.type) or pa.types.is_date64(field.type):
            checks.append((field.name, "DATE", f"bool_and({c} = date_trunc('day', {c}))"))
    if not checks:
        return {}
    row = con.execute(f"SELECT {', '.join(e for _, _, e in checks)} FROM {view}").fetchone()
    assert row is not None
    return {name: cast for (name, cast, _), ok in zip(checks, row, strict=True) if ok is True}


def _load_spreadsheet(con: duckdb.DuckDBPyConnection, src: Path) -> list[SheetInfo]:
    reader = fastexcel.read_excel(src)
    sheet_names = list(reader.sheet_names)
    tables = table_names(sheet_names, _reserved_words(con))
    infos: list[SheetInfo] = []
    for idx, (sheet_name, table) in enumerate(zip(sheet_names, tables, strict=True)):
        header = _header_row(reader, idx)
        qtable = quote_ident(table)
        if header is None:
            sheet = reader.load_sheet(idx, n_rows=1)
            con.execute(f"CREATE TABLE {qtable} ({ROW_COLUMN} BIGINT)")
            infos.append(SheetInfo(sheet_name, table, sheet.visible != "visible", 1))
            continue
        h, header_cells = header
        sheet = reader.load_sheet(
            idx, header_row=h, skip_rows=0, schema_sample_rows=None, dtype_coercion="coerce"
        )
        data = sheet.to_arrow()
        abs_idx = [c.absolute_index for c in sheet.available_columns()]
        names = column_names([(header_cells.get(i), i) for i in abs_idx])
        data = data.rename_columns(names)
        first = h + 2  # 0-based header index h is spreadsheet row h + 1
        rows = pa.array(range(first, first + data.num_rows), type=pa.int64())
        data = data.add_column(0, ROW_COLUMN, rows)
        view = f"__arrow_{idx}"
        con.register(view, data)
        try:
            casts = _integral_and_dates(con, view, data.schema)
            select = [ROW_COLUMN]
            for name in names:
                c = quote_ident(name)
                select.append(f"CAST({c} AS {casts[name]}) AS {c}" if name in casts else c)
            not_blank = " OR ".join(f"{quote_ident(n)} IS NOT NULL" for n in names) or "TRUE"
            con.execute(
                f"CREATE TABLE {qtable} AS SELECT {', '.join(select)} FROM {view} "
                f"WHERE {not_blank} ORDER BY {ROW_COLUMN}"
            )
        finally:
            con.unregister(view)
        del data
        infos.append(SheetInfo(sheet_name, table, sheet.visible != "visible", h + 1))
    return infos


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _load_csv(con: duckdb.DuckDBPyConnection, src: Path) -> list[SheetInfo]:
    path = _sql_str(str(src))
    sniff = con.execute(f"SELECT HasHeader FROM sniff_csv({path}, sample_size = -1)").fetchone()
    has_header = bool(sniff and sniff[0])
    hdr = "true" if has_header else "false"
    described = con.execute(
        f"DESCRIBE SELECT * FROM read_csv({path}, sample_size = -1, header = {hdr})"
    ).fetchall()
    detected = [(str(r[0]), str(r[1])) for r in described]
    # Numbers written with leading zeros ("007") are codes, not numbers: keep those columns text.
    numeric = [i for i, (_, t) in enumerate(detected) if _is_numeric_type(t)]
    keep_text: set[str] = set()
    if numeric:
        raw_cols = [
            str(r[0])
            for r in con.execute(
                f"DESCRIBE SELECT * FROM read_csv({path}, all_varchar = true, header = {hdr})"
            ).fetchall()
        ]
        if len(raw_cols) == len(detected):
            exprs = [
                f"bool_or(regexp_matches({quote_ident(raw_cols[i])}, '^\\s*[+-]?0[0-9]'))"
                for i in numeric
            ]
            row = con.execute(
                f"SELECT {', '.join(exprs)} FROM "
                f"read_csv({path}, all_varchar = true, header = {hdr})"
            ).fetchone()
            assert row is not None
            keep_text = {detected[i][0] for i, hit in zip(numeric, row, strict=True) if hit}
    types = ""
    if keep_text:
        types = ", types = {" + ", ".join(f"{_sql_str(n)}: 'VARCHAR'" for n in keep_text) + "}"
    con.execute(
        f"CREATE TEMP TABLE __csv AS SELECT * FROM "
        f"read_csv({path}, sample_size = -1, header = {hdr}{types})"
    )
    originals = [str(r[0]) for r in con.execute("DESCRIBE __csv").fetchall()]
    if has_header:
        names = column_names([(n, i) for i, n in enumerate(originals)])
    else:
        names = column_names([(None, i) for i in range(len(originals))])
    offset = 2 if has_header else 1
    select = [f"rowid + {offset} AS {ROW_COLUMN}"] + [
        f"{quote_ident(o)} AS {quote_ident(n)}" for o, n in zip(originals, names, strict=True)
    ]
    not_blank = " OR ".join(f"{quote_ident(o)} IS NOT NULL" for o in originals) or "TRUE"
    table = table_names([src.stem], _reserved_words(con))[0]
    con.execute(
        f"CREATE TABLE {quote_ident(table)} AS SELECT {', '.join(select)} FROM __csv "
        f"WHERE {not_blank} ORDER BY rowid"
    )
    con.execute("DROP TABLE __csv")
    return [SheetInfo(src.name, table, False, 1 if has_header else 0)]


def _is_numeric_type(duck_type: str) -> bool:
    t = duck_type.upper()
    return "INT" in t or t in {"DOUBLE", "FLOAT", "REAL"} or t.startswith("DECIMAL")


def parse_to_duckdb(
    src: Path, fmt: str, dest: Path, memory_mb: int | None = None
) -> dict[str, Any]:
    """Load ``src`` into a new DuckDB file at ``dest`` and return its profile."""
    fmt = fmt.lower().lstrip(".")
    if fmt != "csv" and fmt not in SPREADSHEET_FORMATS:
        raise WorkerError(f"unsupported format {fmt!r}")
    for stale in (dest, dest.with_name(dest.name + ".wal")):
        stale.unlink(missing_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": max(1, min(4, os.cpu_count() or 1))
    }
    if memory_mb:
        config["memory_limit"] = f"{max(64, memory_mb // 2)}MiB"
    con = duckdb.connect(str(dest), config=config)
    try:
        infos = _load_csv(con, src) if fmt == "csv" else _load_spreadsheet(con, src)
        profile = profile_database(con, infos)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return profile


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError | duckdb.OutOfMemoryException):
        return "memory"
    text = str(exc).lower()
    if "memory allocation" in text or "out of memory" in text or "cannot allocate" in text:
        return "memory"
    return "unreadable"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sheetstream.workbooks.parse_worker")
    parser.add_argument("src", type=Path)
    parser.add_argument("format")
    parser.add_argument("dest_db", type=Path)
    parser.add_argument("--memory-mb", type=int, default=None)
    parser.add_argument("--inspect-limits", type=json.loads, default=None)
    args = parser.parse_args(argv)
    try:
        warnings: list[str] = []
        if args.inspect_limits is not None and args.format in _INSPECTED:
            limits = InspectLimits(**args.inspect_limits)
            warnings = inspect(args.src, cast(Format, args.format), limits)
        profile = parse_to_duckdb(args.src, args.format, args.dest_db, args.memory_mb)
        profile["package_warnings"] = warnings
    except WorkbookRejected as exc:
        line = json.dumps({"error": exc.message, "kind": "rejected", "status": exc.status})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return 1
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        line = json.dumps({"error": message[:500], "kind": _error_kind(exc)})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return 1
    sys.stdout.write(json.dumps(profile, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
