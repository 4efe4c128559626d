"""What the planner makes of a question: a plan for one query, or a reasoned decline."""

from __future__ import annotations

from dataclasses import dataclass, field

from sheetstream.planner.schema import Column, Table

_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True, slots=True)
class Filter:
    """`column = value` for a text column, or a date column's year (and month)."""

    column: Column
    value: str | int | float
    part: str = ""  # "" (the value itself), "year" or "month"
    table: Table | None = None  # a joined table's column; None: the plan's own table
    op: str = "="  # =, >, <, >=, <=

    def describe(self) -> str:
        words = {">": "above", "<": "below", ">=": "at least", "<=": "at most"}
        if self.part == "year":
            when = {">": "after", "<": "before"}.get(self.op, "in")
            return f"{when} {self.value}"
        if self.part == "month":
            return f"in month {self.value}"
        if self.part == "day":  # "05-03": said as "on May 3"
            month, day = str(self.value).split("-")
            return f"on {_MONTH_NAMES[int(month) - 1]} {int(day)}"
        if self.part == "date":
            return f"on {self.value}"
        if self.part == "quarter":
            return f"in Q{self.value}"
        if self.part == "half":
            return "in the first half" if self.value == 1 else "in the second half"
        if self.op != "=":
            return f"with {self.column.name} {words[self.op]} {self.value}"
        return f"for {self.column.name} {self.value}"


@dataclass(frozen=True, slots=True)
class Join:
    """The plan's table joined to `other` on the column both have (by name)."""

    other: Table
    key: str  # the column's name in the plan's table
    other_key: str


@dataclass(frozen=True, slots=True)
class Plan:
    table: Table
    aggregate: str  # sum, avg, count, count_distinct, min, max
    measure: Column | None = None  # None: count(*)
    group: Column | None = None
    group_table: Table | None = None  # the group column's table when it is the joined one
    grain: str = ""  # month, quarter, year … of a date `group`
    filters: tuple[Filter, ...] = ()
    order: str = ""  # "desc" or "asc"
    limit: int | None = None
    pick: bool = False  # "which REGION has the most …": the best group only
    row_pick: bool = False  # "which EMPLOYEE earns the most": the row(s) holding the max
    share: bool = False  # percentages of the total
    compare: tuple[str | int, ...] = ()  # the values of `group` compared
    join: Join | None = None
    listing: bool = False  # a distinct count that also names the values


@dataclass(frozen=True, slots=True)
class Decline:
    """Not answered exactly: what was understood, what was not, and queries that would run."""

    understood: str
    missing: str
    suggestions: tuple[str, ...] = field(default=())
