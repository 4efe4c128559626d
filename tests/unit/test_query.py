"""The read-only query path: validation, the locked-down connection, row cap and timeout."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import duckdb
import pytest

from sheetstream.errors import SheetstreamError
from sheetstream.workbooks.query import (
    QueryFailed,
    QueryLimits,
    QueryRejected,
    QueryResult,
    QueryTimeout,
    _connect,
    run_query,
    validate_sql,
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "workbook.duckdb"
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE sales (region VARCHAR, amount INTEGER, sold_on DATE)")
        con.execute(
            "INSERT INTO sales VALUES "
            "('north', 10, DATE '2024-01-01'), ('south', 20, DATE '2024-01-02'), "
            "('north', 5, DATE '2024-01-03')"
        )
        con.execute("CREATE TABLE big AS SELECT range AS n FROM range(5000)")
    finally:
        con.close()
    return path


def test_select_returns_columns_and_rows(db_path: Path) -> None:
    result = run_query(
        db_path,
        "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region",
        QueryLimits(),
    )
    assert result.columns == ["region", "total"]
    assert result.rows == [["north", 15], ["south", 20]]
    assert result.truncated is False
    assert result.duration_ms >= 0


def test_cte_and_union_pass(db_path: Path) -> None:
    cte = run_query(
        db_path,
        "WITH n AS (SELECT * FROM sales WHERE region = 'north') SELECT count(*) AS c FROM n",
        QueryLimits(),
    )
    assert cte.rows == [[2]]
    union = run_query(
        db_path,
        "SELECT 1 AS x UNION ALL SELECT 2 ORDER BY x",
        QueryLimits(),
    )
    assert union.rows == [[1], [2]]


def test_row_cap_sets_truncated(db_path: Path) -> None:
    result = run_query(db_path, "SELECT n FROM big ORDER BY n", QueryLimits(max_rows=10))
    assert len(result.rows) == 10
    assert result.truncated is True
    exact = run_query(db_path, "SELECT n FROM big LIMIT 10", QueryLimits(max_rows=10))
    assert exact.truncated is False


def test_to_json_is_json_safe() -> None:
    result = QueryResult(
        columns=["d", "ts", "dec", "b", "nan", "lst"],
        rows=[
            [
                dt.date(2024, 1, 2),
                dt.datetime(2024, 1, 2, 3, 4, 5),
                decimal.Decimal("1.50"),
                b"\x01\xff",
                float("nan"),
                [dt.date(2024, 1, 3), {"k": decimal.Decimal("2")}],
            ]
        ],
        truncated=False,
        duration_ms=1.0,
    )
    payload = result.to_json()
    json.dumps(payload, allow_nan=False)
    assert payload["rows"] == [
        ["2024-01-02", "2024-01-02T03:04:05", 1.5, "01ff", None, ["2024-01-03", {"k": 2.0}]]
    ]


def test_to_json_from_real_query(db_path: Path) -> None:
    result = run_query(
        db_path, "SELECT sold_on, amount::DECIMAL(10,2) AS a FROM sales LIMIT 1", QueryLimits()
    )
    json.dumps(result.to_json(), allow_nan=False)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM READ_CSV_AUTO('/etc/passwd')", "read_csv_auto"),
        ("SELECT read_text('/etc/passwd')", "read_text"),
        ("SELECT * FROM read_parquet('x.parquet')", "read_parquet"),
        ("SELECT * FROM glob('/etc/*')", "glob"),
        ("SELECT * FROM query('SELECT 1')", "query"),
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT * FROM '/etc/passwd'", "/etc/passwd"),
        ("SELECT * FROM 'data.csv'", "data.csv"),
        ("COPY sales TO '/tmp/out.csv'", "COPY"),
        ("ATTACH '/tmp/other.duckdb'", "ATTACH"),
        ("DETACH other", "DETACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "command"),
        ("SET memory_limit = '10GB'", "SET"),
        ("PRAGMA version", "PRAGMA"),
        ("CREATE TABLE t (a INTEGER)", "CREATE"),
        ("INSERT INTO sales VALUES ('x', 1, NULL)", "INSERT"),
        ("WITH t AS (SELECT 1) INSERT INTO sales SELECT * FROM t", "INSERT"),
        ("UPDATE sales SET amount = 0", "UPDATE"),
        ("DELETE FROM sales", "DELETE"),
        ("DROP TABLE sales", "DROP"),
        ("CALL pragma_version()", "command"),
        ("SELECT 1; SELECT 2", "2 statements"),
        ("", "empty"),
        ("SELECT FROM WHERE (", "could not be parsed"),
    ],
)
def test_rejected(db_path: Path, sql: str, fragment: str) -> None:
    with pytest.raises(QueryRejected) as info:
        run_query(db_path, sql, QueryLimits())
    message = str(info.value)
    assert message.startswith("Only a single SELECT statement is allowed")
    assert fragment in message
    assert info.value.code == "bad_request"
    assert isinstance(info.value, SheetstreamError)


def test_validate_sql_returns_stripped_text() -> None:
    assert validate_sql("  SELECT 1;  ") == "SELECT 1;"
    assert validate_sql("(SELECT 1) UNION (SELECT 2)")
    assert validate_sql("FROM sales")


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT * FROM read_csv('/etc/hostname')", "disabled by configuration"),
        ("SELECT * FROM '/etc/hostname.csv'", "disabled by configuration"),
        ("COPY sales TO '/tmp/sheetstream-should-not-exist.csv'", "disabled by configuration"),
        ("ATTACH '/tmp/sheetstream-other.duckdb'", "disabled by configuration"),
        ("LOAD httpfs", "disabled"),
        ("SET memory_limit = '10GB'", "configuration has been locked"),
        ("SET enable_external_access = true", "configuration has been locked"),
        ("SET lock_configuration = false", "configuration has been locked"),
        ("INSERT INTO sales VALUES ('x', 1, NULL)", "read-only"),
        ("CREATE TABLE t (a INTEGER)", "read-only"),
    ],
)
def test_connection_is_locked_down(db_path: Path, sql: str, fragment: str) -> None:
    con = _connect(db_path, QueryLimits())
    try:
        with pytest.raises(duckdb.Error) as info:
            con.execute(sql)
        assert fragment in str(info.value)
    finally:
        con.close()
    assert not Path("/tmp/sheetstream-should-not-exist.csv").exists()


def test_connection_settings_take_effect(db_path: Path) -> None:
    con = _connect(db_path, QueryLimits(memory_mb=300, threads=3))
    try:
        rows = con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ("
            "'enable_external_access', 'autoinstall_known_extensions', "
            "'autoload_known_extensions', 'allow_community_extensions', "
            "'memory_limit', 'threads', 'lock_configuration')"
        ).fetchall()
    finally:
        con.close()
    settings = dict(rows)
    assert settings == {
        "enable_external_access": "false",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_community_extensions": "false",
        "memory_limit": "300.0 MiB",
        "threads": "3",
        "lock_configuration": "true",
    }


def test_runaway_query_times_out(db_path: Path) -> None:
    with pytest.raises(QueryTimeout) as info:
        run_query(
            db_path,
            "SELECT count(*) FROM range(100000000) a, range(100000000) b",
            QueryLimits(timeout_s=0.5),
        )
    assert "longer than 0.5 s" in str(info.value)
    assert "WHERE or LIMIT" in str(info.value)


def test_duckdb_error_maps_to_query_failed(db_path: Path) -> None:
    with pytest.raises(QueryFailed) as info:
        run_query(db_path, "SELECT no_such_column FROM sales", QueryLimits())
    assert info.value.code == "bad_request"
    message = str(info.value)
    assert "no_such_column" in message
    assert "\n" not in message
    assert len(message) <= 300


def test_missing_database_maps_to_query_failed(tmp_path: Path) -> None:
    with pytest.raises(QueryFailed):
        run_query(tmp_path / "absent.duckdb", "SELECT 1", QueryLimits())


def test_names_from_the_workbook_cannot_break_a_markdown_table() -> None:
    from sheetstream.workbooks.commands import profile_text

    workbook = {
        "filename": "x.xlsx",
        "sheets": [
            {
                "name": "Q1 | Q2\nnotes",
                "table": "q1",
                "rows": 2,
                "columns": [{"name": "a|b\n```", "type": "integer", "non_null": 2}],
            }
        ],
    }
    text = profile_text(workbook)
    heading, *rest = [line for line in text.splitlines() if line.strip()]
    assert heading.startswith("### Q1 \\| Q2 notes")
    row = next(line for line in rest if line.startswith("| a"))
    assert row.startswith("| a\\|b ``` | integer |")  # one cell, one line


def test_a_result_is_capped_in_bytes_while_it_is_fetched(db_path: Path) -> None:
    """A thousand 1 MB cells once came back whole (1 GB, 5 GiB of server memory): cells are
    cut inside DuckDB and rows stop at the byte cap, so the result is small from the start."""
    limits = QueryLimits(max_bytes=200_000, max_cell_chars=10_000)
    result = run_query(
        db_path, "SELECT repeat(repeat('x', 10000), 100) AS a FROM range(1000)", limits
    )
    assert result.truncated and result.truncated_by == "bytes"
    body = json.dumps(result.to_json()["rows"])
    assert len(body) <= limits.max_bytes
    assert 0 < len(result.rows) < 1000
    first = result.rows[0][0]
    assert isinstance(first, str) and first == "x" * 10_000 + "…[1000000 characters]"


def test_long_text_is_cut_with_a_marker_and_short_text_is_not(db_path: Path) -> None:
    result = run_query(
        db_path,
        "SELECT region, repeat('y', 500) AS long FROM sales ORDER BY amount LIMIT 1",
        QueryLimits(max_cell_chars=100),
    )
    assert result.rows == [["north", "y" * 100 + "…[500 characters]"]]
    assert result.truncated and result.truncated_by == "cells"
    whole = run_query(db_path, "SELECT repeat('y', 100) AS a", QueryLimits(max_cell_chars=100))
    assert whole.rows == [["y" * 100]] and not whole.truncated


def test_many_columns_share_the_byte_cap(db_path: Path) -> None:
    """One row of many long cells must fit too: each keeps fewer characters."""
    columns = ", ".join(f"repeat('z', 5000) AS c{i}" for i in range(200))
    limits = QueryLimits(max_bytes=100_000, max_cell_chars=10_000)
    result = run_query(db_path, f"SELECT {columns}", limits)
    assert len(result.rows) == 1 and len(result.columns) == 200
    assert len(json.dumps(result.to_json()["rows"])) <= limits.max_bytes
    assert all(str(cell).startswith("z" * 64) for cell in result.rows[0])


def test_lists_structs_blobs_and_huge_numbers_come_back_as_bounded_text(db_path: Path) -> None:
    result = run_query(
        db_path,
        "SELECT [1, 2] AS l, {'k': 1} AS s, 'ab'::BLOB AS b, 7 AS n, "
        "range(100000) AS big, ('1' || repeat('0', 5000))::BIGNUM AS huge",
        QueryLimits(max_cell_chars=1000),
    )
    listed, struct, blob, number, big, huge = result.rows[0]
    assert (listed, struct, blob, number) == ("[1, 2]", "{'k': 1}", "6162", 7)
    assert isinstance(big, str) and big.endswith("characters]") and len(big) < 1100
    assert isinstance(huge, str) and huge.startswith("1000") and len(huge) < 1100


def test_integers_wider_than_64_bits_are_text_that_every_encoder_takes(db_path: Path) -> None:
    import orjson

    result = run_query(
        db_path,
        "SELECT 170141183460469231731687303715884105727::HUGEINT AS h, "
        "340282366920938463463374607431768211455::UHUGEINT AS u, 2::HUGEINT AS small, "
        "(-9223372036854775808)::HUGEINT AS low",
        QueryLimits(),
    )
    body = result.to_json()
    assert body["rows"] == [
        ["170141183460469231731687303715884105727", "340282366920938463463374607431768211455",
         2, -9223372036854775808]
    ]  # fmt: skip
    assert orjson.loads(orjson.dumps(body)) == body


def test_sql_nested_past_the_parsers_depth_is_refused_not_a_crash(db_path: Path) -> None:
    deep = "SELECT " + "(" * 20_000 + "1" + ")" * 20_000 + " AS x"
    with pytest.raises(QueryRejected, match="nested too deeply"):
        run_query(db_path, deep, QueryLimits())
    shallow = run_query(db_path, "SELECT " + "(" * 30 + "1" + ")" * 30 + " AS x", QueryLimits())
    assert shallow.rows == [[1]]


def test_a_preview_is_bounded_in_rows_bytes_and_cell_length() -> None:
    from sheetstream.workbooks.preview import Bounds, preview

    result = QueryResult(
        columns=["a"], rows=[["x" * 300] for _ in range(100)], truncated=False, duration_ms=0
    )
    shown = preview(result, Bounds(rows=10, bytes=10_000, cell_chars=50))
    assert shown.cut and len(shown.rows) == 10 and shown.rows[0] == ["x" * 50 + "…"]
    tight = preview(result, Bounds(rows=100, bytes=500, cell_chars=50))
    assert tight.cut and len(json.dumps(tight.rows)) <= 500
    small = QueryResult(columns=["a"], rows=[[1], [2]], truncated=False, duration_ms=0)
    assert preview(small, Bounds(rows=10, bytes=100, cell_chars=5)).cut is False


# --- nothing about the server leaks: not its paths, settings or other databases


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
        "SELECT json_execute_serialized_sql('x')",
        "SELECT * FROM duckdb_databases()",
        "SELECT path FROM duckdb_databases",
        "SELECT * FROM duckdb_settings()",
        "SELECT current_setting('temp_directory')",
        "SELECT * FROM pg_settings",
        "SELECT * FROM pg_catalog.pg_database",
        "SELECT * FROM pragma_database_list",
        "SELECT * FROM system.main.duckdb_settings",
        "SELECT * FROM duckdb_temporary_files()",
        "SELECT * FROM duckdb_extensions()",
        "SELECT * FROM summary(sales)",
        "SELECT * FROM temp.main.sales",
        # a CTE's name counts for the whole statement, so it may not shadow a catalog view
        "SELECT s.* FROM (WITH pg_settings AS (SELECT 1 AS x) SELECT * FROM pg_settings) a, "
        "pg_settings s",
        "WITH sqlite_master AS (SELECT 1 AS x) SELECT * FROM sqlite_master",
        "WITH t AS (SELECT 1 AS x), pg_database AS (SELECT 2 AS y) SELECT * FROM t",
        "SELECT * FROM (SHOW temp_directory)",
        "SELECT (SELECT * FROM (SHOW secret_directory)) || '/x'",
        "WITH show AS (SELECT 1 AS x) SELECT * FROM (SHOW temp_directory)",
        # in a select list, sqlglot reads `(SHOW x)` as a column SHOW aliased x
        "SELECT(SHOW temp_directory)",
        "SELECT 1, (show secret_directory) AS d",
        "SELECT (DESCRIBE duckdb_settings)",
        "SELECT * FROM (DESC duckdb_settings)",
        "SELECT (SUMMARIZE duckdb_settings())",
    ],
)
def test_catalog_listings_and_settings_are_refused(db_path: Path, sql: str) -> None:
    with pytest.raises(QueryRejected):
        run_query(db_path, sql, QueryLimits())


def test_the_workbook_can_still_describe_itself(db_path: Path) -> None:
    columns = run_query(
        db_path,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'sales' "
        "ORDER BY ordinal_position",
        QueryLimits(),
    )
    assert [r[0] for r in columns.rows] == ["region", "amount", "sold_on"]
    qualified = run_query(db_path, "SELECT count(*) FROM workbook.main.sales", QueryLimits())
    assert qualified.rows == [[3]]
    cte = run_query(
        db_path, "WITH settings AS (SELECT 1 AS a) SELECT a FROM settings", QueryLimits()
    )
    assert cte.rows == [[1]]
    summary = run_query(
        db_path,
        "WITH summary AS (SELECT sum(amount) AS s FROM sales) SELECT s FROM summary",
        QueryLimits(),
    )
    assert summary.rows == [[35]]
    described = run_query(db_path, "SELECT column_name FROM (DESCRIBE sales)", QueryLimits())
    assert [r[0] for r in described.rows] == ["region", "amount", "sold_on"]
    series = run_query(db_path, "SELECT count(*) FROM range(5), unnest([1, 2])", QueryLimits())
    assert series.rows == [[10]]


def test_a_sheet_named_like_a_catalog_view_is_the_users_table(tmp_path: Path) -> None:
    path = tmp_path / "named.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE tables AS SELECT 42 AS answer")
    con.close()
    assert run_query(path, "SELECT answer FROM tables", QueryLimits()).rows == [[42]]


def _leaks(result: QueryResult, secret: str) -> bool:
    return secret in json.dumps(result.to_json())


def test_no_function_view_or_setting_reveals_where_the_workbook_lives(db_path: Path) -> None:
    """The whole class, for the DuckDB installed: every table function and catalog view it
    has, every argument-less function, and every setting by name. Each is refused, or its
    result does not contain the workbook's directory."""
    secret = str(db_path.parent)
    con = duckdb.connect()
    functions = con.execute(
        "SELECT DISTINCT function_name, function_type, len(parameters) FROM duckdb_functions()"
    ).fetchall()
    views = [
        r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE internal").fetchall()
    ]
    settings = [r[0] for r in con.execute("SELECT name FROM duckdb_settings()").fetchall()]
    con.close()
    queries = [f"SELECT * FROM {name}" for name in views]
    queries += [
        f"SELECT * FROM {name}()" for name, kind, _ in functions if kind in ("table", "table_macro")
    ]
    queries += [
        f"SELECT {name}()"
        for name, kind, arity in functions
        if kind in ("scalar", "macro") and arity == 0 and name.isidentifier()
    ]
    queries += [f"SELECT current_setting('{name}')" for name in settings]
    # DuckDB takes statements in parentheses where a table goes; SHOW reads any setting
    queries += [f"SELECT * FROM (SHOW {name})" for name in settings]
    queries += [f"SELECT * FROM (DESCRIBE {name})" for name in views]
    queries += ["SELECT * FROM (SHOW TABLES)", "SELECT * FROM (SHOW ALL TABLES)"]
    queries += ["SELECT * FROM (SUMMARIZE (SHOW temp_directory))"]
    ran = 0
    for sql in queries:
        try:
            result = run_query(db_path, sql, QueryLimits(timeout_s=2))
        except (QueryRejected, QueryFailed, QueryTimeout) as refused:
            assert secret not in refused.message, sql
            continue
        ran += 1
        assert not _leaks(result, secret), sql
    assert ran > 30  # the harmless ones still run (now(), version(), information_schema …)


def test_error_messages_name_no_server_path(tmp_path: Path) -> None:
    with pytest.raises(QueryFailed) as info:
        run_query(tmp_path / "absent" / "tables.duckdb", "SELECT 1", QueryLimits())
    assert str(tmp_path) not in info.value.message and "<path>" in info.value.message


def test_a_folder_with_spaces_in_its_name_is_redacted_whole(tmp_path: Path) -> None:
    folder = tmp_path / "shared drive" / "my data (2024)"
    with pytest.raises(QueryFailed) as info:
        run_query(folder / "tables.duckdb", "SELECT 1", QueryLimits())
    message = info.value.message
    assert "shared drive" not in message and "(2024)" not in message and "<path>" in message


def test_a_preview_shows_the_first_columns_with_their_names_cut() -> None:
    from sheetstream.workbooks.preview import Bounds, preview

    result = QueryResult(
        columns=["a" * 10, "b", "c"], rows=[[1, 2, 3]], truncated=False, duration_ms=0
    )
    shown = preview(result, Bounds(rows=10, bytes=1000, cell_chars=5, columns=2))
    assert shown.columns == ["aaaaa…", "b"] and shown.rows == [[1, 2]] and shown.cut
    whole = preview(result, Bounds(rows=10, bytes=1000, cell_chars=50, columns=3))
    assert whole.columns == result.columns and whole.rows == [[1, 2, 3]] and not whole.cut


def test_a_column_named_like_a_statement_is_read_when_quoted(db_path: Path) -> None:
    assert run_query(db_path, 'SELECT ("show") FROM (SELECT 1 AS "show")', QueryLimits()).rows == [
        [1]
    ]
