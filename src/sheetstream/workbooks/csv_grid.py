"""A CSV file as one sheet's grid, typed as a spreadsheet program opening it would type it.

DuckDB reads the file (its sniffer finds the delimiter and quoting; every field comes back as
text, the header not taken), and each field is then typed here, in pure logic: numbers (with a
decimal point, or with a decimal comma where the file writes them so, thousands separators
allowed), ISO and dotted dates, TRUE/FALSE. Numbers written with a leading zero ("007") and
numbers longer than a double keeps exactly are codes: they stay text. The grid then goes the
same way as a spreadsheet's sheet (:mod:`.layout` finds its header past titles, its totals row,
its key-value blocks; the cell view holds every field).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb

from sheetstream.workbooks.grid import Sheet, Value, has_cells
from sheetstream.workbooks.profile import quote_literal

__all__ = ["csv_sheet", "decimal_comma", "typed_rows", "typed_value"]

_POINT = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_COMMA = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:\.\d{3})+)(?:,\d+)?")
# what only one decimal mark reads as a number: 1.5, 0.125, 1,234.5 (a point) or 1,5, 0,125
# never: "1,250" and "1.250" are numbers either way (a thousands separator), so no evidence
_ONLY_POINT = re.compile(
    r"[+-]?(?:\d*\.(?:\d{1,2}|\d{4,})|0\.\d+|\d{1,3}(?:,\d{3})+\.\d+|\d{4,}\.\d+)"
)
_ONLY_COMMA = re.compile(
    r"[+-]?(?:\d*,(?:\d{1,2}|\d{4,})|0,\d+|\d{1,3}(?:\.\d{3})+,\d+|\d{4,},\d+)"
)
_CODE = re.compile(r"[+-]?0\d")  # "007": a code, not seven
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_DIGITS = 15  # a double keeps 15 significant digits exactly; longer is an identifier
_SAMPLE = 20_000  # fields looked at to tell the decimal mark


def decimal_comma(fields: Iterable[str]) -> bool:
    """Whether the file writes its decimals with a comma: more fields read as numbers only
    that way (1,5; 1.234,56) than only with a point (1.5; 1,234.5)."""
    comma = point = 0
    for i, text in enumerate(fields):
        if i >= _SAMPLE:
            break
        text = text.strip()
        if _ONLY_COMMA.fullmatch(text):
            comma += 1
        elif _ONLY_POINT.fullmatch(text):
            point += 1
    return comma > point


def typed_value(text: str | None, comma: bool) -> Value:
    """One field as a spreadsheet program reads it; "" for an empty one."""
    if text is None:
        return ""
    stripped = text.strip()
    if not stripped:
        return ""
    first = stripped[0]
    if first.isdigit() or first in "+-.,":
        number = _number(stripped, comma)
        if number is not None:
            return number
        when = _date(stripped)
        if when is not None:
            return when
        return text
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _number(text: str, comma: bool) -> float | int | None:
    if _CODE.match(text):
        return None
    if comma:
        if not _COMMA.fullmatch(text):
            return None
        plain = text.replace(".", "").replace(",", ".")
    else:
        if not _POINT.fullmatch(text):
            return None
        plain = text.replace(",", "")
    mantissa = plain.split("e")[0].split("E")[0]
    if sum(ch.isdigit() for ch in mantissa.lstrip("+-0.")) > _DIGITS:
        return None
    if "." in plain or "e" in plain or "E" in plain:
        return float(plain)
    return int(plain)


def _date(text: str) -> dt.date | dt.datetime | None:
    try:
        if _ISO_DATE.fullmatch(text):
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            return dt.datetime.fromisoformat(text)
        dotted = _DOTTED_DATE.fullmatch(text)
        if dotted:
            day, month, year = (int(g) for g in dotted.groups())
            return dt.date(year, month, day)
    except ValueError:
        return None
    return None


def typed_rows(raw: Sequence[Sequence[str | None]]) -> list[list[Value]]:
    """Every field typed, every row as wide as the widest."""
    comma = decimal_comma(f for row in raw for f in row if f)
    width = max((len(r) for r in raw), default=0)
    rows: list[list[Value]] = []
    for row in raw:
        typed = [typed_value(f, comma) for f in row]
        if len(typed) < width:
            typed.extend([""] * (width - len(typed)))
        rows.append(typed)
    return rows


def csv_sheet(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> Sheet:
    """The UTF-8 CSV file at ``path`` as a sheet called ``name``."""
    quoted = quote_literal(str(path))
    sniffed = con.execute(
        # padded, a ragged row does not hide the delimiter from the sniffer
        f"SELECT Delimiter, Quote, Escape, len(Columns) FROM sniff_csv({quoted}, "
        "sample_size = -1, null_padding = true)"
    ).fetchone()
    assert sniffed is not None
    delim, quote, escape = (str(v) if v != "(empty)" else "" for v in sniffed[:3])
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(max(1, int(sniffed[3]))))
    raw = con.execute(
        f"SELECT * FROM read_csv({quoted}, auto_detect = false, header = false, "
        f"delim = {quote_literal(delim)}, quote = {quote_literal(quote)}, "
        f"escape = {quote_literal(escape)}, "
        f"columns = {{{columns}}}, null_padding = true, parallel = false, strict_mode = false)"
    ).fetchall()
    rows = typed_rows(raw)
    return Sheet(name=name, hidden=False, rows=rows if has_cells(rows) else [])
