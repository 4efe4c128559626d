"""Run one read-only SELECT against a workbook's DuckDB file, with limits.

Two layers keep a query inside the workbook:

1. :func:`validate_sql` parses the text with sqlglot and accepts exactly one query (a SELECT, or a
   set operation / WITH whose body is a select). Anything else, calls to functions that read files
   or reach outside (``read_csv``, ``glob``, ``query`` …) and path-like table names are refused.
2. :func:`_connect` opens the file read-only with external access disabled, extension
   auto-install/auto-load and community extensions off, memory and thread caps, and the
   configuration locked, so that a statement which slipped past the parser still cannot touch the
   file system, change a setting or write.

:func:`run_query` is synchronous; callers run it in a worker thread. DuckDB's errors are mapped to
sheetstream's here, once.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import itertools
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
import sqlglot
from duckdb.sqltypes import DuckDBPyType
from sqlglot import exp
from sqlglot.errors import SqlglotError

from sheetstream.errors import SheetstreamError

# sqlglot warns with the statement's text when it falls back to a generic command; the user's
# SQL does not belong in the server log, and the statement is refused anyway.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

__all__ = [
    "QueryFailed",
    "QueryLimits",
    "QueryRejected",
    "QueryResult",
    "QueryTimeout",
    "run_query",
    "validate_sql",
]

_ALLOWED = "Only a single SELECT statement is allowed (WITH … SELECT and UNION are fine)"
_MESSAGE_MAX = 300

# Functions that read files, list directories, reach other databases or the network, run SQL
# given as a string, or read the process environment. Matched case-insensitively on the name.
_DENIED_FUNCTIONS = frozenset(
    {
        "glob",
        "sniff_csv",
        "parquet_scan",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "parquet_bloom_probe",
        "iceberg_scan",
        "iceberg_metadata",
        "iceberg_snapshots",
        "delta_scan",
        "postgres_scan",
        "postgres_scan_pushdown",
        "postgres_query",
        "postgres_attach",
        "postgres_execute",
        "sqlite_scan",
        "sqlite_attach",
        "sqlite_query",
        "mysql_scan",
        "mysql_query",
        "mysql_execute",
        "st_read",
        "st_read_meta",
        "st_readosm",
        "st_readshp",
        "query",
        "query_table",
        "getenv",
        "load_extension",
        "duckdb_secrets",
        "which_secret",
        # the server's settings (temp_directory is a path under DATA_DIR) and variables
        "current_setting",
        "getvariable",
        "json_execute_serialized_sql",
    }
)
# Table functions whose rows come from their arguments alone; every other one (file readers,
# catalog and settings listings such as duckdb_databases(), which names the file's path) is
# refused, including ones a later DuckDB adds.
_TABLE_FUNCTIONS_ALLOWED = frozenset(
    {"range", "generate_series", "unnest", "json_each", "json_tree", "repeat"}
)
# Statements DuckDB accepts in parentheses where a table goes, which sqlglot reads as tables of
# that name: `(SHOW temp_directory)` is a setting's value
_STATEMENT_NAMES = frozenset({"show", "describe", "desc", "summarize"})
# Catalog views that describe only the workbook's own tables
_VIEWS_ALLOWED = frozenset(
    {
        ("information_schema", "tables"),
        ("information_schema", "columns"),
        ("information_schema", "schemata"),
    }
)
_DENIED_PREFIXES = (
    "read_",
    "parquet_",
    "iceberg_",
    "delta_",
    "postgres_",
    "sqlite_",
    "mysql_",
    "st_read",
    "http",
    "s3",
)
# Characters that make a table name look like a path or URL (DuckDB's replacement scans turn
# ``FROM 'data.csv'`` into a file read).
_PATH_CHARS = frozenset("/\\:.~*?")


class QueryRejected(SheetstreamError):
    """The SQL is not a single read-only SELECT, or uses something that is not allowed."""

    code = "bad_request"


class QueryFailed(SheetstreamError):
    """DuckDB refused or failed to run the query; the message is DuckDB's."""

    code = "bad_request"


class QueryTimeout(SheetstreamError):
    """The query ran past its time limit and was interrupted."""

    code = "bad_request"


@dataclass
class QueryLimits:
    timeout_s: float = 5.0
    max_rows: int = 1000
    max_bytes: int = 1 << 20  # of the rows as JSON
    max_cell_chars: int = 10_000
    memory_mb: int = 256
    threads: int = 2


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[object]]
    truncated: bool
    duration_ms: float
    truncated_by: str | None = None  # "rows" or "bytes" (rows left out), "cells" (text cut)

    def to_json(self) -> dict[str, object]:
        """A dict that ``json.dumps`` accepts: dates as ISO strings, Decimal as float, bytes as
        hex, NaN/inf as None, lists/structs/maps converted recursively."""
        return {
            "columns": list(self.columns),
            "rows": [[json_value(v) for v in row] for row in self.rows],
            "truncated": self.truncated,
            "truncated_by": self.truncated_by,
            "duration_ms": self.duration_ms,
        }


# The integers JSON encoders take as numbers (orjson: 64 bits); larger ones (HUGEINT) are text
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def json_value(value: object) -> object:
    """One cell as a value `json.dumps` and `orjson.dumps` accept (see `QueryResult.to_json`)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        as_float = float(value)
        return as_float if math.isfinite(as_float) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    return str(value)


def _reject(detail: str) -> QueryRejected:
    return QueryRejected(f"{_ALLOWED}; {detail}.")


def _is_query(node: exp.Expr) -> bool:
    while isinstance(node, exp.Subquery):
        node = node.this
    if isinstance(node, exp.Select):
        return True
    if isinstance(node, exp.SetOperation):
        return _is_query(node.left) and _is_query(node.right)
    return False


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name()


def _is_denied_function(name: str) -> bool:
    lowered = name.lower()
    if lowered in _DENIED_FUNCTIONS or lowered.startswith(_DENIED_PREFIXES):
        return True
    table_only, _ = _system_names()
    return lowered in table_only


@functools.cache
def _system_names() -> tuple[frozenset[str], frozenset[str]]:
    """DuckDB's own table-only functions (not allowed ones) and catalog views, by name, as the
    running version has them."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT function_name, function_type IN ('table', 'table_macro', 'pragma') "
            "FROM duckdb_functions()"
        ).fetchall()
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE internal").fetchall()
    finally:
        con.close()
    tables = {str(name).lower() for name, is_table in rows if is_table}
    scalars = {str(name).lower() for name, is_table in rows if not is_table}
    table_only = frozenset(tables - scalars - _TABLE_FUNCTIONS_ALLOWED)
    return table_only, frozenset(str(name).lower() for (name,) in views)


def _check_table(node: exp.Table, own: frozenset[str], database: str, ctes: set[str]) -> None:
    """A table reference must be the workbook's own table (or a CTE), or an allowed view."""
    if isinstance(node.this, exp.Func):
        name = _function_name(node.this).lower()
        if name not in _TABLE_FUNCTIONS_ALLOWED:
            raise _reject(
                f"the table function {name}() is not allowed; only "
                f"{', '.join(sorted(_TABLE_FUNCTIONS_ALLOWED))} may be used in FROM"
            )
        return
    name = node.name
    if not name:
        return
    if any(ch in _PATH_CHARS for ch in name):
        raise _reject(f"{name!r} is not a table name (file paths cannot be queried)")
    lowered, schema, catalog = name.lower(), node.db.lower(), node.catalog.lower()
    if (schema, lowered) in _VIEWS_ALLOWED and not catalog:
        return
    table_only, views = _system_names()
    own_name = lowered in own or (not schema and lowered in ctes)
    if (lowered in table_only or lowered in _STATEMENT_NAMES) and not own_name:
        # `(SHOW temp_directory)` reaches sqlglot as a table named SHOW: it reads any setting
        raise _reject(
            f"{name!r} is not one of the workbook's tables; SHOW and the like are refused"
        )
    if catalog and catalog != database:
        raise _reject(f"{catalog!r} is not this workbook; query its tables by name")
    if schema not in ("", "main") or (lowered in views and not own_name):
        shown = ".".join(p for p in (schema, lowered) if p)
        raise _reject(
            f"{shown!r} is not one of the workbook's tables (query its tables, or "
            "information_schema.tables and .columns to list them)"
        )


def validate_sql(sql: str, own_tables: frozenset[str] = frozenset(), database: str = "") -> str:
    """Return ``sql`` stripped if it is one read-only query; raise :class:`QueryRejected` if not.

    ``own_tables`` are the workbook's tables (lower-cased): a sheet may be named like one of
    DuckDB's catalog views (`Tables`, `Columns`), and its table is still the user's.
    ``database`` is the name the workbook is attached under, the one catalog a name may
    be qualified with."""
    text = sql.strip()
    if not text:
        raise _reject("the query is empty")
    try:
        return _validate(text, own_tables, database)
    except RecursionError:
        raise _reject("it is nested too deeply; write it with fewer parentheses") from None


def _validate(text: str, own_tables: frozenset[str], database: str) -> str:
    try:
        statements = [s for s in sqlglot.parse(text, dialect="duckdb") if s is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _reject(f"the SQL could not be parsed ({first[:_MESSAGE_MAX]})") from None
    if not statements:
        raise _reject("the query is empty")
    _check_nested_statements(text, own_tables)
    if len(statements) > 1:
        raise _reject(f"found {len(statements)} statements")
    statement = statements[0]
    if not _is_query(statement):
        kind = statement.key.upper() if not isinstance(statement, exp.Command) else "command"
        raise _reject(f"found a {kind} statement")
    ctes = _cte_names(statement)
    for node in statement.walk():
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if _is_denied_function(name):
                raise _reject(f"the function {name.lower()}() is not allowed")
        elif isinstance(node, exp.Table):
            _check_table(node, own_tables, database.lower(), ctes)
        elif isinstance(node, exp.Command | exp.Insert | exp.Update | exp.Delete | exp.Merge):
            raise _reject(f"found a nested {node.key.upper()}")
    return text


def _check_nested_statements(text: str, own_tables: frozenset[str]) -> None:
    """`(SHOW …)` nowhere, and `(DESCRIBE t)` or `(SUMMARIZE t)` only of one of the
    workbook's own tables: DuckDB runs such a parenthesised statement as a subquery (a
    setting's value, any table's contents), and sqlglot reads it as a column named SHOW, or
    as a table, depending on where it stands."""
    try:
        tokens = sqlglot.tokenize(text, read="duckdb")
    except SqlglotError:
        return  # the parse has said what is wrong
    name_types = (sqlglot.TokenType.VAR, sqlglot.TokenType.IDENTIFIER)
    for i, (before, token) in enumerate(itertools.pairwise(tokens)):
        word = token.text.lower()
        if (
            before.token_type != sqlglot.TokenType.L_PAREN
            or token.token_type == sqlglot.TokenType.IDENTIFIER  # "show" quoted is a name
            or word not in _STATEMENT_NAMES
        ):
            continue
        rest = tokens[i + 2 : i + 4]
        if (
            word != "show"
            and len(rest) == 2
            and rest[0].token_type in name_types
            and rest[0].text.lower() in own_tables
            and rest[1].token_type == sqlglot.TokenType.R_PAREN
        ):
            continue  # (DESCRIBE sales): the workbook's own table
        raise _reject(
            f"({token.text} …) is refused but for DESCRIBE or SUMMARIZE of one of the "
            f"workbook's tables; a column named {token.text} must be written in double "
            f'quotes ("{word}")'
        )


def _cte_names(statement: exp.Expr) -> set[str]:
    """The statement's CTE names. They count for every reference in it, whatever the scope, so
    none may be named like one of DuckDB's catalog views or SHOW: a reference outside the
    CTE's scope would reach the real one. (A table function needs its parentheses, so a CTE
    may be called `summary`.)"""
    _, views = _system_names()
    names = set()
    for cte in statement.find_all(exp.CTE):
        name = cte.alias_or_name.lower()
        if name in views or name in _STATEMENT_NAMES:
            raise _reject(f"{name!r} is one of DuckDB's own names; give the WITH query another")
        names.add(name)
    return names


def _connect(db_path: Path, limits: QueryLimits) -> duckdb.DuckDBPyConnection:
    """Open ``db_path`` read-only and locked down. Does not validate SQL; see :func:`run_query`."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "memory_limit": f"{limits.memory_mb}MiB",
        "threads": limits.threads,
        # Last, so the settings above cannot be changed by a statement on this connection.
        "lock_configuration": True,
    }
    return duckdb.connect(str(db_path), read_only=True, config=config)


def _own_tables(con: duckdb.DuckDBPyConnection) -> tuple[frozenset[str], str]:
    """The workbook's tables (lower-cased) and the name its database is attached under."""
    row = con.execute("SELECT current_database()").fetchone()
    database = str(row[0]) if row else ""
    tables = con.execute(
        "SELECT lower(table_name) FROM duckdb_tables() WHERE NOT internal AND database_name = ?",
        [database],
    ).fetchall()
    return frozenset(str(name) for (name,) in tables), database


# An absolute path in a message: DuckDB names files (the workbook's, its spill directory) in
# some errors, and where DATA_DIR lies is not the user's business.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"()/]+/)+[^\s'\"()]*")


def _duckdb_message(exc: BaseException, db_path: Path) -> str:
    """The first line of DuckDB's message, with no path in it: the workbook's folder (whatever
    characters it has; DuckDB's spill files live there too) and any other absolute path."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else type(exc).__name__
    for folder in sorted({str(db_path.parent), str(db_path.parent.resolve())}, key=len)[::-1]:
        first = first.replace(folder, "<path>")
    return _ABSOLUTE_PATH.sub("<path>", first)[:_MESSAGE_MAX]


def run_query(db_path: Path, sql: str, limits: QueryLimits) -> QueryResult:
    """Validate ``sql`` and run it against ``db_path`` under ``limits``. Synchronous.

    The result is bounded in bytes while it is built, not after: text cells are cut inside
    DuckDB (``limits.max_cell_chars``, less when there are many columns) and rows stop once
    their JSON would pass ``limits.max_bytes``, so no query can make the server hold more.
    """
    started = time.perf_counter()
    try:
        con = _connect(db_path, limits)
    except duckdb.Error as exc:
        raise QueryFailed(_duckdb_message(exc, db_path)) from None
    try:
        try:
            own, database = _own_tables(con)
        except duckdb.Error as exc:
            raise QueryFailed(_duckdb_message(exc, db_path)) from None
        result = _run_validated(con, validate_sql(sql, own, database), limits, db_path)
    finally:
        con.close()
    result.duration_ms = (time.perf_counter() - started) * 1000.0
    return result


def _run_validated(
    con: duckdb.DuckDBPyConnection, text: str, limits: QueryLimits, db_path: Path
) -> QueryResult:
    """Run a validated query with a timer that interrupts it at ``limits.timeout_s``."""
    lock = threading.Lock()
    finished = False
    timed_out = False

    def _interrupt() -> None:
        nonlocal timed_out
        with lock:
            if finished:
                return
            timed_out = True
            con.interrupt()

    timer = threading.Timer(limits.timeout_s, _interrupt)
    timer.daemon = True
    try:
        timer.start()
        return _fetch_bounded(con, text, limits)
    except duckdb.Error as exc:
        if timed_out or isinstance(exc, duckdb.InterruptException):
            raise QueryTimeout(
                f"The query ran longer than {limits.timeout_s:g} s and was stopped; "
                "add a WHERE or LIMIT"
            ) from None
        raise QueryFailed(_duckdb_message(exc, db_path)) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value Python cannot take
        raise QueryFailed(
            f"A value in the result could not be read ({type(exc).__name__}); "
            "CAST the column to VARCHAR"
        ) from None
    finally:
        with lock:
            finished = True
            timer.cancel()


# Text longer than this many characters per cell is never fetched whole, however many columns
_MIN_CELL_CHARS = 64
_CUT = "__sheetstream_cut"


def _cell_limit(limits: QueryLimits, columns: int) -> int:
    """Characters a text cell keeps: the setting, or less so one row fits the byte cap."""
    per_row = limits.max_bytes // (4 * max(columns, 1))  # 4: the most bytes of a character
    return max(_MIN_CELL_CHARS, min(limits.max_cell_chars, per_row))


def _bounded_projection(types: list[DuckDBPyType], cell_chars: int) -> str:
    """Each column as it may be fetched (`#n` is its position), and whether any cell was cut.

    Text is cut to `cell_chars` with a marker; blobs come as hex and nested values (lists,
    structs, maps) as their text, cut the same way; numbers, dates and the like are small."""
    columns, long = [], []
    for n, kind in enumerate(types, start=1):
        if kind.id == "varchar":
            value = f"#{n}"
        elif kind.id == "blob":
            value = f"hex(#{n})"
        elif kind.id in _NESTED or kind.id not in _SCALARS:
            value = f"CAST(#{n} AS VARCHAR)"
        else:
            columns.append(f"#{n}")
            continue
        too_long = f"length({value}) > {cell_chars}"
        columns.append(
            f"CASE WHEN {too_long} THEN left({value}, {cell_chars}) || '…[' || "
            f"length({value}) || ' characters]' ELSE {value} END"
        )
        long.append(f"coalesce({too_long}, false)")
    columns.append(f"({' OR '.join(long) or 'false'}) AS {_CUT}")
    return ", ".join(columns)


_NESTED = frozenset({"list", "struct", "map", "array", "union"})
_SCALARS = frozenset(
    {
        "boolean", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint",
        "usmallint", "uinteger", "ubigint", "uhugeint", "float", "double", "decimal", "date",
        "time", "time with time zone", "timestamp", "timestamp with time zone",
        "timestamp_s", "timestamp_ms", "timestamp_ns", "interval", "uuid", "enum", "null",
        "time_ns",
    }
)  # fmt: skip


def _fetch_bounded(con: duckdb.DuckDBPyConnection, text: str, limits: QueryLimits) -> QueryResult:
    relation = con.sql(text)
    columns = [str(name) for name in relation.columns]
    width = len(columns)
    cell_chars = _cell_limit(limits, width)
    cursor = con.execute(
        relation.project(_bounded_projection(relation.types, cell_chars)).sql_query()
    )
    # a batch holds at most about one byte cap of cells
    batch = max(1, min(256, limits.max_bytes // max(1, width * cell_chars)))
    rows: list[list[object]] = []
    size = 2  # the brackets of the rows array
    cut_cells = False
    truncated_by = None
    while truncated_by is None:
        fetched = cursor.fetchmany(batch)
        if not fetched:
            break
        for row in fetched:
            if len(rows) == limits.max_rows:
                truncated_by = "rows"
                break
            values = list(row[:width])
            size += len(orjson.dumps([json_value(v) for v in values])) + 1
            if size > limits.max_bytes:
                truncated_by = "bytes"
                break
            cut_cells = cut_cells or bool(row[width])
            rows.append(values)
    if truncated_by is None and cut_cells:
        truncated_by = "cells"
    return QueryResult(
        columns=columns,
        rows=rows,
        truncated=truncated_by is not None,
        duration_ms=0.0,
        truncated_by=truncated_by,
    )
