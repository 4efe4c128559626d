"""CSV fields typed as a spreadsheet program opening the file types them (pure logic)."""

from __future__ import annotations

import datetime as dt

from sheetstream.workbooks.csv_grid import decimal_comma, typed_rows, typed_value


def test_numbers_with_a_decimal_point_or_thousands_commas() -> None:
    assert typed_value("12.5", comma=False) == 12.5
    assert typed_value(" -3 ", comma=False) == -3
    assert typed_value("1e3", comma=False) == 1000.0
    assert typed_value("1,234.50", comma=False) == 1234.5
    assert typed_value("0", comma=False) == 0
    assert typed_value("0.25", comma=False) == 0.25
    assert typed_value("1,5", comma=False) == "1,5"


def test_numbers_with_a_decimal_comma_and_thousands_dots() -> None:
    assert typed_value("1,5", comma=True) == 1.5
    assert typed_value("1.234,56", comma=True) == 1234.56
    assert typed_value("-0,99", comma=True) == -0.99
    assert typed_value("10", comma=True) == 10
    assert typed_value("1.5", comma=True) == "1.5"


def test_codes_stay_text() -> None:
    assert typed_value("007", comma=False) == "007"
    assert typed_value("12345678901234567890", comma=False) == "12345678901234567890"
    assert typed_value("1.2.3", comma=False) == "1.2.3"
    assert typed_value("12 kg", comma=False) == "12 kg"


def test_dates_booleans_and_empties() -> None:
    assert typed_value("2024-01-02", comma=False) == dt.date(2024, 1, 2)
    assert typed_value("2024-01-02 10:30", comma=False) == dt.datetime(2024, 1, 2, 10, 30)
    assert typed_value("31.12.2024", comma=True) == dt.date(2024, 12, 31)
    assert typed_value("2024-02-30", comma=False) == "2024-02-30"
    assert typed_value("TRUE", comma=False) is True
    assert typed_value("false", comma=False) is False
    assert typed_value(None, comma=False) == ""
    assert typed_value("   ", comma=False) == ""


def test_the_decimal_mark_is_the_one_more_fields_need() -> None:
    assert decimal_comma(["1,5", "2,25", "3"])
    assert not decimal_comma(["1.5", "2,25", "3.75"])
    assert not decimal_comma(["a", "b"])
    assert decimal_comma(["1.234,56", "7"])


def test_rows_are_typed_and_padded() -> None:
    assert typed_rows([["a", "1,5"], ["b"]]) == [["a", 1.5], ["b", ""]]


def test_thousands_separators_do_not_vote_for_a_decimal_mark() -> None:
    us = [["item", "amount"], ["rent", "1,250"], ["car", "12,400"], ["tip", "3.75"]]
    assert typed_rows(us) == [["item", "amount"], ["rent", 1250], ["car", 12400], ["tip", 3.75]]
    de = [["item", "amount"], ["rent", "1.250"], ["car", "12.400"], ["tip", "3,75"]]
    assert typed_rows(de) == [["item", "amount"], ["rent", 1250], ["car", 12400], ["tip", 3.75]]
    assert not decimal_comma(["1,250", "12,400"])
