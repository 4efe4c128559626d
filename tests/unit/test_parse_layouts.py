"""Messy workbooks, written by real writers (xlsxwriter, openpyxl, xlwt), parsed by the capped
parse process: error cells, mixed columns, reports with titles, headerless grids, dirty
header cells, Excel Tables, and formats told by their bytes. Each number of the file is
checked in the cell view, at its address."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest
import xlsxwriter
import xlwt  # type: ignore[import-untyped]

from sheetstream.workbooks.inspect import sniff
from sheetstream.workbooks.parse import ParseLimits, parse_workbook
from sheetstream.workbooks.query import QueryLimits, run_query


def parse(src: Path, fmt: str) -> tuple[dict[str, Any], Path]:
    dest = src.with_suffix(".duckdb")
    return parse_workbook(src, fmt, dest, ParseLimits(timeout_s=60)), dest


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def table(profile: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in profile["sheets"] if s["table"] == name)


def openpyxl_sheet(title: str) -> tuple[Any, Any]:
    """A new openpyxl workbook and its first sheet, titled."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = title
    return book, ws


def numbers_in_cells(db: Path) -> dict[tuple[str, str], float]:
    found = rows(db, "SELECT sheet, address, number FROM cells WHERE type = 'number'")
    return {(sheet, address): number for sheet, address, number in found}


def openpyxl_numbers(src: Path) -> dict[tuple[str, str], float]:
    """Every number cell, by an independent reader (openpyxl, cached values)."""
    book = openpyxl.load_workbook(src, data_only=True)
    out = {}
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if number and not cell.is_date:
                    out[(ws.title, cell.coordinate)] = float(value)  # type: ignore[arg-type]
    return out


def test_error_cells_are_null_in_the_table_and_kept_in_the_cell_view(tmp_path: Path) -> None:
    src = tmp_path / "errors.xlsx"
    book = xlsxwriter.Workbook(src)
    ws = book.add_worksheet("calc")
    ws.write_row(0, 0, ["item", "ratio", "lookup"])
    ws.write_row(1, 0, ["a", 0.5, 10])
    ws.write(2, 0, "b")
    ws.write_formula(2, 1, "=1/0", None, "#DIV/0!")
    ws.write_formula(2, 2, "=VLOOKUP(9,A1:B2,2,FALSE)", None, "#N/A")
    ws.write_row(3, 0, ["c", 0.25])
    ws.write_formula(3, 2, "=FOO()", None, "#NAME?")
    ws.write_formula(4, 1, "=SUM(B2:B4)", None, 0.75)
    book.close()
    profile, db = parse(src, "xlsx")
    calc = table(profile, "calc")
    assert {c["name"]: c["type"] for c in calc["columns"]} == {
        "item": "text",
        "ratio": "number",
        "lookup": "integer",
    }
    assert rows(db, "SELECT _row, ratio, lookup FROM calc ORDER BY _row") == [
        (2, 0.5, 10),
        (3, None, None),
        (4, 0.25, None),
    ]  # row 5 holds only a sum of the rows above: a totals row, in the cell view alone
    errors = rows(db, "SELECT address, error, formula FROM cells WHERE type = 'error'")
    assert sorted(errors) == [
        ("B3", "#DIV/0!", "=1/0"),
        ("C3", "#N/A", "=VLOOKUP(9,A1:B2,2,FALSE)"),
        ("C4", "#NAME?", "=FOO()"),
    ]
    assert rows(db, "SELECT number, formula FROM cells WHERE address = 'B5'") == [
        (0.75, "=SUM(B2:B4)")
    ]
    note = " ".join(calc["notes"])
    assert "3 error cell(s)" in note and "B3 #DIV/0!" in note
    assert "Row 5 (sums of the rows above) is a totals row" in note
    assert numbers_in_cells(db) == openpyxl_numbers(src)


def test_a_column_mixing_dates_durations_and_numbers_loads(tmp_path: Path) -> None:
    src = tmp_path / "mixed.xlsx"
    book = xlsxwriter.Workbook(src)
    ws = book.add_worksheet("log")
    date_fmt = book.add_format({"num_format": "yyyy-mm-dd"})
    hours = book.add_format({"num_format": "[h]:mm"})
    clock = book.add_format({"num_format": "hh:mm"})
    ws.write_row(0, 0, ["what", "when"])
    ws.write(1, 0, "day")
    ws.write_datetime(1, 1, dt.datetime(2024, 5, 1), date_fmt)
    ws.write(2, 0, "spent")
    ws.write_number(2, 1, 1.25, hours)  # 30:00
    ws.write(3, 0, "at")
    ws.write_number(3, 1, 0.5, clock)  # 12:00
    ws.write(4, 0, "count")
    ws.write_number(4, 1, 42)
    book.close()
    profile, db = parse(src, "xlsx")
    log = table(profile, "log")
    assert {c["name"]: c["type"] for c in log["columns"]} == {"what": "text", "when": "text"}
    assert [r[0] for r in rows(db, 'SELECT "when" FROM log ORDER BY _row')] == [
        "2024-05-01",
        "30:00:00",
        "12:00:00",
        "42",
    ]
    typed = rows(db, "SELECT address, type FROM cells WHERE col = 2 AND row > 1 ORDER BY row")
    assert typed == [("B2", "date"), ("B3", "duration"), ("B4", "duration"), ("B5", "number")]
    assert rows(db, "SELECT duration FROM cells WHERE address = 'B3'") == [
        (dt.timedelta(hours=30),)
    ]
    assert "mix numbers, dates or text" in " ".join(log["notes"])


def test_a_report_with_titles_and_notes_finds_its_header(tmp_path: Path) -> None:
    src = tmp_path / "report.xlsx"
    book, ws = openpyxl_sheet("Report")
    ws["A1"] = "ACME Corp — quarterly sales"
    ws["A2"] = "All figures in kEUR"
    ws["B4"], ws["C4"], ws["D4"] = "region", "q1", "q2"
    for i, (region, q1, q2) in enumerate([("north", 10, 12), ("south", 20, 22)], start=5):
        ws.cell(i, 2, region), ws.cell(i, 3, q1), ws.cell(i, 4, q2)
    ws["B8"], ws["C8"], ws["D8"] = "Total", 30, 34
    book.save(src)
    profile, db = parse(src, "xlsx")
    report = table(profile, "report")
    assert (report["layout"], report["range"], report["header_row"]) == ("table", "B4:D7", 4)
    assert [c["name"] for c in report["columns"]] == ["region", "q1", "q2"]
    assert rows(db, "SELECT sum(q1) FROM report") == [(30,)]  # the totals row is left out
    assert any("Row 8 ('Total') is a totals row" in n for n in report["notes"])
    assert numbers_in_cells(db) == openpyxl_numbers(src)


def test_a_sheet_of_numbers_has_no_header_and_loses_none(tmp_path: Path) -> None:
    src = tmp_path / "grid.xlsx"
    book, ws = openpyxl_sheet("grid")
    for r in range(1, 5):
        ws.append([r * 1.5, r * 10, -r])
    kv = book.create_sheet("settings")
    for label, value in [("rate", 0.05), ("years", 10), (None, None), ("start", 1000)]:
        kv.append([label, value])
    book.save(src)
    profile, db = parse(src, "xlsx")
    grid = table(profile, "grid")
    assert (grid["layout"], grid["header_row"], grid["rows"]) == ("no header", 0, 4)
    assert rows(db, "SELECT sum(column_1), sum(column_2) FROM grid") == [(15.0, 100)]
    settings = table(profile, "settings")
    assert settings["layout"] == "key-value"
    assert rows(db, "SELECT label, value FROM settings ORDER BY _row") == [
        ("rate", 0.05),
        ("years", 10.0),
        ("start", 1000.0),
    ]
    assert numbers_in_cells(db) == openpyxl_numbers(src)


def test_dirty_header_cells_become_clean_quoted_names(tmp_path: Path) -> None:
    src = tmp_path / "headers.xlsx"
    book = xlsxwriter.Workbook(src)
    ws = book.add_worksheet("raw")
    headers = [
        "Amount\x00\x00",
        "Na\x01me",
        "select",
        "from",
        "row",
        "",
        "amount",
        "2024",
        " a  b ",
    ]
    ws.write_row(0, 0, headers)
    ws.write_row(1, 0, [1, "x", 2, 3, 4, 5, 6, 7, 8])
    book.close()
    profile, db = parse(src, "xlsx")
    names = [c["name"] for c in table(profile, "raw")["columns"]]
    assert names == [
        "Amount",
        "Name",
        "select",
        "from",
        "row",
        "column_6",
        "amount_2",
        "2024",
        "a b",
    ]
    result = run_query(
        db, 'SELECT "Amount", "select", "from", "row", "2024", "a b" FROM raw', QueryLimits()
    )
    assert result.rows == [[1, 2, 3, 4, 7, 8]]


def test_excel_tables_and_stacked_tables_are_tables_of_their_own(tmp_path: Path) -> None:
    src = tmp_path / "tables.xlsx"
    book = xlsxwriter.Workbook(src)
    ws = book.add_worksheet("data")
    ws.write(0, 0, "Price list")
    ws.add_table(
        "B3:C5",
        {
            "name": "Prices",
            "columns": [{"header": "item"}, {"header": "price"}],
            "data": [["tea", 2.5], ["cake", 4]],
        },
    )
    ws.write_row(8, 1, ["city", "visits"])
    ws.write_row(9, 1, ["rome", 3])
    ws.write_row(10, 1, ["oslo", 5])
    book.close()
    profile, db = parse(src, "xlsx")
    found = {s["table"]: (s["layout"], s["range"]) for s in profile["sheets"]}
    assert found == {"prices": ("excel table", "B3:C5"), "data": ("table", "B9:C11")}
    assert rows(db, "SELECT sum(price) FROM prices") == [(6.5,)]
    assert rows(db, "SELECT sum(visits) FROM data") == [(8,)]


def test_formats_are_told_by_their_bytes(tmp_path: Path) -> None:
    xls = tmp_path / "old.xls"
    book = xlwt.Workbook()
    ws = book.add_sheet("legacy")
    ws.write(0, 0, "n")
    ws.write(1, 0, 1.5)
    ws.write(2, 0, 2.5)
    book.save(str(xls))
    xlsx = tmp_path / "new.xlsx"
    wb, sheet = openpyxl_sheet("Sheet")
    sheet.append(["n"])
    sheet.append([7])
    wb.save(xlsx)
    for source, named, expected in [
        (xls, "legacy.xls", "xls"),
        (xls, "renamed.xlsx", "xls"),  # an Excel 97 file named .xlsx, as Excel opens it
        (xlsx, "renamed.xls", "xlsx"),
        (xlsx, "renamed.xlsm", "xlsm"),
    ]:
        copy = tmp_path / named
        shutil.copyfile(source, copy)
        fmt = sniff(copy, named)
        assert fmt == expected, named
        profile, db = parse(copy, fmt)
        assert profile["sheets"][0]["columns"][0]["name"] == "n"
        total = 4.0 if source == xls else 7.0
        assert rows(db, f"SELECT sum(n) FROM {profile['sheets'][0]['table']}") == [(total,)]


def test_a_csv_in_any_common_encoding_and_delimiter(tmp_path: Path) -> None:
    text = "name;amount\nJosé;1,5\nÜlla;2,25\n"
    cases = [
        ("semicolon_cp1252.csv", text.encode("cp1252")),
        ("semicolon_utf16.csv", text.encode("utf-16")),
        ("tab_bom.csv", "\ufeff".encode() + text.replace(";", "\t").replace(",", ".").encode()),
        ("pipe.csv", text.replace(";", "|").replace(",", ".").encode()),
    ]
    for name, data in cases:
        src = tmp_path / name
        src.write_bytes(data)
        assert sniff(src, name) == "csv"
        profile, db = parse(src, "csv")
        sheet = profile["sheets"][0]
        assert [(c["name"], c["type"]) for c in sheet["columns"]] == [
            ("name", "text"),
            ("amount", "number"),
        ], name
        assert rows(db, f"SELECT name, amount FROM {sheet['table']} ORDER BY 2") == [
            ("José", 1.5),
            ("Ülla", 2.25),
        ], name


@pytest.mark.parametrize("data", [b"\x01", b"a,b\n1,\x02\n"])
def test_a_csv_with_control_characters_is_refused(tmp_path: Path, data: bytes) -> None:
    from sheetstream.workbooks.inspect import WorkbookRejected

    src = tmp_path / "x.csv"
    src.write_bytes(data)
    with pytest.raises(WorkbookRejected, match="not text"):
        sniff(src, "x.csv")


def test_defined_names_are_tables_of_their_own(tmp_path: Path) -> None:
    from openpyxl.workbook.defined_name import DefinedName

    src = tmp_path / "named.xlsx"
    book, ws = openpyxl_sheet("Price list")
    for row in (["item", "price"], ["tea", 2.5], ["cake", 4.0]):
        ws.append(row)
    book.defined_names["Prices"] = DefinedName("Prices", attr_text="'Price list'!$A$1:$B$3")
    book.defined_names["Tax"] = DefinedName("Tax", attr_text="'Price list'!$B$2")  # one cell
    book.defined_names["_xlnm.Print_Area"] = DefinedName(
        "_xlnm.Print_Area", attr_text="'Price list'!$A$1:$B$3"
    )
    book.save(src)
    profile, db = parse(src, "xlsx")
    assert sorted((s["table"], s["layout"], s["range"]) for s in profile["sheets"]) == [
        ("price_list", "table", "A1:B3"),
        ("prices", "named range", "A1:B3"),
    ]
    assert rows(db, "SELECT sum(price) FROM prices") == [(6.5,)]
