"""Inspect, then parse one workbook into a DuckDB file; run as a child process by :mod:`.parse`.

    python -m sheetstream.workbooks.parse_worker SRC FORMAT DEST_DB [--memory-mb N]
        [--inspect-limits JSON]
    python -m sheetstream.workbooks.parse_worker --serve   # then one JSON list of those

The package is inspected first (:func:`.inspect.inspect`: ZIP bombs, XML attacks, huge
ranges and string tables), here rather than in the server, so that what inspection itself
needs is held by this capped process too.

Spreadsheets (xlsx, xlsm, xlsb, xls, ods) are read one sheet at a time with python-calamine
(:mod:`.grid`); :mod:`.layout` finds each sheet's tables, each loaded as a table named after
the sheet (sanitised; a second table of a sheet gets ``_2``, an Excel Table its own name), with a
first column ``_row`` holding the spreadsheet row number of each record. Rows that are entirely
blank are dropped, so ``_row`` can skip numbers. Every non-empty cell of every sheet is also a
row of the cell view (:mod:`.cells`). A CSV file is one sheet, named after the file, read by
:mod:`.csv_grid` and loaded the same way.

On success the profile (:func:`.profile.profile_database`), with the inspection's warnings as
``package_warnings``, is printed as one JSON line and the exit status is 0. On failure one
JSON line ``{"error": ..., "kind": ...}`` is printed and the status is 1; ``kind`` is
``"memory"`` when an allocation failed, ``"rejected"`` when inspection refused the file (with
its HTTP ``status``), else ``"unreadable"``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from sheetstream.errors import SheetstreamError
from sheetstream.workbooks.cells import cell_parts, create_cells, write_cells
from sheetstream.workbooks.columns import typed_column
from sheetstream.workbooks.csv_grid import csv_sheet
from sheetstream.workbooks.encoding import detect_encoding, transcode
from sheetstream.workbooks.grid import (
    CellError,
    ListObject,
    Sheet,
    Value,
    read_workbook,
)
from sheetstream.workbooks.inspect import Format, InspectLimits, WorkbookRejected, inspect
from sheetstream.workbooks.layout import Region, find_regions, header_names
from sheetstream.workbooks.names import TableNamer, column_names, table_names
from sheetstream.workbooks.profile import (
    ROW_COLUMN,
    SheetInfo,
    profile_database,
    quote_ident,
    quote_literal,
)
from sheetstream.workbooks.warm_book import write_warm_book
from sheetstream.workbooks.xlsx_parts import a1

__all__ = ["SPREADSHEET_FORMATS", "column_names", "main", "table_names"]

SPREADSHEET_FORMATS = frozenset({"xlsx", "xlsm", "xlsb", "xls", "ods"})
_INSPECTED = frozenset({"xlsx", "xlsm", "xlsb", "xls", "ods", "csv"})
_MAX_INT_DOUBLE = 2.0**53
_KEPT: list[object] = []  # what the process's end frees: finalising it costs more than a parse
_CHECKPOINT_CELLS = 100_000  # a sheet this large is written out before the next is read


class WorkerError(SheetstreamError):
    code = "bad_request"


def _reserved_words(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'"
    ).fetchall()
    return {str(r[0]).lower() for r in rows}


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


def _region_names(sheet: Sheet, regions: list[Region]) -> list[str]:
    """The raw name of each table to be: the sheet's for its first table, then "sheet 2",
    "sheet 3" …; an Excel Table's or a defined name's own name."""
    raw: list[str] = []
    plain = 0
    for region in regions:
        if region.name is not None:
            raw.append(region.name)
            continue
        plain += 1
        raw.append(sheet.name if plain == 1 else f"{sheet.name} {plain}")
    return raw


@dataclass(slots=True)
class _Prepared:
    """One table ready to write: its data as Arrow (the sheet's grid no longer needed)."""

    info: SheetInfo
    data: pa.Table
    names: list[str]


def _prepare_region(
    sheet: Sheet,
    number: int,
    region: Region,
    columns: list[tuple[Value, ...]],
    table: str,
) -> _Prepared:
    headers = header_names(sheet.rows, region, sheet.merged)
    col_range = range(region.first_col, region.last_col + 1)
    names = column_names([(h, c) for h, c in zip(headers, col_range, strict=True)])
    first, last = region.first_data_row, region.last_row
    typed = [typed_column(columns[c][first : last + 1]) for c in col_range]
    notes: list[str] = []
    if region.totals is not None:
        label = next(v for v in sheet.rows[region.totals] if v != "")
        named = repr(label.strip()) if isinstance(label, str) else "sums of the rows above"
        notes.append(
            f"Row {region.totals + 1} ({named}) is a totals row, left out of "
            f"table {table} so that sums over it are right; its cells are in the cells table."
        )
    errors = sum(t.errors for t in typed)
    if errors:
        where = _error_addresses(sheet, region)
        notes.append(
            f"{errors} error cell(s) ({where}) are NULL in table {table}; the cells table "
            "keeps each error (type 'error')."
        )
    placeholders = [
        (n, t.placeholders) for n, t in zip(names, typed, strict=True) if t.placeholders
    ]
    if placeholders:
        listed = ", ".join(f"{n!r} ({count})" for n, count in placeholders[:5])
        notes.append(
            f"Text such as '-' or 'n/a' in number columns is NULL in table {table}: {listed}."
        )
    mixed = [n for n, t in zip(names, typed, strict=True) if t.mixed]
    if mixed:
        listed = ", ".join(repr(n) for n in mixed[:5])
        notes.append(
            f"Column(s) {listed} of table {table} mix numbers, dates or text: they are text "
            "there, and the cells table keeps each value with its own type."
        )
    data = pa.table(
        [pa.array(range(first + 1, last + 2), type=pa.int64())] + [t.array for t in typed],
        names=[ROW_COLUMN, *names],
    )
    info = SheetInfo(
        sheet.name,
        table,
        sheet.hidden,
        region.header[-1] + 1 if region.header else 0,
        number=number,
        layout=region.layout,
        range=region.range,
        notes=tuple(notes),
    )
    return _Prepared(info, data, names)


def _write_region(con: duckdb.DuckDBPyConnection, prepared: _Prepared) -> SheetInfo:
    data, names, table = prepared.data, prepared.names, prepared.info.table
    view = f"__region_{table}"
    con.register(view, data)
    try:
        casts = _integral_and_dates(con, view, data.schema)
        select = [ROW_COLUMN]
        for name in names:
            c = quote_ident(name)
            select.append(f"CAST({c} AS {casts[name]}) AS {c}" if name in casts else c)
        not_blank = " OR ".join(f"{quote_ident(n)} IS NOT NULL" for n in names) or "TRUE"
        con.execute(
            f"CREATE TABLE {quote_ident(table)} AS SELECT {', '.join(select)} FROM "
            f"{quote_ident(view)} WHERE {not_blank}"  # in row order already: DuckDB keeps it
        )
    finally:
        con.unregister(view)
    return prepared.info


def _error_addresses(sheet: Sheet, region: Region, limit: int = 5) -> str:
    found = []
    for r in range(region.first_data_row, region.last_row + 1):
        row = sheet.rows[r]
        for c in range(region.first_col, region.last_col + 1):
            if isinstance(row[c], CellError):
                found.append(f"{a1(r, c)} {row[c]}")
                if len(found) > limit:
                    return ", ".join(found[:limit]) + ", …"
    return ", ".join(found)


def _load_spreadsheet(
    con: duckdb.DuckDBPyConnection, src: Path, fmt: str
) -> tuple[list[SheetInfo], int]:
    """Every table of every sheet, and the cell view, one sheet at a time (only one sheet's
    grid is held); returns the tables and the cell count."""
    list_objects, sheets = read_workbook(src, fmt)
    return _load_sheets(con, list_objects, sheets)


def _load_sheets(
    con: duckdb.DuckDBPyConnection, list_objects: list[ListObject], sheets: Iterator[Sheet]
) -> tuple[list[SheetInfo], int]:
    namer = TableNamer(_reserved_words(con))
    create_cells(con)
    infos: list[SheetInfo] = []
    count = 0
    for number, sheet in enumerate(sheets, start=1):
        own = [o for o in list_objects if o.sheet == sheet.name]
        regions = find_regions(sheet.rows, own, sheet.merged, sheet.formulas)
        if not regions:
            infos.append(_no_table(con, sheet, number, namer.take(sheet.name)))
        tables = [namer.take(raw) for raw in _region_names(sheet, regions)]
        columns = list(zip(*sheet.rows, strict=True))
        prepared = [
            _prepare_region(sheet, number, region, columns, table)
            for region, table in zip(regions, tables, strict=True)
        ]
        parts = cell_parts(sheet, columns)
        # the grid is held as Python objects, its tables and cells now as Arrow: let it go
        # before DuckDB writes them (it is the larger by far)
        del columns
        sheet.rows = []
        for ready in prepared:
            infos.append(_write_region(con, ready))
        written = write_cells(con, sheet.name, parts)
        count += written
        del prepared, parts, sheet
        if written > _CHECKPOINT_CELLS:
            con.execute("CHECKPOINT")  # the sheet is on disk: its blocks may leave memory
    return infos, count


def _no_table(con: duckdb.DuckDBPyConnection, sheet: Sheet, number: int, table: str) -> SheetInfo:
    """A sheet where no table was found: an empty table of its name, and a note."""
    con.execute(f"CREATE TABLE {quote_ident(table)} ({ROW_COLUMN} BIGINT)")
    layout = "cells only" if sheet.rows else "empty"
    notes: tuple[str, ...] = ()
    if sheet.rows:
        notes = ("No table found on this sheet; its cells are in the cells table.",)
    return SheetInfo(sheet.name, table, sheet.hidden, 0, number, layout, "", notes)


def _as_utf8(src: Path, scratch: Path) -> Path:
    """``src`` itself when DuckDB can read it as it is (UTF-8), else a UTF-8 copy at
    ``scratch``."""
    with src.open("rb") as fh:
        encoding = detect_encoding(fh)
        if encoding == "utf-8-sig":
            return src
        with scratch.open("wb") as out:
            transcode(fh, encoding, out)
    return scratch


def _load_csv(
    con: duckdb.DuckDBPyConnection, src: Path, scratch: Path, name: str
) -> tuple[list[SheetInfo], int]:
    """The CSV file as one sheet called `name`, loaded as a spreadsheet's sheet is."""
    sheet = csv_sheet(con, _as_utf8(src, scratch), name)
    if not sheet.rows:
        raise WorkerError("the CSV file holds no values (only blanks, delimiters or line breaks)")
    return _load_sheets(con, [], iter([sheet]))


def connect() -> duckdb.DuckDBPyConnection:
    """The in-memory DuckDB a parse works in (starting DuckDB costs more than a small parse:
    a warm worker does it ahead); the workbook's file is attached to it."""
    return duckdb.connect(config={"threads": max(1, min(4, os.cpu_count() or 1))})


def parse_to_duckdb(
    src: Path,
    fmt: str,
    dest: Path,
    memory_mb: int | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Load ``src`` into a new DuckDB file at ``dest`` and return its profile; a CSV's one
    sheet is called ``name`` (the upload's name without its extension), else after ``src``."""
    fmt = fmt.lower().lstrip(".")
    if fmt != "csv" and fmt not in SPREADSHEET_FORMATS:
        raise WorkerError(f"unsupported format {fmt!r}")
    for stale in (dest, dest.with_name(dest.name + ".wal")):
        stale.unlink(missing_ok=True)
    own = con is None
    con = connect() if con is None else con
    if memory_mb:
        # a quarter of the cap for DuckDB, the rest for the sheet being read; a thread per
        # GiB of cap (each keeps buffers of its own)
        con.execute(f"SET memory_limit = '{max(64, memory_mb // 4)}MiB'")
        threads = max(1, min(4, os.cpu_count() or 1, memory_mb // 1024))
        con.execute(f"SET threads = {threads}")
    con.execute(f"ATTACH {quote_literal(str(dest))} AS book")
    con.execute("USE book")
    try:
        if fmt == "csv":
            scratch = dest.with_name(dest.name + ".csv")
            try:
                infos, cells = _load_csv(con, src, scratch, name or src.stem)
            finally:
                scratch.unlink(missing_ok=True)
        else:
            infos, cells = _load_spreadsheet(con, src, fmt)
        profile = profile_database(con, infos, cells)
        con.execute("CHECKPOINT book")
    finally:
        con.execute("USE memory")
        con.execute("DETACH book")
        if own:
            con.close()
    return profile


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError | duckdb.OutOfMemoryException):
        return "memory"
    text = str(exc).lower()
    if "memory allocation" in text or "out of memory" in text or "cannot allocate" in text:
        return "memory"
    return "unreadable"


def warm_up(con: duckdb.DuckDBPyConnection) -> None:
    """Run the whole load once on a small grid in memory, then inspect and parse a tiny
    workbook file into a DuckDB file, so that what a first use costs (lazy imports, calamine,
    DuckDB's first statements and its first file) is paid before a job comes."""
    _warm_grid(con)
    with tempfile.TemporaryDirectory(prefix="sheetstream-warm-") as scratch:
        book = write_warm_book(Path(scratch) / "warm.xlsx")
        inspect(book, "xlsx", InspectLimits())
        parse_to_duckdb(book, "xlsx", Path(scratch) / "warm.duckdb", None, con)


def _warm_grid(con: duckdb.DuckDBPyConnection) -> None:
    rows: list[list[Value]] = [
        ["text", "number", "date", "time", "duration", "flag"],
        ["a", 1.5, dt.date(2024, 1, 1), dt.time(9, 30), dt.timedelta(hours=30), True],
        ["b", 2.0, dt.datetime(2024, 1, 2, 8), dt.time(10), dt.timedelta(0), False],
    ]
    con.execute("ATTACH ':memory:' AS warm")
    con.execute("USE warm")
    try:
        profile_database(con, *_load_sheets(con, [], iter([Sheet("warm", False, rows)])))
    finally:
        con.execute("USE memory")
        con.execute("DETACH warm")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    con = None
    if argv == ["--serve"]:  # a warm worker: loaded, it waits for its one job
        con = connect()
        _KEPT.append(con)  # closed by the process's end, not by main's return
        warm_up(con)
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the pool closed
        argv = [str(a) for a in json.loads(line)]
    parser = argparse.ArgumentParser(prog="python -m sheetstream.workbooks.parse_worker")
    parser.add_argument("src", type=Path)
    parser.add_argument("format")
    parser.add_argument("dest_db", type=Path)
    parser.add_argument("--memory-mb", type=int, default=None)
    parser.add_argument("--inspect-limits", type=json.loads, default=None)
    parser.add_argument("--name", default=None, help="what the upload was called")
    args = parser.parse_args(argv)
    try:
        warnings: list[str] = []
        if args.inspect_limits is not None and args.format in _INSPECTED:
            limits = InspectLimits(**args.inspect_limits)
            warnings = inspect(args.src, cast(Format, args.format), limits)
        profile = parse_to_duckdb(
            args.src, args.format, args.dest_db, args.memory_mb, con, args.name
        )
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
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The result is written and the workbook's file closed: skip the interpreter's teardown
    # (finalising DuckDB and Arrow takes longer than a small parse).
    os._exit(status)
