"""Where the tables of a sheet are, as a person reading it would say: pure logic on its grid.

A sheet is cut into blocks: runs of non-blank rows, split again where a whole column is blank
across the run (two tables side by side). In each block, rows of a single text cell on top are
titles and notes, not data. The first remaining row is the header when its cells are text (a
stray number among many names, such as a year, still makes a header) and a row below holds
something else; a first row of mostly numbers or dates means the table has no header (its
numbers stay data). A two-row header whose upper row names groups of columns (often merged
cells, whose lower row may hold years) gives names joined from both rows. Two columns of
distinct labels beside values of several kinds, with no header or in groups separated by
blank rows, are a key–value table. A block below a table that starts
with data, not a header, continues that table (a blank row inside a table does not end it). A
last row labelled "Total" (or "Sum", "Grand total"…) with only numbers beside it is the
table's totals row: left out of the table, so that sums over the table are right, and kept in
the cell view. A block with nothing below its header but error cells is not a table (its
cells are in the cell view). Excel Tables (ListObjects)
are tables of their own, with their own names, and blocks they cover are not found again;
the ranges of defined names are tables of their own too, beside the sheet's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sheetstream.workbooks.grid import EMPTY, ERROR, TEXT, ListObject, Value, kind
from sheetstream.workbooks.xlsx_parts import a1

__all__ = ["Region", "find_regions", "header_names"]

TABLE, NO_HEADER, KEY_VALUE, EXCEL_TABLE = "table", "no header", "key-value", "excel table"
NAMED_RANGE = "named range"
_NOTE_LINES = 3  # a single column of text this short is notes; longer, a list
_STRAY = 5  # a header row may hold one number or date per this many names
_TOTALS = re.compile(  # the whole label: "Total Recall" is a film, not a totals row
    r"\s*(grand\s+|sub-?)?(total|totals|sum|summe|gesamt|gesamtsumme|totale?|somme)\s*:?\s*",
    re.IGNORECASE,
)
_SUM = re.compile(r"=?\s*(of:=)?\s*(SUM|SUBTOTAL)\(", re.IGNORECASE)
Merged = Sequence[tuple[tuple[int, int], tuple[int, int]]]
Formulas = Mapping[tuple[int, int], str]


@dataclass(frozen=True, slots=True)
class Region:
    """A table on a sheet: 0-based inclusive bounds, its header rows (none, one or two)."""

    first_row: int
    last_row: int
    first_col: int
    last_col: int
    header: tuple[int, ...]
    layout: str
    name: str | None = None  # an Excel Table's own name
    totals: int | None = None  # the totals row left out below the table's last row
    continued: bool = False  # made of several blocks (blank rows between)

    @property
    def first_data_row(self) -> int:
        return self.header[-1] + 1 if self.header else self.first_row

    @property
    def range(self) -> str:
        return f"{a1(self.first_row, self.first_col)}:{a1(self.last_row, self.last_col)}"


def _cells(row: Sequence[Value], c0: int, c1: int) -> list[Value]:
    return [v for v in row[c0 : c1 + 1] if v != ""]


def _all_text(row: Sequence[Value], c0: int, c1: int) -> bool:
    cells = _cells(row, c0, c1)
    return bool(cells) and all(kind(v) == TEXT for v in cells)


def _names(row: Sequence[Value], c0: int, c1: int) -> bool:
    """Mostly text: names of columns, allowing a stray number or date among many."""
    cells = _cells(row, c0, c1)
    text = sum(1 for v in cells if kind(v) == TEXT)
    return text > 0 and (len(cells) - text) * _STRAY <= text


def _is_title(row: Sequence[Value], c0: int, c1: int) -> bool:
    cells = _cells(row, c0, c1)
    return len(cells) == 1 and kind(cells[0]) == TEXT and c1 > c0


def _blocks(rows: list[list[Value]]) -> list[tuple[int, int, int, int]]:
    """(first row, last row, first col, last col) of each block, top to bottom."""
    width = len(rows[0]) if rows else 0
    filled = [row.count("") != width for row in rows]
    out = []
    r = 0
    while r < len(rows):
        if not filled[r]:
            r += 1
            continue
        r0 = r
        while r < len(rows) and filled[r]:
            r += 1
        r1 = r - 1
        used = [any(rows[i][c] != "" for i in range(r0, r1 + 1)) for c in range(width)]
        c = 0
        while c < width:
            if not used[c]:
                c += 1
                continue
            c0 = c
            while c < width and used[c]:
                c += 1
            out.append((r0, r1, c0, c - 1))
    return out


def _trim(rows: list[list[Value]], r0: int, r1: int, c0: int, c1: int) -> tuple[int, int, int, int]:
    """The block without its title rows on top, and its rows inside its columns only."""
    while r0 < r1 and (_is_title(rows[r0], c0, c1) or not _cells(rows[r0], c0, c1)):
        r0 += 1
    while r1 > r0 and not _cells(rows[r1], c0, c1):
        r1 -= 1
    while c0 < c1 and all(rows[r][c0] == "" for r in range(r0, r1 + 1)):
        c0 += 1  # the column held only a title
    while c1 > c0 and all(rows[r][c1] == "" for r in range(r0, r1 + 1)):
        c1 -= 1
    return r0, r1, c0, c1


def _is_note(rows: list[list[Value]], r0: int, r1: int, c0: int, c1: int) -> bool:
    """A lone cell, a single row of text, or a few lines of text in one column: titles and
    notes (their cells are in the cell view), not a table."""
    if r0 == r1:
        return c0 == c1 or _all_text(rows[r0], c0, c1)
    return (
        c0 == c1
        and r1 - r0 < _NOTE_LINES
        and all(kind(rows[r][c0]) in (EMPTY, TEXT) for r in range(r0, r1 + 1))
    )


def _header(
    rows: list[list[Value]], r0: int, r1: int, c0: int, c1: int, merged: Merged = ()
) -> tuple[int, ...]:
    if r1 == r0 or not _names(rows[r0], c0, c1):
        return ()
    if not any(
        kind(v) not in (EMPTY, TEXT) for row in rows[r0 + 1 : r1 + 1] for v in row[c0 : c1 + 1]
    ):
        return (r0,)  # a table of text only: its first row names it
    second = r0 + 1
    if second < r1 and _names_groups(rows, r0, c0, c1, merged):
        return (r0, second)
    return (r0,)


def _names_groups(rows: list[list[Value]], r0: int, c0: int, c1: int, merged: Merged) -> bool:
    """Row r0 names groups of the columns that row r0 + 1 names (or gives years of): merged
    or spanning cells above names or years, or fewer names above a full row of them."""
    upper, lower, below = rows[r0], rows[r0 + 1], rows[r0 + 2]
    if _groups_above(merged, r0, c0, c1) or _spans(upper, lower, c0, c1):
        return _header_like(lower, below, c0, c1)
    return (
        _all_text(lower, c0, c1)
        and not _all_text(below, c0, c1)
        and len(_cells(upper, c0, c1)) < len(_cells(lower, c0, c1))
    )


def _groups_above(merged: Merged, r0: int, c0: int, c1: int) -> bool:
    """A cell of row r0 merged across columns of the block: it names a group of them."""
    return any(
        mr0 == r0 and mc1 > mc0 and c0 <= mc0 and mc1 <= c1 for (mr0, mc0), (_, mc1) in merged
    )


def _header_like(lower: Sequence[Value], below: Sequence[Value], c0: int, c1: int) -> bool:
    """A row that can be the lower row of a header: names or years only, and unlike the row
    below it in some column (else it is the first row of data)."""
    cells = _cells(lower, c0, c1)
    if not cells or not all(kind(v) == TEXT or _year(v) for v in cells):
        return False
    return any(kind(lower[c]) != kind(below[c]) for c in range(c0, c1 + 1))


def _year(value: Value) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and float(value).is_integer()
        and 1800 <= value <= 2200
    )


def _spans(upper: Sequence[Value], lower: Sequence[Value], c0: int, c1: int) -> bool:
    """Group names with gaps the row below fills, and names with nothing below them: a
    two-row header whose merged cells the format did not say (OpenDocument)."""
    if upper[c0] == "":
        return False
    cols = range(c0, c1 + 1)
    gaps = [c for c in cols if upper[c] == ""]
    alone = [c for c in cols if upper[c] != "" and lower[c] == ""]
    return bool(gaps) and bool(alone) and all(lower[c] != "" for c in gaps)


def _totals_row(rows: list[list[Value]], region: Region, formulas: Formulas) -> bool:
    """The region's last row is labelled as a total with numbers (no text) beside it, or holds
    only sums of the cells above it (=SUM(…), =SUBTOTAL(…))."""
    r = region.last_row
    if r <= region.first_data_row:
        return False
    cols = range(region.first_col, region.last_col + 1)
    cells = [(c, rows[r][c]) for c in cols if rows[r][c] != ""]
    if not cells:
        return False
    if kind(cells[0][1]) == TEXT and _TOTALS.fullmatch(str(cells[0][1])):
        return len(cells) > 1 and all(kind(v) not in (TEXT, EMPTY) for _, v in cells[1:])
    return all(_SUM.match(formulas.get((r, c), "")) for c, _ in cells)


def _no_data(rows: list[list[Value]], region: Region) -> bool:
    """Nothing below the header but error cells."""
    return all(
        kind(v) in (EMPTY, ERROR)
        for row in rows[region.first_data_row : region.last_row + 1]
        for v in row[region.first_col : region.last_col + 1]
    )


def _key_value(rows: list[list[Value]], r0: int, r1: int, c0: int, c1: int, header: bool) -> bool:
    """Two columns: distinct text labels beside values, of several kinds below a first row
    that could be a header, of any kind but text alone where there is none."""
    if c1 != c0 + 1:
        return False
    labels = [rows[r][c0] for r in range(r0, r1 + 1) if rows[r][c0] != ""]
    if not labels or not all(kind(v) == TEXT for v in labels):
        return False
    if len(set(labels)) != len(labels):
        return False  # a label repeated is a category: a table
    if not header:
        return any(kind(rows[r][c1]) not in (EMPTY, ERROR, TEXT) for r in range(r0, r1 + 1))
    return len({kind(rows[r][c1]) for r in range(r0 + 1, r1 + 1)} - {EMPTY, ERROR}) > 1


def _overlaps(region: Region, r0: int, r1: int, c0: int, c1: int) -> bool:
    return not (
        r1 < region.first_row
        or r0 > region.last_row
        or c1 < region.first_col
        or c0 > region.last_col
    )


def _bounds(region: Region) -> tuple[int, int, int, int]:
    return region.first_row, region.last_row, region.first_col, region.last_col


def _named_range(rows: list[list[Value]], o: ListObject) -> Region | None:
    """A defined name's range, inside the sheet's cells, as a table: its first row is the
    header when it holds names."""
    width = len(rows[0]) if rows else 0
    r1, c1 = min(o.last_row, len(rows) - 1), min(o.last_col, width - 1)
    while r1 > o.first_row and not _cells(rows[r1], o.first_col, c1):
        r1 -= 1
    if r1 <= o.first_row or c1 < o.first_col:
        return None
    header = (o.first_row,) if _names(rows[o.first_row], o.first_col, c1) else ()
    return Region(o.first_row, r1, o.first_col, c1, header, NAMED_RANGE, o.name)


def find_regions(
    rows: list[list[Value]],
    list_objects: Sequence[ListObject] = (),
    merged: Merged = (),
    formulas: Formulas | None = None,
) -> list[Region]:
    """The tables of one sheet's grid, in reading order; `merged` are its merged cells and
    `formulas` its formula texts by 0-based (row, column), where the format keeps them."""
    regions = [
        Region(
            o.first_row, o.last_row, o.first_col, o.last_col, (o.first_row,), EXCEL_TABLE, o.name
        )
        for o in list_objects
        if o.last_row > o.first_row and not o.defined_name
    ]
    named: list[Region] = []  # tables of their own beside the sheet's: blocks stay found
    for o in list_objects:
        found_range = _named_range(rows, o) if o.defined_name else None
        if found_range is not None and not any(
            _overlaps(r, *_bounds(found_range)) for r in regions + named
        ):
            named.append(found_range)
    tables: list[Region] = []
    for block in _blocks(rows):
        if any(_overlaps(r, *block) for r in regions):
            continue
        r0, r1, c0, c1 = _trim(rows, *block)
        if _is_note(rows, r0, r1, c0, c1):
            continue
        header = _header(rows, r0, r1, c0, c1, merged)
        last = tables[-1] if tables else None
        if (
            not header
            and last is not None
            and (last.last_row < r0 or (last.continued and last.first_row < r0))
            and not (c1 < last.first_col or c0 > last.last_col)
        ):
            # data again below a table, in its columns: the same table, past a blank row
            tables[-1] = replace(
                last,
                last_row=max(r1, last.last_row),
                first_col=min(last.first_col, c0),
                last_col=max(last.last_col, c1),
                continued=True,
            )
            continue
        tables.append(Region(r0, r1, c0, c1, header, TABLE if header else NO_HEADER))
    for i, t in enumerate(tables):
        if (not t.header or t.continued) and _key_value(
            rows, t.first_row, t.last_row, t.first_col, t.last_col, bool(t.header)
        ):
            tables[i] = replace(t, header=(), layout=KEY_VALUE)
        elif _totals_row(rows, t, formulas or {}):
            tables[i] = replace(t, last_row=t.last_row - 1, totals=t.last_row)
    tables = [t for t in tables if not _no_data(rows, t)]
    found = regions + named + tables
    found.sort(key=lambda r: (r.first_row, r.first_col))
    return found


def _label(value: Value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a year written as a number
    return str(value).strip()


def header_names(
    rows: list[list[Value]],
    region: Region,
    merged: Merged = (),
) -> list[str | None]:
    """Each column's name from the header rows (merged cells spread over their columns, two
    header rows joined with a space), None where the header is blank."""
    if region.layout == KEY_VALUE:
        return ["label", "value"]
    width = region.last_col - region.first_col + 1
    if not region.header:
        return [None] * width
    parts: list[list[str]] = [[] for _ in range(width)]
    for r in region.header:
        line: list[Value] = list(rows[r][region.first_col : region.last_col + 1])
        for (mr0, mc0), (mr1, mc1) in merged:
            if mr0 <= r <= mr1 and region.first_col <= mc0 <= region.last_col:
                top = rows[mr0][mc0]
                for c in range(mc0, min(mc1, region.last_col) + 1):
                    line[c - region.first_col] = top
        if len(region.header) == 2 and r == region.header[0]:
            carry: Value = ""  # a group name holds for the columns after it, up to the next
            for i, v in enumerate(line):
                if v != "":
                    carry = v
                elif carry != "" and rows[region.header[1]][region.first_col + i] != "":
                    line[i] = carry
        for i, v in enumerate(line):
            if v != "":
                text = _label(v)
                if text and (not parts[i] or parts[i][-1] != text):
                    parts[i].append(text)
    return [" ".join(p) if p else None for p in parts]
