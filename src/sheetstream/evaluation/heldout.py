"""A second question set, written apart from the first and from the planner: the measure of
how its rules carry over to phrasings it was not tuned on.

:data:`HELDOUT` asks about the same evaluation workbooks, in the same categories and with the
same :class:`~sheetstream.evaluation.questions.Gold` conventions as
:data:`~sheetstream.evaluation.questions.QUESTIONS`, but in other words: synonyms, casual
phrasing, another word order, other columns and filters. No question repeats one of
``QUESTIONS``. Every gold is computed from the rows with the helpers of
:mod:`sheetstream.evaluation.questions` (or plain Python on the same rows, with the same
rounding rule); a gold of ``None`` means the question has no exact answer in the data and
should be declined.

``python -m sheetstream.evaluation.heldout`` computes every gold and prints a summary.
"""

from __future__ import annotations

import statistics

from sheetstream.evaluation.questions import (
    _CUSTOMERS,
    _EMPLOYEES,
    _ORDERS,
    BUDGET,
    GRADES,
    INVENTORY,
    LOG,
    ORDERS,
    QUESTIONS,
    SALES,
    STAFF,
    SURVEY,
    Data,
    Gold,
    GoldFn,
    Minimums,
    Question,
    Source,
    Value,
    Where,
    _above,
    _and,
    _budget_months,
    _by,
    _compare,
    _count,
    _distinct,
    _extreme,
    _grouped,
    _in,
    _is,
    _mean,
    _num,
    _orders_joined,
    _quarter,
    _round,
    _rows,
    _share,
    _shares,
    _staff_joined,
    _survey_answers,
    _times,
    _top,
    _total,
    _trend,
    _value,
    _when,
)
from sheetstream.evaluation.workbooks import MONTHS

__all__ = ["HELDOUT"]

# -- helpers this set needs beyond those of the first ------------------------------------------


def _median(source: Source, value: Value, where: Where | None = None) -> GoldFn:
    """The median of ``value`` over the rows (an average: 2 decimals, ints stay ints)."""

    def gold(data: Data) -> Gold:
        numbers = [_value(row, value) for row in _rows(data, source, where)]
        if not numbers:
            raise ValueError("no rows to take the median of")
        return Gold((_round(statistics.median(numbers)),))

    return gold


def _hired_in(year: int) -> Where:
    return lambda row: _when(row, "Hire Date").year == year


def _hired_before(year: int) -> Where:
    return lambda row: _when(row, "Hire Date").year < year


def _short_of_reorder(row: dict[str, object]) -> bool:
    return _num(row, "Quantity") < _num(row, "Reorder Level")


def _under(column: str, bound: float) -> Where:
    return lambda row: _num(row, column) < bound


# -- the questions ---------------------------------------------------------------------------

_TOTAL = (
    Question(SALES, "sum up all the revenue for me", "total", _total(SALES, "Revenue")),
    Question(SALES, "how much money did Doohickeys bring in altogether", "total",
             _total(SALES, "Revenue", _is("Product", "Doohickey"))),
    Question(SALES, "total number of Widget units sold", "total",
             _total(SALES, "Units", _is("Product", "Widget"))),
    Question(STAFF, "what's the combined pay of everyone in Finance?", "total",
             _total(_EMPLOYEES, "Salary", _is("Department", "Finance"))),
    Question(BUDGET, "add up the Utilities budget across all months", "total",
             _total(_budget_months, "Amount", _is("Category", "Utilities"))),
    Question(BUDGET, "what's budgeted altogether for June", "total", _total(BUDGET, "Jun")),
    Question(INVENTORY, "how much stock of Hammer", "total",
             _total(INVENTORY, "Quantity", _is("Item", "Hammer"))),
    Question(ORDERS, "grand total of the cancelled orders' amounts", "total",
             _total(_ORDERS, "Amount", _is("Status", "Cancelled"))),
    Question(LOG, "total ms the worker service spent, all entries together", "total",
             _total(LOG, "duration_ms", _is("service", "worker"))),
    Question(GRADES, "sum of every score from the Fall term", "total",
             _total(GRADES, "Score", _is("Term", "Fall"))),
)  # fmt: skip

_AVERAGE = (
    Question(STAFF, "avg salary for the sales team", "average",
             _mean(_EMPLOYEES, "Salary", _is("Department", "Sales"))),
    Question(SALES, "mean revenue of a Gizmo sale", "average",
             _mean(SALES, "Revenue", _is("Product", "Gizmo"))),
    Question(SALES, "what do we charge for a Widget on average", "average",
             _mean(SALES, "Unit Price", _is("Product", "Widget"))),
    Question(GRADES, "median score", "average", _median(GRADES, "Score")),
    Question(SURVEY, "median age of the people who took the survey", "average",
             _median(SURVEY, "Age")),
    Question(LOG, "on average, how long does a worker job take?", "average",
             _mean(LOG, "duration_ms", _is("service", "worker"))),
    Question(ORDERS, "mean value of shipped orders", "average",
             _mean(_ORDERS, "Amount", _is("Status", "Shipped"))),
    Question(GRADES, "what do students score in History, on average?", "average",
             _mean(GRADES, "Score", _is("Subject", "History"))),
    Question(INVENTORY, "avg quantity held per item", "average", _mean(INVENTORY, "Quantity")),
    Question(BUDGET, "mean monthly Software budget", "average",
             _mean(_budget_months, "Amount", _is("Category", "Software"))),
    Question(SURVEY, "mean Q7 rating", "average", _mean(SURVEY, "Q7")),
)  # fmt: skip

_COUNT = (
    Question(STAFF, "number of employees hired in 2019", "count",
             _count(_EMPLOYEES, _hired_in(2019))),
    Question(SALES, "how many rows does the sales sheet have", "count", _count(SALES)),
    Question(SALES, "count the Gizmo sales", "count", _count(SALES, _is("Product", "Gizmo"))),
    Question(ORDERS, "how many orders are still pending?", "count",
             _count(_ORDERS, _is("Status", "Pending"))),
    Question(LOG, "how many warnings got logged", "count", _count(LOG, _is("level", "WARN"))),
    Question(SURVEY, "how many people said they would not recommend us?", "count",
             _count(SURVEY, _is("Would Recommend", "No"))),
    Question(INVENTORY, "how many Plumbing items do we carry", "count",
             _count(INVENTORY, _is("Category", "Plumbing"))),
    Question(GRADES, "number of Science grades on record", "count",
             _count(GRADES, _is("Subject", "Science"))),
    Question(STAFF, "Engineering headcount?", "count",
             _count(_EMPLOYEES, _is("Department", "Engineering"))),
    Question(ORDERS, "how many of our customers are in the Consumer segment", "count",
             _count(_CUSTOMERS, _is("Segment", "Consumer"))),
)  # fmt: skip

_MIN_MAX = (
    Question(ORDERS, "biggest order in 2023", "min_max",
             _extreme(_ORDERS, "Amount", where=_in("Order Date", "year", "2023"))),
    Question(SALES, "which month of 2022 had the highest revenue", "min_max",
             _top(SALES, _by("Date", "month"), "Revenue", "sum",
                  where=_in("Date", "year", "2022"))),
    Question(STAFF, "who's the lowest paid person here?", "min_max",
             _extreme(_EMPLOYEES, "Salary", highest=False, name="Name")),
    Question(INVENTORY, "what's the priciest item per unit in Plumbing?", "min_max",
             _extreme(INVENTORY, "Unit Cost", where=_is("Category", "Plumbing"), name="Item")),
    Question(INVENTORY, "cheapest item by unit cost", "min_max",
             _extreme(INVENTORY, "Unit Cost", highest=False, name="Item")),
    Question(LOG, "slowest api request, in ms", "min_max",
             _extreme(LOG, "duration_ms", where=_is("service", "api"))),
    Question(GRADES, "worst mark anyone got in Math", "min_max",
             _extreme(GRADES, "Score", highest=False, where=_is("Subject", "Math"))),
    Question(SURVEY, "age of the youngest respondent", "min_max",
             _extreme(SURVEY, "Age", highest=False)),
    Question(SALES, "most units ever sold in one transaction", "min_max",
             _extreme(SALES, "Units")),
    Question(BUDGET, "which month has the smallest total budget?", "min_max",
             _top(_budget_months, "Month", "Amount", "sum", highest=False)),
    Question(STAFF, "which department has the fewest people", "min_max",
             _top(_EMPLOYEES, "Department", None, "count", highest=False)),
    Question(SALES, "the product with the lowest total revenue", "min_max",
             _top(SALES, "Product", "Revenue", "sum", highest=False)),
)  # fmt: skip

_GROUP_BY = (
    Question(SALES, "give me units per product", "group_by",
             _grouped(SALES, "Product", "Units", "sum")),
    Question(SALES, "break revenue down by product", "group_by",
             _grouped(SALES, "Product", "Revenue", "sum")),
    Question(SALES, "mean units per sale in each region", "group_by",
             _grouped(SALES, "Region", "Units", "mean")),
    Question(STAFF, "salary bill for each job title", "group_by",
             _grouped(_EMPLOYEES, "Title", "Salary", "sum")),
    Question(STAFF, "headcount per title", "group_by",
             _grouped(_EMPLOYEES, "Title", None, "count")),
    Question(INVENTORY, "avg unit cost per category", "group_by",
             _grouped(INVENTORY, "Category", "Unit Cost", "mean")),
    Question(SURVEY, "tally of the Would Recommend answers, Yes and No", "group_by",
             _grouped(SURVEY, "Would Recommend", None, "count")),
    Question(LOG, "count of errors per service", "group_by",
             _grouped(LOG, "service", None, "count", _is("level", "ERROR"))),
    Question(ORDERS, "average amount for each order status", "group_by",
             _grouped(_ORDERS, "Status", "Amount", "mean")),
    Question(GRADES, "mean score per term", "group_by",
             _grouped(GRADES, "Term", "Score", "mean")),
    Question(BUDGET, "each category's average monthly budget", "group_by",
             _grouped(_budget_months, "Category", "Amount", "mean")),
    Question(SURVEY, "Q5 average, split by country", "group_by",
             _grouped(SURVEY, "Country", "Q5", "mean")),
)  # fmt: skip

_FILTER = (
    Question(SALES, "what did we make in the west in 2022", "filter",
             _total(SALES, "Revenue", _and(_is("Region", "West"), _in("Date", "year", "2022")))),
    Question(SALES, "Gadget units sold in the South", "filter",
             _total(SALES, "Units", _and(_is("Product", "Gadget"), _is("Region", "South")))),
    Question(SALES, "how many sales were for fewer than 5 units?", "filter",
             _count(SALES, _under("Units", 5))),
    Question(STAFF, "how many Associates work in Engineering", "filter",
             _count(_EMPLOYEES, _and(_is("Title", "Associate"), _is("Department", "Engineering")))),
    Question(STAFF, "average pay of people who joined before 2015", "filter",
             _mean(_EMPLOYEES, "Salary", _hired_before(2015))),
    Question(INVENTORY, "how many Tools have less than 100 in stock", "filter",
             _count(INVENTORY, _and(_is("Category", "Tools"), _under("Quantity", 100)))),
    Question(LOG, "total duration of the db entries at ERROR level", "filter",
             _total(LOG, "duration_ms", _and(_is("service", "db"), _is("level", "ERROR")))),
    Question(ORDERS, "number of shipped orders above 1,000", "filter",
             _count(_ORDERS, _and(_is("Status", "Shipped"), _above("Amount", 1000)))),
    Question(GRADES, "class A's average score in the Spring term", "filter",
             _mean(GRADES, "Score", _and(_is("Term", "Spring"), _is("Class", "A")))),
    Question(SURVEY, "how many respondents from France are under 30", "filter",
             _count(SURVEY, _and(_is("Country", "France"), _under("Age", 30)))),
    Question(BUDGET, "Software budget for July through December", "filter",
             _total(_budget_months, "Amount",
                    _and(_is("Category", "Software"), _is("Month", *MONTHS[6:])))),
)  # fmt: skip

_TOP_N = (
    Question(SALES, "rank products by units", "top_n", _top(SALES, "Product", "Units", "sum", 4)),
    Question(SALES, "which 2 products were sold most often (number of sales)?", "top_n",
             _top(SALES, "Product", None, "count", 2)),
    Question(STAFF, "the 3 lowest-paid employees", "top_n",
             _top(_EMPLOYEES, "Name", "Salary", "sum", 3, highest=False)),
    Question(STAFF, "4 biggest departments by headcount", "top_n",
             _top(_EMPLOYEES, "Department", None, "count", 4)),
    Question(INVENTORY, "five cheapest items per unit", "top_n",
             _top(INVENTORY, "Item", "Unit Cost", "sum", 5, highest=False)),
    Question(INVENTORY, "rank the top 3 categories by stock value", "top_n",
             _top(INVENTORY, "Category", _times("Quantity", "Unit Cost"), "sum", 3)),
    Question(SURVEY, "2 lowest-rated questions on average", "top_n",
             _top(_survey_answers, "Question", "Answer", "mean", 2, highest=False)),
    Question(LOG, "the 2 days with the most errors", "top_n",
             _top(LOG, _by("timestamp", "day"), None, "count", 2, where=_is("level", "ERROR"))),
    Question(ORDERS, "the three months with the largest order totals", "top_n",
             _top(_ORDERS, _by("Order Date", "month"), "Amount", "sum", 3)),
    Question(GRADES, "which 4 students average highest in Math?", "top_n",
             _top(GRADES, "Student", "Score", "mean", 4, where=_is("Subject", "Math"))),
    Question(BUDGET, "the two costliest months in the budget", "top_n",
             _top(_budget_months, "Month", "Amount", "sum", 2)),
)  # fmt: skip

_SHARE = (
    Question(ORDERS, "share of orders cancelled", "share",
             _share(_ORDERS, None, _is("Status", "Cancelled"))),
    Question(SALES, "percent of revenue earned in 2023", "share",
             _share(SALES, "Revenue", _in("Date", "year", "2023"))),
    Question(SALES, "how big a slice of revenue are Doohickeys, in %", "share",
             _share(SALES, "Revenue", _is("Product", "Doohickey"))),
    Question(SALES, "revenue mix by product as percentages", "share",
             _shares(SALES, "Product", "Revenue")),
    Question(STAFF, "what fraction of the staff are Leads, in percent", "share",
             _share(_EMPLOYEES, None, _is("Title", "Lead"))),
    Question(INVENTORY, "percentage of items under their reorder level", "share",
             _share(INVENTORY, None, _short_of_reorder)),
    Question(SURVEY, "what % of respondents are over 60", "share",
             _share(SURVEY, None, _above("Age", 60))),
    Question(LOG, "what percent of log lines come from the worker service", "share",
             _share(LOG, None, _is("service", "worker"))),
    Question(LOG, "proportion of total duration spent in db, as a percentage", "share",
             _share(LOG, "duration_ms", _is("service", "db"))),
    Question(GRADES, "what percent of grades are under 60", "share",
             _share(GRADES, None, _under("Score", 60))),
    Question(BUDGET, "how much of the yearly budget goes to Salaries, in percent", "share",
             _share(_budget_months, "Amount", _is("Category", "Salaries"))),
    Question(ORDERS, "percentage breakdown of orders by status", "share",
             _shares(_ORDERS, "Status", None)),
)  # fmt: skip

_COMPARE = (
    Question(SALES, "East vs West revenue", "compare",
             _compare(SALES, "Region", "Revenue", "sum", "East", "West")),
    Question(SALES, "did we sell more units in 2022 or in 2023?", "compare",
             _compare(SALES, _by("Date", "year"), "Units", "sum", "2022", "2023")),
    Question(SALES, "Gizmo average price versus Widget average price", "compare",
             _compare(SALES, "Product", "Unit Price", "mean", "Gizmo", "Widget")),
    Question(STAFF, "Finance or Engineering: which has the larger payroll?", "compare",
             _compare(_EMPLOYEES, "Department", "Salary", "sum", "Finance", "Engineering")),
    Question(STAFF, "headcount in Support compared to Marketing", "compare",
             _compare(_EMPLOYEES, "Department", None, "count", "Support", "Marketing")),
    Question(INVENTORY, "stock value of Electrical against Plumbing", "compare",
             _compare(INVENTORY, "Category", _times("Quantity", "Unit Cost"), "sum",
                      "Electrical", "Plumbing")),
    Question(SURVEY, "mean age of respondents from the UK vs Brazil", "compare",
             _compare(SURVEY, "Country", "Age", "mean", "UK", "Brazil")),
    Question(LOG, "api vs db: how many errors each?", "compare",
             _compare(LOG, "service", None, "count", "api", "db", _is("level", "ERROR"))),
    Question(ORDERS, "average pending order versus average shipped order", "compare",
             _compare(_ORDERS, "Status", "Amount", "mean", "Pending", "Shipped")),
    Question(GRADES, "Math or English, which has the higher average?", "compare",
             _compare(GRADES, "Subject", "Score", "mean", "Math", "English")),
    Question(BUDGET, "Marketing against Travel, full year", "compare",
             _compare(_budget_months, "Category", "Amount", "sum", "Marketing", "Travel")),
    Question(ORDERS, "order amount in Q2 vs Q3", "compare",
             _compare(_ORDERS, _quarter("Order Date"), "Amount", "sum", "Q2", "Q3")),
)  # fmt: skip

_TREND = (
    Question(SALES, "monthly revenue for 2022", "trend",
             _trend(SALES, "Date", "month", "Revenue", "sum", year=2022)),
    Question(SALES, "revenue per quarter over the whole period", "trend",
             _trend(SALES, "Date", "quarter", "Revenue", "sum")),
    Question(SALES, "how many sales did we make each year", "trend",
             _trend(SALES, "Date", "year", None, "count")),
    Question(SALES, "Widget revenue year by year", "trend",
             _trend(SALES, "Date", "year", "Revenue", "sum", _is("Product", "Widget"))),
    Question(STAFF, "Engineering hires per year", "trend",
             _trend(_EMPLOYEES, "Hire Date", "year", None, "count",
                    _is("Department", "Engineering"))),
    Question(LOG, "warnings per day", "trend",
             _trend(LOG, "timestamp", "day", None, "count", _is("level", "WARN"))),
    Question(LOG, "daily total duration for the worker service", "trend",
             _trend(LOG, "timestamp", "day", "duration_ms", "sum", _is("service", "worker"))),
    Question(ORDERS, "average order value month by month", "trend",
             _trend(_ORDERS, "Order Date", "month", "Amount", "mean")),
    Question(ORDERS, "how did cancellations develop quarter by quarter?", "trend",
             _trend(_ORDERS, "Order Date", "quarter", None, "count",
                    _is("Status", "Cancelled"))),
    Question(BUDGET, "month by month Marketing budget", "trend",
             _grouped(_budget_months, "Month", "Amount", "sum", _is("Category", "Marketing"),
                      ordered=True)),
    Question(BUDGET, "how do Salaries move across the months?", "trend",
             _grouped(_budget_months, "Month", "Amount", "sum", _is("Category", "Salaries"),
                      ordered=True)),
)  # fmt: skip

_DISTINCT = (
    Question(SALES, "list the distinct products", "distinct",
             _distinct(SALES, "Product", listed=True)),
    Question(SALES, "in how many distinct months did we record sales?", "distinct",
             _distinct(SALES, _by("Date", "month"))),
    Question(STAFF, "name the departments that have staff, and count them", "distinct",
             _distinct(_EMPLOYEES, "Department", listed=True)),
    Question(STAFF, "in how many different years did we hire someone", "distinct",
             _distinct(_EMPLOYEES, _by("Hire Date", "year"))),
    Question(INVENTORY, "which reorder levels are used, and how many are there?", "distinct",
             _distinct(INVENTORY, "Reorder Level", listed=True)),
    Question(SURVEY, "number of countries that responded", "distinct",
             _distinct(SURVEY, "Country")),
    Question(LOG, "what log levels appear, and how many kinds?", "distinct",
             _distinct(LOG, "level", listed=True)),
    Question(LOG, "on how many days did the api service log anything?", "distinct",
             _distinct(LOG, _by("timestamp", "day"), _is("service", "api"))),
    Question(ORDERS, "which order statuses exist? how many?", "distinct",
             _distinct(_ORDERS, "Status", listed=True)),
    Question(ORDERS, "number of unique customers with a shipped order", "distinct",
             _distinct(_ORDERS, "Customer ID", _is("Status", "Shipped"))),
    Question(GRADES, "what terms are in the grades, and how many", "distinct",
             _distinct(GRADES, "Term", listed=True)),
    Question(GRADES, "list the classes and say how many there are", "distinct",
             _distinct(GRADES, "Class", listed=True)),
)  # fmt: skip

_JOIN = (
    Question(STAFF, "mean salary for each floor", "join",
             _grouped(_staff_joined, "Floor", "Salary", "mean")),
    Question(STAFF, "headcount per manager", "join",
             _grouped(_staff_joined, "Manager", None, "count")),
    Question(STAFF, "how much do we pay the people reporting to Grace Weber?", "join",
             _total(_staff_joined, "Salary", _is("Manager", "Grace Weber"))),
    Question(STAFF, "which floor has the biggest payroll", "join",
             _top(_staff_joined, "Floor", "Salary", "sum")),
    Question(ORDERS, "how much have London customers spent", "join",
             _total(_orders_joined, "Amount", _is("City", "London"))),
    Question(ORDERS, "average order from Small Business customers", "join",
             _mean(_orders_joined, "Amount", _is("Segment", "Small Business"))),
    Question(ORDERS, "number of orders per customer city", "join",
             _grouped(_orders_joined, "City", None, "count")),
    Question(ORDERS, "which segment places the most orders?", "join",
             _top(_orders_joined, "Segment", None, "count")),
    Question(ORDERS, "what did Oak Studio order in total", "join",
             _total(_orders_joined, "Amount", _is("Customer Name", "Oak Studio"))),
    Question(ORDERS, "top 2 cities by spend", "join",
             _top(_orders_joined, "City", "Amount", "sum", 2)),
)  # fmt: skip

_DECLINE = (
    Question(SALES, "what drove the change in revenue from 2021 to 2022?", "decline", None),
    Question(SALES, "predict next quarter's units", "decline", None),
    Question(SALES, "what's our profit margin on Gizmos", "decline", None),
    Question(SALES, "who was the top salesperson", "decline", None),
    Question(STAFF, "how satisfied are the people in Support?", "decline", None),
    Question(STAFF, "which department performs worst", "decline", None),
    Question(INVENTORY, "which supplier is the cheapest", "decline", None),
    Question(INVENTORY, "how many hammers will we sell next month", "decline", None),
    Question(SURVEY, "what did people write in the comments", "decline", None),
    Question(BUDGET, "what did we actually spend on Travel, versus plan?", "decline", None),
    Question(LOG, "which user triggered the most errors", "decline", None),
    Question(ORDERS, "are our customers happy", "decline", None),
    Question(ORDERS, "how much tax was charged on the orders", "decline", None),
    Question(GRADES, "who is the smartest student", "decline", None),
    Question(GRADES, "hi there, how are you doing?", "decline", None),
    Question(LOG, "is the db healthy", "decline", None),
)  # fmt: skip

HELDOUT: tuple[Question, ...] = (
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
MINIMUMS = Minimums(per_category=5, whole_set=80, categories={"decline": 8})


if __name__ == "__main__":
    from sheetstream.evaluation.checks import main

    main("held-out", HELDOUT, MINIMUMS, earlier=QUESTIONS)
