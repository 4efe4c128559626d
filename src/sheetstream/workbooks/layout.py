"""Where the tables of a sheet are, as a person reading it would say: pure logic on its grid.

A sheet is cut into blocks: runs of non-blank rows, split again where a whole column is blank
across the run (two tables side by side). In each block, rows of a single text cell on top are
titles and notes, not data. The first remaining row is the header when all its cells are text
and a row below holds something else; a first row holding numbers or dates means the table has
no header (its numbers stay data). A two-row header whose upper row names groups of columns
(often merged cells) gives names joined from both rows. A block of labels beside values is a
key–value table. A block below a table that starts with data, not a header, continues that
table (a blank row inside a table does not end it). Excel Tables (ListObjects) are tables of
their own, with their own names; blocks they cover are not found again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sheetstream.workbooks.grid import EMPTY, TEXT, ListObject, Value, kind
from sheetstream.workbooks.xlsx_parts import a1

__all__ = ["Region", "find_regions", "header_names"]

TABLE, NO_HEADER, KEY_VALUE, EXCEL_TABLE = "table", "no header", "key-value", "excel table"
_NOTE_LINES = 3  # a single column of text this short is notes; longer, a list


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
    while r0 < r1 and _is_title(rows[r0], c0, c1):
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


def _header(rows: list[list[Value]], r0: int, r1: int, c0: int, c1: int) -> tuple[int, ...]:
    if r1 == r0 or not _all_text(rows[r0], c0, c1):
        return ()
    if not any(
        kind(v) not in (EMPTY, TEXT) for row in rows[r0 + 1 : r1 + 1] for v in row[c0 : c1 + 1]
    ):
        return (r0,)  # a table of text only: its first row names it
    second = r0 + 1
    if (
        second < r1
        and _all_text(rows[second], c0, c1)
        and not _all_text(rows[second + 1], c0, c1)
        and len(_cells(rows[r0], c0, c1)) < len(_cells(rows[second], c0, c1))
    ):
        return (r0, second)  # group names above column names
    return (r0,)


def _key_value(rows: list[list[Value]], r0: int, r1: int, c0: int, c1: int) -> bool:
    if c1 != c0 + 1:
        return False
    labels = [rows[r][c0] for r in range(r0, r1 + 1) if rows[r][c0] != ""]
    values = [rows[r][c1] for r in range(r0, r1 + 1) if rows[r][c1] != ""]
    return (
        bool(labels)
        and all(kind(v) == TEXT for v in labels)
        and any(kind(v) != TEXT for v in values)
    )


def _overlaps(region: Region, r0: int, r1: int, c0: int, c1: int) -> bool:
    return not (
        r1 < region.first_row
        or r0 > region.last_row
        or c1 < region.first_col
        or c0 > region.last_col
    )


def find_regions(rows: list[list[Value]], list_objects: Sequence[ListObject] = ()) -> list[Region]:
    """The tables of one sheet's grid, in reading order."""
    regions = [
        Region(
            o.first_row, o.last_row, o.first_col, o.last_col, (o.first_row,), EXCEL_TABLE, o.name
        )
        for o in list_objects
        if o.last_row > o.first_row
    ]
    tables: list[Region] = []
    for block in _blocks(rows):
        if any(_overlaps(r, *block) for r in regions):
            continue
        r0, r1, c0, c1 = _trim(rows, *block)
        if _is_note(rows, r0, r1, c0, c1):
            continue
        header = _header(rows, r0, r1, c0, c1)
        last = tables[-1] if tables else None
        if (
            not header
            and last is not None
            and last.last_row < r0
            and not (c1 < last.first_col or c0 > last.last_col)
        ):
            # data again below a table, in its columns: the same table, past a blank row
            tables[-1] = Region(
                last.first_row,
                r1,
                min(last.first_col, c0),
                max(last.last_col, c1),
                last.header,
                last.layout,
            )
            continue
        if not header and _key_value(rows, r0, r1, c0, c1):
            tables.append(Region(r0, r1, c0, c1, (), KEY_VALUE))
        else:
            tables.append(Region(r0, r1, c0, c1, header, TABLE if header else NO_HEADER))
    found = regions + tables
    found.sort(key=lambda r: (r.first_row, r.first_col))
    return found


def header_names(
    rows: list[list[Value]],
    region: Region,
    merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] = (),
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
                text = str(v).strip()
                if text and (not parts[i] or parts[i][-1] != text):
                    parts[i].append(text)
    return [" ".join(p) if p else None for p in parts]
