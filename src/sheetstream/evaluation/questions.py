"""The evaluation questions: everyday data questions about the evaluation workbooks, with gold.

Each :class:`Question` names a workbook from :func:`~sheetstream.evaluation.workbooks.build_all`,
is phrased the way people ask, and carries a gold function that computes the exact answer
from the rows :func:`~sheetstream.evaluation.workbooks.read_rows` reads back, with plain
Python. A question whose gold is ``None`` has no exact answer in the data (a forecast, a
reason, a column that does not exist, an ambiguous "best", small talk): the question planner
should decline it.

Gold values follow one rounding rule: money and averages to 2 decimals, percentages as a
percent number to 1 decimal (``23.4`` for 23.4 %), counts as ints. A group-by answer holds
every group's value and name; "which X has the most Y" holds the winner and its value; a
trend holds one label per period (``2023-01``, ``2023-Q1``, ``2023``, ``2024-05-01``, or the
budget's month columns ``Jan`` … ``Dec``) and its value.

``python -m sheetstream.evaluation.questions`` computes every gold and prints a summary.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from sheetstream.evaluation.workbooks import MONTHS, build_all, read_rows

__all__ = ["CATEGORIES", "MINIMUMS", "QUESTIONS", "Data", "Gold", "Minimums", "Question"]

CATEGORIES = (
    "total",
    "average",
    "count",
    "min_max",
    "group_by",
    "filter",
    "top_n",
    "share",
    "compare",
    "trend",
    "distinct",
    "join",
    "decline",
)

Row = dict[str, object]


class Data:
    """The evaluation workbooks' rows, read once each with :func:`read_rows`."""

    def __init__(self, paths: Mapping[str, Path]) -> None:
        self._paths = dict(paths)
        self._cache: dict[tuple[str, str | None], list[Row]] = {}

    @classmethod
    def build(cls, directory: Path) -> Data:
        """Write the workbooks into ``directory`` and read from there."""
        return cls(build_all(directory))

    def names(self) -> list[str]:
        """The workbooks written, by name."""
        return list(self._paths)

    def path(self, workbook: str) -> Path:
        """Where ``workbook`` was written."""
        return self._paths[workbook]

    def rows(self, workbook: str, sheet: str | None = None) -> list[Row]:
        """The data rows of ``workbook`` (of ``sheet``, else its first sheet)."""
        key = (workbook, sheet)
        if key not in self._cache:
            self._cache[key] = read_rows(self._paths[workbook], sheet)
        return self._cache[key]


@dataclass(frozen=True)
class Gold:
    """What a correct answer must state."""

    values: tuple[float, ...]  # every number a correct answer must state
    labels: tuple[str, ...] = ()  # every name/label a correct answer must state (e.g. "North")


@dataclass(frozen=True)
class Question:
    """One question about one workbook, and how to compute its exact answer."""

    workbook: str  # a key of build_all's result, e.g. "sales.xlsx"
    text: str  # phrased as people phrase it
    category: str  # one of CATEGORIES
    gold: Callable[[Data], Gold] | None  # None: the planner should decline


@dataclass(frozen=True)
class Minimums:
    """How many questions a set needs: per category (`per_category`, or its entry in
    `categories`) and in all."""

    per_category: int
    whole_set: int
    categories: Mapping[str, int] = field(default_factory=dict)


GoldFn = Callable[[Data], Gold]
Where = Callable[[Row], bool]
# Where rows come from: a workbook's first sheet, (workbook, sheet), or rows built from Data.
Source = str | tuple[str, str] | Callable[[Data], list[Row]]
# What to group by: a column, or a label computed from the row.
Key = str | Callable[[Row], str]
# What to aggregate: a column, or a number computed from the row.
Value = str | Callable[[Row], float]
How = Literal["sum", "mean", "count", "min", "max"]
Unit = Literal["year", "quarter", "month", "day"]

# -- reading cells -------------------------------------------------------------------------


def _num(row: Row, column: str) -> float:
    value = row[column]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{column!r} is not a number: {value!r}")
    return value


def _text(row: Row, column: str) -> str:
    value = row[column]
    if not isinstance(value, str):
        raise TypeError(f"{column!r} is not text: {value!r}")
    return value


def _when(row: Row, column: str) -> dt.datetime:
    value = row[column]
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{column!r} is not a date: {value!r}")
    return value


def _value(row: Row, value: Value) -> float:
    return _num(row, value) if isinstance(value, str) else value(row)


def _label(row: Row, key: Key) -> str:
    if isinstance(key, str):
        cell = row[key]
        return cell if isinstance(cell, str) else str(cell)
    return key(row)


def _rows(data: Data, source: Source, where: Where | None = None) -> list[Row]:
    if isinstance(source, str):
        rows = data.rows(source)
    elif isinstance(source, tuple):
        rows = data.rows(*source)
    else:
        rows = source(data)
    return [row for row in rows if where is None or where(row)]


# -- conditions and keys ---------------------------------------------------------------------


def _is(column: str, *allowed: object) -> Where:
    return lambda row: row.get(column) in allowed


def _above(column: str, bound: float) -> Where:
    return lambda row: _num(row, column) > bound


def _at_least(column: str, bound: float) -> Where:
    return lambda row: _num(row, column) >= bound


def _below(column: str, bound: float) -> Where:
    return lambda row: _num(row, column) < bound


def _and(*conditions: Where) -> Where:
    return lambda row: all(condition(row) for condition in conditions)


def _period(when: dt.datetime, unit: Unit) -> str:
    """A period's label: ``2023``, ``2023-Q1``, ``2023-01`` or ``2023-01-31``."""
    if unit == "year":
        return f"{when.year}"
    if unit == "quarter":
        return f"{when.year}-Q{(when.month - 1) // 3 + 1}"
    if unit == "month":
        return f"{when.year}-{when.month:02d}"
    return when.date().isoformat()


def _by(column: str, unit: Unit) -> Callable[[Row], str]:
    """Key: the period a row's date falls in."""
    return lambda row: _period(_when(row, column), unit)


def _in(column: str, unit: Unit, label: str) -> Where:
    """Condition: the row's date falls in the period ``label``."""
    return lambda row: _period(_when(row, column), unit) == label


def _quarter(column: str) -> Callable[[Row], str]:
    """Key: ``Q1`` … ``Q4`` of a row's date, for questions within one year."""
    return lambda row: f"Q{(_when(row, column).month - 1) // 3 + 1}"


def _times(first: str, second: str) -> Callable[[Row], float]:
    """Value: the product of two columns (quantity × unit cost)."""
    return lambda row: _num(row, first) * _num(row, second)


# -- aggregating -----------------------------------------------------------------------------


def _sum(numbers: Iterable[float]) -> float:
    """An exact sum of ints, a correctly rounded one (:func:`math.fsum`) of floats."""
    found = list(numbers)
    return sum(found) if all(isinstance(number, int) for number in found) else math.fsum(found)


def _aggregate(numbers: list[float], how: How) -> float:
    if how == "count":
        return len(numbers)
    if how == "sum":
        return _sum(numbers)
    if not numbers:
        raise ValueError(f"no rows to take the {how} of")
    if how == "mean":
        return _sum(numbers) / len(numbers)
    return min(numbers) if how == "min" else max(numbers)


def _half_up(number: float, decimals: int) -> float:
    """``number`` rounded half up as written (``2.675`` → ``2.68``), not as stored in binary."""
    step = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(number)).quantize(step, rounding=ROUND_HALF_UP))


def _round(number: float) -> float:
    """Money and averages to 2 decimals; ints (counts, sums of ints) stay ints."""
    return number if isinstance(number, int) else _half_up(number, 2)


def _percent(part: float, whole: float) -> float:
    """``part`` as a percentage of ``whole``, to 1 decimal."""
    return _half_up(100 * part / whole, 1)


def _groups(rows: Iterable[Row], key: Key, value: Value | None, how: How) -> dict[str, float]:
    """Group label → aggregate, in the order groups first appear."""
    numbers: dict[str, list[float]] = {}
    for row in rows:
        numbers.setdefault(_label(row, key), []).append(1 if value is None else _value(row, value))
    return {label: _aggregate(found, how) for label, found in numbers.items()}


def _table(groups: Mapping[str, float], *, ordered: bool = False) -> Gold:
    """Every group's value and name; sorted by name unless ``ordered`` (keep the order)."""
    labels = list(groups) if ordered else sorted(groups)
    return Gold(tuple(_round(groups[label]) for label in labels), tuple(labels))


def _ranked(groups: Mapping[str, float], n: int, highest: bool) -> Gold:
    """The ``n`` highest (or lowest) groups and their values; refuses a tie at the cut."""
    ranked = sorted(groups.items(), key=lambda item: item[1], reverse=highest)
    if len(ranked) < n:
        raise ValueError(f"only {len(ranked)} groups for a top {n}")
    if len(ranked) > n and _round(ranked[n - 1][1]) == _round(ranked[n][1]):
        raise ValueError(f"tie at place {n}: {ranked[n - 1]} and {ranked[n]}")
    chosen = ranked[:n]
    return Gold(tuple(_round(value) for _, value in chosen), tuple(label for label, _ in chosen))


# -- gold functions --------------------------------------------------------------------------


def _total(source: Source, value: Value, where: Where | None = None) -> GoldFn:
    def gold(data: Data) -> Gold:
        return Gold((_round(_sum(_value(row, value) for row in _rows(data, source, where))),))

    return gold


def _mean(source: Source, value: Value, where: Where | None = None) -> GoldFn:
    def gold(data: Data) -> Gold:
        numbers = [_value(row, value) for row in _rows(data, source, where)]
        return Gold((_round(_aggregate(numbers, "mean")),))

    return gold


def _count(source: Source, where: Where | None = None) -> GoldFn:
    def gold(data: Data) -> Gold:
        return Gold((len(_rows(data, source, where)),))

    return gold


def _extreme(
    source: Source,
    value: Value,
    *,
    highest: bool = True,
    where: Where | None = None,
    name: str | None = None,
) -> GoldFn:
    """The largest (or smallest) value; with ``name``, also that row's ``name`` column."""

    def gold(data: Data) -> Gold:
        rows = _rows(data, source, where)
        numbers = [_value(row, value) for row in rows]
        best = max(numbers) if highest else min(numbers)
        if name is None:
            return Gold((_round(best),))
        tied = [row for row, number in zip(rows, numbers, strict=True) if number == best]
        names = {_label(row, name) for row in tied}
        if len(names) != 1:
            raise ValueError(f"several rows share the extreme {best}: {sorted(names)}")
        return Gold((_round(best),), (names.pop(),))

    return gold


def _grouped(
    source: Source,
    key: Key,
    value: Value | None,
    how: How,
    where: Where | None = None,
    *,
    ordered: bool = False,
) -> GoldFn:
    def gold(data: Data) -> Gold:
        return _table(_groups(_rows(data, source, where), key, value, how), ordered=ordered)

    return gold


def _top(
    source: Source,
    key: Key,
    value: Value | None,
    how: How,
    n: int = 1,
    *,
    highest: bool = True,
    where: Where | None = None,
) -> GoldFn:
    """The ``n`` groups with the highest (or lowest) aggregate; ``n=1`` is "which X has most"."""

    def gold(data: Data) -> Gold:
        return _ranked(_groups(_rows(data, source, where), key, value, how), n, highest)

    return gold


def _share(source: Source, value: Value | None, part: Where, where: Where | None = None) -> GoldFn:
    """The percentage of the total (or of the row count, when ``value`` is None) in ``part``."""

    def gold(data: Data) -> Gold:
        rows = _rows(data, source, where)

        def amount(chosen: Iterable[Row]) -> float:
            return _sum(1 if value is None else _value(row, value) for row in chosen)

        return Gold((_percent(amount(row for row in rows if part(row)), amount(rows)),))

    return gold


def _shares(source: Source, key: Key, value: Value | None, where: Where | None = None) -> GoldFn:
    """Every group's percentage of the total (or of the row count)."""

    def gold(data: Data) -> Gold:
        groups = _groups(
            _rows(data, source, where), key, value, "count" if value is None else "sum"
        )
        whole = sum(groups.values())
        labels = sorted(groups)
        return Gold(tuple(_percent(groups[label], whole) for label in labels), tuple(labels))

    return gold


def _compare(
    source: Source,
    key: Key,
    value: Value | None,
    how: How,
    first: str,
    second: str,
    where: Where | None = None,
) -> GoldFn:
    """Two groups' aggregates side by side."""

    def gold(data: Data) -> Gold:
        groups = _groups(_rows(data, source, where), key, value, how)
        return Gold((_round(groups[first]), _round(groups[second])), (first, second))

    return gold


def _periods(first: dt.datetime, last: dt.datetime, unit: Unit) -> list[str]:
    """Every period label from ``first``'s to ``last``'s, in order."""
    labels: list[str] = []
    for offset in range((last.date() - first.date()).days + 1):
        label = _period(first + dt.timedelta(days=offset), unit)
        if not labels or labels[-1] != label:
            labels.append(label)
    return labels


def _trend(
    source: Source,
    date: str,
    unit: Unit,
    value: Value | None,
    how: How,
    where: Where | None = None,
    *,
    year: int | None = None,
) -> GoldFn:
    """The aggregate per period: every period of ``year`` (rows of that year only), else
    from the first period with rows to the last.

    Periods without rows count as 0 for sums and counts (they are left out of averages,
    which have no value there).
    """

    def gold(data: Data) -> Gold:
        rows = _rows(data, source, where)
        if year is not None:
            rows = [row for row in rows if _when(row, date).year == year]
            first, last = dt.datetime(year, 1, 1), dt.datetime(year, 12, 31)
        else:
            first = min(_when(row, date) for row in rows)
            last = max(_when(row, date) for row in rows)
        groups = _groups(rows, _by(date, unit), value, how)
        labels = _periods(first, last, unit)
        if how in ("sum", "count"):
            filled = {label: groups.get(label, 0) for label in labels}
        else:
            filled = {label: groups[label] for label in labels if label in groups}
        return _table(filled, ordered=True)

    return gold


def _distinct(
    source: Source, key: Key, where: Where | None = None, *, listed: bool = False
) -> GoldFn:
    """How many different values ``key`` takes; with ``listed``, also which (sorted)."""

    def gold(data: Data) -> Gold:
        found = sorted({_label(row, key) for row in _rows(data, source, where)})
        return Gold((len(found),), tuple(found) if listed else ())

    return gold


# -- sources -----------------------------------------------------------------------------------

SALES = "sales.xlsx"
STAFF = "staff.xlsx"
INVENTORY = "inventory.xlsx"
SURVEY = "survey.xlsx"
BUDGET = "budget.xlsx"
LOG = "log.csv"
ORDERS = "orders.xlsx"
GRADES = "grades.xlsx"

_EMPLOYEES = (STAFF, "Employees")
_DEPARTMENTS = (STAFF, "Departments")
_ORDERS = (ORDERS, "Orders")
_CUSTOMERS = (ORDERS, "Customers")
_QUESTION_COLUMNS = tuple(f"Q{number}" for number in range(1, 13))


def _staff_joined(data: Data) -> list[Row]:
    """Employees with their department's Floor and Manager."""
    departments = {_text(row, "Department"): row for row in data.rows(*_DEPARTMENTS)}
    return [{**departments[_text(row, "Department")], **row} for row in data.rows(*_EMPLOYEES)]


def _orders_joined(data: Data) -> list[Row]:
    """Orders with their customer's Customer Name, City and Segment."""
    customers = {_text(row, "Customer ID"): row for row in data.rows(*_CUSTOMERS)}
    return [{**customers[_text(row, "Customer ID")], **row} for row in data.rows(*_ORDERS)]


def _budget_months(data: Data) -> list[Row]:
    """The budget's month columns as rows: Category, Month (``Jan`` … ``Dec``), Amount."""
    return [
        {"Category": row["Category"], "Month": month, "Amount": _num(row, month)}
        for row in data.rows(BUDGET)
        for month in MONTHS
    ]


def _survey_answers(data: Data) -> list[Row]:
    """The survey's question columns as rows: the respondent's fields, Question, Answer."""
    answers: list[Row] = []
    for row in data.rows(SURVEY):
        person = {name: cell for name, cell in row.items() if name not in _QUESTION_COLUMNS}
        answers.extend(
            {**person, "Question": column, "Answer": _num(row, column)}
            for column in _QUESTION_COLUMNS
        )
    return answers


def _half(row: Row) -> str:
    return "first half" if _when(row, "Order Date").month <= 6 else "second half"


def _hired_after(year: int) -> Where:
    return lambda row: _when(row, "Hire Date").year > year


def _on_day(day: str) -> Where:
    return _in("timestamp", "day", day)


# -- the questions ---------------------------------------------------------------------------

_TOTAL = (
    Question(SALES, "What is the total revenue?", "total", _total(SALES, "Revenue")),
    Question(SALES, "How many units did we sell in total?", "total", _total(SALES, "Units")),
    Question(SALES, "total revenue from Gadgets", "total",
             _total(SALES, "Revenue", _is("Product", "Gadget"))),
    Question(STAFF, "What is our total salary bill?", "total", _total(_EMPLOYEES, "Salary")),
    Question(BUDGET, "total budget for Marketing", "total",
             _total(_budget_months, "Amount", _is("Category", "Marketing"))),
    Question(BUDGET, "What is the total for March?", "total", _total(BUDGET, "Mar")),
    Question(BUDGET, "What's the total budget for December?", "total", _total(BUDGET, "Dec")),
    Question(BUDGET, "What is the total annual budget?", "total",
             _total(_budget_months, "Amount")),
    Question(BUDGET, "How much is budgeted for Salaries over the whole year?", "total",
             _total(_budget_months, "Amount", _is("Category", "Salaries"))),
    Question(INVENTORY, "How many units do we have in stock altogether?", "total",
             _total(INVENTORY, "Quantity")),
    Question(INVENTORY, "What is the total value of our stock?", "total",
             _total(INVENTORY, _times("Quantity", "Unit Cost"))),
    Question(ORDERS, "What is the total amount of all orders?", "total",
             _total(_ORDERS, "Amount")),
    Question(ORDERS, "How much did shipped orders bring in?", "total",
             _total(_ORDERS, "Amount", _is("Status", "Shipped"))),
    Question(LOG, "sum of duration_ms over the whole log", "total", _total(LOG, "duration_ms")),
    Question(GRADES, "What do all the Math scores add up to?", "total",
             _total(GRADES, "Score", _is("Subject", "Math"))),
)  # fmt: skip

_AVERAGE = (
    Question(SALES, "What is the average unit price?", "average", _mean(SALES, "Unit Price")),
    Question(SALES, "average units per sale", "average", _mean(SALES, "Units")),
    Question(SALES, "What's the average revenue per transaction?", "average",
             _mean(SALES, "Revenue")),
    Question(STAFF, "What is the average salary?", "average", _mean(_EMPLOYEES, "Salary")),
    Question(STAFF, "average salary in Engineering", "average",
             _mean(_EMPLOYEES, "Salary", _is("Department", "Engineering"))),
    Question(SURVEY, "average answer to Q3", "average", _mean(SURVEY, "Q3")),
    Question(SURVEY, "What is the average age of the respondents?", "average",
             _mean(SURVEY, "Age")),
    Question(SURVEY, "What's the mean answer across all twelve questions?", "average",
             _mean(_survey_answers, "Answer")),
    Question(LOG, "What is the average duration_ms?", "average", _mean(LOG, "duration_ms")),
    Question(LOG, "average response time of the db service", "average",
             _mean(LOG, "duration_ms", _is("service", "db"))),
    Question(ORDERS, "What is the average order amount?", "average", _mean(_ORDERS, "Amount")),
    Question(GRADES, "What's the average score?", "average", _mean(GRADES, "Score")),
    Question(GRADES, "average English score", "average",
             _mean(GRADES, "Score", _is("Subject", "English"))),
    Question(INVENTORY, "What is the average unit cost of our items?", "average",
             _mean(INVENTORY, "Unit Cost")),
    Question(BUDGET, "On average, how much is the Marketing budget per month?", "average",
             _mean(_budget_months, "Amount", _is("Category", "Marketing"))),
)  # fmt: skip

_COUNT = (
    Question(SALES, "How many sales transactions are there?", "count", _count(SALES)),
    Question(SALES, "How many sales were made in the West?", "count",
             _count(SALES, _is("Region", "West"))),
    Question(STAFF, "How many employees do we have?", "count", _count(_EMPLOYEES)),
    Question(STAFF, "How many people work in Support?", "count",
             _count(_EMPLOYEES, _is("Department", "Support"))),
    Question(STAFF, "how many departments are listed?", "count", _count(_DEPARTMENTS)),
    Question(INVENTORY, "How many items are on the stock sheet?", "count", _count(INVENTORY)),
    Question(SURVEY, "how many respondents would recommend?", "count",
             _count(SURVEY, _is("Would Recommend", "Yes"))),
    Question(SURVEY, "how many respondents are from Germany?", "count",
             _count(SURVEY, _is("Country", "Germany"))),
    Question(SURVEY, "How many people answered the survey?", "count", _count(SURVEY)),
    Question(LOG, "How many log entries are there?", "count", _count(LOG)),
    Question(LOG, "How many errors are in the log?", "count", _count(LOG, _is("level", "ERROR"))),
    Question(ORDERS, "how many orders were cancelled?", "count",
             _count(_ORDERS, _is("Status", "Cancelled"))),
    Question(ORDERS, "How many orders do we have?", "count", _count(_ORDERS)),
    Question(ORDERS, "How many customers are in the customer list?", "count",
             _count(_CUSTOMERS)),
    Question(GRADES, "How many grade records are there?", "count", _count(GRADES)),
)  # fmt: skip

_MIN_MAX = (
    Question(SALES, "What was the largest single sale by revenue?", "min_max",
             _extreme(SALES, "Revenue")),
    Question(SALES, "Which region had the most units sold?", "min_max",
             _top(SALES, "Region", "Units", "sum")),
    Question(STAFF, "which department has the highest average salary?", "min_max",
             _top(_EMPLOYEES, "Department", "Salary", "mean")),
    Question(BUDGET, "Which category has the largest budget in December?", "min_max",
             _top(BUDGET, "Category", "Dec", "sum")),
    Question(SALES, "What is the lowest unit price we charged?", "min_max",
             _extreme(SALES, "Unit Price", highest=False)),
    Question(STAFF, "What's the highest salary?", "min_max", _extreme(_EMPLOYEES, "Salary")),
    Question(STAFF, "Who earns the most?", "min_max",
             _extreme(_EMPLOYEES, "Salary", name="Name")),
    Question(STAFF, "What is the lowest salary in Sales?", "min_max",
             _extreme(_EMPLOYEES, "Salary", highest=False, where=_is("Department", "Sales"))),
    Question(INVENTORY, "Which item has the highest unit cost?", "min_max",
             _extreme(INVENTORY, "Unit Cost", name="Item")),
    Question(INVENTORY, "What's the smallest stock quantity of any item?", "min_max",
             _extreme(INVENTORY, "Quantity", highest=False)),
    Question(LOG, "What was the longest request duration?", "min_max",
             _extreme(LOG, "duration_ms")),
    Question(LOG, "fastest db call in ms", "min_max",
             _extreme(LOG, "duration_ms", highest=False, where=_is("service", "db"))),
    Question(ORDERS, "What is the biggest order amount?", "min_max", _extreme(_ORDERS, "Amount")),
    Question(ORDERS, "What was our smallest order?", "min_max",
             _extreme(_ORDERS, "Amount", highest=False)),
    Question(GRADES, "What is the highest score in History?", "min_max",
             _extreme(GRADES, "Score", where=_is("Subject", "History"))),
    Question(GRADES, "lowest score overall", "min_max",
             _extreme(GRADES, "Score", highest=False)),
    Question(SURVEY, "How old is the oldest respondent?", "min_max", _extreme(SURVEY, "Age")),
    Question(BUDGET, "In which month is the Marketing budget highest?", "min_max",
             _top(_budget_months, "Month", "Amount", "sum",
                  where=_is("Category", "Marketing"))),
    Question(BUDGET, "What's the largest Travel budget in any single month?", "min_max",
             _extreme(_budget_months, "Amount", where=_is("Category", "Travel"))),
)  # fmt: skip

_GROUP_BY = (
    Question(SALES, "total revenue by region", "group_by",
             _grouped(SALES, "Region", "Revenue", "sum")),
    Question(SALES, "units sold per product", "group_by",
             _grouped(SALES, "Product", "Units", "sum")),
    Question(SALES, "What's the average unit price for each product?", "group_by",
             _grouped(SALES, "Product", "Unit Price", "mean")),
    Question(SALES, "number of sales in each region", "group_by",
             _grouped(SALES, "Region", None, "count")),
    Question(STAFF, "average salary by department", "group_by",
             _grouped(_EMPLOYEES, "Department", "Salary", "mean")),
    Question(STAFF, "How many employees are in each department?", "group_by",
             _grouped(_EMPLOYEES, "Department", None, "count")),
    Question(INVENTORY, "total quantity by category", "group_by",
             _grouped(INVENTORY, "Category", "Quantity", "sum")),
    Question(SURVEY, "average age by country", "group_by",
             _grouped(SURVEY, "Country", "Age", "mean")),
    Question(SURVEY, "How many respondents per country?", "group_by",
             _grouped(SURVEY, "Country", None, "count")),
    Question(BUDGET, "annual budget per category", "group_by",
             _grouped(_budget_months, "Category", "Amount", "sum")),
    Question(LOG, "count of log entries per level", "group_by",
             _grouped(LOG, "level", None, "count")),
    Question(LOG, "What's the average duration for each service?", "group_by",
             _grouped(LOG, "service", "duration_ms", "mean")),
    Question(ORDERS, "orders by status", "group_by",
             _grouped(_ORDERS, "Status", None, "count")),
    Question(ORDERS, "total order amount by status", "group_by",
             _grouped(_ORDERS, "Status", "Amount", "sum")),
    Question(GRADES, "average score by subject", "group_by",
             _grouped(GRADES, "Subject", "Score", "mean")),
    Question(GRADES, "What is the average score of each class?", "group_by",
             _grouped(GRADES, "Class", "Score", "mean")),
    Question(ORDERS, "How many customers are in each segment?", "group_by",
             _grouped(_CUSTOMERS, "Segment", None, "count")),
)  # fmt: skip

_FILTER = (
    Question(SALES, "How many units did we sell in the North?", "filter",
             _total(SALES, "Units", _is("Region", "North"))),
    Question(SALES, "What was the revenue from Widgets in the East in 2022?", "filter",
             _total(SALES, "Revenue", _and(_is("Product", "Widget"), _is("Region", "East"),
                                           _in("Date", "year", "2022")))),
    Question(SALES, "total revenue in 2023", "filter",
             _total(SALES, "Revenue", _in("Date", "year", "2023"))),
    Question(SALES, "How many sales had more than 50 units?", "filter",
             _count(SALES, _above("Units", 50))),
    Question(STAFF, "total salary of employees hired after 2020", "filter",
             _total(_EMPLOYEES, "Salary", _hired_after(2020))),
    Question(STAFF, "How many Leads earn more than 100,000?", "filter",
             _count(_EMPLOYEES, _and(_is("Title", "Lead"), _above("Salary", 100_000)))),
    Question(INVENTORY, "how many items are below their reorder level?", "filter",
             _count(INVENTORY, lambda row: _num(row, "Quantity") < _num(row, "Reorder Level"))),
    Question(INVENTORY, "total quantity of Electrical items that cost more than 20 each",
             "filter",
             _total(INVENTORY, "Quantity",
                    _and(_is("Category", "Electrical"), _above("Unit Cost", 20)))),
    Question(SURVEY, "How many respondents over 50 would recommend?", "filter",
             _count(SURVEY, _and(_above("Age", 50), _is("Would Recommend", "Yes")))),
    Question(SURVEY, "average Q1 answer among respondents from Japan", "filter",
             _mean(SURVEY, "Q1", _is("Country", "Japan"))),
    Question(LOG, "How many errors were logged by the api service?", "filter",
             _count(LOG, _and(_is("level", "ERROR"), _is("service", "api")))),
    Question(LOG, "average duration of worker jobs on May 3", "filter",
             _mean(LOG, "duration_ms", _and(_is("service", "worker"), _on_day("2024-05-03")))),
    Question(LOG, "How many requests took longer than 1 second?", "filter",
             _count(LOG, _above("duration_ms", 1000))),
    Question(ORDERS, "total amount of pending orders over 500", "filter",
             _total(_ORDERS, "Amount", _and(_is("Status", "Pending"), _above("Amount", 500)))),
    Question(GRADES, "What is the average score in Math for class B?", "filter",
             _mean(GRADES, "Score", _and(_is("Subject", "Math"), _is("Class", "B")))),
    Question(GRADES, "How many scores below 50 were there in the Spring term?", "filter",
             _count(GRADES, _and(_below("Score", 50), _is("Term", "Spring")))),
    Question(BUDGET, "total Marketing budget for the first half of the year", "filter",
             _total(_budget_months, "Amount",
                    _and(_is("Category", "Marketing"), _is("Month", *MONTHS[:6])))),
    Question(BUDGET, "In how many months is the Travel budget above 5,000?", "filter",
             _count(_budget_months, _and(_is("Category", "Travel"), _above("Amount", 5000)))),
)  # fmt: skip

_TOP_N = (
    Question(SALES, "top 3 products by revenue", "top_n",
             _top(SALES, "Product", "Revenue", "sum", 3)),
    Question(SALES, "Which two regions sold the most units?", "top_n",
             _top(SALES, "Region", "Units", "sum", 2)),
    Question(SALES, "What were our 3 best months for revenue?", "top_n",
             _top(SALES, _by("Date", "month"), "Revenue", "sum", 3)),
    Question(STAFF, "top 5 earners", "top_n", _top(_EMPLOYEES, "Name", "Salary", "sum", 5)),
    Question(STAFF, "Which 3 departments have the highest total payroll?", "top_n",
             _top(_EMPLOYEES, "Department", "Salary", "sum", 3)),
    Question(INVENTORY, "top 5 items by quantity", "top_n",
             _top(INVENTORY, "Item", "Quantity", "sum", 5)),
    Question(INVENTORY, "What are the 3 most valuable items in stock (quantity × cost)?",
             "top_n", _top(INVENTORY, "Item", _times("Quantity", "Unit Cost"), "sum", 3)),
    Question(SURVEY, "Which 3 questions got the highest average answer?", "top_n",
             _top(_survey_answers, "Question", "Answer", "mean", 3)),
    Question(SURVEY, "top 2 countries by number of respondents", "top_n",
             _top(SURVEY, "Country", None, "count", 2)),
    Question(LOG, "Which 2 services are slowest on average?", "top_n",
             _top(LOG, "service", "duration_ms", "mean", 2)),
    Question(ORDERS, "top 5 largest orders", "top_n",
             _top(_ORDERS, "Order ID", "Amount", "sum", 5)),
    Question(GRADES, "top 3 students by average score", "top_n",
             _top(GRADES, "Student", "Score", "mean", 3)),
    Question(GRADES, "Which 3 students have the lowest average score?", "top_n",
             _top(GRADES, "Student", "Score", "mean", 3, highest=False)),
    Question(BUDGET, "top 3 budget categories for the year", "top_n",
             _top(_budget_months, "Category", "Amount", "sum", 3)),
)  # fmt: skip

_SHARE = (
    Question(SALES, "what share of revenue comes from the West?", "share",
             _share(SALES, "Revenue", _is("Region", "West"))),
    Question(SALES, "What percentage of units sold were Gizmos?", "share",
             _share(SALES, "Units", _is("Product", "Gizmo"))),
    Question(SALES, "each region's share of revenue", "share",
             _shares(SALES, "Region", "Revenue")),
    Question(STAFF, "What percent of employees work in Engineering?", "share",
             _share(_EMPLOYEES, None, _is("Department", "Engineering"))),
    Question(STAFF, "what share of total salary goes to Engineering?", "share",
             _share(_EMPLOYEES, "Salary", _is("Department", "Engineering"))),
    Question(INVENTORY, "What share of our stock value is in Tools?", "share",
             _share(INVENTORY, _times("Quantity", "Unit Cost"), _is("Category", "Tools"))),
    Question(SURVEY, "What percentage of respondents would recommend us?", "share",
             _share(SURVEY, None, _is("Would Recommend", "Yes"))),
    Question(SURVEY, "What % of respondents are from the USA?", "share",
             _share(SURVEY, None, _is("Country", "USA"))),
    Question(LOG, "What fraction of log entries are errors, as a percentage?", "share",
             _share(LOG, None, _is("level", "ERROR"))),
    Question(LOG, "percentage of log entries at each level", "share",
             _shares(LOG, "level", None)),
    Question(ORDERS, "What percent of orders were cancelled?", "share",
             _share(_ORDERS, None, _is("Status", "Cancelled"))),
    Question(ORDERS, "What share of the total order amount is still pending?", "share",
             _share(_ORDERS, "Amount", _is("Status", "Pending"))),
    Question(BUDGET, "What share of the annual budget is Rent?", "share",
             _share(_budget_months, "Amount", _is("Category", "Rent"))),
    Question(GRADES, "What percentage of scores are 90 or above?", "share",
             _share(GRADES, None, _at_least("Score", 90))),
)  # fmt: skip

_COMPARE = (
    Question(SALES, "compare revenue in 2021 and 2022", "compare",
             _compare(SALES, _by("Date", "year"), "Revenue", "sum", "2021", "2022")),
    Question(SALES, "North vs South: units sold", "compare",
             _compare(SALES, "Region", "Units", "sum", "North", "South")),
    Question(SALES, "Did Widgets or Gadgets bring in more revenue?", "compare",
             _compare(SALES, "Product", "Revenue", "sum", "Widget", "Gadget")),
    Question(STAFF, "Compare the average salary in Sales and Marketing", "compare",
             _compare(_EMPLOYEES, "Department", "Salary", "mean", "Sales", "Marketing")),
    Question(INVENTORY, "Do we have more units of Tools or of Hardware?", "compare",
             _compare(INVENTORY, "Category", "Quantity", "sum", "Tools", "Hardware")),
    Question(SURVEY, "average age: Would Recommend Yes vs No",
             "compare", _compare(SURVEY, "Would Recommend", "Age", "mean", "Yes", "No")),
    Question(SURVEY, "How do the average answers to Q1 and Q12 compare?", "compare",
             _compare(_survey_answers, "Question", "Answer", "mean", "Q1", "Q12")),
    Question(LOG, "compare the average duration of api and worker", "compare",
             _compare(LOG, "service", "duration_ms", "mean", "api", "worker")),
    Question(LOG, "Were there more errors on 2024-05-04 or on 2024-05-05?", "compare",
             _compare(LOG, _by("timestamp", "day"), None, "count", "2024-05-04", "2024-05-05",
                      _is("level", "ERROR"))),
    Question(ORDERS, "compare the total amount of Shipped and Pending orders", "compare",
             _compare(_ORDERS, "Status", "Amount", "sum", "Shipped", "Pending")),
    Question(ORDERS, "How many orders in Q1 compared with Q4?", "compare",
             _compare(_ORDERS, _quarter("Order Date"), None, "count", "Q1", "Q4")),
    Question(ORDERS, "order amount in the first half of the year versus the second half",
             "compare",
             _compare(_ORDERS, _half, "Amount", "sum", "first half", "second half")),
    Question(GRADES, "Compare Fall and Spring average scores", "compare",
             _compare(GRADES, "Term", "Score", "mean", "Fall", "Spring")),
    Question(GRADES, "class A vs class C: average Science score", "compare",
             _compare(GRADES, "Class", "Score", "mean", "A", "C", _is("Subject", "Science"))),
    Question(BUDGET, "Rent vs Software for the year", "compare",
             _compare(_budget_months, "Category", "Amount", "sum", "Rent", "Software")),
    Question(BUDGET, "compare the Jan and Jul totals", "compare",
             _compare(_budget_months, "Month", "Amount", "sum", "Jan", "Jul")),
)  # fmt: skip

_TREND = (
    Question(SALES, "revenue by month in 2023", "trend",
             _trend(SALES, "Date", "month", "Revenue", "sum", year=2023)),
    Question(SALES, "How has revenue changed year over year?", "trend",
             _trend(SALES, "Date", "year", "Revenue", "sum")),
    Question(SALES, "units sold per quarter in 2022", "trend",
             _trend(SALES, "Date", "quarter", "Units", "sum", year=2022)),
    Question(SALES, "monthly Doohickey units in 2021", "trend",
             _trend(SALES, "Date", "month", "Units", "sum", _is("Product", "Doohickey"),
                    year=2021)),
    Question(STAFF, "How many people did we hire each year?", "trend",
             _trend(_EMPLOYEES, "Hire Date", "year", None, "count")),
    Question(LOG, "errors per day", "trend",
             _trend(LOG, "timestamp", "day", None, "count", _is("level", "ERROR"))),
    Question(LOG, "How many log entries were there each day?", "trend",
             _trend(LOG, "timestamp", "day", None, "count")),
    Question(LOG, "daily average duration of the api service", "trend",
             _trend(LOG, "timestamp", "day", "duration_ms", "mean", _is("service", "api"))),
    Question(ORDERS, "number of orders per month", "trend",
             _trend(_ORDERS, "Order Date", "month", None, "count")),
    Question(ORDERS, "monthly amount of shipped orders", "trend",
             _trend(_ORDERS, "Order Date", "month", "Amount", "sum", _is("Status", "Shipped"))),
    Question(ORDERS, "order amount by quarter", "trend",
             _trend(_ORDERS, "Order Date", "quarter", "Amount", "sum")),
    Question(BUDGET, "total budget by month", "trend",
             _grouped(_budget_months, "Month", "Amount", "sum", ordered=True)),
    Question(BUDGET, "How does the Travel budget change through the year?", "trend",
             _grouped(_budget_months, "Month", "Amount", "sum", _is("Category", "Travel"),
                      ordered=True)),
)  # fmt: skip

_DISTINCT = (
    Question(ORDERS, "how many different customers placed orders?", "distinct",
             _distinct(_ORDERS, "Customer ID")),
    Question(ORDERS, "How many distinct customers had an order cancelled?", "distinct",
             _distinct(_ORDERS, "Customer ID", _is("Status", "Cancelled"))),
    Question(SALES, "How many different products do we sell, and which are they?", "distinct",
             _distinct(SALES, "Product", listed=True)),
    Question(SALES, "How many regions are there and what are they?", "distinct",
             _distinct(SALES, "Region", listed=True)),
    Question(SALES, "On how many different days did we make sales?", "distinct",
             _distinct(SALES, _by("Date", "day"))),
    Question(STAFF, "how many different job titles are there, and what are they?", "distinct",
             _distinct(_EMPLOYEES, "Title", listed=True)),
    Question(STAFF, "How many departments actually have employees?", "distinct",
             _distinct(_EMPLOYEES, "Department")),
    Question(SURVEY, "How many countries are the respondents from? List them.", "distinct",
             _distinct(SURVEY, "Country", listed=True)),
    Question(GRADES, "how many distinct students are there?", "distinct",
             _distinct(GRADES, "Student")),
    Question(GRADES, "Which subjects are graded, and how many are there?", "distinct",
             _distinct(GRADES, "Subject", listed=True)),
    Question(INVENTORY, "How many item categories do we stock, and which ones?", "distinct",
             _distinct(INVENTORY, "Category", listed=True)),
    Question(LOG, "Which services show up in the log, and how many are there?", "distinct",
             _distinct(LOG, "service", listed=True)),
    Question(LOG, "On how many different days did the db service log an error?", "distinct",
             _distinct(LOG, _by("timestamp", "day"),
                       _and(_is("level", "ERROR"), _is("service", "db")))),
    Question(ORDERS, "How many different cities are our customers in?", "distinct",
             _distinct(_CUSTOMERS, "City")),
)  # fmt: skip

_JOIN = (
    Question(STAFF, "total salary of employees on floor 2", "join",
             _total(_staff_joined, "Salary", _is("Floor", 2))),
    Question(STAFF, "What's the average salary of the people on floor 1?", "join",
             _mean(_staff_joined, "Salary", _is("Floor", 1))),
    Question(STAFF, "How many employees work on floor 3?", "join",
             _count(_staff_joined, _is("Floor", 3))),
    Question(STAFF, "Which manager has the most employees?", "join",
             _top(_staff_joined, "Manager", None, "count")),
    Question(STAFF, "total payroll per floor", "join",
             _grouped(_staff_joined, "Floor", "Salary", "sum")),
    Question(ORDERS, "total order amount for the Corporate segment", "join",
             _total(_orders_joined, "Amount", _is("Segment", "Corporate"))),
    Question(ORDERS, "How many orders came from customers in Berlin?", "join",
             _count(_orders_joined, _is("City", "Berlin"))),
    Question(ORDERS, "Which city's customers spent the most?", "join",
             _top(_orders_joined, "City", "Amount", "sum")),
    Question(ORDERS, "Which customer spent the most in total?", "join",
             _top(_orders_joined, "Customer Name", "Amount", "sum")),
    Question(ORDERS, "top 3 customers by total order amount", "join",
             _top(_orders_joined, "Customer Name", "Amount", "sum", 3)),
    Question(ORDERS, "average order amount by customer segment", "join",
             _grouped(_orders_joined, "Segment", "Amount", "mean")),
)  # fmt: skip

_DECLINE = (
    Question(SALES, "Why did sales drop?", "decline", None),
    Question(SALES, "What will revenue be next year?", "decline", None),
    Question(SALES, "Which product is best?", "decline", None),
    Question(SALES, "What is the total profit?", "decline", None),
    Question(SALES, "Which region should we expand into?", "decline", None),
    Question(SALES, "Tell me a joke", "decline", None),
    Question(STAFF, "What is the average bonus?", "decline", None),
    Question(STAFF, "Who is our best employee?", "decline", None),
    Question(STAFF, "Is Engineering underpaid compared with the market?", "decline", None),
    Question(INVENTORY, "Who is the supplier for the hammers?", "decline", None),
    Question(INVENTORY, "When will we run out of light bulbs?", "decline", None),
    Question(SURVEY, "Why are some respondents unhappy?", "decline", None),
    Question(SURVEY, "What is the median income of the respondents?", "decline", None),
    Question(BUDGET, "How much did we spend on Software last year?", "decline", None),
    Question(BUDGET, "Is our budget any good?", "decline", None),
    Question(LOG, "What caused the errors on May 3?", "decline", None),
    Question(LOG, "How many errors will we get next week?", "decline", None),
    Question(ORDERS, "What's the total shipping cost?", "decline", None),
    Question(ORDERS, "Which customers are likely to churn?", "decline", None),
    Question(GRADES, "Which students will fail next term?", "decline", None),
    Question(GRADES, "What's the weather like today?", "decline", None),
)  # fmt: skip

QUESTIONS: tuple[Question, ...] = (
    *_TOTAL,
    *_AVERAGE,
    *_COUNT,
    *_MIN_MAX,
    *_GROUP_BY,
    *_FILTER,
    *_TOP_N,
    *_SHARE,
    *_COMPARE,
    *_TREND,
    *_DISTINCT,
    *_JOIN,
    *_DECLINE,
)

# Fewest questions per category, and in all.
MINIMUMS = Minimums(per_category=8, whole_set=170, categories={"join": 5, "decline": 15})


if __name__ == "__main__":
    from sheetstream.evaluation.checks import main

    main("main", QUESTIONS, MINIMUMS)
