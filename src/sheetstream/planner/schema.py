"""What the planner knows of a workbook: its tables and columns, from the stored profile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sheetstream.planner.words import MONTHS, words

NUMERIC = frozenset({"integer", "number"})
TEMPORAL = frozenset({"date", "datetime"})
# measures whose sum means nothing: asked "price by region", a person wants the average
_AVERAGED = frozenset(
    {"price", "rate", "score", "age", "percent", "ratio", "rating", "level", "grade", "mark"}
)
# columns that name a row: an answer about one row says these
_LABEL_WORDS = frozenset({"name", "item", "product", "title", "description", "customer"})


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # the profile's type: integer, number, date, datetime, text, boolean, …
    words: tuple[str, ...]
    values: tuple[str, ...] = ()  # a text column's values, when few enough were indexed
    distinct: int = 0
    value_words: tuple[tuple[str, ...], ...] = ()  # each value's words, read once
    parts: tuple[str, ...] = ()  # a row's figure over these columns (months as columns)
    parts_op: str = "sum"  # how: sum, avg, max, min

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    @property
    def temporal(self) -> bool:
        return self.kind in TEMPORAL

    @property
    def averaged(self) -> bool:
        """A measure one averages rather than sums (a price, a score, an age)."""
        return bool(_AVERAGED.intersection(self.words))

    @property
    def identifier(self) -> bool:
        """An id or code: counted or shown, never summed."""
        return bool({"id", "code", "sku", "number", "no"}.intersection(self.words[-1:]))


@dataclass(frozen=True, slots=True)
class Table:
    sheet: str
    table: str  # the DuckDB table
    rows: int
    columns: tuple[Column, ...]
    words: tuple[str, ...]  # the sheet's name and the table's
    row_total: Column | None = None  # the months-as-columns total, when the table has one

    def figures(self, *, additive: bool = False) -> list[Column]:
        """The numeric columns that are figures, not ids; `additive`: those a total adds up
        (not a price, a score or an age)."""
        return [
            c
            for c in self.columns
            if c.numeric and not c.identifier and not (additive and c.averaged)
        ]

    def row_label(self) -> Column | None:
        """What names one row when an answer shows rows: a name, else an id, else a label."""
        for column in self.columns:
            if column.kind == "text" and "name" in column.words:
                return column
        for column in self.columns:
            labelled = _LABEL_WORDS.intersection(column.words)
            if column.kind == "text" and labelled and not column.identifier:
                return column
        for column in self.columns:
            if column.identifier and column.kind == "text":
                return column
        return self.label_column()

    def label_column(self) -> Column | None:
        """The text column that best names a row (Name, Item, Product …), if any."""
        texts = [c for c in self.columns if c.kind == "text" and not c.identifier]
        for column in texts:
            if "name" in column.words:
                return column
        for column in texts:
            if _LABEL_WORDS.intersection(column.words):
                return column
        return texts[0] if texts else None


def tables_of(workbook: Mapping[str, Any]) -> tuple[Table, ...]:
    """The workbook's tables with rows, as the profile describes them."""
    tables = []
    for sheet in workbook.get("sheets", ()):
        if not sheet.get("rows") or sheet.get("layout") == "cells only":
            continue
        columns = tuple(_column(c) for c in sheet.get("columns", ()) if c.get("type") != "empty")
        if columns:
            tables.append(
                Table(
                    sheet=str(sheet["name"]),
                    table=str(sheet["table"]),
                    rows=int(sheet["rows"]),
                    columns=columns,
                    words=tuple(dict.fromkeys(words(f"{sheet['name']} {sheet['table']}"))),
                    row_total=_row_total(columns),
                )
            )
    return tuple(tables)


def month_of(column: Column) -> int:
    """1–12 for a column named after a month ("Mar", "March", "Mar 2024"), else 0."""
    for word in column.words:
        for number, month in enumerate(MONTHS, start=1):
            if word in (month, month[:3]) or (month == "september" and word == "sept"):
                return number
    return 0


def _row_total(columns: tuple[Column, ...]) -> Column | None:
    """Three or more numeric columns named after months: their sum is the row's total."""
    months = [c for c in columns if c.numeric and month_of(c)]
    if len(months) < 3:
        return None
    names = tuple(c.name for c in months)
    return Column(
        name=f"{names[0]}–{names[-1]} total",
        kind="number",
        words=("total",),
        parts=names,
    )


def _column(profile: Mapping[str, Any]) -> Column:
    values: tuple[str, ...] = ()
    if profile.get("type") == "text":
        indexed = profile.get("values")
        if indexed is None:  # a workbook profiled before the value index: its top values
            indexed = [t["value"] for t in profile.get("top", ())]
        values = tuple(str(v) for v in indexed if v is not None)
    return Column(
        name=str(profile["name"]),
        kind=str(profile.get("type", "text")),
        words=tuple(words(str(profile["name"]))),
        values=values,
        distinct=int(profile.get("distinct") or 0),
        value_words=tuple(tuple(words(v)) for v in values),
    )
