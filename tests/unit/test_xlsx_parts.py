"""A1 addresses and shared formulas, as Excel reads them."""

from __future__ import annotations

from sheetstream.workbooks.xlsx_parts import a1, parse_a1, shift_formula


def test_a1_addresses_both_ways() -> None:
    cases = {(0, 0): "A1", (13, 3): "D14", (0, 25): "Z1", (0, 26): "AA1", (9, 701): "ZZ10"}
    cases |= {(1_048_575, 16_383): "XFD1048576", (0, 702): "AAA1"}
    for (row, col), address in cases.items():
        assert a1(row, col) == address
        assert parse_a1(address) == (row, col)
    assert parse_a1("$B$3") == (2, 1)
    for bad in ("", "A0", "XFE1", "A1048577", "1A", "A1:B2"):
        assert parse_a1(bad) is None


def test_a_shared_formula_moves_its_relative_references_only() -> None:
    assert shift_formula("A2*2", 3, 0) == "A5*2"
    assert shift_formula("SUM($B$2:B2)+C$1", 2, 1) == "SUM($B$2:C4)+D$1"
    assert shift_formula('IF(A1>0,"B2",LOG10(A1))', 1, 0) == 'IF(A2>0,"B2",LOG10(A2))'
    assert shift_formula("Sheet1!A1+'My sheet'!B2", 1, 1) == "Sheet1!B2+'My sheet'!C3"
    assert shift_formula("A1", -1, 0) == "#REF!"
