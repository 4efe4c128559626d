"""The question planner's pure parts: question → plan → SQL → words, on fixed tables.

The tables live in an in-memory DuckDB, profiled by the same code as an upload; every
expected figure is computed here in Python from the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from sheetstream.grounding import Evidence, Source, check_numbers
from sheetstream.planner.plan import Decline, Plan
from sheetstream.planner.planning import plan_question
from sheetstream.planner.reply import decline_text, plan_numbers, reply_text
from sheetstream.planner.schema import Table, tables_of
from sheetstream.planner.sql import to_sql
from sheetstream.planner.words import singular, words
from sheetstream.workbooks.profile import SheetInfo, profile_database

REGIONS = ("North", "South", "East", "West")
PRODUCTS = ("Widget", "Gadget", "Gizmo")
SALES = [
    (
        dt.date(2021 + i % 3, 1 + i % 12, 1 + i % 28),
        REGIONS[i % 4],
        PRODUCTS[(i * 7) % 3],
        1 + (i * 5) % 17,
        round(2.5 + (i % 5) * 1.25, 2),
    )
    for i in range(120)
]
DEPARTMENTS = {"Sales": 1, "Engineering": 2, "Support": 2, "Finance": 3}
STAFF = [
    (f"Person {i:02d}", list(DEPARTMENTS)[i % 4], 40_000 + (i * 1_337) % 30_000) for i in range(30)
]


@pytest.fixture(scope="module")
def book() -> Iterator[tuple[duckdb.DuckDBPyConnection, tuple[Table, ...]]]:
    con = duckdb.connect()
    con.execute(
        'CREATE TABLE sales (_row INTEGER, "Date" DATE, "Region" VARCHAR, "Product" VARCHAR, '
        '"Units" INTEGER, "Unit Price" DOUBLE, "Revenue" DOUBLE)'
    )
    con.executemany(
        "INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(n + 2, *row, round(row[3] * row[4], 2)) for n, row in enumerate(SALES)],
    )
    con.execute(
        'CREATE TABLE employees (_row INTEGER, "Name" VARCHAR, "Department" VARCHAR, '
        '"Salary" INTEGER)'
    )
    con.executemany(
        "INSERT INTO employees VALUES (?, ?, ?, ?)",
        [(n + 2, *row) for n, row in enumerate(STAFF)],
    )
    con.execute('CREATE TABLE departments (_row INTEGER, "Department" VARCHAR, "Floor" INTEGER)')
    con.executemany(
        "INSERT INTO departments VALUES (?, ?, ?)",
        [(n + 2, d, f) for n, (d, f) in enumerate(DEPARTMENTS.items())],
    )
    sheets = [
        SheetInfo("Sales", "sales"),
        SheetInfo("Employees", "employees", number=2),
        SheetInfo("Departments", "departments", number=3),
    ]
    profile = profile_database(con, sheets)
    yield con, tables_of(profile)
    con.close()


def answer(
    book: tuple[duckdb.DuckDBPyConnection, tuple[Table, ...]], question: str
) -> tuple[Plan, str, list[tuple[Any, ...]]]:
    con, tables = book
    plan = plan_question(question, tables)
    assert isinstance(plan, Plan), plan
    sql = to_sql(plan)
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    text = reply_text(plan, columns, [list(r) for r in rows])
    # every number the words state is a value of the result (or its row count)
    evidence = Evidence.from_rows(columns, [list(r) for r in rows], Source("query", sql))
    for value in plan_numbers(plan, len(rows)):
        evidence.add(value, Source("query", "the plan"))
    grounding = check_numbers(text, evidence)
    assert not grounding.not_found, (text, grounding.not_found)
    return plan, text, rows


def revenue(row: tuple[Any, ...]) -> float:
    return round(row[3] * row[4], 2)


def by(key: int, value: Any = revenue, rows: list[Any] = SALES) -> dict[Any, float]:
    out: dict[Any, float] = defaultdict(float)
    for row in rows:
        out[row[key]] += value(row)
    return out


def test_words_are_lower_case_and_singular() -> None:
    assert words("Total Units by Regions?") == ["total", "unit", "by", "region"]
    assert words("UnitPrice duration_ms") == ["unit", "price", "duration", "ms"]
    assert [singular(w) for w in ("categories", "boxes", "status", "sales", "class")] == [
        "category",
        "box",
        "status",
        "sale",
        "class",
    ]


def test_a_total(book: Any) -> None:
    plan, text, rows = answer(book, "What is the total revenue?")
    assert plan.aggregate == "sum" and plan.measure is not None
    assert plan.measure.name == "Revenue" and plan.group is None
    assert rows[0][0] == pytest.approx(round(sum(revenue(r) for r in SALES), 2))
    assert f"{rows[0][0]:,.2f}".rstrip("0").rstrip(".") in text


def test_a_total_by_group(book: Any) -> None:
    plan, text, rows = answer(book, "What is the total revenue by region?")
    assert plan.group is not None and plan.group.name == "Region"
    expected = by(1)
    assert {r[0]: r[1] for r in rows} == pytest.approx(
        {k: round(v, 2) for k, v in expected.items()}
    )
    for region in REGIONS:
        assert f"| {region} |" in text


def test_which_group_has_the_most(book: Any) -> None:
    plan, text, rows = answer(book, "Which region had the most units sold?")
    units = by(1, lambda r: r[3])
    best = max(units, key=lambda k: units[k])
    assert plan.pick and rows == [(best, units[best])]
    assert best in text


def test_how_many_of_a_figure_is_its_total(book: Any) -> None:
    plan, _, rows = answer(book, "How many units did we sell in the North?")
    assert plan.aggregate == "sum"
    assert rows[0][0] == sum(r[3] for r in SALES if r[1] == "North")


def test_a_count_with_a_value_filter(book: Any) -> None:
    _, _, rows = answer(book, "How many sales were in the West for Gizmo?")
    assert rows[0][0] == sum(1 for r in SALES if r[1] == "West" and r[2] == "Gizmo")


def test_an_average_of_a_price_in_a_year(book: Any) -> None:
    plan, _, rows = answer(book, "average unit price in 2022")
    prices = [r[4] for r in SALES if r[0].year == 2022]
    assert plan.aggregate == "avg"
    assert rows[0][0] == pytest.approx(round(sum(prices) / len(prices), 2))


def test_top_n(book: Any) -> None:
    plan, _, rows = answer(book, "top 2 products by revenue")
    totals = sorted(by(2).items(), key=lambda kv: -kv[1])[:2]
    assert plan.limit == 2
    assert [(k, v) for k, v in rows] == [(k, pytest.approx(round(v, 2))) for k, v in totals]


def test_a_share(book: Any) -> None:
    _, text, rows = answer(book, "What share of revenue comes from the East?")
    east = sum(revenue(r) for r in SALES if r[1] == "East")
    whole = sum(revenue(r) for r in SALES)
    assert rows[0][0] == pytest.approx(round(100 * east / whole, 1))
    assert "%" in text


def test_a_comparison_of_years(book: Any) -> None:
    plan, _, rows = answer(book, "compare revenue in 2021 and 2022")
    yearly = by(0, rows=SALES)
    per_year: dict[int, float] = defaultdict(float)
    for day, value in yearly.items():
        per_year[day.year] += value
    assert plan.compare == (2021, 2022)
    assert dict(rows) == pytest.approx({y: round(per_year[y], 2) for y in (2021, 2022)})


def test_a_trend_by_month_lists_every_month_of_the_year(book: Any) -> None:
    plan, text, rows = answer(book, "revenue by month in 2023")
    assert plan.grain == "month"
    monthly: dict[str, float] = defaultdict(float)
    for row in SALES:
        if row[0].year == 2023:
            monthly[f"{row[0]:%Y-%m}"] += revenue(row)
    # a month without a sale is a month of 0, not a month left out
    expected = [
        (f"2023-{m:02d}", round(monthly.get(f"2023-{m:02d}", 0.0), 2)) for m in range(1, 13)
    ]
    assert len(monthly) < 12 and [(r[0], pytest.approx(r[1])) for r in rows] == expected
    assert "2023-01" not in monthly and "| 2023-01 | 0 |" in text


def test_a_trend_by_quarter(book: Any) -> None:
    plan, _, rows = answer(book, "quarterly units in 2022")
    quarters: dict[str, int] = defaultdict(int)
    for row in SALES:
        if row[0].year == 2022:
            quarters[f"2022-Q{(row[0].month - 1) // 3 + 1}"] += row[3]
    assert plan.grain == "quarter" and dict(rows) == {
        q: quarters.get(q, 0) for q in ("2022-Q1", "2022-Q2", "2022-Q3", "2022-Q4")
    }


def test_a_distinct_count(book: Any) -> None:
    plan, _, rows = answer(book, "how many different products are there?")
    assert plan.aggregate == "count_distinct" and rows[0][0] == len(PRODUCTS)


def test_the_row_with_the_highest_figure(book: Any) -> None:
    plan, text, rows = answer(book, "Who has the highest salary?")
    top = max(STAFF, key=lambda r: r[2])
    assert plan.row_pick and rows[0] == (top[0], top[2])
    assert top[0] in text


def test_a_group_average_picked(book: Any) -> None:
    plan, _, rows = answer(book, "Which department has the highest average salary?")
    pay: dict[str, list[int]] = defaultdict(list)
    for _, department, salary in STAFF:
        pay[department].append(salary)
    averages = {d: round(sum(v) / len(v), 2) for d, v in pay.items()}
    best = max(averages, key=lambda d: averages[d])
    assert plan.aggregate == "avg" and rows == [(best, pytest.approx(averages[best]))]


def test_a_join_on_a_shared_column(book: Any) -> None:
    plan, _, rows = answer(book, "total salary of employees on floor 2")
    on_two = {d for d, f in DEPARTMENTS.items() if f == 2}
    assert plan.join is not None
    assert rows[0][0] == sum(s for _, d, s in STAFF if d in on_two)


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("What is the total profit?", '"profit"'),
        ("Why did revenue drop in 2022?", "not why"),
        ("What will revenue be next year?", "not why or what will"),
        ("average revenue per customer", '"customer"'),
    ],
)
def test_what_the_workbook_does_not_say_is_declined(book: Any, question: str, missing: str) -> None:
    plan = plan_question(question, book[1])
    assert isinstance(plan, Decline), plan
    text = decline_text(plan, "sales.xlsx")
    assert missing in text
    assert "/sql SELECT" in text
    assert check_numbers(text, Evidence([])).not_found == []  # a decline states no figure


def test_small_talk_is_left_to_the_model_and_other_questions_declined(book: Any) -> None:
    assert plan_question("hello!", book[1]) is None
    assert plan_question("Thanks, that's great", book[1]) is None
    # with a workbook attached, the small model would only invent: say what can be asked
    joke = plan_question("Tell me a joke", book[1])
    assert isinstance(joke, Decline) and "names nothing in the workbook" in joke.understood


def test_dates_and_days_are_filters(book: Any) -> None:
    _, text, rows = answer(book, "total revenue on 2022-02-02")
    day = dt.date(2022, 2, 2)
    assert rows[0][0] == pytest.approx(round(sum(revenue(r) for r in SALES if r[0] == day), 2))
    assert "2022-02-02" in text
    _, text, rows = answer(book, "How many sales on March 3?")
    assert rows[0][0] == sum(1 for r in SALES if (r[0].month, r[0].day) == (3, 3))
    assert "March 3" in text


def test_a_number_it_cannot_place_is_declined_not_dropped(book: Any) -> None:
    plan = plan_question("total revenue in region 7", book[1])
    assert isinstance(plan, Decline)
    assert "numbers" in plan.missing and "7" not in decline_text(plan, "sales.xlsx")


def test_values_are_quoted_as_literals(book: Any) -> None:
    con = book[0]
    con.execute("INSERT INTO employees VALUES (99, 'Q', 'R&D ''Labs''', 1)")
    profile = profile_database(
        con,
        [SheetInfo("Employees", "employees"), SheetInfo("Departments", "departments", number=2)],
    )
    plan = plan_question("total salary in R&D 'Labs'", tables_of(profile))
    assert isinstance(plan, Plan)
    assert "'R&D ''Labs'''" in to_sql(plan)
    assert con.execute(to_sql(plan)).fetchone() == (1,)
    con.execute("DELETE FROM employees WHERE _row = 99")


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        # a "not" the plan would drop
        ("How many employees are not in Sales?", '"not"'),
        # a column named and left out of the plan
        ("total revenue with the region", "how Region fits"),
        # each department is one row of Departments: a count there says nothing
        ("average floor for each department", "each Department is one row"),
    ],
)
def test_what_it_would_drop_is_asked_not_guessed(book: Any, question: str, missing: str) -> None:
    plan = plan_question(question, book[1])
    assert isinstance(plan, Decline), plan
    assert missing in plan.missing, plan.missing


def test_a_count_by_group_moves_to_the_sheet_where_the_group_repeats(book: Any) -> None:
    plan, _, rows = answer(book, "which department has the fewest employees")
    sizes: dict[str, int] = defaultdict(int)
    for _, department, _ in STAFF:
        sizes[department] += 1
    fewest = min(sizes.values())
    assert plan.table.table == "employees"
    assert rows[0][1] == fewest and sizes[rows[0][0]] == fewest


def test_everyday_words_for_counts_ranks_and_prices(book: Any) -> None:
    sizes: dict[str, int] = defaultdict(int)
    for _, department, _ in STAFF:
        sizes[department] += 1
    _, _, rows = answer(book, "headcount per department")
    assert dict(rows) == sizes
    plan, _, rows = answer(book, "rank products by units")
    units = by(2, lambda r: r[3])
    assert plan.order == "desc" and [r[0] for r in rows] == sorted(units, key=lambda p: -units[p])
    plan, _, rows = answer(book, "the cheapest unit price in 2021")
    assert plan.measure is not None and plan.measure.name == "Unit Price"
    assert rows[0][-1] == min(r[4] for r in SALES if r[0].year == 2021)


def test_a_value_is_found_under_another_ending(book: Any) -> None:
    # a plural names its value: "Widgets" is the Widget rows
    _, _, rows = answer(book, "total units of Widgets")
    assert rows[0][0] == sum(r[3] for r in SALES if r[2] == "Widget")


def test_a_condition_on_the_sheets_one_figure(book: Any) -> None:
    # Employees has one figure, Salary: "above 60,000" can only be its
    _, _, rows = answer(book, "how many employees in Sales above 60,000")
    assert rows[0][0] == sum(1 for _, d, s in STAFF if d == "Sales" and s > 60_000)


def test_a_comparison_needs_two_things_and_a_trend_needs_dates(book: Any) -> None:
    compared = plan_question("total salary compared to the plan", book[1])
    assert isinstance(compared, Decline), compared
    plan, _, rows = answer(book, "how did revenue change by year")
    assert plan.grain == "year" and [r[0] for r in rows] == [2021, 2022, 2023]


def test_quarters_and_halves_of_the_year(book: Any) -> None:
    _, _, rows = answer(book, "total units in Q2 2022")
    q2 = [r for r in SALES if r[0].year == 2022 and 4 <= r[0].month <= 6]
    assert rows[0][0] == sum(r[3] for r in q2)
    plan, _, rows = answer(book, "units in Q1 vs Q4")
    per: dict[str, int] = defaultdict(int)
    for row in SALES:
        per[f"Q{(row[0].month - 1) // 3 + 1}"] += row[3]
    assert plan.compare == ("Q1", "Q4") and dict(rows) == {"Q1": per["Q1"], "Q4": per["Q4"]}
    _, _, rows = answer(book, "revenue in the first half of the year versus the second half")
    first = round(sum(revenue(r) for r in SALES if r[0].month <= 6), 2)
    second = round(sum(revenue(r) for r in SALES if r[0].month > 6), 2)
    assert dict(rows) == pytest.approx({"first half": first, "second half": second})


def test_a_question_reads_its_own_words_once_whatever_the_values(
    book: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The values' words are read when the tables are; planning a question reads only the
    question's, however many values the workbook indexes."""
    import sheetstream.planner.names as names
    import sheetstream.planner.planning as planning

    read: list[str] = []
    real = planning.words

    def counting(text: str) -> list[str]:
        read.append(text)
        return real(text)

    monkeypatch.setattr(planning, "words", counting)
    monkeypatch.setattr(names, "words", counting, raising=False)  # no reading of values there
    assert sum(len(c.values) for t in book[1] for c in t.columns) > 20
    plan_question("total revenue in the North for Gizmo", book[1])
    assert read == ["total revenue in the North for Gizmo"]
