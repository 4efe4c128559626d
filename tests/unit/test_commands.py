"""The chat commands' answers: exact, and bounded in bytes whatever the workbook holds."""

from __future__ import annotations

from typing import Any

from sheetstream.workbooks.commands import (
    COMMAND_TEXT_BYTES,
    profile_text,
    sheets_text,
    sql_text,
)
from sheetstream.workbooks.query import QueryResult


def wide_workbook(sheets: int, columns: int) -> dict[str, Any]:
    return {
        "filename": "wide.xlsx",
        "sheets": [
            {
                "name": f"sheet {s}",
                "table": f"sheet_{s}",
                "rows": 10,
                "columns": [
                    {"name": f"column {c}", "type": "double", "non_null": 10, "sum": c}
                    for c in range(columns)
                ],
            }
            for s in range(sheets)
        ],
    }


def test_a_profile_of_a_wide_workbook_is_cut_between_lines_and_says_how_to_see_the_rest() -> None:
    text = profile_text(wide_workbook(sheets=20, columns=500))
    assert len(text.encode()) <= COMMAND_TEXT_BYTES
    last = text.splitlines()[-1]
    assert last.startswith("… shortened to 32 KiB") and "/profile SHEET" in last
    assert all(line.startswith(("|", "###", "…")) or not line for line in text.splitlines())


def test_a_small_profile_is_whole() -> None:
    text = profile_text(wide_workbook(sheets=1, columns=3))
    assert (
        "shortened" not in text and text.count("| column ") == 1 + 3
    )  # the header, and each column


def test_a_list_of_many_sheets_is_bounded() -> None:
    text = sheets_text(wide_workbook(sheets=5000, columns=1))
    assert len(text.encode()) <= COMMAND_TEXT_BYTES and "shortened" in text
    assert "shortened" not in sheets_text(wide_workbook(sheets=3, columns=1))


def test_the_footer_names_every_way_a_result_was_cut() -> None:
    rows: list[list[object]] = [["x" * 500] for _ in range(30)]
    result = QueryResult(
        columns=["a"], rows=rows, truncated=True, duration_ms=0, truncated_by="bytes"
    )
    footer = sql_text(result).splitlines()[-1]
    assert footer == (
        "30 row(s), first 20 shown (truncated at the size limit; long text shortened)."
    )
    whole = QueryResult(columns=["a"], rows=[[1]], truncated=False, duration_ms=0)
    assert sql_text(whole).splitlines()[-1] == "1 row(s)."


def test_a_result_of_thousands_of_columns_shows_the_first_and_says_so() -> None:
    columns = [f"k{i:04d}" + "x" * 60 for i in range(3000)]
    result = QueryResult(columns=columns, rows=[list(range(3000))], truncated=False, duration_ms=0)
    text = sql_text(result)
    assert len(text.encode()) <= COMMAND_TEXT_BYTES
    assert text.count("| k") == 20 and "3000 columns, first 20 shown" in text


def test_a_missing_sheet_named_at_length_gets_a_bounded_reply() -> None:
    text = profile_text(wide_workbook(sheets=3000, columns=1), "y" * 100_000)
    assert len(text.encode()) <= COMMAND_TEXT_BYTES and "no sheet named" in text
