"""A third question set, written last and blind to the planner and to the held-out set.

It is the final measure of how the question planner's rules carry over to questions nobody
tuned them on. The questions ask about the same eight evaluation workbooks as
:mod:`sheetstream.evaluation.questions`, in the same categories, with the same
:class:`~sheetstream.evaluation.questions.Question` format and gold helpers (so the same
rounding rules: money and averages to 2 decimals, percentages to 1, counts as ints). They
are phrased the many ways people type into a chat box: terse and wordy, casual and formal,
with and without a question mark. None repeats a phrasing of ``QUESTIONS`` (case and
punctuation ignored).

``python -m sheetstream.evaluation.blind`` computes every gold and prints a summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sheetstream.evaluation.questions import (
    _CUSTOMERS,
    _EMPLOYEES,
    _ORDERS,
    BUDGET,
    CATEGORIES,
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
    Question,
    _above,
    _and,
    _at_least,
    _below,
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
    _on_day,
    _orders_joined,
    _share,
    _shares,
    _staff_joined,
    _survey_answers,
    _times,
    _top,
    _total,
    _trend,
    _when,
)
from sheetstream.evaluation.workbooks import MONTHS

__all__ = ["BLIND"]

Row = dict[str, object]
Where = Callable[[Row], bool]


def _hired_before(year: int) -> Where:
    """Condition: the employee was hired before ``year``."""
    return lambda row: _when(row, "Hire Date").year < year


def _hired_in(year: int) -> Where:
    """Condition: the employee was hired in ``year``."""
    return lambda row: _when(row, "Hire Date").year == year


def _budget_totals(data: Data) -> list[Row]:
    """One row per budget month: Month (``Jan`` … ``Dec``) and Total over all categories."""
    rows = data.rows(BUDGET)
    return [{"Month": month, "Total": sum(_num(row, month) for row in rows)} for month in MONTHS]


# -- the questions ---------------------------------------------------------------------------

_TOTAL = (
    Question(SALES, "total units for gizmo?", "total",
             _total(SALES, "Units", _is("Product", "Gizmo"))),
    Question(SALES, "sum up all the revenue in the sheet for me", "total",
             _total(SALES, "Revenue")),
    Question(SALES, "how much money did the doohickeys make us altogether", "total",
             _total(SALES, "Revenue", _is("Product", "Doohickey"))),
    Question(STAFF, "Could you add up everyone's salaries?", "total",
             _total(_EMPLOYEES, "Salary")),
    Question(STAFF, "payroll total for the Support team", "total",
             _total(_EMPLOYEES, "Salary", _is("Department", "Support"))),
    Question(INVENTORY, "how many pieces are sitting in the warehouse, all items together",
             "total", _total(INVENTORY, "Quantity")),
    Question(INVENTORY, "Total units of plumbing stock.", "total",
             _total(INVENTORY, "Quantity", _is("Category", "Plumbing"))),
    Question(BUDGET, "What's the full-year figure for Travel?", "total",
             _total(_budget_months, "Amount", _is("Category", "Travel"))),
    Question(BUDGET, "sum of the June column", "total", _total(BUDGET, "Jun")),
    Question(BUDGET, "how much rent do we pay over twelve months", "total",
             _total(_budget_months, "Amount", _is("Category", "Rent"))),
    Question(ORDERS, "Grand total of the cancelled orders, please.", "total",
             _total(_ORDERS, "Amount", _is("Status", "Cancelled"))),
    Question(LOG, "total time the worker service spent, in ms", "total",
             _total(LOG, "duration_ms", _is("service", "worker"))),
    Question(GRADES, "add every score in the gradebook together", "total",
             _total(GRADES, "Score")),
    Question(SURVEY, "What do the Q5 answers sum to?", "total", _total(SURVEY, "Q5")),
)  # fmt: skip

_AVERAGE = (
    Question(STAFF, "Could you tell me the average salary across the company?", "average",
             _mean(_EMPLOYEES, "Salary")),
    Question(SALES, "avg revenue per sale in the south", "average",
             _mean(SALES, "Revenue", _is("Region", "South"))),
    Question(SALES, "mean number of units in a widget sale", "average",
             _mean(SALES, "Units", _is("Product", "Widget"))),
    Question(SURVEY, "how old are the people who took the survey, on average", "average",
             _mean(SURVEY, "Age")),
    Question(SURVEY, "What was the mean rating given on question 7?", "average",
             _mean(SURVEY, "Q7")),
    Question(LOG, "mean duration_ms for the worker service", "average",
             _mean(LOG, "duration_ms", _is("service", "worker"))),
    Question(LOG, "on average how long does an api call take", "average",
             _mean(LOG, "duration_ms", _is("service", "api"))),
    Question(ORDERS, "what's our typical order value (the mean)?", "average",
             _mean(_ORDERS, "Amount")),
    Question(ORDERS, "I'd like the average amount of a shipped order.", "average",
             _mean(_ORDERS, "Amount", _is("Status", "Shipped"))),
    Question(GRADES, "mean history score", "average",
             _mean(GRADES, "Score", _is("Subject", "History"))),
    Question(GRADES, "class B's average score across all subjects?", "average",
             _mean(GRADES, "Score", _is("Class", "B"))),
    Question(INVENTORY, "On average, how many units do we hold of each item?", "average",
             _mean(INVENTORY, "Quantity")),
    Question(BUDGET, "average monthly spend on salaries", "average",
             _mean(_budget_months, "Amount", _is("Category", "Salaries"))),
    Question(BUDGET, "What is the average total budget per month?", "average",
             _mean(_budget_totals, "Total")),
)  # fmt: skip

_COUNT = (
    Question(LOG, "how many ERROR lines in the log", "count", _count(LOG, _is("level", "ERROR"))),
    Question(LOG, "number of WARN entries?", "count", _count(LOG, _is("level", "WARN"))),
    Question(SALES, "how many rows does the sales sheet have", "count", _count(SALES)),
    Question(SALES, "count of gadget sales", "count", _count(SALES, _is("Product", "Gadget"))),
    Question(STAFF, "headcount?", "count", _count(_EMPLOYEES)),
    Question(STAFF, "How many people hold the title Lead?", "count",
             _count(_EMPLOYEES, _is("Title", "Lead"))),
    Question(STAFF, "how many people did we hire in 2018", "count",
             _count(_EMPLOYEES, _hired_in(2018))),
    Question(SURVEY, "How many respondents said they would not recommend us?", "count",
             _count(SURVEY, _is("Would Recommend", "No"))),
    Question(ORDERS, "how many orders are still pending", "count",
             _count(_ORDERS, _is("Status", "Pending"))),
    Question(ORDERS, "Number of shipped orders.", "count",
             _count(_ORDERS, _is("Status", "Shipped"))),
    Question(INVENTORY, "how many SKUs are on the stock list", "count", _count(INVENTORY)),
    Question(GRADES, "How many Science grades are recorded?", "count",
             _count(GRADES, _is("Subject", "Science"))),
    Question(BUDGET, "how many budget lines are there", "count", _count(BUDGET)),
)  # fmt: skip

_MIN_MAX = (
    Question(ORDERS, "what's the biggest single order we got", "min_max",
             _extreme(_ORDERS, "Amount")),
    Question(SALES, "highest unit price ever charged for a gadget", "min_max",
             _extreme(SALES, "Unit Price", where=_is("Product", "Gadget"))),
    Question(SALES, "What is the smallest revenue on any one transaction?", "min_max",
             _extreme(SALES, "Revenue", highest=False)),
    Question(STAFF, "who's the lowest paid person here", "min_max",
             _extreme(_EMPLOYEES, "Salary", highest=False, name="Name")),
    Question(STAFF, "max salary in engineering", "min_max",
             _extreme(_EMPLOYEES, "Salary", where=_is("Department", "Engineering"))),
    Question(INVENTORY, "Which item do we have the most of?", "min_max",
             _extreme(INVENTORY, "Quantity", name="Item")),
    Question(INVENTORY, "cheapest item by unit cost", "min_max",
             _extreme(INVENTORY, "Unit Cost", highest=False, name="Item")),
    Question(SURVEY, "age of the youngest respondent", "min_max",
             _extreme(SURVEY, "Age", highest=False)),
    Question(LOG, "Slowest api request, in milliseconds?", "min_max",
             _extreme(LOG, "duration_ms", where=_is("service", "api"))),
    Question(LOG, "shortest worker job duration", "min_max",
             _extreme(LOG, "duration_ms", highest=False, where=_is("service", "worker"))),
    Question(GRADES, "top score anyone got in math", "min_max",
             _extreme(GRADES, "Score", where=_is("Subject", "Math"))),
    Question(GRADES, "Who got the single lowest score, and what was it?", "min_max",
             _extreme(GRADES, "Score", highest=False, name="Student")),
    Question(BUDGET, "biggest monthly figure for Salaries", "min_max",
             _extreme(_budget_months, "Amount", where=_is("Category", "Salaries"))),
    Question(BUDGET, "Which month has the smallest overall budget?", "min_max",
             _top(_budget_months, "Month", "Amount", "sum", highest=False)),
    Question(ORDERS, "which month saw the most orders", "min_max",
             _top(_ORDERS, _by("Order Date", "month"), None, "count")),
)  # fmt: skip

_GROUP_BY = (
    Question(SURVEY, "per-country respondent counts", "group_by",
             _grouped(SURVEY, "Country", None, "count")),
    Question(SALES, "revenue broken down by product", "group_by",
             _grouped(SALES, "Product", "Revenue", "sum")),
    Question(SALES, "For each region, what's the average number of units per sale?",
             "group_by", _grouped(SALES, "Region", "Units", "mean")),
    Question(STAFF, "avg salary by job title", "group_by",
             _grouped(_EMPLOYEES, "Title", "Salary", "mean")),
    Question(STAFF, "Please break down the total payroll by department.", "group_by",
             _grouped(_EMPLOYEES, "Department", "Salary", "sum")),
    Question(INVENTORY, "number of items in every category", "group_by",
             _grouped(INVENTORY, "Category", None, "count")),
    Question(INVENTORY, "stock value per category (qty x unit cost)", "group_by",
             _grouped(INVENTORY, "Category", _times("Quantity", "Unit Cost"), "sum")),
    Question(LOG, "how many lines did each service write?", "group_by",
             _grouped(LOG, "service", None, "count")),
    Question(LOG, "longest duration seen for each service", "group_by",
             _grouped(LOG, "service", "duration_ms", "max")),
    Question(ORDERS, "mean order amount split by status", "group_by",
             _grouped(_ORDERS, "Status", "Amount", "mean")),
    Question(ORDERS, "How many customers do we have in each city?", "group_by",
             _grouped(_CUSTOMERS, "City", None, "count")),
    Question(GRADES, "spring term: average score per subject", "group_by",
             _grouped(GRADES, "Subject", "Score", "mean", _is("Term", "Spring"))),
    Question(GRADES, "number of grade rows for each class", "group_by",
             _grouped(GRADES, "Class", None, "count")),
    Question(BUDGET, "What's the average monthly amount for each budget category?",
             "group_by", _grouped(_budget_months, "Category", "Amount", "mean")),
    Question(SURVEY, "yes/no counts for would recommend", "group_by",
             _grouped(SURVEY, "Would Recommend", None, "count")),
)  # fmt: skip

_FILTER = (
    Question(SALES, "revenue, east region, 2023", "filter",
             _total(SALES, "Revenue", _and(_is("Region", "East"), _in("Date", "year", "2023")))),
    Question(SALES, "how many gizmo sales were there in the west in 2022", "filter",
             _count(SALES, _and(_is("Product", "Gizmo"), _is("Region", "West"),
                                _in("Date", "year", "2022")))),
    Question(SALES, "Units of Gadget sold in the South?", "filter",
             _total(SALES, "Units", _and(_is("Product", "Gadget"), _is("Region", "South")))),
    Question(SALES, "number of transactions with revenue over 2,000", "filter",
             _count(SALES, _above("Revenue", 2000))),
    Question(STAFF, "average salary of engineers hired before 2018", "filter",
             _mean(_EMPLOYEES, "Salary",
                   _and(_is("Department", "Engineering"), _hired_before(2018)))),
    Question(STAFF, "How many people earn under 50k?", "filter",
             _count(_EMPLOYEES, _below("Salary", 50_000))),
    Question(INVENTORY, "total quantity of tools that cost less than 10 per unit", "filter",
             _total(INVENTORY, "Quantity", _and(_is("Category", "Tools"),
                                               _below("Unit Cost", 10)))),
    Question(INVENTORY, "how many items have fewer than 50 units on hand?", "filter",
             _count(INVENTORY, _below("Quantity", 50))),
    Question(SURVEY, "average age of Brazilian respondents who wouldn't recommend", "filter",
             _mean(SURVEY, "Age", _and(_is("Country", "Brazil"),
                                       _is("Would Recommend", "No")))),
    Question(SURVEY, "respondents under 30 - how many?", "filter",
             _count(SURVEY, _below("Age", 30))),
    Question(LOG, "how many worker errors were there on may 6th", "filter",
             _count(LOG, _and(_is("service", "worker"), _is("level", "ERROR"),
                              _on_day("2024-05-06")))),
    Question(LOG, "What's the average db duration for WARN entries?", "filter",
             _mean(LOG, "duration_ms", _and(_is("service", "db"), _is("level", "WARN")))),
    Question(ORDERS, "total value of shipped orders placed in December", "filter",
             _total(_ORDERS, "Amount", _and(_is("Status", "Shipped"),
                                           _in("Order Date", "month", "2023-12")))),
    Question(ORDERS, "orders above 1,000: how many are there", "filter",
             _count(_ORDERS, _above("Amount", 1000))),
    Question(GRADES, "In the fall, how many English scores were 80 or higher?", "filter",
             _count(GRADES, _and(_is("Term", "Fall"), _is("Subject", "English"),
                                 _at_least("Score", 80)))),
    Question(BUDGET, "number of months where marketing is over 10k", "filter",
             _count(_budget_months, _and(_is("Category", "Marketing"), _above("Amount", 10_000)))),
)  # fmt: skip

_TOP_N = (
    Question(SALES, "top 2 products by units", "top_n",
             _top(SALES, "Product", "Units", "sum", 2)),
    Question(SALES, "the three biggest revenue days", "top_n",
             _top(SALES, _by("Date", "day"), "Revenue", "sum", 3)),
    Question(SALES, "Which 2 quarters of 2023 brought in the most revenue?", "top_n",
             _top(SALES, _by("Date", "quarter"), "Revenue", "sum", 2,
                  where=_in("Date", "year", "2023"))),
    Question(STAFF, "bottom 3 salaries - who are they", "top_n",
             _top(_EMPLOYEES, "Name", "Salary", "sum", 3, highest=False)),
    Question(STAFF, "our two smallest departments by headcount", "top_n",
             _top(_EMPLOYEES, "Department", None, "count", 2, highest=False)),
    Question(INVENTORY, "5 items with the lowest stock", "top_n",
             _top(INVENTORY, "Item", "Quantity", "sum", 5, highest=False)),
    Question(INVENTORY, "Rank the top 3 categories by stock value.", "top_n",
             _top(INVENTORY, "Category", _times("Quantity", "Unit Cost"), "sum", 3)),
    Question(SURVEY, "which 2 countries have the oldest respondents on average?", "top_n",
             _top(SURVEY, "Country", "Age", "mean", 2)),
    Question(SURVEY, "bottom two questions by mean answer", "top_n",
             _top(_survey_answers, "Question", "Answer", "mean", 2, highest=False)),
    Question(LOG, "What were the 3 busiest days in the log?", "top_n",
             _top(LOG, _by("timestamp", "day"), None, "count", 3)),
    Question(ORDERS, "three smallest orders", "top_n",
             _top(_ORDERS, "Order ID", "Amount", "sum", 3, highest=False)),
    Question(GRADES, "Top 5 students in science, by average score", "top_n",
             _top(GRADES, "Student", "Score", "mean", 5, where=_is("Subject", "Science"))),
    Question(BUDGET, "the 2 smallest budget categories over the year", "top_n",
             _top(_budget_months, "Category", "Amount", "sum", 2, highest=False)),
    Question(BUDGET, "Which three months are the most expensive overall?", "top_n",
             _top(_budget_months, "Month", "Amount", "sum", 3)),
)  # fmt: skip

_SHARE = (
    Question(SALES, "what % of revenue came in 2023", "share",
             _share(SALES, "Revenue", _in("Date", "year", "2023"))),
    Question(SALES, "share of units sold in the East region", "share",
             _share(SALES, "Units", _is("Region", "East"))),
    Question(SALES, "What percentage of sales transactions are widgets?", "share",
             _share(SALES, None, _is("Product", "Widget"))),
    Question(STAFF, "what fraction of staff are Leads? give me a percent", "share",
             _share(_EMPLOYEES, None, _is("Title", "Lead"))),
    Question(STAFF, "each department's headcount as a percentage of all staff", "share",
             _shares(_EMPLOYEES, "Department", None)),
    Question(INVENTORY, "what percent of all units on hand are electrical", "share",
             _share(INVENTORY, "Quantity", _is("Category", "Electrical"))),
    Question(SURVEY, "portion of respondents older than 60, in %", "share",
             _share(SURVEY, None, _above("Age", 60))),
    Question(LOG, "What percent of requests were handled by the db service?", "share",
             _share(LOG, None, _is("service", "db"))),
    Question(ORDERS, "percentage of orders that shipped", "share",
             _share(_ORDERS, None, _is("Status", "Shipped"))),
    Question(BUDGET, "How much of the yearly budget, percentage-wise, goes to salaries?",
             "share", _share(_budget_months, "Amount", _is("Category", "Salaries"))),
    Question(GRADES, "share of grades below 50 (percent)", "share",
             _share(GRADES, None, _below("Score", 50))),
    Question(BUDGET, "each category's share of the annual budget", "share",
             _shares(_budget_months, "Category", "Amount")),
)  # fmt: skip

_COMPARE = (
    Question(SALES, "east vs west revenue", "compare",
             _compare(SALES, "Region", "Revenue", "sum", "East", "West")),
    Question(SALES, "gizmo or widget - which sold more units?", "compare",
             _compare(SALES, "Product", "Units", "sum", "Gizmo", "Widget")),
    Question(SALES, "How does the average widget price in 2021 compare with 2023?", "compare",
             _compare(SALES, _by("Date", "year"), "Unit Price", "mean", "2021", "2023",
                      _is("Product", "Widget"))),
    Question(STAFF, "engineering headcount compared to support headcount", "compare",
             _compare(_EMPLOYEES, "Department", None, "count", "Engineering", "Support")),
    Question(STAFF, "Finance versus Operations: who's paid more on average?", "compare",
             _compare(_EMPLOYEES, "Department", "Salary", "mean", "Finance", "Operations")),
    Question(SURVEY, "are there more respondents from France or from Japan", "compare",
             _compare(SURVEY, "Country", None, "count", "France", "Japan")),
    Question(SURVEY, "Q2 vs Q9 average rating", "compare",
             _compare(_survey_answers, "Question", "Answer", "mean", "Q2", "Q9")),
    Question(LOG, "api vs db: number of errors", "compare",
             _compare(LOG, "service", None, "count", "api", "db", _is("level", "ERROR"))),
    Question(ORDERS, "Cancelled versus pending, by total amount", "compare",
             _compare(_ORDERS, "Status", "Amount", "sum", "Cancelled", "Pending")),
    Question(GRADES, "average math score, fall compared with spring", "compare",
             _compare(GRADES, "Term", "Score", "mean", "Fall", "Spring",
                      _is("Subject", "Math"))),
    Question(BUDGET, "Is more budgeted for Marketing or for Travel over the year?", "compare",
             _compare(_budget_months, "Category", "Amount", "sum", "Marketing", "Travel")),
    Question(INVENTORY, "stock value: Electrical vs Plumbing", "compare",
             _compare(INVENTORY, "Category", _times("Quantity", "Unit Cost"), "sum",
                      "Electrical", "Plumbing")),
)  # fmt: skip

_TREND = (
    Question(SALES, "monthly revenue for 2022", "trend",
             _trend(SALES, "Date", "month", "Revenue", "sum", year=2022)),
    Question(SALES, "gadget revenue per year", "trend",
             _trend(SALES, "Date", "year", "Revenue", "sum", _is("Product", "Gadget"))),
    Question(SALES, "Show me revenue quarter by quarter over the whole period.", "trend",
             _trend(SALES, "Date", "quarter", "Revenue", "sum")),
    Question(SALES, "north region units each month of 2023", "trend",
             _trend(SALES, "Date", "month", "Units", "sum", _is("Region", "North"), year=2023)),
    Question(STAFF, "engineering hires per year", "trend",
             _trend(_EMPLOYEES, "Hire Date", "year", None, "count",
                    _is("Department", "Engineering"))),
    Question(LOG, "warnings by day", "trend",
             _trend(LOG, "timestamp", "day", None, "count", _is("level", "WARN"))),
    Question(LOG, "How did the worker service's average duration move from day to day?",
             "trend",
             _trend(LOG, "timestamp", "day", "duration_ms", "mean", _is("service", "worker"))),
    Question(ORDERS, "how did order volume move quarter to quarter", "trend",
             _trend(_ORDERS, "Order Date", "quarter", None, "count")),
    Question(ORDERS, "cancelled orders each month", "trend",
             _trend(_ORDERS, "Order Date", "month", None, "count", _is("Status", "Cancelled"))),
    Question(BUDGET, "marketing budget month by month", "trend",
             _grouped(_budget_months, "Month", "Amount", "sum", _is("Category", "Marketing"),
                      ordered=True)),
    Question(BUDGET, "How do the Salaries figures develop across the months?", "trend",
             _grouped(_budget_months, "Month", "Amount", "sum", _is("Category", "Salaries"),
                      ordered=True)),
)  # fmt: skip

_DISTINCT = (
    Question(SALES, "which regions appear in the data?", "distinct",
             _distinct(SALES, "Region", listed=True)),
    Question(SALES, "in how many different months did we sell doohickeys", "distinct",
             _distinct(SALES, _by("Date", "month"), _is("Product", "Doohickey"))),
    Question(STAFF, "List the departments that have staff, and how many that is.", "distinct",
             _distinct(_EMPLOYEES, "Department", listed=True)),
    Question(STAFF, "how many unique titles exist in engineering", "distinct",
             _distinct(_EMPLOYEES, "Title", _is("Department", "Engineering"))),
    Question(SURVEY, "number of distinct ages among respondents", "distinct",
             _distinct(SURVEY, "Age")),
    Question(LOG, "what log levels exist? how many?", "distinct",
             _distinct(LOG, "level", listed=True)),
    Question(ORDERS, "Which order statuses are there, and how many kinds?", "distinct",
             _distinct(_ORDERS, "Status", listed=True)),
    Question(ORDERS, "how many unique customers ordered in Q4", "distinct",
             _distinct(_ORDERS, "Customer ID", _in("Order Date", "quarter", "2023-Q4"))),
    Question(ORDERS, "what customer segments are there (count and names)", "distinct",
             _distinct(_CUSTOMERS, "Segment", listed=True)),
    Question(GRADES, "list the classes in the grade sheet and say how many", "distinct",
             _distinct(GRADES, "Class", listed=True)),
    Question(GRADES, "How many students are in class C?", "distinct",
             _distinct(GRADES, "Student", _is("Class", "C"))),
    Question(INVENTORY, "how many different reorder levels are used?", "distinct",
             _distinct(INVENTORY, "Reorder Level")),
    Question(LOG, "on how many separate days did the api log a warning", "distinct",
             _distinct(LOG, _by("timestamp", "day"),
                       _and(_is("level", "WARN"), _is("service", "api")))),
)  # fmt: skip

_JOIN = (
    Question(STAFF, "Which manager's team has the largest total salary?", "join",
             _top(_staff_joined, "Manager", "Salary", "sum")),
    Question(STAFF, "headcount per manager", "join",
             _grouped(_staff_joined, "Manager", None, "count")),
    Question(STAFF, "average pay for people on floor 4", "join",
             _mean(_staff_joined, "Salary", _is("Floor", 4))),
    Question(STAFF, "How many Leads sit on the first floor?", "join",
             _count(_staff_joined, _and(_is("Floor", 1), _is("Title", "Lead")))),
    Question(ORDERS, "revenue from London customers", "join",
             _total(_orders_joined, "Amount", _is("City", "London"))),
    Question(ORDERS, "number of orders per customer segment", "join",
             _grouped(_orders_joined, "Segment", None, "count")),
    Question(ORDERS, "What's the average order amount for customers based in Paris?", "join",
             _mean(_orders_joined, "Amount", _is("City", "Paris"))),
    Question(ORDERS, "which segment spends the most", "join",
             _top(_orders_joined, "Segment", "Amount", "sum")),
    Question(ORDERS, "shipped order total for Small Business customers", "join",
             _total(_orders_joined, "Amount",
                    _and(_is("Segment", "Small Business"), _is("Status", "Shipped")))),
    Question(ORDERS, "top 2 cities by number of orders", "join",
             _top(_orders_joined, "City", None, "count", 2)),
)  # fmt: skip

_DECLINE = (
    Question(SALES, "why did revenue fall in 2022?", "decline", None),
    Question(SALES, "predict next quarter's gadget sales", "decline", None),
    Question(SALES, "What's our profit margin on widgets?", "decline", None),
    Question(SALES, "which salesperson closed the most deals", "decline", None),
    Question(STAFF, "Who deserves a promotion?", "decline", None),
    Question(STAFF, "how many sick days did people take last year", "decline", None),
    Question(STAFF, "what's the gender split of the company", "decline", None),
    Question(INVENTORY, "who's the best supplier for plumbing parts", "decline", None),
    Question(INVENTORY, "How many hammers will we sell next month?", "decline", None),
    Question(SURVEY, "what did people write in the comments field", "decline", None),
    Question(SURVEY, "What is Q4 actually asking about?", "decline", None),
    Question(BUDGET, "should we cut the marketing budget", "decline", None),
    Question(BUDGET, "How much did we actually spend compared to the budget?", "decline", None),
    Question(LOG, "which user triggered the most errors", "decline", None),
    Question(LOG, "is the api going to go down tomorrow?", "decline", None),
    Question(ORDERS, "What's the average delivery time for an order?", "decline", None),
    Question(ORDERS, "how big will December 2024 orders be", "decline", None),
    Question(GRADES, "who is the smartest kid in the class", "decline", None),
    Question(GRADES, "what are the students' email addresses", "decline", None),
    Question(GRADES, "hi there! how's your day going?", "decline", None),
    Question(ORDERS, "thanks, that's all for now", "decline", None),
)  # fmt: skip

BLIND: tuple[Question, ...] = (
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

# Fewest questions per category; the rest need at least 6.
_MINIMUM = {"decline": 10}
_SMALLEST_SET = 100


def _normalized(text: str) -> str:
    """``text`` with case, punctuation and repeated blanks ignored, to spot a reused phrasing."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def _main() -> None:
    """Compute every gold on freshly built workbooks, check the set and print a summary."""
    import tempfile
    from collections import Counter
    from pathlib import Path

    with tempfile.TemporaryDirectory() as directory:
        data = Data.build(Path(directory))
        workbooks = {question.workbook for question in QUESTIONS}
        problems: list[str] = []
        golds: list[tuple[Question, Gold | None]] = []
        for question in BLIND:
            try:
                golds.append((question, question.gold and question.gold(data)))
            except (KeyError, TypeError, ValueError) as error:
                problems.append(f"gold failed for {question.text!r}: {error!r}")
    counts = Counter(question.category for question in BLIND)
    for question, gold in golds:
        if question.category not in CATEGORIES:
            problems.append(f"unknown category: {question}")
        if question.workbook not in workbooks:
            problems.append(f"unknown workbook: {question}")
        if (gold is None) != (question.category == "decline"):
            problems.append(f"gold must be None exactly for declines: {question.text!r}")
        if gold is not None and not gold.values:
            problems.append(f"gold without values: {question.text!r}")
    texts = Counter(_normalized(question.text) for question in BLIND)
    problems += [f"asked twice: {text!r}" for text, seen in texts.items() if seen > 1]
    earlier = {_normalized(question.text) for question in QUESTIONS}
    problems += [
        f"phrasing taken from QUESTIONS: {question.text!r}"
        for question in BLIND
        if _normalized(question.text) in earlier
    ]
    for category in CATEGORIES:
        if counts[category] < _MINIMUM.get(category, 6):
            problems.append(f"only {counts[category]} {category} questions")
    used = {question.workbook for question in BLIND}
    problems += [f"no questions on {name}" for name in sorted(workbooks - used)]
    if len(BLIND) < _SMALLEST_SET:
        problems.append(f"only {len(BLIND)} questions")

    print(f"{len(BLIND)} questions on {len(used)} workbooks")
    for category in CATEGORIES:
        print(f"  {category:<9} {counts[category]:>3}")
    for category in CATEGORIES:
        print(f"\n{category}:")
        for question, gold in golds:
            if question.category == category:
                print(f"  [{question.workbook}] {question.text}")
                print(f"      {gold}")
    if problems:
        print("\nPROBLEMS:", *problems, sep="\n  ")
        raise SystemExit(1)
    print("\nevery gold computed; no phrasing repeats QUESTIONS; the set meets its minimums")


if __name__ == "__main__":
    _main()
