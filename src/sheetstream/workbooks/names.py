"""Table and column names for what a workbook holds: clean, unique, and always quoted in SQL.

Header cells carry what their writers left in them: NULs and other control characters (UTF-16
debris), line breaks, runs of spaces, a byte-order mark. A name keeps the readable text only;
what is left empty is named after its column (``column_3``). Names are compared as DuckDB
compares them, case-insensitively.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Set as AbstractSet

from sheetstream.workbooks.profile import ROW_COLUMN

__all__ = ["CELLS_TABLE", "TableNamer", "clean_name", "column_names", "table_names"]

CELLS_TABLE = "cells"  # the cell view's table: no sheet's table takes this name
MAX_NAME = 120
_SPACES = re.compile(r"\s+")


def clean_name(value: object) -> str:
    """The readable text of a header cell: control and format characters out, whitespace
    runs as one space, at most MAX_NAME characters."""
    text = "" if value is None else str(value)
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    kept = kept.replace("\ufffd", "")
    return _SPACES.sub(" ", kept).strip()[:MAX_NAME].strip()


class TableNamer:
    """Table names, one at a time: lowercase, runs of non-alphanumerics → ``_``, not starting
    with a digit, not a reserved SQL word nor the cell view's name, unique (``_2``, ``_3`` …
    on clashes)."""

    def __init__(self, reserved: AbstractSet[str] = frozenset()) -> None:
        self.reserved = reserved
        self.used: set[str] = set()

    def take(self, raw: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "_", clean_name(raw).lower()).strip("_")[:64] or "sheet"
        if base[0].isdigit():
            base = f"sheet_{base}"
        if base in self.reserved or base in (ROW_COLUMN, CELLS_TABLE):
            base = f"{base}_sheet"
        name, n = base, 2
        while name in self.used:
            name, n = f"{base}_{n}", n + 1
        self.used.add(name)
        return name


def table_names(sheet_names: list[str], reserved: AbstractSet[str] = frozenset()) -> list[str]:
    """:class:`TableNamer`'s names for all of ``sheet_names``."""
    namer = TableNamer(reserved)
    return [namer.take(raw) for raw in sheet_names]


def column_names(headers: list[tuple[object, int]]) -> list[str]:
    """``headers`` is (header cell value or None, 0-based spreadsheet column index). Empty headers
    become ``column_<n>`` (n = 1-based column number); duplicates (case-insensitively, as DuckDB
    compares names) get ``_2``, ``_3`` …; ``_row`` is reserved."""
    used = {ROW_COLUMN}
    out: list[str] = []
    for value, index in headers:
        base = clean_name(value) or f"column_{index + 1}"
        name, n = base, 2
        while name.lower() in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name.lower())
        out.append(name)
    return out
