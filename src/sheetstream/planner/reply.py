"""The words of an exact answer: one sentence with the result, then the table if it has rows.

Every number written here is a value of the query's result, formatted as a person writes
it (thousands separated, at most the decimals the value has), so grounding finds each one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sheetstream.planner.plan import Decline, Plan
from sheetstream.planner.sql import FIGURE

_PHRASES = {
    "sum": "total",
    "avg": "average",
    "count": "number of rows",
    "count_distinct": "number of different values of",
    "min": "lowest",
    "max": "highest",
    "median": "median",
}
TABLE_ROWS = 50


def number(value: object) -> str:
    """1234.5 → "1,234.5"; 3.0 → "3"; None → "no value"."""
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e15:
            return f"{int(value):,}"
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
        return text
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def label(value: object) -> str:
    """A group's name as written: a year stays 2021, not 2,021."""
    return number(value) if isinstance(value, float) else str(value)


def describe(plan: Plan) -> str:
    """What the plan computes, in words: "the total Revenue for Region North in 2021"."""
    if plan.aggregate == "count" or plan.measure is None:
        what = "the number of rows"
    elif plan.aggregate == "count_distinct" and plan.grain and plan.measure.temporal:
        what = f"the number of different {plan.grain}s with rows"
    elif plan.aggregate == "count_distinct":
        what = f"the number of different {plan.measure.name} values"
    else:
        what = f"the {_PHRASES[plan.aggregate]} {plan.measure.name}"
    if plan.row_pick:
        best = "highest" if plan.order != "asc" else "lowest"
        measure = plan.measure.name if plan.measure is not None else "value"
        what = f"the row with the {best} {measure}"
        if plan.limit is not None and plan.limit > 1:
            what = f"the {plan.limit} rows with the {best} {measure}"
    parts = [what]
    parts += [f.describe() for f in plan.filters]
    return " ".join(parts)


def reply_text(plan: Plan, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    about = describe(plan)
    if not rows:
        return f"No rows match: {about} has no value in sheet {plan.table.sheet}.\n"
    if plan.row_pick:
        return _row_pick_text(plan, about, columns, rows)
    if plan.group is None:
        if plan.share:
            share, part, whole = rows[0][0], rows[0][1], rows[0][2]
            return (
                f"{_capital(about)} is {number(part)} of {number(whole)}: "
                f"a share of {number(share)} %.\n"
            )
        if plan.listing and len(rows[0]) > 1:
            return f"{_capital(about)} is {number(rows[0][0])}: {rows[0][1]}.\n"
        return f"{_capital(about)} is {number(rows[0][0])}.\n"
    group = columns[0]
    if plan.pick and (plan.limit or 1) == 1:
        best = "highest" if plan.order != "asc" else "lowest"
        head = f"{_capital(about)} is {best} for {group} {label(rows[0][0])}: {number(rows[0][1])}."
        return head + "\n"
    intro = f"{_capital(about)} by {group}"
    if plan.limit is not None:
        best = "highest" if plan.order != "asc" else "lowest"
        intro = f"The {plan.limit} {group} values with the {best} {about.removeprefix('the ')}"
    if plan.compare:
        pairs = "; ".join(f"{label(r[0])}: {number(r[1])}" for r in rows)
        intro = f"{_capital(about)}, compared by {group}: {pairs}"
        return intro + ".\n\n" + _table(columns, rows, plan)
    return f"{intro}:\n\n" + _table(columns, rows, plan)


def _row_pick_text(
    plan: Plan, about: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> str:
    measure = columns[-1]
    if len(columns) == 1:
        return f"{_capital(about)}: {measure} {number(rows[0][0])}.\n"
    if len(rows) == 1:
        return f"{_capital(about)} is {label(rows[0][0])}, with {measure} {number(rows[0][1])}.\n"
    named = "; ".join(f"{label(r[0])}: {number(r[1])}" for r in rows[:TABLE_ROWS])
    return f"{_capital(about)}: {named}.\n"


def _table(columns: Sequence[str], rows: Sequence[Sequence[object]], plan: Plan) -> str:
    heading = [c if c != FIGURE else _figure_heading(plan) for c in columns]
    lines = ["| " + " | ".join(_cell(h) for h in heading) + " |", "|" + " --- |" * len(columns)]
    for row in rows[:TABLE_ROWS]:
        cells = [label(row[0]), *(number(v) for v in row[1:])]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    shown = f", first {TABLE_ROWS} shown" if len(rows) > TABLE_ROWS else ""
    footer = f"\n{len(rows)} {'row' if len(rows) == 1 else 'rows'}{shown}"
    return "\n".join(lines) + footer + ".\n"


def _figure_heading(plan: Plan) -> str:
    if plan.measure is None or plan.aggregate == "count":
        return "rows"
    if plan.aggregate == "count_distinct":
        return f"different {plan.measure.name}"
    return f"{_PHRASES[plan.aggregate]} {plan.measure.name}"


def plan_numbers(plan: Plan, rows: int) -> list[float]:
    """The numbers an answer states that are not cells of its result: how many rows it has,
    how many were asked for, and the numbers it was filtered by (found in the data)."""
    numbers = [float(rows), float(TABLE_ROWS)]
    if plan.limit is not None:
        numbers.append(float(plan.limit))
    numbers += [float(f.value) for f in plan.filters if isinstance(f.value, int | float)]
    numbers += [float(v) for v in plan.compare if isinstance(v, int)]
    return numbers


def decline_text(decline: Decline, filename: str) -> str:
    lines = [
        f"I can't answer that exactly from {filename}: I understood {decline.understood}, "
        f"but {decline.missing}.",
    ]
    if decline.suggestions:
        lines += ["", "Queries that do run on it (send one as it is):"]
        lines += [f"- `/sql {s}`" for s in decline.suggestions]
    lines += ["", "Ask /profile for the columns and their figures."]
    return "\n".join(lines) + "\n"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


__all__ = ["decline_text", "describe", "number", "plan_numbers", "reply_text"]
