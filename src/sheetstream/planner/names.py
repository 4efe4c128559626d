"""What the words of a question name: the columns and values of the workbook's tables.

Pure logic. `find_names` looks for every column's words and every indexed value in the
question, longer names first, and never uses a word twice; `best_table` picks the table the
question is about.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sheetstream.planner.schema import Column, Table, month_of
from sheetstream.planner.words import FUNCTION_WORDS, MONTHS, STOPWORDS, SYNONYMS, stem

# a column name's last word that is only its unit: "duration_ms" is named as "duration"
_UNIT_SUFFIXES = frozenset(
    {"ms", "s", "sec", "kg", "km", "pct", "eur", "usd", "gbp", "min", "id", "code", "no"}
)
# a name's last word too common to name the column alone: "names" is not "Customer Name"
_TOO_GENERIC = frozenset({"name", "type", "kind"})
YEAR = re.compile(r"(19|20)\d\d")
MONTH_WORDS = {m: n for n, m in enumerate(MONTHS, start=1)} | {
    m[:3]: n for n, m in enumerate(MONTHS, start=1) if m[:3] not in {"may", "mar"}
}


@dataclass(slots=True)
class Found:
    """A column or a value named by the words at `start:end` of the question."""

    start: int
    end: int
    column: Column
    table: Table
    value: str | None = None  # None: the column itself is named


def how_many(ws: list[str]) -> int:
    """Where "how many" / "number of" / "count of" ends, or -1."""
    for i in range(len(ws) - 1):
        if (ws[i], ws[i + 1]) in {("how", "many"), ("number", "of"), ("count", "of")}:
            return i + 2
    return -1


def find_names(ws: list[str], tables: Sequence[Table]) -> list[Found]:
    """Every value and column the question names; longer names first, no word used twice."""
    candidates: list[tuple[int, Found]] = []  # (how weak the match is, the match)
    question = _Question(ws)
    for table in tables:
        for column in table.columns:
            for value, vw in zip(column.values, column.value_words, strict=True):
                for start in question.spans(vw):
                    candidates.append((1, Found(start, start + len(vw), column, table, value)))
                if len(vw) == 1 and len(vw[0]) >= 4:  # "warnings" for WARN, "cancellations"
                    value_stem = stem(vw[0])
                    for i, w in enumerate(ws):
                        if (w != vw[0] and question.stems[i] == value_stem) or (
                            w.startswith(vw[0]) and len(w) - len(vw[0]) <= 4
                        ):
                            candidates.append((4, Found(i, i + 1, column, table, value)))
            for start in question.spans(column.words):
                candidates.append((0, Found(start, start + len(column.words), column, table)))
                after = start + len(column.words)
                for value, vw in zip(column.values, column.value_words, strict=True):
                    # "class A": a value too short to stand alone
                    if vw and question.words[after : after + len(vw)] == vw:
                        found = Found(start, after + len(vw), column, table, value)
                        candidates.append((0, found))
            for prefix in table.words:  # "customer segment": the Segment of the customers
                if prefix not in column.words:
                    for start in question.spans((prefix, *column.words)):
                        end = start + 1 + len(column.words)
                        candidates.append((0, Found(start, end, column, table)))
            month = month_of(column)
            if month:  # a month column named by its month's name, however written
                for i, w in enumerate(ws):
                    if MONTH_WORDS.get(w) == month and len(column.words) == 1:
                        candidates.append((0, Found(i, i + 1, column, table)))
            if len(column.words) > 1:  # "Hire Date" named as "date", "duration_ms" as "duration"
                head = column.words[-1]
                parts = column.words[-2:-1] if head in _UNIT_SUFFIXES else (head,)
                for part in parts:
                    if part in STOPWORDS or len(part) < 3 or part in _TOO_GENERIC:
                        continue
                    others = [c for c in table.columns if c is not column and part in c.words]
                    if others:
                        continue  # "price" when two columns have it: not this one alone
                    for start in question.spans((part,)):
                        candidates.append((2, Found(start, start + 1, column, table)))
    # synonyms, for a word no column or value takes
    for i, w in enumerate(ws):
        for table in tables:
            for column in table.columns:
                if column.numeric and set(SYNONYMS.get(w, ())).intersection(column.words):
                    candidates.append((3, Found(i, i + 1, column, table)))
    candidates.sort(key=lambda c: (-(c[1].end - c[1].start), c[0]))
    used: set[int] = set()
    kept: list[Found] = []
    for _, cand in candidates:
        span = set(range(cand.start, cand.end))
        if span & used:
            # the same words may name the same thing in several tables (a join's key)
            if any(
                k.start == cand.start
                and k.end == cand.end
                and k.column.name == cand.column.name
                and k.value == cand.value
                and k.table is not cand.table
                for k in kept
            ):
                kept.append(cand)
            continue
        used |= span
        kept.append(cand)
    return sorted(kept, key=lambda f: f.start)


class _Question:
    """The question's words, with where each one stands and its stem, worked out once: a
    name is looked for from the places its first word stands, not at every word."""

    def __init__(self, ws: list[str]) -> None:
        self.words = tuple(ws)
        self.stems = [stem(w) for w in ws]
        self._at: dict[str, list[int]] = {}
        for i, w in enumerate(ws):
            self._at.setdefault(w, []).append(i)

    def spans(self, name: tuple[str, ...]) -> list[int]:
        """Where the words of `name` stand, in order, one after another."""
        if not name or all(w in FUNCTION_WORDS for w in name):
            return []
        n = len(name)
        return [i for i in self._at.get(name[0], ()) if self.words[i : i + n] == name]


def followed_by_number(ws: list[str], end: int) -> bool:
    """ "floor 2": a numeric column named with a value, a filter rather than a figure."""
    return end < len(ws) and ws[end].isdigit() and not YEAR.fullmatch(ws[end])


def best_table(found: list[Found], tables: Sequence[Table], ws: list[str]) -> Table:
    """The table holding the figure asked about; then the one naming most of the question."""

    counted_at = how_many(ws)
    counted = ws[counted_at] if 0 <= counted_at < len(ws) else ""

    asks_figure = bool({"total", "sum", "average", "mean", "avg"}.intersection(ws)) or any(
        ws[i : i + 2] == ["how", "much"] for i in range(len(ws))
    )

    def score(table: Table) -> tuple[int, int, int, int, int]:
        own = sum(f.end - f.start for f in found if f.table is table)
        named = sum(1 for w in table.words if w in ws)
        figures = sum(
            1
            for f in found
            if f.table is table
            and f.column.numeric
            and f.value is None
            and not followed_by_number(ws, f.end)
        )
        # "what did Oak Studio order in total": the sheet with a figure to add up
        has_figures = asks_figure and any(
            c.numeric and not c.identifier and not c.temporal for c in table.columns
        )
        return figures, counted in table.words, has_figures, own + named, -tables.index(table)

    return max(tables, key=score)
