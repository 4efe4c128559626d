"""The reference reader reads every corpus file and finds what MANIFEST.json says is there."""

from __future__ import annotations

import datetime as dt
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.corpus.reference import (
    ERROR_TEXTS,
    Cell,
    address,
    numbers,
    parse_iso_duration,
    read_cells,
    sheet_states,
    temporal_kind,
    unescape_ooxml,
)

FILES = Path(__file__).parent / "files"
MANIFEST: dict[str, Any] = json.loads((FILES / "MANIFEST.json").read_text(encoding="utf-8"))
ENTRIES: dict[str, dict[str, Any]] = MANIFEST["files"]
READABLE = sorted(n for n, e in ENTRIES.items() if "reference_reader" not in e)


@cache
def cells(name: str) -> dict[tuple[str, str], Cell]:
    return read_cells(FILES / name)


def covering(tag: str) -> list[str]:
    return [n for n in READABLE if tag in ENTRIES[n]["covers"]]


def row_of(ref: str) -> int:
    return int(ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def same(kind: str, got: object, expected: Any) -> bool:
    if kind == "date":
        assert isinstance(got, dt.datetime)
        return abs(got - dt.datetime.fromisoformat(expected)) <= dt.timedelta(milliseconds=1)
    if kind == "duration":
        assert isinstance(got, dt.timedelta)
        return bool(abs(got.total_seconds() - expected) <= 1e-3)
    if kind == "number":
        assert isinstance(got, int | float) and not isinstance(got, bool)
        if isinstance(got, int) and isinstance(expected, int):
            return got == expected
        return math.isclose(got, expected, rel_tol=1e-12, abs_tol=0.0)
    return type(got) is type(expected) and bool(got == expected)


def test_the_manifest_lists_every_file_and_only_those() -> None:
    on_disk = {p.name for p in FILES.iterdir()} - {"MANIFEST.json"}
    assert on_disk == set(ENTRIES)


def test_the_corpus_stays_small() -> None:
    sizes = {p.name: p.stat().st_size for p in FILES.iterdir()}
    assert sum(sizes.values()) < 400_000
    assert max(s for n, s in sizes.items() if n != "MANIFEST.json") < 32_000


@pytest.mark.parametrize("name", READABLE)
def test_every_checked_cell_reads_back(name: str) -> None:
    got = cells(name)
    wrong = []
    for sheet, by_cell in ENTRIES[name]["checks"].items():
        for ref, (kind, value, *formula) in by_cell.items():
            cell = got.get((sheet, ref))
            if cell is None:
                wrong.append(f"{sheet}!{ref}: missing, expected {kind} {value!r}")
            elif cell.kind != kind or not same(kind, cell.value, value):
                wrong.append(f"{sheet}!{ref}: {cell}, expected {kind} {value!r}")
            elif formula and cell.formula != formula[0]:
                wrong.append(f"{sheet}!{ref}: formula {cell.formula!r}, expected {formula[0]!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", READABLE)
def test_the_sheets_and_their_states_are_as_listed(name: str) -> None:
    sheets = ENTRIES[name]["sheets"]
    assert sheet_states(FILES / name) == {s: v["state"] for s, v in sheets.items()}
    filled = {sheet for sheet, _ in cells(name)}
    for sheet, layout in sheets.items():
        assert (sheet in filled) == (layout["layout"] != "empty"), sheet


@pytest.mark.parametrize("name", READABLE)
def test_each_listed_table_has_cells_in_its_first_and_last_rows(name: str) -> None:
    got = cells(name)
    for sheet, layout in ENTRIES[name]["sheets"].items():
        rows = {row_of(ref) for s, ref in got if s == sheet}
        for tab in layout["tables"]:
            top, bottom = (row_of(ref) for ref in tab["range"].split(":"))
            assert top in rows and bottom in rows, (sheet, tab)
            assert set(tab["header_rows"]) <= rows


@pytest.mark.parametrize("name", covering("errors"))
def test_error_cells_are_errors(name: str) -> None:
    errors = [c for c in cells(name).values() if c.kind == "error"]
    assert errors
    assert all(c.value in ERROR_TEXTS or str(c.value).startswith("Err:") for c in errors)


@pytest.mark.parametrize("name", covering("durations"))
def test_durations_over_a_day_are_durations(name: str) -> None:
    durations = [c.value for c in cells(name).values() if c.kind == "duration"]
    assert any(isinstance(d, dt.timedelta) and d > dt.timedelta(days=1) for d in durations)


def test_the_error_lookalike_text_stays_text() -> None:
    assert cells("errors_xlsxwriter.xlsx")[("Lone", "G1")] == Cell("text", "#N/A")
    assert cells("errors_libreoffice.xls")[("Lone", "G1")] == Cell("text", "#N/A")


@pytest.mark.parametrize(
    ("name", "sheet"),
    [
        ("dirty_headers_xlsxwriter.xlsx", "Export"),
        ("dirty_headers_libreoffice.xls", "Export"),
        ("biff8_mixed_xlwt.xls", "Headers"),
    ],
)
def test_nul_and_control_characters_in_headers_survive(name: str, sheet: str) -> None:
    got = cells(name)
    assert got[(sheet, "A1")].value == "Amount\x00\x00"
    assert got[(sheet, "B1")].value == "Na\x01me"
    assert got[(sheet, "C1")].value == "N\x00a\x00m\x00e\x00"
    assert got[(sheet, "D1")].value == "\ufeffID"
    assert (sheet, "G1") not in got and (sheet, "G2") in got  # empty header over data
    assert got[(sheet, "H1")].kind == "number"


def test_libreoffice_drops_control_characters_from_ods() -> None:
    got = cells("dirty_headers_libreoffice.ods")
    assert got[("Export", "A1")].value == "Amount"
    assert got[("Export", "C1")].value == "Name"


def test_text_codes_stay_text_next_to_numbers() -> None:
    for name in ("text_numbers_openpyxl.xlsx", "text_numbers_libreoffice.xls"):
        got = cells(name)
        assert got[("Codes", "A2")] == Cell("text", "00123")
        assert got[("Codes", "B2")].kind == "number"


def test_formula_text_comes_with_the_cached_value() -> None:
    got = cells("formulas_xlsxwriter.xlsx")
    assert got[("Calc", "D5")] == Cell("number", 42.75, "=SUM(D2:D4)")
    assert got[("Calc", "G2")] == Cell("boolean", True, "=B2>5")
    nocache = cells("formulas_nocache_openpyxl.xlsx")
    assert ("Calc", "C2") not in nocache  # a formula without a cached value is no cell
    assert ("Calc", "C2") in cells("formulas_nocache_libreoffice.xlsx")


def labelled(name: str, sheet: str, label: str) -> object:
    """The value in column B beside the text ``label`` in column A."""
    got = cells(name)
    for (s, ref), cell in got.items():
        if s == sheet and ref.startswith("A") and cell.value == label:
            return got[(sheet, "B" + ref[1:])].value
    raise KeyError(label)


def test_numbers_keep_their_digits_in_xlsx_and_lose_them_through_libreoffice() -> None:
    exact, xls, xlsx = (
        f"numeric_edge_{w}" for w in ("openpyxl.xlsx", "libreoffice.xls", "libreoffice.xlsx")
    )
    assert labelled(exact, "Numbers", "2**53+1") == 2**53 + 1  # openpyxl reads digits as int
    assert labelled(xls, "Numbers", "2**53+1") == float(2**53)  # BIFF8 holds doubles
    assert labelled(xlsx, "Numbers", "2**53+1") == 9007199254740990  # 15 digits
    assert labelled(exact, "Numbers", "0.1+0.2") == 0.1 + 0.2
    assert labelled(xlsx, "Numbers", "one third") == 0.333333333333333
    assert labelled(exact, "Numbers", "max float") == 1.7976931348623157e308


def test_files_the_reference_cannot_read_fail_loudly() -> None:
    unreadable = [n for n, e in ENTRIES.items() if "reference_reader" in e]
    assert unreadable
    for name in unreadable:
        with pytest.raises(ValueError):
            read_cells(FILES / name)


def test_numbers_are_the_numeric_cells_as_floats() -> None:
    got = numbers(FILES / "numeric_edge_openpyxl.xlsx")
    assert float(2**53 + 1) in got.values()
    assert all(type(v) is float for v in got.values())
    assert ("Numbers", "B2") not in got  # a boolean
    assert ("Numbers", "A2") not in got  # text
    assert ("Mixed", "B2") not in numbers(FILES / "datetimes_xlsxwriter.xlsx")  # a date


def test_csv_encoding_and_delimiter_can_be_given() -> None:
    path = FILES / "cp1252_pipe.csv"
    assert read_cells(path, encoding="cp1252", delimiter="|") == cells(path.name)
    mangled = read_cells(path, encoding="latin-1", delimiter=",")
    assert mangled[("cp1252_pipe", "A1")].value == "Produkt|Preis|Stadt|Währung"


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ("General", None),
        ("0.00", None),
        ("0.0%", None),
        ('#,##0.00 "€"', None),
        ("0.00E+00", None),
        ("@", None),
        ("yyyy-mm-dd", "date"),
        ("YYYY-MM-DD", "date"),
        ("mm-dd-yy", "date"),
        ("d-mmm-yyyy", "date"),
        ("yyyy-mm-dd hh:mm", "date"),
        ("[$-409]mmmm d, yyyy;@", "date"),
        ("mmm", "date"),
        ("hh:mm", "duration"),
        ("h:mm AM/PM", "duration"),
        ("mm:ss", "duration"),
        ("[h]:mm", "duration"),
        ("[mm]:ss", "duration"),
        ("[Red]0.00;[Blue]-0.00", None),
        ('0 "days"', None),
    ],
)
def test_temporal_kind_reads_number_formats_like_excel(fmt: str, kind: str | None) -> None:
    assert temporal_kind(fmt) == kind


def test_small_helpers() -> None:
    assert address(0, 0) == "A1"
    assert address(9, 25) == "Z10"
    assert address(0, 26) == "AA1"
    assert address(4, 16383) == "XFD5"
    assert parse_iso_duration("PT36H30M00S") == dt.timedelta(hours=36.5)
    assert parse_iso_duration("-P1DT2H") == -dt.timedelta(days=1, hours=2)
    assert unescape_ooxml("Amount_x0000__x0000_") == "Amount\x00\x00"
    assert unescape_ooxml("x_x0041_y") == "x_x0041_y"  # only characters XML cannot hold
