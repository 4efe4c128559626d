"""Where the tables of a sheet are (pure logic on a grid, as calamine hands it over: rows from
A1, every row as wide as the sheet, "" for an empty cell)."""

from __future__ import annotations

import datetime as dt

from sheetstream.workbooks.grid import CellError, ListObject, Value
from sheetstream.workbooks.layout import Region, find_regions, header_names


def grid(*rows: list[Value]) -> list[list[Value]]:
    width = max(len(r) for r in rows)
    return [list(r) + [""] * (width - len(r)) for r in rows]


def shape(region: Region) -> tuple[str, tuple[int, ...], str]:
    return region.range, region.header, region.layout


def test_a_plain_table_has_its_first_row_as_header() -> None:
    rows = grid(["region", "q1"], ["north", 1.5], ["south", 2.0])
    assert [shape(r) for r in find_regions(rows)] == [("A1:B3", (0,), "table")]
    assert header_names(rows, find_regions(rows)[0]) == ["region", "q1"]


def test_titles_blank_rows_and_notes_above_a_report_are_not_its_header() -> None:
    rows = grid(
        ["Quarterly sales report"],
        ["Prepared by finance"],
        [],
        ["Note: figures in kEUR"],
        ["", "region", "q1", "q2"],
        ["", "north", 10.0, 11.0],
        ["", "south", 20.0, 21.0],
        ["", "Total", 30.0, 32.0],
    )
    regions = find_regions(rows)
    assert [shape(r) for r in regions] == [("B5:D7", (4,), "table")]
    assert regions[0].totals == 7  # the "Total" row is left out of the table
    assert header_names(rows, regions[0]) == ["region", "q1", "q2"]


def test_a_title_row_right_above_the_header_is_skipped() -> None:
    rows = grid(["Sales 2024", "", ""], ["a", "b", "c"], [1.0, 2.0, 3.0])
    assert [shape(r) for r in find_regions(rows)] == [("A2:C3", (1,), "table")]


def test_a_first_row_of_numbers_is_data_not_a_header() -> None:
    rows = grid([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    regions = find_regions(rows)
    assert [shape(r) for r in regions] == [("A1:C2", (), "no header")]
    assert header_names(rows, regions[0]) == [None, None, None]
    mixed_first = grid(["north", 1.0], ["south", 2.0], ["east", 3.0], ["west", "n/a"])
    assert find_regions(mixed_first)[0].header == ()


def test_labels_beside_values_are_a_key_value_table_across_blank_rows() -> None:
    rows = grid(
        ["Revenue", 100.0],
        ["Costs", 60.0],
        [],
        ["Margin", 0.4],
        ["Closed on", dt.date(2024, 3, 31)],
    )
    regions = find_regions(rows)
    assert [shape(r) for r in regions] == [("A1:B5", (), "key-value")]
    assert header_names(rows, regions[0]) == ["label", "value"]


def test_a_blank_row_inside_a_table_does_not_end_it() -> None:
    rows = grid(["id", "amount"], [1.0, 5.0], [], [2.0, 6.0], [3.0, 7.0])
    assert [shape(r) for r in find_regions(rows)] == [("A1:B5", (0,), "table")]


def test_two_tables_stacked_or_side_by_side_are_each_found() -> None:
    stacked = grid(
        ["product", "units"],
        ["pens", 3.0],
        [],
        [],
        ["region", "sales", "year"],
        ["north", 10.0, 2024.0],
    )
    assert [shape(r) for r in find_regions(stacked)] == [
        ("A1:B2", (0,), "table"),
        ("A5:C6", (4,), "table"),
    ]
    side = grid(["a", "b", "", "x", "y"], [1.0, 2.0, "", "p", 5.0], [3.0, 4.0, "", "q", 6.0])
    assert [shape(r) for r in find_regions(side)] == [
        ("A1:B3", (0,), "table"),
        ("D1:E3", (0,), "table"),
    ]


def test_a_two_row_header_joins_group_and_column_names_merged_or_not() -> None:
    rows = grid(
        ["", "2023", "", "2024", ""],
        ["region", "q1", "q2", "q1", "q2"],
        ["north", 1.0, 2.0, 3.0, 4.0],
    )
    regions = find_regions(rows)
    assert [shape(r) for r in regions] == [("A1:E3", (0, 1), "table")]
    merged = [((0, 1), (0, 2)), ((0, 3), (0, 4))]
    expected = ["region", "2023 q1", "2023 q2", "2024 q1", "2024 q2"]
    assert header_names(rows, regions[0], merged) == expected
    assert header_names(rows, regions[0]) == expected  # a group name holds until the next


def test_a_text_only_table_and_lone_notes() -> None:
    rows = grid(["name", "city"], ["ann", "rome"], ["bob", "oslo"], [], [], ["see also"])
    assert [shape(r) for r in find_regions(rows)] == [("A1:B3", (0,), "table")]
    assert find_regions(grid(["just a note"])) == []
    assert find_regions([]) == []


def test_error_cells_do_not_make_a_row_text() -> None:
    rows = grid(["a", "b"], [CellError("#N/A"), 1.0], [2.0, CellError("#DIV/0!")])
    assert [shape(r) for r in find_regions(rows)] == [("A1:B3", (0,), "table")]


def test_an_excel_table_is_its_own_region_and_covers_its_block() -> None:
    rows = grid(
        ["Report"],
        [],
        ["", "item", "price"],
        ["", "tea", 2.5],
        ["", "cake", 4.0],
        [],
        ["", "other", "n"],
        ["", "x", 1.0],
    )
    table = ListObject("Prices", "s", 2, 1, 4, 2)
    regions = find_regions(rows, [table])
    assert [(shape(r), r.name) for r in regions] == [
        (("B3:C5", (2,), "excel table"), "Prices"),
        (("B7:C8", (6,), "table"), None),
    ]


def test_a_totals_row_is_left_out_labelled_or_made_of_sums() -> None:
    labelled = grid(["item", "qty"], ["pen", 2.0], ["pad", 3.0], ["Grand total", 5.0])
    (region,) = find_regions(labelled)
    assert (region.range, region.totals) == ("A1:B3", 3)
    sums = grid(["qty", "net"], [1.0, 2.0], [3.0, 4.0], [4.0, 6.0])
    formulas = {(3, 0): "=SUM(A2:A3)", (3, 1): "=SUBTOTAL(109,B2:B3)"}
    assert [(r.range, r.totals) for r in find_regions(sums, formulas=formulas)] == [("A1:B3", 3)]
    assert [(r.range, r.totals) for r in find_regions(sums)] == [("A1:B4", None)]
    # a last row named "Total" that holds text is data, as is a "total" in the middle
    texty = grid(["what", "who"], ["a", "ann"], ["Total", "bob"])
    assert find_regions(texty)[0].totals is None


def test_a_stray_number_among_header_names_is_still_a_header() -> None:
    names = ["id", "name", "city", "region", "unit", 2024.0]
    rows = grid(names, [1.0, "a", "b", "c", "d", 5.0], [2.0, "e", "f", "g", "h", 6.0])
    (region,) = find_regions(rows)
    assert shape(region) == ("A1:F3", (0,), "table")
    assert header_names(rows, region)[-1] == "2024"


def test_group_names_above_years_make_a_two_row_header_merged_or_spanning() -> None:
    rows = grid(
        ["Department", "Budget", "", "Actual", "", "Owner"],
        ["", 2023.0, 2024.0, 2023.0, 2024.0, ""],
        ["Sales", 100.0, 120.0, 95.0, 130.0, "Ana"],
        ["IT", 200.0, 210.0, 199.0, 250.0, "Ben"],
    )
    merged = [((0, 1), (0, 2)), ((0, 3), (0, 4)), ((0, 0), (1, 0)), ((0, 5), (1, 5))]
    expected = ["Department", "Budget 2023", "Budget 2024", "Actual 2023", "Actual 2024", "Owner"]
    for cells in (merged, []):  # OpenDocument files do not say which cells are merged
        (region,) = find_regions(rows, merged=cells)
        assert shape(region) == ("A1:F4", (0, 1), "table")
        assert header_names(rows, region, cells) == expected


def test_a_form_of_labels_in_groups_is_key_value_but_a_two_column_table_is_not() -> None:
    form = grid(
        ["Company", "Acme"],
        ["Founded", 1999.0],
        [],
        ["Revenue", 1.5e6],
        ["Report date", dt.date(2024, 3, 31)],
    )
    assert [shape(r) for r in find_regions(form)] == [("A1:B5", (), "key-value")]
    params = grid(["Tax rate", 0.19], ["Currency", "EUR"])
    assert [shape(r) for r in find_regions(params)] == [("A1:B2", (), "key-value")]
    table = grid(["region", "sales"], ["north", 1.0], ["south", 2.0], ["north", 3.0])
    assert [shape(r) for r in find_regions(table)] == [("A1:B4", (0,), "table")]
    mixed = grid(["what", "when"], ["day", dt.date(2024, 5, 1)], ["count", 42.0])
    assert [shape(r) for r in find_regions(mixed)] == [("A1:B3", (0,), "table")]


def test_errors_alone_below_a_header_or_scattered_are_not_tables() -> None:
    rows = grid(
        ["", "", "", "", "", "", "#N/A", "a note"],
        ["", CellError("#DIV/0!")],
        ["", "", "", "", "", CellError("#NAME?")],
    )
    assert find_regions(rows) == []


def test_a_row_past_a_blank_row_with_a_gap_in_it_continues_the_table_whole() -> None:
    rows = grid(
        ["id", "code", "amount", "when"],
        [1.0, "007", 1.5, dt.date(2024, 1, 2)],
        [],
        [3.0, "10", "", dt.date(2024, 1, 4)],
    )
    assert [shape(r) for r in find_regions(rows)] == [("A1:D4", (0,), "table")]


def test_a_defined_name_is_a_table_of_its_own_beside_the_sheets() -> None:
    rows = grid(
        ["item", "price", "", "rate"],
        ["tea", 2.5, "", 0.2],
        ["cake", 4.0, "", 0.1],
        ["", "", "", ""],
    )
    prices = ListObject("Prices", "s", 0, 0, 999, 1, defined_name=True)  # past the cells
    rates = ListObject("Rates", "s", 1, 3, 2, 3, defined_name=True)  # no header row
    regions = find_regions(rows, [prices, rates])
    assert [(shape(r), r.name) for r in regions] == [
        (("A1:B3", (0,), "named range"), "Prices"),
        (("A1:B3", (0,), "table"), None),
        (("D1:D3", (0,), "table"), None),
        (("D2:D3", (), "named range"), "Rates"),
    ]


def test_a_first_data_row_below_merged_or_gapped_names_is_data_not_a_header() -> None:
    gapped = grid(["Product", "Price", ""], ["Apple", "", 3.0], ["Pear", 2.0, 4.0])
    assert find_regions(gapped)[0].header == (0,)
    merged = grid(["Name", "", "Age"], ["Ann", "Lee", 30.0], ["Bob", "Kim", 41.0])
    (region,) = find_regions(merged, merged=[((0, 0), (0, 1))])
    assert region.header == (0,)


def test_a_last_row_whose_label_only_begins_with_total_is_data() -> None:
    films = grid(["Film", "Year", "Score"], ["Alien", 1979.0, 8.5], ["Total Recall", 1990.0, 7.5])
    assert [(r.range, r.totals) for r in find_regions(films)] == [("A1:C3", None)]
    labelled = grid(["item", "qty"], ["pen", 2.0], ["pad", 3.0], ["Total:", 5.0])
    assert find_regions(labelled)[0].totals == 3


def test_opendocument_time_values_become_durations_and_other_text_stays() -> None:
    from sheetstream.workbooks.grid import _ods_durations

    rows: list[list[Value]] = [["PT40H30M00S", "-PT01H00M00S", "PT15M", "PT99999999999H0M0S"]]
    _ods_durations(rows)
    assert rows == [
        [dt.timedelta(hours=40, minutes=30), -dt.timedelta(hours=1), "PT15M", "PT99999999999H0M0S"]
    ]
