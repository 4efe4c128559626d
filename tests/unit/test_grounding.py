"""Grounding: extracting stated numbers and checking them against the turn's data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sheetstream.grounding import (
    Evidence,
    Grounding,
    Source,
    StatedNumber,
    check_numbers,
    extract_numbers,
)

QUERY = Source("query", "SELECT region, revenue FROM Sales")
PROFILE = Source("profile", "Sales.revenue mean")


def only(text: str) -> StatedNumber:
    numbers = extract_numbers(text)
    assert len(numbers) == 1, numbers
    return numbers[0]


def evidence(*values: float, source: Source = QUERY) -> Evidence:
    ev = Evidence()
    for v in values:
        ev.add(v, source)
    return ev


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "stated", "value", "decimals", "scale", "percent"),
    [
        ("total 1,234.5 units", "1,234.5", 1234.5, 1, 1.0, False),
        ("total 1234 units", "1234", 1234.0, 0, 1.0, False),
        ("change of -3.14 points", "-3.14", -3.14, 2, 1.0, False),
        ("a loss of −7 units", "−7", -7.0, 0, 1.0, False),
        ("grew 12% overall", "12%", 12.0, 0, 1.0, True),
        ("grew 12.5 % overall", "12.5 %", 12.5, 1, 1.0, True),
        ("grew 7 percent overall", "7 percent", 7.0, 0, 1.0, True),
        ("about 1.2k rows", "1.2k", 1200.0, 1, 1e3, False),
        ("about 3.4K rows", "3.4K", 3400.0, 1, 1e3, False),
        ("sales of 2.5M", "2.5M", 2_500_000.0, 1, 1e6, False),
        ("sales of 2.5 million", "2.5 million", 2_500_000.0, 1, 1e6, False),
        ("sales of 1.1bn", "1.1bn", 1_100_000_000.0, 1, 1e9, False),
        ("sales of 1.1B", "1.1B", 1_100_000_000.0, 1, 1e9, False),
        ("sales of 3 billion", "3 billion", 3_000_000_000.0, 0, 1e9, False),
        ("costs $1,200 each", "$1,200", 1200.0, 0, 1.0, False),
        ("costs €3.50 each", "€3.50", 3.5, 2, 1.0, False),
        ("costs 3.50 EUR each", "3.50 EUR", 3.5, 2, 1.0, False),
        ("costs £2.5M in total", "£2.5M", 2_500_000.0, 1, 1e6, False),
        ("a refund of -$40", "-$40", -40.0, 0, 1.0, False),
        ("grand total 12,345,678.90", "12,345,678.90", 12_345_678.9, 2, 1.0, False),
        ("the value is 0.050.", "0.050", 0.05, 3, 1.0, False),
    ],
)
def test_extracts_written_formats_with_value_decimals_and_scale(
    text: str, stated: str, value: float, decimals: int, scale: float, percent: bool
) -> None:
    n = only(text)
    assert n.text == stated
    assert text[n.start : n.end] == stated
    assert n.value == pytest.approx(value)
    assert n.decimals == decimals
    assert n.scale == scale
    assert n.percent is percent
    assert n.likely_year is False


def test_accounting_parentheses_are_not_read_as_negative() -> None:
    n = only("net (1,234) this month")
    assert (n.text, n.value) == ("1,234", 1234.0)


def test_numbers_are_found_in_order_with_offsets() -> None:
    text = "North 10, South 20.5 and West 3%."
    assert [(n.text, n.start) for n in extract_numbers(text)] == [
        ("10", 6),
        ("20.5", 16),
        ("3%", 30),
    ]


def test_ranges_and_hyphenated_words_give_positive_numbers() -> None:
    assert [n.value for n in extract_numbers("between 10-20 of the top-5 rows")] == [
        10.0,
        20.0,
        5.0,
    ]


@pytest.mark.parametrize(
    "text",
    [
        "1,23 is not a number",
        "see Q1 results",
        "cell A1 and B12",
        "on sheet2",
        "built for x86",
        "dated 2024-03-01",
        "dated 03/01/2024",
        "at 10:30",
        "at 10:30:15",
        "version 1.2.3",
        "on March 3",
        "on 3rd March",
        "the 1st and 2nd rows",
        "12,345,67 rows",
        "a 3.4Kg box",
    ],
)
def test_non_quantities_are_not_reported(text: str) -> None:
    assert extract_numbers(text) == []


def test_list_markers_at_line_start_are_not_reported() -> None:
    text = "1. North had 40 orders\n2) South had 55\n  3. West"
    assert [n.value for n in extract_numbers(text)] == [40.0, 55.0]


def test_a_decimal_at_line_start_is_not_a_list_marker() -> None:
    assert [n.value for n in extract_numbers("1.5 million rows")] == [1_500_000.0]


@pytest.mark.parametrize(("text", "year"), [("in 2023.", True), ("in 1899", False)])
def test_standalone_years_are_flagged(text: str, year: bool) -> None:
    assert only(text).likely_year is year


@pytest.mark.parametrize("text", ["2,023 rows", "$2023", "2023%", "2023.0", "-2023"])
def test_year_flag_needs_a_bare_four_digit_number(text: str) -> None:
    assert only(text).likely_year is False


# --------------------------------------------------------------------------- evidence


def test_from_rows_keeps_numeric_cells_and_the_numbers_written_in_text() -> None:
    rows = [("North", 10, True, 2.5, None), ("South", float("nan"), False, -1, "7")]
    ev = Evidence.from_rows(["region", "n", "flag", "avg", "note"], rows, QUERY)
    assert ev.values == [(10.0, QUERY), (2.5, QUERY), (-1.0, QUERY), (7.0, QUERY)]
    # a label quoted from the data states its digits: "Person 22" grounds "22"
    labels = Evidence.from_rows(["name", "n"], [("Person 22", 1), ("Q3 team", 2)], QUERY)
    assert sorted(v for v, _ in labels.values) == [1.0, 2.0, 22.0]
    assert check_numbers("Person 22 has 1", labels).not_found == []


def test_add_appends_a_value_with_its_source() -> None:
    ev = Evidence.from_rows(["n"], [(1,)], QUERY)
    ev.add(27.5, PROFILE)
    assert ev.values == [(1.0, QUERY), (27.5, PROFILE)]
    assert check_numbers("mean 27.50", ev).found[0].source == PROFILE


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("text", "data", "matched"),
    [
        ("1,234.5", 1234.46, 1234.46),
        ("1,234", 1234.4, 1234.4),
        ("1.2k", 1234.0, 1234.0),
        ("$1.2M", 1_249_000.0, 1_249_000.0),
        ("1.1bn", 1_090_000_000.0, 1_090_000_000.0),
        ("12%", 12.0, 12.0),
        ("12%", 0.12, 0.12),
        ("12%", 0.1249, 0.1249),
        ("12.5%", 0.125, 0.125),
        ("-3.14", -3.1412, -3.1412),
        ("27.50 EUR", 27.5, 27.5),
    ],
)
def test_stated_number_matches_data_rounded_as_written(
    text: str, data: float, matched: float
) -> None:
    result = check_numbers(f"It was {text} overall.", evidence(data))
    assert result.not_found == []
    assert [(m.number.text, m.value, m.source) for m in result.found] == [(text, matched, QUERY)]


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("1,234.5", 1234.56),  # rounds to 1,234.6
        ("1.2k", 1260.0),  # rounds to 1.3k
        ("-3.14", 3.14),  # wrong sign
        ("3.14", -3.14),
        ("12%", 0.13),
        ("12.5%", 0.12),
        ("2.5M", 2_500.0),  # scale matters
    ],
)
def test_number_not_in_the_data_lands_in_not_found(text: str, data: float) -> None:
    result = check_numbers(f"It was {text} overall.", evidence(data))
    assert result.found == []
    assert [n.text for n in result.not_found] == [text]


def test_the_closest_value_is_reported() -> None:
    result = check_numbers("about 1.2k", evidence(1150.0, 1199.0, 1240.0, 5.0))
    assert [m.value for m in result.found] == [1199.0]


def test_equal_values_report_the_first_source_added() -> None:
    ev = evidence(10.0)
    ev.add(10.0, PROFILE)
    assert check_numbers("10 rows", ev).found[0].source == QUERY


def test_numbers_from_the_question_are_skipped() -> None:
    result = check_numbers(
        "The top 5 regions sold 1,204 orders; 7 had returns.",
        evidence(1204.0),
        question="Which are the top 5 regions?",
    )
    assert [m.number.text for m in result.found] == ["1,204"]
    assert [n.text for n in result.not_found] == ["7"]


def test_question_numbers_are_compared_by_value_not_spelling() -> None:
    result = check_numbers("Over 1000 rows matched.", Evidence(), question="over 1,000 rows?")
    assert result == Grounding([], [])


def test_years_are_skipped_unless_they_match_data() -> None:
    assert check_numbers("Up from 2023.", Evidence()) == Grounding([], [])
    found = check_numbers("Up from 2023.", evidence(2023.0)).found
    assert [(m.number.text, m.value) for m in found] == [("2023", 2023.0)]


def test_matching_thousands_of_values() -> None:
    ev = Evidence.from_rows(["v"], [(i * 0.37,) for i in range(20_000)], QUERY)
    stated = " ".join(f"{i * 0.37:.2f}" for i in range(0, 20_000, 7))
    result = check_numbers(stated + " and 0.005", ev)
    assert len(result.found) == len(range(0, 20_000, 7))
    assert [n.text for n in result.not_found] == ["0.005"]


def test_to_json_shape() -> None:
    result = check_numbers("Revenue was $1.2M and 9 rows.", evidence(1_200_345.0))
    assert result.to_json() == {
        "found": [
            {
                "text": "$1.2M",
                "value": 1_200_345.0,
                "source": {"kind": "query", "label": QUERY.label},
            }
        ],
        "not_found": [{"text": "9", "value": 9.0}],
    }


# --------------------------------------------------------------------------- sentences

SENTENCE_DATA = evidence(
    1_204_311.0,  # North revenue
    0.1203,  # growth ratio
    27.4961,  # average order
    1204.0,  # order count
    -3512.2,  # net change
    42.0,
    0.5,
    3.14159,
    987_654.32,
    1_100_000_000.0,
    18.75,
    0.0312,
    250.0,
    99.5,
)


@pytest.mark.parametrize(
    ("sentence", "found", "not_found"),
    [
        ("Revenue in the North was $1.2M, up 12% from 2023.", ["$1.2M", "12%"], []),
        ("The average order is 27.50 EUR across 1,204 orders.", ["27.50 EUR", "1,204"], []),
        ("Net change was -3,512.2 in Q1.", ["-3,512.2"], []),
        ("Sheet2 has 42 rows in A1:B12.", ["42"], []),
        ("Half of the rows (0.5) are blank.", ["0.5"], []),
        ("Pi-like ratio of 3.14 appears.", ["3.14"], []),
        ("Total sales were 987,654.32 dollars.", ["987,654.32"], []),
        ("The group made 1.1bn last year.", ["1.1bn"], []),
        ("Median price is €18.75 per unit.", ["€18.75"], []),
        ("Churn was 3.1% on 2024-03-01.", ["3.1%"], []),
        ("About 250 customers bought 99.5 units.", ["250", "99.5"], []),
        ("North grew 12.0 percent.", ["12.0 percent"], []),
        ("Orders rose to 1.2k.", ["1.2k"], []),
        ("It peaked at 10:30 with 42 hits.", ["42"], []),
        ("Revenue was 1.3M in the North.", [], ["1.3M"]),
        ("There were 77 returns.", [], ["77"]),
        ("Version 1.2.3 reported 250 rows.", ["250"], []),
        ("1. North: 42 orders\n2. South: 77 orders", ["42"], ["77"]),
        ("The average is 27.496 EUR.", ["27.496 EUR"], []),
        ("The average is 27.49 EUR.", [], ["27.49 EUR"]),
        ("Net loss of (3,512) is not negative here.", [], ["3,512"]),
        ("Growth of 13% since 2020.", [], ["13%"]),
        ("Spend was $987.7k on x86 servers.", ["$987.7k"], []),
    ],
)
def test_realistic_sentences(sentence: str, found: list[str], not_found: list[str]) -> None:
    result = check_numbers(sentence, SENTENCE_DATA)
    assert [m.number.text for m in result.found] == found
    assert [n.text for n in result.not_found] == not_found


# --------------------------------------------------------------------------- property


@settings(max_examples=300, deadline=None)
@given(
    v=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
    d=st.integers(min_value=0, max_value=4),
    others=st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=20),
)
def test_any_data_value_formatted_in_a_sentence_is_found(
    v: float, d: int, others: list[float]
) -> None:
    ev = evidence(*others, v)
    written = f"{v:,.{d}f}"
    result = check_numbers(f"The total for the North came to {written} this quarter.", ev)
    assert [m.number.text for m in result.found] == [written]
    assert result.not_found == []


def test_a_number_from_the_cell_view_says_which_cell_holds_it() -> None:
    evidence = Evidence.from_rows(
        ["sheet", "address", "number"],
        [("sales", "D14", 1234.5), ("Q1 sales", "B2", 7.0), ("x", None, 9.0)],
        Source("query", "SELECT sheet, address, number FROM cells"),
    )
    checked = check_numbers("Revenue was 1,234.5 in total, 7 in Q1 and 9 elsewhere.", evidence)
    cells = {f["text"]: f["source"].get("cell") for f in checked.to_json()["found"]}
    assert cells == {"1,234.5": "sales!D14", "7": "'Q1 sales'!B2", "9": None}
