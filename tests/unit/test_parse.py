"""Workbook parsing: faithful types, `_row`, headers, hidden sheets, the profile, csv, and the
subprocess guard (memory cap, timeout, corrupt files). No .ods test: no ODS writer is installed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest

from sheetstream.errors import SheetstreamError
from sheetstream.workbooks.names import column_names, table_names
from sheetstream.workbooks.parse import ParseLimits, WorkbookUnreadable, parse_workbook
from sheetstream.workbooks.query import QueryLimits, run_query


def _write_workbook(path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Sales 2024"
    ws.append(["id", "amount", "day", "stamp", "code", "digits", "id", None, "flag"])
    ws.append(
        [1, 1.5, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 10, 30), "007", "123", 5, "x", True]
    )
    ws.append(
        [2, None, dt.date(2024, 1, 5), dt.datetime(2024, 1, 3, 0, 0), 7, "456", 6, None, False]
    )
    ws.append([None] * 9)  # a blank row: dropped, `_row` skips 4
    ws.append([3, 4.0, None, None, "abc", "123", 7, "y", None])
    ws.append(
        [4, -2.5, dt.date(2023, 12, 31), dt.datetime(2024, 2, 1, 8, 0), "abc", "789", 8, None, True]
    )

    hidden = wb.create_sheet("Secret!")
    hidden.sheet_state = "hidden"
    hidden.append(["a"])
    hidden.append([1])

    offset = wb.create_sheet("1st offset")
    offset["B3"] = "h1"
    offset["C3"] = "H1"
    offset["B4"] = 10
    offset["C4"] = "q"
    wb.create_sheet("Blank")
    wb.save(path)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    tmp = tmp_path_factory.mktemp("parse")
    src = tmp / "book.xlsx"
    _write_workbook(src)
    dest = tmp / "book.duckdb"
    profile = parse_workbook(src, "xlsx", dest, ParseLimits(timeout_s=60))
    return profile, dest


def _sheet(profile: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in profile["sheets"] if s["name"] == name)


def _col(sheet: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in sheet["columns"] if c["name"] == name)


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_profile_is_json_line_safe(parsed: tuple[dict[str, Any], Path]) -> None:
    profile, _ = parsed
    assert json.loads(json.dumps(profile)) == profile
    assert [s["table"] for s in profile["sheets"]] == [
        "sales_2024",
        "secret",
        "sheet_1st_offset",
        "blank",
    ]


def test_types_are_faithful(parsed: tuple[dict[str, Any], Path]) -> None:
    profile, db = parsed
    sheet = _sheet(profile, "Sales 2024")
    types = {c["name"]: c["type"] for c in sheet["columns"]}
    assert types == {
        "id": "integer",
        "amount": "number",
        "day": "date",
        "stamp": "datetime",
        "code": "text",  # "007" and the number 7: mixed, so text; "007" keeps its zeros
        "digits": "text",  # numeric-looking text cells stay text
        "id_2": "integer",
        "column_8": "text",
        "flag": "boolean",
    }
    described = dict(_rows(db, "SELECT column_name, column_type FROM (DESCRIBE sales_2024)"))
    assert described["_row"] == "BIGINT"
    assert described["id"] == "BIGINT"
    assert described["amount"] == "DOUBLE"
    assert described["day"] == "DATE"
    assert described["stamp"].startswith("TIMESTAMP")
    rows = _rows(
        db, "SELECT _row, id, amount, day, stamp, code, digits, flag FROM sales_2024 ORDER BY _row"
    )
    assert rows == [
        (2, 1, 1.5, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 10, 30), "007", "123", True),
        (3, 2, None, dt.date(2024, 1, 5), dt.datetime(2024, 1, 3), "7", "456", False),
        (5, 3, 4.0, None, None, "abc", "123", None),
        (6, 4, -2.5, dt.date(2023, 12, 31), dt.datetime(2024, 2, 1, 8), "abc", "789", True),
    ]


def test_headers_row_numbers_hidden_and_empty_sheets(parsed: tuple[dict[str, Any], Path]) -> None:
    profile, db = parsed
    assert _sheet(profile, "Secret!")["hidden"] is True
    assert _sheet(profile, "Sales 2024")["hidden"] is False
    offset = _sheet(profile, "1st offset")
    assert offset["header_row"] == 3
    assert [c["name"] for c in offset["columns"]] == ["h1", "H1_2"]  # case-insensitive dedupe
    assert _rows(db, 'SELECT _row, h1, "H1_2" FROM sheet_1st_offset') == [(4, 10, "q")]
    assert offset["sample_row_numbers"] == [4]
    blank = _sheet(profile, "Blank")
    assert blank["rows"] == 0 and blank["columns"] == [] and blank["sample_rows"] == []


def test_profile_figures_are_exact(parsed: tuple[dict[str, Any], Path]) -> None:
    profile, _ = parsed
    sheet = _sheet(profile, "Sales 2024")
    assert sheet["rows"] == 4
    assert _col(sheet, "id") == {
        "name": "id",
        "type": "integer",
        "non_null": 4,
        "distinct": 4,
        "min": 1,
        "max": 4,
        "mean": 2.5,
        "sum": 10,
    }
    amount = _col(sheet, "amount")
    assert (amount["non_null"], amount["min"], amount["max"], amount["sum"]) == (3, -2.5, 4.0, 3.0)
    assert amount["mean"] == pytest.approx(1.0)
    day = _col(sheet, "day")
    assert (day["min"], day["max"], day["non_null"]) == ("2023-12-31", "2024-01-05", 3)
    code = _col(sheet, "code")
    assert (code["non_null"], code["distinct"]) == (4, 3)
    assert code["top"] == [
        {"value": "abc", "count": 2},
        {"value": "007", "count": 1},
        {"value": "7", "count": 1},
    ]
    assert _col(sheet, "column_8")["non_null"] == 2
    assert sheet["sample_rows"][0] == [
        1,
        1.5,
        "2024-01-02",
        "2024-01-02T10:30:00",
        "007",
        "123",
        5,
        "x",
        True,
    ]
    assert sheet["sample_row_numbers"] == [2, 3, 5, 6]


def test_queryable_through_run_query(parsed: tuple[dict[str, Any], Path]) -> None:
    _, db = parsed
    result = run_query(
        db,
        "SELECT code, count(*) AS n, min(_row) AS first FROM sales_2024 "
        "GROUP BY code ORDER BY code",
        QueryLimits(),
    )
    assert result.columns == ["code", "n", "first"]
    assert result.rows == [["007", 1, 2], ["7", 1, 3], ["abc", 2, 5]]
    assert run_query(db, "SELECT a FROM secret", QueryLimits()).rows == [[1]]


def test_csv(tmp_path: Path) -> None:
    src = tmp_path / "Orders Q1.csv"
    src.write_text(
        "id,code,amount,when,name,name\n"
        "1,007,1.5,2024-01-02,a,\n"
        "2,7,2.5,2024-01-03,b,x\n"
        ",,,,,\n"
        "3,10,,2024-01-04,a,y\n"
    )
    dest = tmp_path / "orders.duckdb"
    profile = parse_workbook(src, "csv", dest, ParseLimits(timeout_s=60))
    (sheet,) = profile["sheets"]
    assert sheet["table"] == "orders_q1"
    types = {c["name"]: c["type"] for c in sheet["columns"]}
    # A repeated name gets a suffix; leading-zero numbers stay text.
    assert types == {
        "id": "integer",
        "code": "text",
        "amount": "number",
        "when": "date",
        "name": "text",
        "name_2": "text",
    }
    assert _col(sheet, "id")["sum"] == 6
    # stored under another name (as an upload is), the sheet is named as it is given
    stored = tmp_path / "original"
    stored.write_bytes(src.read_bytes())
    renamed = parse_workbook(
        stored, "csv", tmp_path / "r.duckdb", ParseLimits(timeout_s=60), name="Orders Q1"
    )
    assert (
        renamed["sheets"][0]["name"] == "Orders Q1" and renamed["sheets"][0]["table"] == "orders_q1"
    )
    assert _rows(dest, "SELECT _row, code FROM orders_q1 ORDER BY _row") == [
        (2, "007"),
        (3, "7"),
        (5, "10"),
    ]


def test_memory_cap_becomes_unreadable(tmp_path: Path) -> None:
    src = tmp_path / "book.xlsx"
    _write_workbook(src)
    dest = tmp_path / "out.duckdb"
    with pytest.raises(WorkbookUnreadable) as info:
        parse_workbook(src, "xlsx", dest, ParseLimits(memory_mb=64))
    assert "more than 64 MiB of memory" in info.value.message
    assert "SHEETSTREAM_WORKBOOK_PARSE_MEMORY_MB" in info.value.message
    assert info.value.message.startswith("Could not read this workbook: ")
    assert info.value.code == "bad_request"
    assert isinstance(info.value, SheetstreamError)
    assert not dest.exists()


def test_timeout_becomes_unreadable(tmp_path: Path) -> None:
    src = tmp_path / "book.xlsx"
    _write_workbook(src)
    dest = tmp_path / "out.duckdb"
    with pytest.raises(WorkbookUnreadable, match=r"took longer than 0\.001 s"):
        parse_workbook(src, "xlsx", dest, ParseLimits(timeout_s=0.001))
    assert not dest.exists()


def test_corrupt_file_becomes_unreadable(tmp_path: Path) -> None:
    src = tmp_path / "broken.xlsx"
    src.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 10)
    dest = tmp_path / "out.duckdb"
    with pytest.raises(WorkbookUnreadable, match="Could not read this workbook: "):
        parse_workbook(src, "xlsx", dest, ParseLimits(timeout_s=60))
    assert not dest.exists()
    assert not (tmp_path / "out.duckdb.wal").exists()


def test_name_sanitising() -> None:
    assert table_names(["Sales 2024", "sales-2024", "2024", "", "Ünïcode"]) == [
        "sales_2024",
        "sales_2024_2",
        "sheet_2024",
        "sheet",
        "n_code",
    ]
    assert table_names(["select"], {"select"}) == ["select_sheet"]
    assert column_names([("a", 0), (None, 1), ("A", 2), ("  ", 3), ("_row", 4)]) == [
        "a",
        "column_2",
        "A_2",
        "column_4",
        "_row_2",
    ]


def test_a_ragged_csv_row_keeps_the_delimiter(tmp_path: Path) -> None:
    src = tmp_path / "ragged.csv"
    src.write_text("name,qty\nA,1\nB,2,late\nC,3\n")
    dest = tmp_path / "ragged.duckdb"
    (sheet,) = parse_workbook(src, "csv", dest, ParseLimits(timeout_s=60))["sheets"]
    assert [c["name"] for c in sheet["columns"]][:2] == ["name", "qty"]
    assert _rows(dest, "SELECT sum(qty) FROM ragged") == [(6,)]
