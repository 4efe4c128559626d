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
import logging
import math
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
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
    memory_mb: int = 256
    threads: int = 2


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[object]]
    truncated: bool
    duration_ms: float

    def to_json(self) -> dict[str, object]:
        """A dict that ``json.dumps`` accepts: dates as ISO strings, Decimal as float, bytes as
        hex, NaN/inf as None, lists/structs/maps converted recursively."""
        return {
            "columns": list(self.columns),
            "rows": [[_json_value(v) for v in row] for row in self.rows],
            "truncated": self.truncated,
            "duration_ms": self.duration_ms,
        }


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
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
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(v) for v in value]
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
    return lowered in _DENIED_FUNCTIONS or lowered.startswith(_DENIED_PREFIXES)


def validate_sql(sql: str) -> str:
    """Return ``sql`` stripped if it is one read-only query; raise :class:`QueryRejected` if not."""
    text = sql.strip()
    if not text:
        raise _reject("the query is empty")
    try:
        statements = [s for s in sqlglot.parse(text, dialect="duckdb") if s is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _reject(f"the SQL could not be parsed ({first[:_MESSAGE_MAX]})") from None
    if not statements:
        raise _reject("the query is empty")
    if len(statements) > 1:
        raise _reject(f"found {len(statements)} statements")
    statement = statements[0]
    if not _is_query(statement):
        kind = statement.key.upper() if not isinstance(statement, exp.Command) else "command"
        raise _reject(f"found a {kind} statement")
    for node in statement.walk():
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if _is_denied_function(name):
                raise _reject(f"the function {name.lower()}() is not allowed")
        elif isinstance(node, exp.Table):
            name = node.name
            if name and any(ch in _PATH_CHARS for ch in name):
                raise _reject(f"{name!r} is not a table name (file paths cannot be queried)")
        elif isinstance(node, exp.Command | exp.Insert | exp.Update | exp.Delete | exp.Merge):
            raise _reject(f"found a nested {node.key.upper()}")
    return text


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


def _duckdb_message(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else type(exc).__name__
    return first[:_MESSAGE_MAX]


def run_query(db_path: Path, sql: str, limits: QueryLimits) -> QueryResult:
    """Validate ``sql`` and run it against ``db_path`` under ``limits``. Synchronous."""
    text = validate_sql(sql)
    started = time.perf_counter()
    try:
        con = _connect(db_path, limits)
    except duckdb.Error as exc:
        raise QueryFailed(_duckdb_message(exc)) from None

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
        try:
            cursor = con.execute(text)
            columns = [str(d[0]) for d in (cursor.description or [])]
            fetched = cursor.fetchmany(limits.max_rows + 1)
        except duckdb.Error as exc:
            if timed_out or isinstance(exc, duckdb.InterruptException):
                raise QueryTimeout(
                    f"The query ran longer than {limits.timeout_s:g} s and was stopped; "
                    "add a WHERE or LIMIT"
                ) from None
            raise QueryFailed(_duckdb_message(exc)) from None
    finally:
        with lock:
            finished = True
            timer.cancel()
        con.close()
    truncated = len(fetched) > limits.max_rows
    rows = [list(row) for row in fetched[: limits.max_rows]]
    duration_ms = (time.perf_counter() - started) * 1000.0
    return QueryResult(columns=columns, rows=rows, truncated=truncated, duration_ms=duration_ms)
