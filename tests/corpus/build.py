"""Regenerate the messy-workbook corpus in tests/corpus/files/ and its MANIFEST.json.

Run from the repository root with ``python -m tests.corpus.build`` or ``python
tests/corpus/build.py``. Needs openpyxl, xlsxwriter, xlwt, odfpy and pyxlsbwriter, and
LibreOffice (``soffice``) for the converted files. Without ``soffice`` the converted files
already in files/ are kept as they are (the script stops if one is missing), so a build
without LibreOffice still refreshes everything the Python writers make.

Nothing at test time runs this script: the files it makes are committed.

Each file gets an entry in MANIFEST.json: the program that wrote it, the classes of mess it
covers, what a person opening it in Excel would see on every sheet (the header rows, the
table ranges in A1 notation, or "no header" / "key-value" / "cells only" / "empty"), and
``checks``: cells with the kind and value that tests/corpus/reference.py must read back.
In a check a date is an ISO string, a duration (and a time of day) is a number of seconds.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"

Json = dict[str, Any]

ERRORS = {  # the BIFF error codes, shared by .xls and .xlsb
    "#NULL!": 0x00,
    "#DIV/0!": 0x07,
    "#VALUE!": 0x0F,
    "#REF!": 0x17,
    "#NAME?": 0x1D,
    "#NUM!": 0x24,
    "#N/A": 0x2A,
}


# --------------------------------------------------------------------------- manifest model


def chk(sheet: str, cell: str, kind: str, value: Any, formula: str | None = None) -> Json:
    """One expected cell. Dates as datetime, durations as timedelta: encoded for JSON here."""
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    elif isinstance(value, dt.timedelta):
        value = value.total_seconds()
    out: Json = {"sheet": sheet, "cell": cell, "kind": kind, "value": value}
    if formula is not None:
        out["formula"] = formula
    return out


def table(rng: str, header_rows: Sequence[int] = (), **extra: Any) -> Json:
    return {"range": rng, "header_rows": list(header_rows), **extra}


def sheet(layout: str, *tables: Json, state: str = "visible", **extra: Any) -> Json:
    return {"state": state, "layout": layout, "tables": list(tables), **extra}


@dataclass
class Spec:
    name: str
    writer: str
    covers: list[str]
    sheets: dict[str, Json]
    checks: list[Json] = field(default_factory=list)
    extra: Json = field(default_factory=dict)

    def entry(self) -> Json:
        out: Json = {
            "writer": self.writer,
            "format": self.name.rsplit(".", 1)[1],
            "covers": self.covers,
            **self.extra,
            "sheets": self.sheets,
            "checks": group_checks(self.checks),
        }
        return out


def group_checks(checks: list[Json]) -> Json:
    """{sheet: {cell: [kind, value] or [kind, value, formula]}}, in the order written."""
    out: Json = {}
    for c in checks:
        row = [c["kind"], c["value"]] + ([c["formula"]] if "formula" in c else [])
        out.setdefault(c["sheet"], {})[c["cell"]] = row
    return out


def ver(dist: str) -> str:
    return f"{dist} {version(dist)}"


FIXED_TIME = dt.datetime(2024, 4, 2, 9, 30, 0)


# --------------------------------------------------------------------------- openpyxl / xlsxwriter


def xlsxwriter_book(path: Path, **options: Any) -> Any:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), options)
    wb.set_properties({"created": FIXED_TIME, "author": "corpus"})
    return wb


def active(wb: Any) -> Any:
    """An openpyxl workbook's first sheet (typed loosely: the stubs say it may be None)."""
    return wb.active


def openpyxl_save(wb: Any, path: Path) -> None:
    wb.properties.creator = "corpus"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.save(path)


def exact_numbers(path: Path, part: str, values: dict[str, int | float]) -> None:
    """Rewrite the <v> of some number cells with every digit of their value.

    openpyxl and xlsxwriter write numbers with 16 significant digits ("%.16g"), so
    0.1 + 0.2 is stored as 0.3, 2**53 + 1 as 9007199254740992 and the largest double as
    1.797693134862316e+308, which overflows to inf when read. Excel writes 17 digits.
    Here an int is written with all its digits and a float as Python's repr, the shortest
    text that reads back as the same double.
    """
    with zipfile.ZipFile(path) as zin:
        items = [(i, zin.read(i.filename)) for i in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in items:
            if info.filename == part:
                xml = data.decode("utf-8")
                for ref, v in values.items():
                    text = str(v) if isinstance(v, int) else repr(v)
                    pattern = rf'(<c r="{ref}"[^>]*>)<v>[^<]*</v>'
                    xml, n = re.subn(pattern, lambda m, t=text: f"{m.group(1)}<v>{t}</v>", xml)
                    assert n == 1, (ref, part)
                data = xml.encode("utf-8")
            zout.writestr(info, data)


def build_errors_xlsxwriter(out: Path) -> Spec:
    wb = xlsxwriter_book(out)
    ws = wb.add_worksheet("Data")
    ws.write_row(0, 0, ["ID", "Region", "Amount", "Ratio", "Comment"])
    rows: list[tuple[str, Any, str | None]] = [
        ("North", 100.5, None),
        ("South", ("=1/0", "#DIV/0!"), "division by zero"),
        ("East", 250, None),
        ("West", ("=NA()", "#N/A"), "not available"),
        ("North", ("=NOSUCHFUNC(1)", "#NAME?"), "unknown function"),
        ("South", ('="abc"+1', "#VALUE!"), "text in arithmetic"),
        ("East", ("=#REF!*2", "#REF!"), "deleted reference"),
        ("West", 300, None),
        ("North", ("=SQRT(-1)", "#NUM!"), "bad argument"),
    ]
    checks: list[Json] = []
    for i, (region, amount, comment) in enumerate(rows):
        r = i + 1
        ws.write_number(r, 0, i + 1)
        ws.write_string(r, 1, region)
        if isinstance(amount, tuple):
            ws.write_formula(r, 2, amount[0], None, amount[1])
            ws.write_formula(r, 3, f"=C{r + 1}/100", None, amount[1])
            checks.append(chk("Data", f"C{r + 1}", "error", amount[1], amount[0]))
            checks.append(chk("Data", f"D{r + 1}", "error", amount[1], f"=C{r + 1}/100"))
        else:
            ws.write_number(r, 2, amount)
            ws.write_formula(r, 3, f"=C{r + 1}/100", None, amount / 100)
            checks.append(chk("Data", f"C{r + 1}", "number", amount))
            checks.append(chk("Data", f"D{r + 1}", "number", amount / 100, f"=C{r + 1}/100"))
        if comment:
            ws.write_string(r, 4, comment)
    lone = wb.add_worksheet("Lone")
    lone_cells = [
        ("B2", "=1/0", "#DIV/0!"),
        ("D5", "=NA()", "#N/A"),
        ("A8", "=#REF!", "#REF!"),
        ("F3", "=XYZ()", "#NAME?"),
        ("C10", '="x"*2', "#VALUE!"),
        ("E12", "=A1:A2 B1:B2", "#NULL!"),
    ]
    for ref, formula, err in lone_cells:
        lone.write_formula(ref, formula, None, err)
        checks.append(chk("Lone", ref, "error", err, formula))
    lone.write_string("G1", "#N/A")  # text that looks like an error
    lone.write_string("H1", "<- this is the text '#N/A', not an error")
    checks.append(chk("Lone", "G1", "text", "#N/A"))
    wb.close()
    return Spec(
        out.name,
        ver("xlsxwriter"),
        ["errors", "errors-in-numeric-column", "lone-errors", "formulas", "error-lookalike-text"],
        {
            "Data": sheet(
                "table",
                table("A1:E10", [1]),
                notes="Amount (C) and Ratio (D) are numeric columns with formula error cells "
                'whose cached results are errors (t="e"), as Excel stores them',
            ),
            "Lone": sheet("cells only", notes="isolated error cells; G1 is the text '#N/A'"),
        },
        checks,
    )


def build_errors_openpyxl(out: Path) -> Spec:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Pasted values"
    ws.append(["Item", "Amount"])
    values: list[Any] = [10, "#N/A", 20.5, "#DIV/0!", "#VALUE!", -30, "#REF!", "#NAME?"]
    values += ["#NULL!", "#NUM!"]
    checks = []
    for i, v in enumerate(values):
        ws.append([f"item {i + 1}", v])
        kind = "error" if isinstance(v, str) else "number"
        checks.append(chk("Pasted values", f"B{i + 2}", kind, v))
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["errors", "errors-in-numeric-column", "errors-without-formula"],
        {
            "Pasted values": sheet(
                "table",
                table("A1:B11", [1]),
                notes='error values without formulas (<c t="e"><v>#N/A</v></c>), as Excel '
                "stores errors pasted as values",
            )
        },
        checks,
    )


DATE = dt.datetime(2024, 1, 15)


def build_datetimes_xlsxwriter(out: Path, date_1904: bool = False) -> Spec:
    wb = xlsxwriter_book(out, date_1904=date_1904)
    fmt = {
        k: wb.add_format({"num_format": v})
        for k, v in {
            "date": "yyyy-mm-dd",
            "datetime": "yyyy-mm-dd hh:mm",
            "time": "hh:mm",
            "time_s": "hh:mm:ss",
            "dur": "[h]:mm",
            "dur_ms": "[mm]:ss",
            "num2": "0.00",
            "us": 14,
            "old": "d-mmm-yyyy",
        }.items()
    }
    ws = wb.add_worksheet("Mixed")
    ws.write_row(0, 0, ["Label", "Value", "Shown as"])
    rows: list[tuple[str, str, Any, str | None, str, Any]] = [
        # label, kind, value written, format key, shown as, value read back
        ("date", "date", DATE, "date", "2024-01-15", DATE),
        (
            "date and time",
            "date",
            dt.datetime(2024, 1, 15, 13, 45),
            "datetime",
            "2024-01-15 13:45",
            dt.datetime(2024, 1, 15, 13, 45),
        ),
        ("time of day", "duration", 13.5 / 24, "time", "13:30", dt.timedelta(hours=13.5)),
        (
            "time with seconds",
            "duration",
            (6 * 3600 + 30) / 86400,
            "time_s",
            "06:00:30",
            dt.timedelta(hours=6, seconds=30),
        ),
        ("duration", "duration", 1.5, "dur", "36:00", dt.timedelta(hours=36)),
        ("long duration", "duration", 100.25, "dur", "2406:00", dt.timedelta(hours=2406)),
        ("minutes", "duration", 0.0625, "dur_ms", "90:00", dt.timedelta(minutes=90)),
        ("number", "number", 42, None, "42", 42),
        ("float", "number", 3.14159, "num2", "3.14", 3.14159),
        (
            "US date",
            "date",
            dt.datetime(2023, 12, 31),
            "us",
            "12/31/2023",
            dt.datetime(2023, 12, 31),
        ),
        ("date as text", "text", "2024-01-15", None, "2024-01-15", "2024-01-15"),
        ("negative", "number", -1.5, None, "-1.5", -1.5),
    ]
    if not date_1904:  # serial 59 is 1900-02-28, before Excel's phantom 1900-02-29
        rows.append(
            (
                "old date",
                "date",
                dt.datetime(1900, 2, 28),
                "old",
                "28-Feb-1900",
                dt.datetime(1900, 2, 28),
            )
        )
    checks = []
    for i, (label, kind, value, fkey, shown, back) in enumerate(rows):
        r = i + 1
        ws.write_string(r, 0, label)
        f = fmt[fkey] if fkey else None
        if isinstance(value, dt.datetime):
            ws.write_datetime(r, 1, value, f)
        elif isinstance(value, str):
            ws.write_string(r, 1, value)
        else:
            ws.write_number(r, 1, value, f)
        ws.write_string(r, 2, shown)
        checks.append(chk("Mixed", f"B{r + 1}", kind, back))
    ts = wb.add_worksheet("Timesheet")
    ts.write_row(0, 0, ["Employee", "Date", "Start", "End", "Hours"])
    people = [("Ana", 9 / 24, 17.5 / 24, 12.5), ("Ben", 8 / 24, 20 / 24, 16.0)]
    people += [("Chloé", 7.75 / 24, 19.75 / 24, 12.0)]
    for i, (name, start, end, hours) in enumerate(people):
        r = i + 1
        ts.write_string(r, 0, name)
        ts.write_datetime(r, 1, DATE + dt.timedelta(days=i), fmt["date"])
        ts.write_number(r, 2, start, fmt["time"])
        ts.write_number(r, 3, end, fmt["time"])
        ts.write_number(r, 4, hours / 24, fmt["dur"])
    ts.write_string(4, 0, "Total")
    ts.write_formula(4, 4, "=SUM(E2:E4)", fmt["dur"], 40.5 / 24)
    wb.close()
    checks += [
        chk("Timesheet", "B2", "date", DATE),
        chk("Timesheet", "C2", "duration", dt.timedelta(hours=9)),
        chk("Timesheet", "E3", "duration", dt.timedelta(hours=16)),
        chk("Timesheet", "E5", "duration", dt.timedelta(hours=40.5), "=SUM(E2:E4)"),
    ]
    covers = ["dates", "time-of-day", "durations", "mixed-type-column", "formulas"]
    if date_1904:
        covers.insert(0, "date1904")
    return Spec(
        out.name,
        ver("xlsxwriter"),
        covers,
        {
            "Mixed": sheet(
                "table",
                table(f"A1:C{len(rows) + 1}", [1]),
                notes="column B mixes dates, date-times, times of day, [h]:mm durations "
                "over 24h, numbers and a date typed as text; column C says what Excel shows",
            ),
            "Timesheet": sheet(
                "table",
                table("A1:E4", [1]),
                below="row 5 is a totals row: E5 =SUM(E2:E4) shown as 40:30",
            ),
        },
        checks,
        {"date_system": 1904 if date_1904 else 1900},
    )


def build_report_xlsxwriter(out: Path) -> Spec:
    wb = xlsxwriter_book(out)
    bold = wb.add_format({"bold": True, "font_size": 14})
    head = wb.add_format({"bold": True, "bottom": 1})
    money = wb.add_format({"num_format": "#,##0.00"})
    ws = wb.add_worksheet("Sales report")
    ws.merge_range("A1:E1", "ACME Corp — Quarterly sales report", bold)
    ws.write_string("A2", "Q1 2024, all regions")
    ws.write_string("A4", "Note: amounts in EUR, excluding VAT. Preliminary figures.")
    ws.write_row("A5", ["Region", "Product", "Units", "Unit price", "Revenue"], head)
    data = [
        ("North", "Widget", 120, 2.5),
        ("North", "Gadget", 15, 19.99),
        ("South", "Widget", 80, 2.5),
        ("South", "Gizmo", 7, 149.0),
        ("East", "Gadget", 33, 19.99),
        ("West", "Widget", 0, 2.5),
    ]
    checks = []
    for i, (region, product, units, price) in enumerate(data):
        r = 6 + i
        ws.write_string(f"A{r}", region)
        ws.write_string(f"B{r}", product)
        ws.write_number(f"C{r}", units)
        ws.write_number(f"D{r}", price, money)
        ws.write_formula(f"E{r}", f"=C{r}*D{r}", money, units * price)
    total_units = sum(d[2] for d in data)
    total_rev = sum(d[2] * d[3] for d in data)
    ws.write_string("A12", "Total", head)
    ws.write_formula("C12", "=SUM(C6:C11)", head, total_units)
    ws.write_formula("E12", "=SUM(E6:E11)", money, total_rev)
    ws.write_string("A14", "Source: ERP export, 2024-04-02")
    wb.close()
    checks += [
        chk("Sales report", "A1", "text", "ACME Corp — Quarterly sales report"),
        chk("Sales report", "A5", "text", "Region"),
        chk("Sales report", "E6", "number", 300.0, "=C6*D6"),
        chk("Sales report", "C12", "number", total_units, "=SUM(C6:C11)"),
        chk("Sales report", "E12", "number", total_rev, "=SUM(E6:E11)"),
        chk("Sales report", "C11", "number", 0),
    ]
    return Spec(
        out.name,
        ver("xlsxwriter"),
        ["report-layout", "title-rows", "note-above-table", "totals-row", "merged-title"],
        {
            "Sales report": sheet(
                "table",
                table("A5:E11", [5]),
                above="row 1 title (merged A1:E1), row 2 subtitle, row 3 blank, row 4 note",
                below="row 12 totals (Total, =SUM), row 13 blank, row 14 source footnote",
            )
        },
        checks,
    )


def build_no_header_openpyxl(out: Path) -> Spec:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Sheet1"
    rows = [
        [2024, 1, 15.5, -3],
        [2024, 2, 16.25, 0],
        [2024, 3, 14.0, 7],
        [2024, 4, 18.75, 12],
        [2024, 5, 21.5, -1],
        [2024, 6, 25.0, 4],
    ]
    for row in rows:
        ws.append(row)
    codes = wb.create_sheet("Codes")
    for row2 in [["ABC-1", 10.5, True], ["ABC-2", 11.0, False], ["XYZ-9", 0.25, True]]:
        codes.append(row2)
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["no-header", "first-row-numbers"],
        {
            "Sheet1": sheet("no header", table("A1:D6", [])),
            "Codes": sheet("no header", table("A1:C3", []), notes="text, number, boolean"),
        },
        [
            chk("Sheet1", "A1", "number", 2024),
            chk("Sheet1", "C1", "number", 15.5),
            chk("Sheet1", "D6", "number", 4),
            chk("Codes", "A1", "text", "ABC-1"),
            chk("Codes", "C2", "boolean", False),
        ],
    )


def build_key_value_openpyxl(out: Path) -> Spec:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Summary"
    rows: list[list[Any]] = [
        ["Company", "Acme GmbH"],
        ["Founded", 1999],
        ["Employees", 250],
        [],
        ["Revenue 2023", 1200000.5],
        ["Revenue 2024", 1350000],
        ["Margin", 0.125],
        [],
        [],
        ["Report date", dt.datetime(2024, 3, 31)],
        ["Open tickets", 17],
    ]
    for row in rows:
        ws.append(row)
    ws["B7"].number_format = "0.0%"
    ws["B10"].number_format = "yyyy-mm-dd"
    ws.column_dimensions["A"].width = 16
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["key-value", "blank-rows-between-groups"],
        {
            "Summary": sheet(
                "key-value",
                notes="labels in A, values in B (mostly numbers, one text, one date); "
                "blank rows 4, 8 and 9 separate the groups",
            )
        },
        [
            chk("Summary", "A1", "text", "Company"),
            chk("Summary", "B2", "number", 1999),
            chk("Summary", "B5", "number", 1200000.5),
            chk("Summary", "B7", "number", 0.125),
            chk("Summary", "B10", "date", dt.datetime(2024, 3, 31)),
            chk("Summary", "B11", "number", 17),
        ],
    )


def build_multi_tables_openpyxl(out: Path) -> Spec:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Stacked"
    for row in [
        ["Region", "Units", "Revenue"],
        ["North", 10, 100.0],
        ["South", 20, 210.5],
        ["East", 5, 48.0],
    ]:
        ws.append(row)
    ws.append([])
    ws.append([])
    for row in [["Month", "Returns"], ["Jan", 3], ["Feb", 1], ["Mar", 4]]:
        ws.append(row)
    side = wb.create_sheet("Side by side")
    left: list[list[Any]] = [["Name", "Qty", "Price"], ["bolt", 100, 0.1], ["nut", 250, 0.05]]
    left += [["washer", 75, 0.02], ["screw", 40, 0.12]]
    right: list[list[Any]] = [["Code", "Rate"], ["EUR", 1.0], ["USD", 1.08], ["GBP", 0.86]]
    for r, row in enumerate(left, start=1):
        for c, v in enumerate(row, start=1):
            side.cell(r, c, v)
    for r, row in enumerate(right, start=1):
        for c, v in enumerate(row, start=5):
            side.cell(r, c, v)
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["stacked-tables", "side-by-side-tables"],
        {
            "Stacked": sheet(
                "tables",
                table("A1:C4", [1]),
                table("A7:B10", [7]),
                notes="two tables, rows 5-6 blank between them",
            ),
            "Side by side": sheet(
                "tables",
                table("A1:C5", [1]),
                table("E1:F4", [1]),
                notes="two tables, column D blank between them",
            ),
        },
        [
            chk("Stacked", "A7", "text", "Month"),
            chk("Stacked", "B10", "number", 4),
            chk("Side by side", "E1", "text", "Code"),
            chk("Side by side", "F3", "number", 1.08),
            chk("Side by side", "C5", "number", 0.12),
        ],
    )


def build_listobject_xlsxwriter(out: Path) -> Spec:
    wb = xlsxwriter_book(out)
    ws = wb.add_worksheet("Data")
    ws.write_string("A1", "Inventory (the Excel table starts at C4)")
    items = [
        ("bolt", 100, 0.1),
        ("nut", 250, 0.05),
        ("washer", 75, 0.02),
        ("screw", 40, 0.12),
        ("rivet", 10, 0.3),
    ]
    total = sum(q for _, q, _ in items)
    ws.add_table(
        "C4:E10",
        {
            "name": "Inventory",
            "data": [list(i) for i in items],
            "total_row": True,
            "columns": [
                {"header": "Item", "total_string": "Total"},
                {"header": "Qty", "total_function": "sum", "total_value": total},
                {"header": "Price"},
            ],
        },
    )
    params = wb.add_worksheet("Params")
    params.write_string("A1", "Tax rate")
    params.write_number("B1", 0.19)
    params.write_string("A2", "Currency")
    params.write_string("B2", "EUR")
    wb.define_name("TaxRate", "=Params!$B$1")
    wb.define_name("InventoryData", "=Data!$C$5:$E$9")
    wb.define_name("Data!LocalNote", "=Data!$A$1")
    wb.close()
    return Spec(
        out.name,
        ver("xlsxwriter"),
        ["listobject", "table-not-at-a1", "table-totals-row", "defined-name", "key-value"],
        {
            "Data": sheet(
                "table",
                table("C4:E10", [4], listobject="Inventory", totals_row=10),
                above="A1 is a note; the Excel table Inventory is C4:E10 with a totals row",
            ),
            "Params": sheet("key-value"),
        },
        [
            chk("Data", "C4", "text", "Item"),
            chk("Data", "D9", "number", 10),
            chk("Data", "C10", "text", "Total"),
            chk("Data", "D10", "number", total, "=SUBTOTAL(109,[Qty])"),
            chk("Params", "B1", "number", 0.19),
        ],
        {
            "listobjects": {"Inventory": "Data!C4:E10"},
            "defined_names": {
                "TaxRate": "Params!$B$1",
                "InventoryData": "Data!$C$5:$E$9",
                "Data!LocalNote": "Data!$A$1 (sheet-scoped)",
            },
        },
    )


def build_listobject_openpyxl(out: Path) -> Spec:
    import openpyxl
    from openpyxl.workbook.defined_name import DefinedName
    from openpyxl.worksheet.table import Table, TableStyleInfo

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Orders"
    ws["A1"] = "Open orders"
    rows: list[list[Any]] = [
        ["Order", "Customer", "Date", "Amount"],
        [1001, "Müller", dt.datetime(2024, 2, 1), 99.5],
        [1002, "Dupont", dt.datetime(2024, 2, 3), 250.0],
        [1003, "Smith", dt.datetime(2024, 2, 7), 12.25],
        [1004, "Rossi", dt.datetime(2024, 2, 9), 1000.0],
        [1005, "García", dt.datetime(2024, 2, 11), 7.0],
    ]
    for r, row in enumerate(rows, start=3):
        for c, v in enumerate(row, start=2):
            cell = ws.cell(r, c, v)
            if isinstance(v, dt.datetime):
                cell.number_format = "dd.mm.yyyy"
    tab = Table(displayName="OrdersTbl", ref="B3:E8")
    tab.tableStyleInfo = TableStyleInfo(name="TableStyleMedium9", showRowStripes=True)
    ws.add_table(tab)
    wb.defined_names["OrderIds"] = DefinedName("OrderIds", attr_text="Orders!$B$4:$B$8")
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["listobject", "table-not-at-a1", "defined-name", "dates"],
        {
            "Orders": sheet(
                "table",
                table("B3:E8", [3], listobject="OrdersTbl"),
                above="A1 is a title; row 2 blank",
            )
        },
        [
            chk("Orders", "A1", "text", "Open orders"),
            chk("Orders", "B3", "text", "Order"),
            chk("Orders", "B4", "number", 1001),
            chk("Orders", "D5", "date", dt.datetime(2024, 2, 3)),
            chk("Orders", "E8", "number", 7.0),
        ],
        {
            "listobjects": {"OrdersTbl": "Orders!B3:E8"},
            "defined_names": {"OrderIds": "Orders!$B$4:$B$8"},
        },
    )


def build_merged_header_xlsxwriter(out: Path) -> Spec:
    wb = xlsxwriter_book(out)
    head = wb.add_format({"bold": True, "align": "center", "valign": "vcenter", "border": 1})
    ws = wb.add_worksheet("Budget")
    ws.merge_range("A1:A2", "Department", head)
    ws.merge_range("B1:C1", "Budget", head)
    ws.merge_range("D1:E1", "Actual", head)
    ws.merge_range("F1:F2", "Owner", head)
    for c, year in enumerate([2023, 2024, 2023, 2024], start=1):
        ws.write_number(1, c, year, head)
    ws.merge_range("A3:A4", "Sales", wb.add_format({"valign": "vcenter"}))
    body: list[list[Any]] = [
        [None, 100, 120, 95, 130, "Ana"],
        [None, 50, 55, 61, 52, "Ben"],
        ["IT", 200, 210, 199, 250, "Chloé"],
        ["HR", 30, 30, 28, 33, "Dan"],
    ]
    for r, row in enumerate(body, start=2):
        for c, v in enumerate(row):
            if v is not None:
                ws.write(r, c, v)
    wb.close()
    return Spec(
        out.name,
        ver("xlsxwriter"),
        ["merged-header", "two-row-header", "merged-body-cells", "numeric-header"],
        {
            "Budget": sheet(
                "table",
                table("A1:F6", [1, 2]),
                merged=["A1:A2", "B1:C1", "D1:E1", "F1:F2", "A3:A4"],
                notes="row 1 groups (Budget over B:C, Actual over D:E), row 2 years as "
                "numbers; A3:A4 merged 'Sales' covers two data rows",
            )
        },
        [
            chk("Budget", "A1", "text", "Department"),
            chk("Budget", "B1", "text", "Budget"),
            chk("Budget", "D1", "text", "Actual"),
            chk("Budget", "B2", "number", 2023),
            chk("Budget", "E2", "number", 2024),
            chk("Budget", "A3", "text", "Sales"),
            chk("Budget", "E6", "number", 33),
        ],
    )


DIRTY_HEADERS: list[Any] = [
    "Amount\x00\x00",  # NUL padding, as a fixed-width UTF-16 field leaves
    "Na\x01me",  # a control character inside
    "N\x00a\x00m\x00e\x00",  # UTF-16LE bytes decoded as if one byte per character
    "\ufeffID",  # a byte-order mark glued to the front
    "Value",
    "Value",  # duplicate
    None,  # empty header cell above a filled column
    2024,  # a number as header
    "select",
    "from",
    "row",
    "  Region  ",  # padded
    "Unit\nPrice",  # line break inside
    "Amount",  # equal to the first header once its NULs are stripped
]
DIRTY_ROWS = [
    [1.5, "a", "x", 1, 10, 11, "g1", 7, "s", "f", 1, "North", 2.5, 100],
    [2.5, "b", "y", 2, 20, 21, "g2", 8, "t", "g", 2, "South", 3.5, 200],
    [3.5, "c", "z", 3, 30, 31, "g3", 9, "u", "h", 3, "East", 4.5, 300],
]


def dirty_checks(sheet_name: str, keep_controls: bool = True) -> list[Json]:
    out = []
    for c, h in enumerate(DIRTY_HEADERS):
        ref = f"{chr(ord('A') + c)}1"
        if h is None:
            continue
        if isinstance(h, str):
            text = h if keep_controls else re.sub(r"[\x00-\x08\x0b-\x1f]", "", h)
            out.append(chk(sheet_name, ref, "text", text))
        else:
            out.append(chk(sheet_name, ref, "number", h))
    out.append(chk(sheet_name, "G2", "text", "g1"))
    out.append(chk(sheet_name, "N4", "number", 300))
    return out


def build_dirty_headers_xlsxwriter(out: Path) -> Spec:
    wb = xlsxwriter_book(out)
    ws = wb.add_worksheet("Export")
    for c, h in enumerate(DIRTY_HEADERS):
        if isinstance(h, str):
            ws.write_string(0, c, h)
        elif h is not None:
            ws.write_number(0, c, h)
    for r, row in enumerate(DIRTY_ROWS, start=1):
        ws.write_row(r, 0, row)
    wb.close()
    return Spec(
        out.name,
        ver("xlsxwriter"),
        DIRTY_COVERS,
        {"Export": sheet("table", table("A1:N4", [1]), notes=DIRTY_NOTE)},
        dirty_checks("Export"),
        {"storage": "control characters stored as _xHHHH_ escapes in sharedStrings.xml"},
    )


DIRTY_COVERS = [
    "control-chars-in-header",
    "nul-in-header",
    "utf16-debris",
    "bom-in-header",
    "duplicate-headers",
    "empty-header-cell",
    "numeric-header",
    "sql-keyword-headers",
    "whitespace-header",
    "newline-in-header",
]
DIRTY_NOTE = (
    "header row 1: 'Amount\\x00\\x00', 'Na\\x01me', 'N\\x00a\\x00m\\x00e\\x00', '\\ufeffID', "
    "'Value' twice, G1 empty above data, 2024 as a number, 'select', 'from', 'row', "
    "'  Region  ', 'Unit\\nPrice', 'Amount'"
)


def build_text_numbers_openpyxl(out: Path) -> Spec:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Codes"
    ws.append(["Code", "Qty", "ZIP", "Phone", "Amount as text", "Mixed"])
    rows: list[list[Any]] = [
        ["00123", 5, "01234", "+49 30 1234567", "1,234.50", 17],
        ["00456", 10, "80331", "0049301234567", " 42 ", "00017"],
        ["0789", 2.5, "00501", "030-123", "1e3", 18.5],
        ["12", 0, "10115", "(030) 12", "-7", "19"],
    ]
    for row in rows:
        ws.append(row)
    for r in range(2, 6):
        ws[f"A{r}"].number_format = "@"
        ws[f"C{r}"].number_format = "@"
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["numbers-as-text", "leading-zero-codes", "mixed-type-column"],
        {
            "Codes": sheet(
                "table",
                table("A1:F5", [1]),
                notes="A, C, D, E hold text that looks numeric ('00123' must stay text); "
                "B holds real numbers; F mixes numbers with text numbers",
            )
        },
        [
            chk("Codes", "A2", "text", "00123"),
            chk("Codes", "A5", "text", "12"),
            chk("Codes", "B2", "number", 5),
            chk("Codes", "B4", "number", 2.5),
            chk("Codes", "C4", "text", "00501"),
            chk("Codes", "E3", "text", " 42 "),
            chk("Codes", "F2", "number", 17),
            chk("Codes", "F3", "text", "00017"),
            chk("Codes", "F5", "text", "19"),
        ],
    )


NUMERIC_EDGE: list[tuple[str, Any, str | None]] = [
    ("true", True, None),
    ("false", False, None),
    ("max float", 1.7976931348623157e308, None),
    ("min normal", 2.2250738585072014e-308, None),
    ("tiny", 1e-300, None),
    ("small", 1e-15, None),
    ("negative int", -42, None),
    ("negative float", -0.5, None),
    ("0.1+0.2", 0.1 + 0.2, None),
    ("one third", 1 / 3, None),
    ("2**53", 2**53, None),
    ("2**53+1", 2**53 + 1, None),
    ("2**63-1", 2**63 - 1, None),
    ("-(2**53+1)", -(2**53 + 1), None),
    ("percent", 0.125, "0.0%"),
    ("currency", 1234.5, '#,##0.00 "€"'),
    ("avogadro", 6.02214076e23, "0.00E+00"),
    ("zero", 0, None),
]


def build_float_overflow_openpyxl(out: Path) -> Spec:
    """The largest doubles as openpyxl writes them: 16 digits, which overflow when read."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Limits"
    rows: list[tuple[str, float]] = [
        ("max float", 1.7976931348623157e308),
        ("-max float", -1.7976931348623157e308),
        ("1e308", 1e308),
        ("min normal", 2.2250738585072014e-308),
        ("subnormal", 5e-324),
    ]
    ws.append(["Label", "Value"])
    for label, v in rows:
        ws.append([label, v])
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["extreme-floats", "float-overflow"],
        {"Limits": sheet("table", table("A1:B6", [1]))},
        [chk("Limits", f"B{i}", "number", v) for i, (_, v) in enumerate(rows, start=2) if i > 3],
        {
            "notes": "openpyxl writes numbers with '%.16g': B2 and B3 hold "
            "1.797693134862316e+308, beyond the largest double, so readers get inf or fail; "
            "B4:B6 read back as written"
        },
    )


def build_numeric_edge_openpyxl(out: Path) -> Spec:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Numbers"
    ws.append(["Label", "Value"])
    checks = []
    exact: dict[str, int | float] = {}
    for i, (label, value, fmt) in enumerate(NUMERIC_EDGE, start=2):
        ws.cell(i, 1, label)
        cell = ws.cell(i, 2, value)
        if fmt:
            cell.number_format = fmt
        kind = "boolean" if isinstance(value, bool) else "number"
        checks.append(chk("Numbers", f"B{i}", kind, value))
        if not isinstance(value, bool) and value != 0:
            exact[f"B{i}"] = value
    flags = wb.create_sheet("Flags")
    for row in [["Name", "Active", "Score"], ["a", True, -1], ["b", False, -2.5]]:
        flags.append(row)
    flags.append(["c", True, -1e-10])
    checks += [
        chk("Flags", "B2", "boolean", True),
        chk("Flags", "B3", "boolean", False),
        chk("Flags", "C4", "number", -1e-10),
    ]
    openpyxl_save(wb, out)
    exact_numbers(out, "xl/worksheets/sheet1.xml", exact)
    return Spec(
        out.name,
        f"{ver('openpyxl')}, numbers rewritten with all their digits by build.py",
        ["booleans", "extreme-floats", "negative-numbers", "big-integers", "float-precision"],
        {
            "Numbers": sheet(
                "table",
                table(f"A1:B{len(NUMERIC_EDGE) + 1}", [1]),
                notes="B holds booleans, extreme floats and integers above 2**53 written "
                "exactly (Excel itself would keep only 15 significant digits)",
            ),
            "Flags": sheet("table", table("A1:C4", [1])),
        },
        checks,
    )


def build_formulas_xlsxwriter(out: Path) -> Spec:
    wb = xlsxwriter_book(out)
    inputs = wb.add_worksheet("Inputs")
    inputs.write_string("A1", "VAT")
    inputs.write_number("B1", 0.2)
    ws = wb.add_worksheet("Calc")
    ws.write_row(0, 0, ["Item", "Qty", "Price", "Net", "Gross", "Label", "Big order"])
    items = [("pen", 10, 1.5), ("pad", 3, 4.0), ("ink", 7, 2.25)]
    checks = []
    for i, (item, qty, price) in enumerate(items):
        r = i + 2
        ws.write_string(f"A{r}", item)
        ws.write_number(f"B{r}", qty)
        ws.write_number(f"C{r}", price)
        net = qty * price
        ws.write_formula(f"D{r}", f"=B{r}*C{r}", None, net)
        ws.write_formula(f"E{r}", f"=D{r}*(1+Inputs!$B$1)", None, net * 1.2)
        ws.write_formula(f"F{r}", f'=A{r}&"-"&B{r}', None, f"{item}-{qty}")
        ws.write_formula(f"G{r}", f"=B{r}>5", None, qty > 5)
        checks += [
            chk("Calc", f"D{r}", "number", net, f"=B{r}*C{r}"),
            chk("Calc", f"F{r}", "text", f"{item}-{qty}", f'=A{r}&"-"&B{r}'),
            chk("Calc", f"G{r}", "boolean", qty > 5, f"=B{r}>5"),
        ]
    total_net = sum(q * p for _, q, p in items)
    ws.write_string("A5", "Total")
    ws.write_formula("B5", "=SUM(B2:B4)", None, 20)
    ws.write_formula("D5", "=SUM(D2:D4)", None, total_net)
    ws.write_formula("E5", "=SUM(E2:E4)", None, total_net * 1.2)
    ws.write_array_formula("I2:I2", "{=SUM(B2:B4*C2:C4)}", None, total_net)
    ws.write_string("I1", "Array total")
    wb.close()
    checks += [
        chk("Calc", "B5", "number", 20, "=SUM(B2:B4)"),
        chk("Calc", "D5", "number", total_net, "=SUM(D2:D4)"),
        chk("Calc", "E2", "number", 18.0, "=D2*(1+Inputs!$B$1)"),
        chk("Calc", "I2", "number", total_net, "=SUM(B2:B4*C2:C4)"),
        chk("Inputs", "B1", "number", 0.2),
    ]
    return Spec(
        out.name,
        ver("xlsxwriter"),
        ["formulas", "cached-results", "cross-sheet-formula", "array-formula", "totals-row"],
        {
            "Inputs": sheet("key-value"),
            "Calc": sheet(
                "table",
                table("A1:G4", [1]),
                table("I1:I2", [1]),
                below="row 5 totals (=SUM); I1:I2 an array formula off to the side, "
                "under its label",
            ),
        },
        checks,
    )


def build_formulas_nocache_openpyxl(out: Path) -> Spec:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Calc"
    for row in [["Qty", "Price", "Net"], [10, 1.5], [3, 4.0], [7, 2.25]]:
        ws.append(row)
    for r in range(2, 5):
        ws[f"C{r}"] = f"=A{r}*B{r}"
    ws["A5"] = "=SUM(A2:A4)"
    ws["C5"] = "=SUM(C2:C4)"
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["formulas", "formulas-without-cached-results"],
        {
            "Calc": sheet(
                "table",
                table("A1:C4", [1]),
                below="row 5 totals; every formula lacks a cached value (openpyxl writes "
                "none): Excel computes them on opening, a reader of the file sees nothing",
            )
        },
        [chk("Calc", "A2", "number", 10), chk("Calc", "C1", "text", "Net")],
        {"formula_cells_without_value": ["Calc!C2", "Calc!C3", "Calc!C4", "Calc!A5", "Calc!C5"]},
    )


SHEET_NAMES = ["Summary", "2024 Q1 Sales", "Données €", "数据 2", "O'Brien & Co"]


def build_sheets_openpyxl(out: Path) -> Spec:
    import openpyxl

    wb = openpyxl.Workbook()
    first = active(wb)
    first.title = SHEET_NAMES[0]
    sheets: dict[str, Json] = {}
    checks = []
    for i, name in enumerate(SHEET_NAMES):
        ws = first if i == 0 else wb.create_sheet(name)
        ws.append(["Key", "Value"])
        ws.append([name, i + 1])
        sheets[name] = sheet("table", table("A1:B2", [1]))
        checks.append(chk(name, "A2", "text", name))
        checks.append(chk(name, "B2", "number", i + 1))
    hidden = wb.create_sheet("Hidden data")
    hidden.append(["secret", 42])
    hidden.sheet_state = "hidden"
    very = wb.create_sheet("Very hidden")
    very.append(["deeper", 43])
    very.sheet_state = "veryHidden"
    wb.create_sheet("Empty")
    sheets["Hidden data"] = sheet("no header", table("A1:B1", []), state="hidden")
    sheets["Very hidden"] = sheet("no header", table("A1:B1", []), state="veryHidden")
    sheets["Empty"] = sheet("empty")
    checks += [chk("Hidden data", "B1", "number", 42), chk("Very hidden", "A1", "text", "deeper")]
    openpyxl_save(wb, out)
    return Spec(
        out.name,
        ver("openpyxl"),
        ["hidden-sheet", "very-hidden-sheet", "empty-sheet", "odd-sheet-names"],
        sheets,
        checks,
    )


def build_macro_openpyxl(out: Path) -> Spec:
    """An openpyxl workbook re-zipped with the macro-enabled content type (no VBA inside)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = active(wb)
    ws.title = "Macro data"
    for row in [["Run", "Result"], [1, 0.5], [2, 0.75]]:
        ws.append(row)
    buf = io.BytesIO()
    openpyxl_save(wb, buf)  # type: ignore[arg-type]
    old = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    new = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
    with (
        zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                assert old.encode() in data
                data = data.replace(old.encode(), new.encode())
            zout.writestr(info, data)
    return Spec(
        out.name,
        f"{ver('openpyxl')}, content type rewritten by build.py",
        ["xlsm", "macro-enabled-content-type"],
        {"Macro data": sheet("table", table("A1:B3", [1]))},
        [chk("Macro data", "B3", "number", 0.75)],
        {"notes": "no vbaProject.bin: only the workbook part's content type is macro-enabled"},
    )


# --------------------------------------------------------------------------- xlwt (.xls BIFF8)


def build_biff8_xlwt(out: Path) -> Spec:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    date = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    time = xlwt.easyxf(num_format_str="hh:mm")
    dur = xlwt.easyxf(num_format_str="[h]:mm")
    ws = wb.add_sheet("Data")
    ws.write_merge(0, 0, 0, 7, "Export from legacy system")
    headers = ["ID", "Name", "Amount", "Booked", "At", "Worked", "Paid", "Check"]
    for c, h in enumerate(headers):
        ws.write(1, c, h)
    data: list[list[Any]] = [
        [1, "Zoë", 10.5, dt.datetime(2024, 1, 15), 0.375, 1.5, True, "#DIV/0!"],
        [2, "Ødegaard", -3, dt.datetime(2024, 2, 29), 0.5, 0.25, False, 7],
        [3, "Łukasz", 2**31, dt.datetime(1999, 12, 31), 0.99, 30.0, True, "#N/A"],
    ]
    for r, row in enumerate(data, start=2):
        for c, v in enumerate(row):
            if c == 7 and isinstance(v, str):
                ws.row(r).set_cell_error(c, ERRORS[v])  # codes: xlwt misnames #N/A
            elif isinstance(v, dt.datetime):
                ws.write(r, c, v, date)
            elif c == 4:
                ws.write(r, c, v, time)
            elif c == 5:
                ws.write(r, c, v, dur)
            else:
                ws.write(r, c, v)
    heads = wb.add_sheet("Headers")
    for c, h in enumerate(DIRTY_HEADERS):
        if h is not None:
            heads.write(0, c, h)
    for r, row2 in enumerate(DIRTY_ROWS, start=1):
        for c, v in enumerate(row2):
            heads.write(r, c, v)
    hidden = wb.add_sheet("Hidden")
    hidden.write(0, 0, "hidden value")
    hidden.visibility = 1
    wb.add_sheet("Empty")
    wb.save(str(out))
    return Spec(
        out.name,
        ver("xlwt"),
        [
            *["xls-biff8", "errors", "dates", "time-of-day", "durations", "booleans"],
            *["merged-title", *DIRTY_COVERS, "hidden-sheet", "empty-sheet"],
        ],
        {
            "Data": sheet(
                "table",
                table("A2:H5", [2]),
                above="row 1 a title merged over A1:H1",
                notes="H holds BOOLERR error cells (#DIV/0!, #N/A) around a number",
            ),
            "Headers": sheet("table", table("A1:N4", [1]), notes=DIRTY_NOTE),
            "Hidden": sheet("cells only", state="hidden"),
            "Empty": sheet("empty"),
        },
        [
            chk("Data", "A1", "text", "Export from legacy system"),
            chk("Data", "B3", "text", "Zoë"),
            chk("Data", "C5", "number", 2**31),
            chk("Data", "D4", "date", dt.datetime(2024, 2, 29)),
            chk("Data", "E3", "duration", dt.timedelta(hours=9)),
            chk("Data", "F3", "duration", dt.timedelta(hours=36)),
            chk("Data", "F5", "duration", dt.timedelta(days=30)),
            chk("Data", "G3", "boolean", True),
            chk("Data", "H3", "error", "#DIV/0!"),
            chk("Data", "H4", "number", 7),
            chk("Data", "H5", "error", "#N/A"),
            chk("Hidden", "A1", "text", "hidden value"),
            *dirty_checks("Headers"),
        ],
    )


# --------------------------------------------------------------------------- odfpy (.ods by hand)


def build_types_odfpy(out: Path) -> Spec:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import CoveredTableCell, Table, TableCell, TableColumn, TableRow
    from odf.text import P, S

    doc = OpenDocumentSpreadsheet()
    t = Table(name="Types")
    t.addElement(TableColumn(numbercolumnsrepeated=6))

    def row(*cells: Any, repeat: int | None = None) -> None:
        tr = TableRow(numberrowsrepeated=repeat) if repeat else TableRow()
        for c in cells:
            tr.addElement(c)
        t.addElement(tr)

    def text(s: str, **kw: Any) -> Any:
        cell = TableCell(valuetype="string", **kw)
        cell.addElement(P(text=s))
        return cell

    def num(v: float, typ: str = "float", shown: str | None = None, **kw: Any) -> Any:
        cell = TableCell(valuetype=typ, value=repr(v), **kw)
        cell.addElement(P(text=shown or repr(v)))
        return cell

    row(text("Kind"), text("Value"))
    row(text("float"), num(3.25))
    row(text("percentage"), num(0.125, "percentage", "12.5%"))
    row(text("currency"), num(9.99, "currency", "9.99 €", currency="EUR"))
    d1 = TableCell(valuetype="date", datevalue="2024-02-29")
    d1.addElement(P(text="2024-02-29"))
    row(text("date"), d1)
    d2 = TableCell(valuetype="date", datevalue="2024-02-29T13:45:00")
    d2.addElement(P(text="2024-02-29 13:45"))
    row(text("date-time"), d2)
    t1 = TableCell(valuetype="time", timevalue="PT36H30M00S")
    t1.addElement(P(text="36:30"))
    row(text("duration"), t1)
    t2 = TableCell(valuetype="time", timevalue="PT08H15M00S")
    t2.addElement(P(text="08:15"))
    row(text("time of day"), t2)
    b = TableCell(valuetype="boolean", booleanvalue="true")
    b.addElement(P(text="TRUE"))
    row(text("boolean"), b)
    two = TableCell(valuetype="string")
    two.addElement(P(text="line one"))
    two.addElement(P(text="line two"))
    row(text("two paragraphs"), two)
    sp = TableCell(valuetype="string")
    p = P(text="a")
    p.addElement(S(c=3))
    p.addText("b")
    sp.addElement(p)
    row(text("spaces"), sp)
    row(text("repeated"), num(7.0, numbercolumnsrepeated=3))  # B12:D12 all hold 7
    row(text("merged"), text("wide", numbercolumnsspanned=2), CoveredTableCell(), num(1.0))
    row(text("same row"), num(5.0), repeat=2)  # rows 14 and 15
    row(TableCell(), text("after an empty A"))
    doc.spreadsheet.addElement(t)

    sparse = Table(name="Sparse")
    sparse.addElement(TableColumn(numbercolumnsrepeated=3))
    tr = TableRow()
    tr.addElement(text("top"))
    sparse.addElement(tr)
    gap = TableRow(numberrowsrepeated=5000)
    gap.addElement(TableCell(numbercolumnsrepeated=3))
    sparse.addElement(gap)
    tr = TableRow()
    tr.addElement(TableCell(numbercolumnsrepeated=2))
    tr.addElement(text("bottom"))
    sparse.addElement(tr)
    doc.spreadsheet.addElement(sparse)
    doc.save(str(out))
    return Spec(
        out.name,
        ver("odfpy"),
        ["ods", "ods-value-types", "durations", "repeated-cells", "covered-cells", "sparse"],
        {
            "Types": sheet(
                "table",
                table("A1:D16", [1]),
                notes="one ODS value type per row; B12:D12 is one cell repeated 3 times; "
                "B13:C13 spans 2 columns; rows 14-15 are one row repeated",
            ),
            "Sparse": sheet("cells only", notes="A1 'top' and C5002 'bottom', 5000 empty rows"),
        },
        [
            chk("Types", "B2", "number", 3.25),
            chk("Types", "B3", "number", 0.125),
            chk("Types", "B4", "number", 9.99),
            chk("Types", "B5", "date", dt.datetime(2024, 2, 29)),
            chk("Types", "B6", "date", dt.datetime(2024, 2, 29, 13, 45)),
            chk("Types", "B7", "duration", dt.timedelta(hours=36.5)),
            chk("Types", "B8", "duration", dt.timedelta(hours=8.25)),
            chk("Types", "B9", "boolean", True),
            chk("Types", "B10", "text", "line one\nline two"),
            chk("Types", "B11", "text", "a   b"),
            chk("Types", "B12", "number", 7.0),
            chk("Types", "D12", "number", 7.0),
            chk("Types", "B13", "text", "wide"),
            chk("Types", "D13", "number", 1.0),
            chk("Types", "B15", "number", 5.0),
            chk("Types", "B16", "text", "after an empty A"),
            chk("Sparse", "A1", "text", "top"),
            chk("Sparse", "C5002", "text", "bottom"),
        ],
    )


# --------------------------------------------------------------------------- pyxlsbwriter (.xlsb)


class XlsbError(str):
    """A marker: write this string as an error cell (BrtCellError)."""


def build_mixed_xlsb(out: Path) -> Spec:
    from pyxlsbwriter import XlsbWriter

    class Writer(XlsbWriter):  # type: ignore[misc]
        def _write_str(self, buffer: Any, cell: Any, *args: Any) -> None:
            if isinstance(cell, XlsbError):
                col_idx = args[-1]
                buffer.write(b"\x03\x09")  # BrtCellError, 9 bytes
                buffer.write(struct.pack("<IIB", col_idx, 0, ERRORS[str(cell)]))
                return
            super()._write_str(buffer, cell, *args)

    data: list[list[Any]] = [
        ["ID", "Name", "Amount", "When", "Day", "Paid", "Check"],
        [1, "Zoë", 10.5, dt.datetime(2024, 1, 15, 13, 45), dt.date(2024, 1, 15), True, 1.0],
        [2, "Ødegaard", -3, dt.datetime(2024, 2, 29, 8, 0), dt.date(2024, 2, 29), False, None],
        [3, "Łukasz", 2**31, dt.datetime(1999, 12, 31), dt.date(1999, 12, 31), True, None],
        [4, None, 0.1, None, None, None, None],
    ]
    data[2][6] = XlsbError("#DIV/0!")
    data[3][6] = XlsbError("#N/A")
    with Writer(str(out)) as w:
        w.add_sheet("Data")
        w.write_sheet(data)
        w.add_sheet("Hidden ü", hidden=True)
        w.write_sheet([["hidden", 1], ["value", 2]])
    return Spec(
        out.name,
        ver("pyxlsbwriter") + " (plus BrtCellError records added by build.py)",
        ["xlsb", "dates", "booleans", "errors", "hidden-sheet", "autofilter"],
        {
            "Data": sheet("table", table("A1:G5", [1]), notes="an autofilter over the table"),
            "Hidden ü": sheet("no header", table("A1:B2", []), state="hidden"),
        },
        [
            chk("Data", "A1", "text", "ID"),
            chk("Data", "B3", "text", "Ødegaard"),
            chk("Data", "C4", "number", 2**31),
            chk("Data", "C5", "number", 0.1),
            chk("Data", "D2", "date", dt.datetime(2024, 1, 15, 13, 45)),
            chk("Data", "E3", "date", dt.datetime(2024, 2, 29)),
            chk("Data", "F2", "boolean", True),
            chk("Data", "G2", "number", 1.0),
            chk("Data", "G3", "error", "#DIV/0!"),
            chk("Data", "G4", "error", "#N/A"),
            chk("Hidden ü", "B2", "number", 2),
        ],
    )


# --------------------------------------------------------------------------- old BIFF by hand


def _rec(rtype: int, data: bytes) -> bytes:
    return struct.pack("<HH", rtype, len(data)) + data


BIFF_CELLS: list[tuple[int, int, Any]] = [  # row, col, value: ("date", serial), ("err", text)
    (0, 0, "Name"),
    (0, 1, "Amount"),
    (0, 2, "Booked"),
    (0, 3, "Paid"),
    (0, 4, "Check"),
    (1, 0, "Müller"),
    (1, 1, 12.5),
    (1, 2, ("date", 45306.0)),
    (1, 3, True),
    (1, 4, ("err", "#DIV/0!")),
    (2, 0, "Café"),
    (2, 1, -3.0),
    (2, 2, ("date", 36525.0)),
    (2, 3, False),
    (2, 4, ("formula", 3.0)),
]


def biff_checks(name: str) -> list[Json]:
    return [
        chk(name, "A1", "text", "Name"),
        chk(name, "A2", "text", "Müller"),
        chk(name, "B2", "number", 12.5),
        chk(name, "C2", "date", dt.datetime(2024, 1, 15)),
        chk(name, "C3", "date", dt.datetime(1999, 12, 31)),
        chk(name, "D2", "boolean", True),
        chk(name, "D3", "boolean", False),
        chk(name, "E2", "error", "#DIV/0!"),
        chk(name, "E3", "number", 3.0),
        chk(name, "B3", "number", -3.0),
    ]


FORMULA_1_PLUS_2 = b"\x1e\x01\x00\x1e\x02\x00\x03"  # ptgInt 1, ptgInt 2, ptgAdd


def biff2_bytes() -> bytes:
    """A BIFF2 (Excel 2.1) worksheet: a bare record stream, no OLE2 container."""
    out = _rec(0x0009, struct.pack("<HH", 0x0002, 0x0010))  # BOF: BIFF2, worksheet
    out += _rec(0x0042, struct.pack("<H", 1252))  # CODEPAGE
    out += _rec(0x0031, struct.pack("<HH", 200, 0) + bytes([5]) + b"Arial")  # FONT
    for f in ["General", "yyyy-mm-dd"]:  # FORMAT 0 and 1
        out += _rec(0x001E, bytes([len(f)]) + f.encode("latin-1"))
    out += _rec(0x0000, struct.pack("<HHHH", 0, 3, 0, 5))  # DIMENSIONS
    for r, c, v in BIFF_CELLS:
        attr = b"\x00\x00\x00"
        if isinstance(v, tuple) and v[0] == "date":
            attr = b"\x00\x01\x00"  # format index 1 in bits 0-5 of the second byte
        head = struct.pack("<HH", r, c) + attr
        if isinstance(v, bool):
            out += _rec(0x0005, head + bytes([int(v), 0]))
        elif isinstance(v, float):
            out += _rec(0x0003, head + struct.pack("<d", v))
        elif isinstance(v, str):
            raw = v.encode("cp1252")
            out += _rec(0x0004, head + bytes([len(raw)]) + raw)
        elif v[0] == "date":
            out += _rec(0x0003, head + struct.pack("<d", v[1]))
        elif v[0] == "err":
            out += _rec(0x0005, head + bytes([ERRORS[v[1]], 1]))
        elif v[0] == "formula":  # FORMULA: result, recalc flag, token length, tokens
            tokens = FORMULA_1_PLUS_2
            body = head + struct.pack("<dB", v[1], 0) + bytes([len(tokens)]) + tokens
            out += _rec(0x0006, body)
    out += _rec(0x000A, b"")  # EOF
    return out


def _biff5_xf(font: int, fmt: int, style: bool) -> bytes:
    # BIFF5 XF: font, format, type/protection, alignment, 3 words of borders and colours
    typ = 0xFFF5 if style else 0x0001
    return struct.pack("<HHHHHHHH", font, fmt, typ, 0x0020, 0x20C0, 0, 0, 0)


def biff5_workbook_stream() -> bytes:
    """A BIFF5 (Excel 5.0/95) workbook stream with one worksheet."""
    glob = _rec(0x0809, struct.pack("<HHHH", 0x0500, 0x0005, 0x0DBB, 0x07CC))  # BOF globals
    glob += _rec(0x0042, struct.pack("<H", 1252))  # CODEPAGE
    glob += _rec(0x0022, struct.pack("<H", 0))  # DATEMODE 1900
    glob += _rec(0x003D, struct.pack("<9H", 0, 0, 0x3000, 0x2000, 0x38, 0, 0, 1, 0x258))  # WINDOW1
    font = struct.pack("<HHHHHBBBB", 200, 0, 0x7FFF, 400, 0, 0, 0, 0, 0) + bytes([5]) + b"Arial"
    for _ in range(4):  # font index 4 is skipped by convention; 4 fonts are enough
        glob += _rec(0x0031, font)
    glob += _rec(0x041E, struct.pack("<H", 0xA4) + bytes([10]) + b"yyyy-mm-dd")  # FORMAT
    for _ in range(15):
        glob += _rec(0x00E0, _biff5_xf(0, 0, True))  # style XFs 0-14
    glob += _rec(0x00E0, _biff5_xf(0, 0, False))  # XF 15: default cell
    glob += _rec(0x00E0, _biff5_xf(0, 0xA4, False))  # XF 16: date cell
    glob += _rec(0x0293, struct.pack("<HBB", 0x8000, 0, 0xFF))  # STYLE Normal
    name = b"Sheet1"
    boundsheet_at = len(glob)
    glob += _rec(0x0085, struct.pack("<IBB", 0, 0, 0) + bytes([len(name)]) + name)
    glob += _rec(0x000A, b"")
    sheet = _rec(0x0809, struct.pack("<HHHH", 0x0500, 0x0010, 0x0DBB, 0x07CC))
    sheet += _rec(0x0200, struct.pack("<HHHHH", 0, 3, 0, 5, 0))  # DIMENSIONS
    for r, c, v in BIFF_CELLS:
        xf = 16 if isinstance(v, tuple) and v[0] == "date" else 15
        head = struct.pack("<HHH", r, c, xf)
        if isinstance(v, bool):
            sheet += _rec(0x0205, head + bytes([int(v), 0]))
        elif isinstance(v, float):
            sheet += _rec(0x0203, head + struct.pack("<d", v))
        elif isinstance(v, str):
            raw = v.encode("cp1252")
            sheet += _rec(0x0204, head + struct.pack("<H", len(raw)) + raw)
        elif v[0] == "date":
            sheet += _rec(0x0203, head + struct.pack("<d", v[1]))
        elif v[0] == "err":
            sheet += _rec(0x0205, head + bytes([ERRORS[v[1]], 1]))
        elif v[0] == "formula":
            tokens = FORMULA_1_PLUS_2
            body = head + struct.pack("<dHI", v[1], 0x0002, 0) + struct.pack("<H", len(tokens))
            sheet += _rec(0x0006, body + tokens)
    sheet += _rec(0x023E, struct.pack("<HHHI", 0x06B6, 0, 0, 0x40))  # WINDOW2
    sheet += _rec(0x000A, b"")
    # patch the BOUNDSHEET's offset of the sheet's BOF
    pos = struct.pack("<I", len(glob))
    at = boundsheet_at + 4
    return glob[:at] + pos + glob[at + 4 :] + sheet


def ole2(stream: bytes, name: str) -> bytes:
    """The smallest OLE2 compound file holding one stream (padded past the mini-stream limit)."""
    sec = 512
    if len(stream) < 4096:
        stream = stream + b"\x00" * (4096 - len(stream))
    nstream = -(-len(stream) // sec)
    # sectors: 0 FAT, 1 directory, 2.. stream
    fat = [0xFFFFFFFD, 0xFFFFFFFE]
    fat += [2 + i + 1 for i in range(nstream - 1)] + [0xFFFFFFFE]
    assert len(fat) <= sec // 4
    fat += [0xFFFFFFFF] * (sec // 4 - len(fat))
    fat_bytes = struct.pack(f"<{sec // 4}I", *fat)

    def dirent(nm: str, typ: int, child: int, start: int, size: int) -> bytes:
        raw = (nm + "\x00").encode("utf-16-le")
        return (
            raw.ljust(64, b"\x00")
            + struct.pack("<HBB", len(raw), typ, 1)  # name length, type, black
            + struct.pack("<iii", -1, -1, child)  # left, right, child
            + b"\x00" * 16  # CLSID
            + struct.pack("<I", 0)  # state bits
            + b"\x00" * 16  # times
            + struct.pack("<iII", start, size, 0)
        )

    unused = b"\x00" * 64 + struct.pack("<HBBiii", 0, 0, 0, -1, -1, -1) + b"\x00" * 48
    directory = dirent("Root Entry", 5, 1, -2, 0) + dirent(name, 2, -1, 2, len(stream))
    directory += unused * 2
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<I", 0)  # directory sectors (0 for version 3)
        + struct.pack("<I", 1)  # FAT sectors
        + struct.pack("<i", 1)  # first directory sector
        + struct.pack("<I", 0)  # transaction signature
        + struct.pack("<I", 4096)  # mini stream cutoff
        + struct.pack("<iI", -2, 0)  # first mini FAT sector, count
        + struct.pack("<iI", -2, 0)  # first DIFAT sector, count
        + struct.pack("<I", 0)  # DIFAT[0] = FAT sector 0
        + b"\xff" * (4 * 108)
    )
    assert len(header) == sec
    body = stream.ljust(nstream * sec, b"\x00")
    return header + fat_bytes + directory + body


def build_biff2(out: Path) -> Spec:
    out.write_bytes(biff2_bytes())
    return Spec(
        out.name,
        "build.py (hand-written BIFF2 records)",
        ["xls-biff2", "dates", "booleans", "errors", "formulas"],
        {"Sheet 1": sheet("table", table("A1:E3", [1]))},
        biff_checks("Sheet 1"),
        {
            "notes": "Excel 2.1 worksheet: a bare BIFF2 record stream, cp1252 text, no OLE2. "
            "BIFF2 has no sheet names: xlrd calls the sheet 'Sheet 1', Excel shows the file "
            "name. LibreOffice 7.4 opens it but shows C2:C3 as serials (45306), not dates"
        },
    )


def build_biff5(out: Path) -> Spec:
    out.write_bytes(ole2(biff5_workbook_stream(), "Book"))
    return Spec(
        out.name,
        "build.py (hand-written BIFF5 records in an OLE2 'Book' stream)",
        ["xls-biff5", "dates", "booleans", "errors", "formulas"],
        {"Sheet1": sheet("table", table("A1:E3", [1]))},
        biff_checks("Sheet1"),
        {"notes": "Excel 5.0/95 workbook: BIFF5 stream named 'Book', cp1252 byte strings"},
    )


# --------------------------------------------------------------------------- CSV


@dataclass
class CsvSpec:
    name: str
    encoding: str  # Python codec that reads it (BOM included where there is one)
    delimiter: str
    rows: list[list[str]]
    line_end: str
    covers: list[str]
    layout: Json
    checks: list[tuple[str, str]]
    bom: bytes = b""
    write_codec: str = ""
    extra: Json = field(default_factory=dict)


def csv_quote(v: str, delim: str) -> str:
    if any(ch in v for ch in (delim, '"', "\n", "\r")):
        return '"' + v.replace('"', '""') + '"'
    return v


CSVS = [
    CsvSpec(
        "utf8_comma.csv",
        "utf-8",
        ",",
        [
            ["id", "name", "city", "amount", "note"],
            ["1", "Zoë", "Málaga", "12.5", "contains, a comma"],
            ["2", 'O"Brien', "Zürich", "-3", "two\nlines"],
            ["3", "李雷", "北京", "1e3", ""],
            ["4", "", "Köln", "", "😀 emoji"],
        ],
        "\r\n",
        ["csv", "utf-8", "comma", "quoted-fields", "embedded-newline", "crlf"],
        sheet("table", table("A1:E5", [1])),
        [
            ("B2", "Zoë"),
            ("B3", 'O"Brien'),
            ("E3", "two\nlines"),
            ("B4", "李雷"),
            ("E5", "😀 emoji"),
        ],
        write_codec="utf-8",
    ),
    CsvSpec(
        "utf8bom_semicolon_decimal_comma.csv",
        "utf-8-sig",
        ";",
        [
            ["Artikel", "Menge", "Preis", "Datum"],
            ["Äpfel", "3", "1,5", "31.12.2024"],
            ["Birnen", "10", "1.234,56", "01.01.2025"],
            ["Süß; sauer", "2", "0,99", "15.06.2024"],
        ],
        "\n",
        ["csv", "utf-8-bom", "semicolon", "decimal-comma", "thousands-dot", "dotted-dates"],
        sheet("table", table("A1:D4", [1])),
        [("A1", "Artikel"), ("C2", "1,5"), ("C3", "1.234,56"), ("A4", "Süß; sauer")],
        bom=codecs.BOM_UTF8,
        write_codec="utf-8",
        extra={"decimal": ",", "thousands": ".", "date_format": "dd.mm.yyyy"},
    ),
    CsvSpec(
        "utf16le_bom_tab.csv",
        "utf-16",
        "\t",
        [
            ["Name", "Value", "When"],
            ["Café", "1.5", "2024-01-02"],
            ["Straße", "-2", "2024-02-03"],
            ["€uro", "3", "2024-03-04"],
        ],
        "\r\n",
        ["csv", "utf-16le-bom", "tab", "crlf"],
        sheet("table", table("A1:C4", [1])),
        [("A2", "Café"), ("A3", "Straße"), ("A4", "€uro"), ("B2", "1.5")],
        bom=codecs.BOM_UTF16_LE,
        write_codec="utf-16-le",
        extra={"notes": "what Excel's 'Unicode Text' export writes"},
    ),
    CsvSpec(
        "cp1252_pipe.csv",
        "cp1252",
        "|",
        [
            ["Produkt", "Preis", "Stadt", "Währung"],
            ["Crème brûlée", "4.50", "Orléans", "€"],
            ["Müsli", "3.20", "München", "€"],
            ["Smørrebrød", "7", "København", "DKK"],
        ],
        "\r\n",
        ["csv", "cp1252", "pipe", "crlf"],
        sheet("table", table("A1:D4", [1])),
        [("A2", "Crème brûlée"), ("C3", "München"), ("D2", "€"), ("A4", "Smørrebrød")],
        write_codec="cp1252",
    ),
    CsvSpec(
        "report_layout_utf8_semicolon.csv",
        "utf-8",
        ";",
        [
            ["Sales report Q1 2024", "", ""],
            ["", "", ""],
            ["Region", "Units", "Revenue"],
            ["North", "10", "100,50"],
            ["South", "20", "210,00"],
            ["Total", "30", "310,50"],
        ],
        "\r\n",
        ["csv", "report-layout", "title-rows", "totals-row", "semicolon", "decimal-comma"],
        sheet(
            "table",
            table("A3:C5", [3]),
            above="row 1 title, row 2 empty (only delimiters)",
            below="row 6 totals",
        ),
        [("A1", "Sales report Q1 2024"), ("A3", "Region"), ("C6", "310,50")],
        write_codec="utf-8",
        extra={"decimal": ","},
    ),
]


def build_csv(spec: CsvSpec, out: Path) -> Spec:
    lines = [spec.delimiter.join(csv_quote(v, spec.delimiter) for v in r) for r in spec.rows]
    text = spec.line_end.join(lines) + spec.line_end
    out.write_bytes(spec.bom + text.encode(spec.write_codec))
    stem = out.stem
    return Spec(
        out.name,
        "build.py",
        spec.covers,
        {stem: spec.layout},
        [chk(stem, ref, "text", v) for ref, v in spec.checks],
        {
            "encoding": spec.encoding,
            "delimiter": spec.delimiter,
            "line_terminator": spec.line_end,
            **spec.extra,
        },
    )


# --------------------------------------------------------------------------- LibreOffice


@dataclass
class Conversion:
    source: str  # a file built above
    target: str  # the name in files/
    filter: str  # the --convert-to argument
    covers: list[str]
    drop: set[str] = field(default_factory=set)  # "Sheet!A1" checks that do not hold
    add: list[Json] = field(default_factory=list)
    formulas: bool = False  # formula text survives as in the source (xlsx to xlsx)
    states: dict[str, str] = field(default_factory=dict)
    sheet_notes: dict[str, str] = field(default_factory=dict)
    notes: str | None = None
    transform: Callable[[Json], Json] | None = None
    unreadable: str | None = None  # why the reference reader cannot read the file


def lo_number(check: Json) -> Json:
    """LibreOffice keeps 15 significant digits of a number when it writes XML."""
    if check["kind"] == "number" and isinstance(check["value"], int | float):
        v = check["value"]
        if not isinstance(v, bool) and v != 0 and math.isfinite(float(f"{v:.15g}")):
            return {**check, "value": float(f"{v:.15g}")}
    return check


LO_ERRORS_NOTE = (
    "LibreOffice does not keep every cached error: #NUM! (=SQRT(-1)) becomes its own "
    "Err:502, written as #VALUE! to .xls/.xlsx, and #NULL! becomes #REF!"
)


def lo_errors(num_error: str) -> Callable[[Json], Json]:
    def tr(check: Json) -> Json:
        if check["kind"] == "error" and check["value"] == "#NUM!":
            return {**check, "value": num_error}
        if check["kind"] == "error" and check["value"] == "#NULL!":
            return {**check, "value": "#REF!"}
        return check

    return tr


LO_BOOL_NOTE = (
    "LibreOffice has no boolean cells: TRUE and FALSE become the formulas =TRUE() and "
    "=FALSE(), written to ODS as floats 1 and 0"
)


def lo_ods_boolean(check: Json) -> Json:
    if check["kind"] == "boolean":
        return {**check, "kind": "number", "value": int(check["value"])}
    return check


def no_controls(check: Json) -> Json:
    if check["kind"] == "text":
        return {**check, "value": re.sub(r"[\x00-\x08\x0b-\x1f]", "", check["value"])}
    return check


CONVERSIONS = [
    Conversion(
        "errors_xlsxwriter.xlsx",
        "errors_libreoffice.xls",
        "xls:MS Excel 97",
        ["xls"],
        transform=lo_errors("#VALUE!"),
        notes=LO_ERRORS_NOTE,
    ),
    Conversion(
        "errors_xlsxwriter.xlsx",
        "errors_libreoffice.ods",
        "ods",
        ["ods"],
        transform=lo_errors("Err:502"),
        notes=LO_ERRORS_NOTE + "; ODS error cells are value-type string with "
        "calcext:value-type='error' and the error's text in <text:p>",
        add=[chk("Data", "C3", "error", "#DIV/0!", "of:=1/0")],
    ),
    Conversion(
        "errors_xlsxwriter.xlsx",
        "errors_libreoffice.xlsx",
        "xlsx:Calc MS Excel 2007 XML",
        ["xlsx-resaved-by-libreoffice"],
        formulas=True,
        drop={"Data!C6", "Lone!F3"},  # LibreOffice lower-cases unknown function names
        add=[
            chk("Data", "C6", "error", "#NAME?", "=nosuchfunc(1)"),
            chk("Lone", "F3", "error", "#NAME?", "=xyz()"),
        ],
        transform=lo_errors("#VALUE!"),
        notes=LO_ERRORS_NOTE,
    ),
    Conversion(
        "errors_openpyxl.xlsx",
        "errors_values_libreoffice.ods",
        "ods",
        ["ods"],
        add=[chk("Pasted values", "B3", "error", "#N/A", "of:=#N/A")],
        notes="LibreOffice writes the bare error values as formulas (of:=#N/A); unlike "
        "formula results, #NUM! and #NULL! are kept",
    ),
    Conversion(
        "datetimes_xlsxwriter.xlsx", "datetimes_libreoffice.xls", "xls:MS Excel 97", ["xls"]
    ),
    Conversion(
        "datetimes_xlsxwriter.xlsx",
        "datetimes_libreoffice.ods",
        "ods",
        ["ods"],
        drop={"Mixed!B14"},
        add=[chk("Mixed", "B14", "date", dt.datetime(1900, 2, 27))],
        notes="serial 59 (Excel: 1900-02-28) is written as the ISO date 1900-02-27: "
        "LibreOffice counts days without Excel's phantom 1900-02-29",
    ),
    Conversion(
        "datetimes_xlsxwriter.xlsx",
        "datetimes_libreoffice.xlsx",
        "xlsx:Calc MS Excel 2007 XML",
        ["xlsx-resaved-by-libreoffice"],
        formulas=True,
    ),
    Conversion(
        "dates1904_xlsxwriter.xlsx", "dates1904_libreoffice.xls", "xls:MS Excel 97", ["xls"]
    ),
    Conversion(
        "report_layout_xlsxwriter.xlsx",
        "report_layout_libreoffice.xls",
        "xls:MS Excel 97",
        ["xls"],
    ),
    Conversion("report_layout_xlsxwriter.xlsx", "report_layout_libreoffice.ods", "ods", ["ods"]),
    Conversion(
        "merged_header_xlsxwriter.xlsx",
        "merged_header_libreoffice.xls",
        "xls:MS Excel 97",
        ["xls"],
    ),
    Conversion(
        "merged_header_xlsxwriter.xlsx",
        "merged_header_libreoffice.ods",
        "ods",
        ["ods", "covered-cells"],
    ),
    Conversion(
        "dirty_headers_xlsxwriter.xlsx",
        "dirty_headers_libreoffice.xls",
        "xls:MS Excel 97",
        ["xls"],
    ),
    Conversion(
        "dirty_headers_xlsxwriter.xlsx",
        "dirty_headers_libreoffice.ods",
        "ods",
        ["ods"],
        transform=no_controls,
        notes="LibreOffice drops the control characters (NULs too) when it writes ODS",
    ),
    Conversion(
        "sheets_openpyxl.xlsx",
        "sheets_libreoffice.xls",
        "xls:MS Excel 97",
        ["xls"],
        states={"Very hidden": "hidden"},
        notes="LibreOffice has no 'very hidden': the sheet is written as hidden",
    ),
    Conversion(
        "sheets_openpyxl.xlsx",
        "sheets_libreoffice.ods",
        "ods",
        ["ods"],
        states={"Very hidden": "hidden"},
        notes="LibreOffice has no 'very hidden': the sheet is written as hidden",
    ),
    Conversion(
        "numeric_edge_openpyxl.xlsx",
        "numeric_edge_libreoffice.xls",
        "xls:MS Excel 97",
        ["xls"],
        notes="BIFF8 stores binary doubles: integers above 2**53 are rounded to the nearest double",
        transform=lambda c: {**c, "value": float(c["value"])} if c["kind"] == "number" else c,
    ),
    Conversion(
        "numeric_edge_openpyxl.xlsx",
        "numeric_edge_libreoffice.ods",
        "ods",
        ["ods"],
        transform=lambda c: lo_number(lo_ods_boolean(c)),
        notes="LibreOffice writes numbers to ODS with 15 significant digits; " + LO_BOOL_NOTE,
    ),
    Conversion(
        "numeric_edge_openpyxl.xlsx",
        "numeric_edge_libreoffice.xlsx",
        "xlsx:Calc MS Excel 2007 XML",
        ["xlsx-resaved-by-libreoffice"],
        transform=lo_number,
        notes="LibreOffice writes numbers to xlsx with 15 significant digits",
    ),
    Conversion(
        "float_overflow_openpyxl.xlsx",
        "float_overflow_libreoffice.xlsx",
        "xlsx:Calc MS Excel 2007 XML",
        ["xlsx-resaved-by-libreoffice", "invalid-xml-number"],
        unreadable="openpyxl fails: <v>INF</v> and <v>-INF</v> are not numbers",
        notes="LibreOffice reads openpyxl's 1.797693134862316e+308 as infinity and writes "
        "<v>INF</v> (and -INF) into the sheet XML: a file openpyxl cannot open",
    ),
    Conversion(
        "text_numbers_openpyxl.xlsx", "text_numbers_libreoffice.xls", "xls:MS Excel 97", ["xls"]
    ),
    Conversion(
        "formulas_nocache_openpyxl.xlsx",
        "formulas_nocache_libreoffice.xlsx",
        "xlsx:Calc MS Excel 2007 XML",
        ["xlsx-resaved-by-libreoffice", "formulas", "cached-results"],
        add=[
            chk("Calc", "C2", "number", 15.0, "=A2*B2"),
            chk("Calc", "A5", "number", 20, "=SUM(A2:A4)"),
            chk("Calc", "C5", "number", 42.75, "=SUM(C2:C4)"),
        ],
        notes="LibreOffice computed the formulas openpyxl left without values and cached them",
    ),
    Conversion(
        "formulas_xlsxwriter.xlsx",
        "formulas_libreoffice.ods",
        "ods",
        ["ods"],
        transform=lo_ods_boolean,
        add=[chk("Calc", "D5", "number", 42.75, "of:=SUM([.D2:.D4])")],
        notes="boolean formula results (=B2>5) are written as floats 1 and 0",
    ),
    Conversion(
        "formulas_xlsxwriter.xlsx",
        "macro_enabled_libreoffice.xlsm",
        "xlsm:Calc MS Excel 2007 VBA XML",
        ["xlsm", "macro-enabled-content-type"],
        formulas=True,
    ),
    Conversion(
        "listobject_xlsxwriter.xlsx",
        "listobject_libreoffice.xlsx",
        "xlsx:Calc MS Excel 2007 XML",
        ["xlsx-resaved-by-libreoffice"],
    ),
]

FAILED_FILTERS = {
    "xls:MS Excel 95": "LibreOffice 7.4 has no BIFF5 export (import only): "
    "SfxBaseModel::impl_store failed 0x81a",
    "xls:MS Excel 5.0/95": "same: import-only filter",
    "xls:MS Excel 4.0": "same: import-only filter",
    "xlsb": "no export filter for .xlsb",
    "xlsb:Calc MS Excel 2007 Binary": "import-only filter: SfxBaseModel::impl_store failed 0x81a",
}


# No thumbnail in saved files (it is most of a small .ods), and formulas never recalculated
# on loading .xlsx or .xls: the cached results (errors included) pass through as written.
LO_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Save/Document">
 <prop oor:name="GenerateThumbnail" oor:op="fuse"><value>false</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
 <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>1</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
 <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>1</value></prop></item>
</oor:items>
"""


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def lo_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    m = re.search(r"LibreOffice [\d.]+", out.stdout)
    return m.group(0) if m else "LibreOffice"


def run_conversions(exe: str, convs: Iterable[Conversion]) -> None:
    by_filter: dict[str, list[Conversion]] = {}
    for c in convs:
        by_filter.setdefault(c.filter, []).append(c)
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(LO_SETTINGS, "utf-8")
        for filt, group in by_filter.items():
            ext = filt.split(":", 1)[0]
            sources = sorted({c.source for c in group})
            for src in sources:  # one source per call: two targets may share a stem
                outdir = Path(tmp) / "out"
                shutil.rmtree(outdir, ignore_errors=True)
                outdir.mkdir()
                cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless"]
                cmd += ["--convert-to", filt, "--outdir", str(outdir), str(FILES / src)]
                subprocess.run(cmd, check=True, capture_output=True, timeout=300)
                made = outdir / (Path(src).stem + "." + ext)
                if not made.exists():
                    raise SystemExit(f"LibreOffice did not write {made.name}: {' '.join(cmd)}")
                for c in group:
                    if c.source == src:
                        shutil.copyfile(made, FILES / c.target)


def derive(conv: Conversion, src: Spec, writer: str) -> Spec:
    ext = conv.target.rsplit(".", 1)[1]
    checks = []
    for c in src.checks:
        if f"{c['sheet']}!{c['cell']}" in conv.drop:
            continue
        c = dict(c)
        if not conv.formulas:
            c.pop("formula", None)
        if conv.transform:
            c = conv.transform(c)
        checks.append(c)
    checks += conv.add
    sheets = json.loads(json.dumps(src.sheets))
    for name, state in conv.states.items():
        sheets[name]["state"] = state
    for name, note in conv.sheet_notes.items():
        sheets[name]["notes"] = note
    extra: Json = {
        "source": conv.source,
        "command": f"soffice --headless --convert-to '{conv.filter}' {conv.source}",
    }
    for key in ("date_system", "listobjects", "defined_names", "encoding", "delimiter"):
        if key in src.extra:
            extra[key] = src.extra[key]
    if conv.notes:
        extra["notes"] = conv.notes
    if conv.unreadable:
        extra["reference_reader"] = "fails: " + conv.unreadable
        checks = []
    covers = [*conv.covers, *(x for x in src.covers if x not in conv.covers)]
    if ext == "xls":
        covers.insert(0, "xls-biff8")
    return Spec(conv.target, writer, covers, sheets, checks, extra)


# --------------------------------------------------------------------------- main

Builder = Callable[[Path], Spec]

BUILDERS: list[tuple[str, Builder]] = [
    ("errors_xlsxwriter.xlsx", build_errors_xlsxwriter),
    ("errors_openpyxl.xlsx", build_errors_openpyxl),
    ("datetimes_xlsxwriter.xlsx", build_datetimes_xlsxwriter),
    ("dates1904_xlsxwriter.xlsx", lambda p: build_datetimes_xlsxwriter(p, date_1904=True)),
    ("report_layout_xlsxwriter.xlsx", build_report_xlsxwriter),
    ("no_header_openpyxl.xlsx", build_no_header_openpyxl),
    ("key_value_openpyxl.xlsx", build_key_value_openpyxl),
    ("multi_tables_openpyxl.xlsx", build_multi_tables_openpyxl),
    ("listobject_xlsxwriter.xlsx", build_listobject_xlsxwriter),
    ("listobject_openpyxl.xlsx", build_listobject_openpyxl),
    ("merged_header_xlsxwriter.xlsx", build_merged_header_xlsxwriter),
    ("dirty_headers_xlsxwriter.xlsx", build_dirty_headers_xlsxwriter),
    ("text_numbers_openpyxl.xlsx", build_text_numbers_openpyxl),
    ("numeric_edge_openpyxl.xlsx", build_numeric_edge_openpyxl),
    ("float_overflow_openpyxl.xlsx", build_float_overflow_openpyxl),
    ("formulas_xlsxwriter.xlsx", build_formulas_xlsxwriter),
    ("formulas_nocache_openpyxl.xlsx", build_formulas_nocache_openpyxl),
    ("sheets_openpyxl.xlsx", build_sheets_openpyxl),
    ("macro_enabled_openpyxl.xlsm", build_macro_openpyxl),
    ("biff8_mixed_xlwt.xls", build_biff8_xlwt),
    ("types_odfpy.ods", build_types_odfpy),
    ("mixed_pyxlsbwriter.xlsb", build_mixed_xlsb),
    ("biff5_handmade.xls", build_biff5),
    ("biff2_handmade.xls", build_biff2),
]


def dump_manifest(manifest: Json) -> str:
    """Indented JSON, but each check and each table on one line, to keep the file small."""

    def enc(v: Any, depth: int) -> str:
        pad = " " * depth
        if isinstance(v, dict) and v and not ("cell" in v or "range" in v):
            items = [
                f"{pad} {json.dumps(k, ensure_ascii=False)}: {enc(x, depth + 1)}"
                for k, x in v.items()
            ]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(v, list) and any(isinstance(x, dict) for x in v):
            items = [f"{pad} {enc(x, depth + 1)}" for x in v]
            return "[\n" + ",\n".join(items) + "\n" + pad + "]"
        return json.dumps(v, ensure_ascii=False)

    text = enc(manifest, 0) + "\n"
    assert json.loads(text) == manifest
    return text


def main(argv: Sequence[str] = ()) -> int:
    FILES.mkdir(parents=True, exist_ok=True)
    specs: dict[str, Spec] = {}
    for name, builder in BUILDERS:
        specs[name] = builder(FILES / name)
    for c in CSVS:
        specs[c.name] = build_csv(c, FILES / c.name)
    exe = soffice()
    if exe and "--no-libreoffice" not in argv:
        run_conversions(exe, CONVERSIONS)
        lo = lo_version(exe)
    else:
        print("no LibreOffice: keeping the converted files already in files/")
        missing = [c.target for c in CONVERSIONS if not (FILES / c.target).exists()]
        if missing:
            raise SystemExit(f"missing converted files and no LibreOffice: {missing}")
        old = json.loads((FILES / "MANIFEST.json").read_text(encoding="utf-8"))
        lo = old["files"][CONVERSIONS[0].target]["writer"]
    for conv in CONVERSIONS:
        specs[conv.target] = derive(conv, specs[conv.source], lo)
    known = set(specs) | {"MANIFEST.json"}
    for stray in sorted(p.name for p in FILES.iterdir() if p.name not in known):
        print(f"removing stray file {stray}")
        (FILES / stray).unlink()
    manifest: Json = {
        "about": (
            "Messy test workbooks. 'sheets' says what a person opening each file in Excel "
            "sees; 'checks' are cells the reference reader (tests/corpus/reference.py) must "
            "read back, as {sheet: {cell: [kind, value, formula if checked]}}: a date is an "
            "ISO string, a duration or time of day a number of seconds. Regenerate with: "
            "python -m tests.corpus.build"
        ),
        "libreoffice_filters_failed": FAILED_FILTERS,
        "libreoffice_settings": "a fresh profile with no thumbnails and OOXMLRecalcMode and "
        "ODFRecalcMode 1 (never recalculate on load); LibreOffice still computes formulas "
        "that have no cached value",
        "files": {name: specs[name].entry() for name in sorted(specs)},
    }
    text = dump_manifest(manifest)
    (FILES / "MANIFEST.json").write_text(text, encoding="utf-8")
    total = sum(p.stat().st_size for p in FILES.iterdir())
    print(f"{len(specs)} files, {total / 1024:.0f} KiB in {FILES}")
    return 0


if __name__ == "__main__":
    os.chdir(HERE.parent.parent)
    raise SystemExit(main(sys.argv[1:]))
