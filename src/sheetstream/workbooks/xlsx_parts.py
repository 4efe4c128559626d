"""What an xlsx/xlsm package says about its cells beyond their values: which cells hold an
error (``#DIV/0!``: calamine reads them as empty) and the formula text of every formula cell.

Each worksheet part is streamed once, in chunks; only the spots where a formula or an error
is written are looked at (a regex finds them), so a sheet of plain values costs one scan.
Shared formulas are written once, on their first cell; the others get it shifted, as Excel
shows them. The package was inspected before this runs (:mod:`.inspect`).
"""

from __future__ import annotations

import html
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = ["Extras", "a1", "parse_a1", "read_extras", "sheet_parts", "shift_formula"]

_CHUNK = 1 << 20
_TAIL = 64 << 10  # a cell's start is looked for in a chunk's last bytes
_HIT = re.compile(rb"<(?:[\w.-]{1,32}:)?f[\s>/]|\st\s{0,8}=\s{0,8}[\"']e[\"']")
_MARKERS = (b"<f", b":f", b'"e"', b"'e'")  # what every _HIT match holds
_CELL_START = re.compile(rb"<(?:[\w.-]{1,32}:)?c[\s>]")
_CELL = re.compile(
    rb"<(?:[\w.-]{1,32}:)?c(\s[^>]{0,1024})?(?:/>|>(.*?)</(?:[\w.-]{1,32}:)?c\s{0,8}>)", re.DOTALL
)
_ATTR = re.compile(rb"([\w:]+)\s{0,8}=\s{0,8}(?:\"([^\"]*)\"|'([^']*)')")
_FORMULA = re.compile(
    rb"<(?:[\w.-]{1,32}:)?f(\s[^>]{0,1024})?(?:/>|>(.*?)</(?:[\w.-]{1,32}:)?f\s{0,8}>)", re.DOTALL
)
_VALUE = re.compile(
    rb"<(?:[\w.-]{1,32}:)?v(?:\s[^>]{0,256})?>(.*?)</(?:[\w.-]{1,32}:)?v\s{0,8}>", re.DOTALL
)
_SHEET = re.compile(rb"<(?:[\w.-]{1,32}:)?sheet\s([^>]{0,4096})/?>")
_DEFINED = re.compile(
    rb"<(?:[\w.-]{1,32}:)?definedName\s([^>]{0,4096})>([^<]{0,2048})</(?:[\w.-]{1,32}:)?definedName>"
)
_AREA = re.compile(
    r"(?:'((?:[^']|'')+)'|([^!'\s]+))!\$?([A-Za-z]{1,3})\$?(\d{1,7}):\$?([A-Za-z]{1,3})\$?(\d{1,7})"
)
_REL = re.compile(rb"<(?:[\w.-]{1,32}:)?Relationship\s([^>]{0,4096})/?>")
_A1 = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")
_REF = re.compile(r"(?<![A-Za-z0-9_.$])(\$?)([A-Z]{1,3})(\$?)([0-9]{1,7})(?![0-9A-Za-z_(])")
MAX_COLUMN = 16384
MAX_ROW = 1_048_576


@dataclass(slots=True)
class Extras:
    errors: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) 0-based
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)  # "=SUM(B2:B9)"


def a1(row: int, col: int) -> str:
    """0-based (row, col) as an A1 address."""
    letters = ""
    n = col + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return f"{letters}{row + 1}"


def parse_a1(ref: str) -> tuple[int, int] | None:
    """An A1 address as 0-based (row, col), or None."""
    m = _A1.match(ref.strip())
    if m is None:
        return None
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - 64
    row = int(m.group(2))
    if not (1 <= col <= MAX_COLUMN and 1 <= row <= MAX_ROW):
        return None
    return row - 1, col - 1


def shift_formula(formula: str, rows: int, cols: int) -> str:
    """A shared formula as it reads ``rows`` down and ``cols`` right of its first cell: its
    relative references move, ``$``-anchored parts and quoted text do not."""

    def move(m: re.Match[str]) -> str:
        col_abs, letters, row_abs, digits = m.groups()
        col = 0
        for ch in letters:
            col = col * 26 + ord(ch) - 64
        row = int(digits)
        if not col_abs:
            col += cols
        if not row_abs:
            row += rows
        if not (1 <= col <= MAX_COLUMN and 1 <= row <= MAX_ROW):
            return "#REF!"
        name = a1(0, col - 1)[:-1]
        return f"{col_abs}{name}{row_abs}{row}"

    parts = formula.split('"')
    for i in range(0, len(parts), 2):  # outside string literals
        parts[i] = _REF.sub(move, parts[i])
    return '"'.join(parts)


def _attrs(raw: bytes | None) -> dict[str, str]:
    if not raw:
        return {}
    out = {}
    for m in _ATTR.finditer(raw):
        name = m.group(1).decode("ascii", "replace").rpartition(":")[2]
        out[name] = html.unescape((m.group(2) or m.group(3) or b"").decode("utf-8", "replace"))
    return out


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → worksheet part name, from the workbook part and its relationships."""
    names = {n.lower(): n for n in zf.namelist()}
    workbook = names.get("xl/workbook.xml")
    rels = names.get("xl/_rels/workbook.xml.rels")
    if workbook is None or rels is None:
        return {}
    targets = {}
    for m in _REL.finditer(zf.read(rels)):
        attrs = _attrs(m.group(1))
        if "Id" in attrs and "Target" in attrs:
            target = attrs["Target"]
            path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
            targets[attrs["Id"]] = posixpath.normpath(path)
    out = {}
    for m in _SHEET.finditer(zf.read(workbook)):
        attrs = _attrs(m.group(1))
        part = names.get(targets.get(attrs.get("id", ""), "").lower())
        if "name" in attrs and part is not None:
            out[attrs["name"]] = part
    return out


def _chunks(zf: zipfile.ZipFile, part: str) -> Iterator[bytes]:
    """The part in pieces cut where a cell starts, so that no cell is cut in two (unless one
    cell is longer than `_TAIL`)."""
    carry = b""
    with zf.open(part) as fh:
        while data := fh.read(_CHUNK):
            text = carry + data
            cut = -1
            for m in _CELL_START.finditer(text, max(0, len(text) - _TAIL)):
                cut = m.start()
            if cut <= 0:
                cut = max(text.rfind(b"<"), 0) or len(text)
            yield text[:cut]
            carry = text[cut:]
    if carry:
        yield carry


def _read_part(zf: zipfile.ZipFile, part: str) -> Extras:
    extras = Extras()
    shared: dict[str, tuple[int, int, str]] = {}  # si → first cell and its formula
    dependents: list[tuple[int, int, str]] = []
    for text in _chunks(zf, part):
        if not any(marker in text for marker in _MARKERS):
            continue  # no formula and no error cell in this piece (a plain search is fast)
        done = -1
        for hit in _HIT.finditer(text):
            window = max(0, hit.start() - 1100)
            start = -1
            for m in _CELL_START.finditer(text, window, hit.start() + 1):
                start = m.start()
            if start < 0 or start <= done:
                continue
            cell = _CELL.match(text, start)
            if cell is None:
                continue
            done = start
            attrs = _attrs(cell.group(1))
            where = parse_a1(attrs.get("r", ""))
            if where is None:
                continue
            body = cell.group(2) or b""
            if attrs.get("t") == "e":
                value = _VALUE.search(body)
                if value is not None:
                    extras.errors[where] = html.unescape(value.group(1).decode("utf-8", "replace"))
            formula = _FORMULA.search(body)
            if formula is None:
                continue
            f_attrs = _attrs(formula.group(1))
            f_text = html.unescape((formula.group(2) or b"").decode("utf-8", "replace")).strip()
            si = f_attrs.get("si")
            if f_attrs.get("t") == "shared" and si is not None:
                if f_text:
                    shared[si] = (where[0], where[1], f_text)
                else:
                    dependents.append((where[0], where[1], si))
                    continue
            if f_text:
                extras.formulas[where] = "=" + f_text
    for row, col, si in dependents:
        first = shared.get(si)
        if first is not None:
            extras.formulas[(row, col)] = "=" + shift_formula(
                first[2], row - first[0], col - first[1]
            )
    return extras


Area = tuple[str, str, tuple[int, int], tuple[int, int]]
T = TypeVar("T")


def defined_ranges(path: Path) -> list[Area]:
    """The workbook's defined names that name one rectangle of one sheet: (name, sheet,
    first cell, last cell), 0-based. Excel's own names (print areas, filters: `_xlnm.`),
    hidden names, names of one sheet's scope and formulas are left out."""
    return _in_package(path, _defined_ranges, [])


def _defined_ranges(zf: zipfile.ZipFile) -> list[Area]:
    workbook = {n.lower(): n for n in zf.namelist()}.get("xl/workbook.xml")
    if workbook is None:
        return []
    text = zf.read(workbook)
    out = []
    for m in _DEFINED.finditer(text):
        attrs = _attrs(m.group(1))
        name = attrs.get("name", "")
        if not name or name.startswith("_xlnm.") or attrs.get("hidden") in ("1", "true"):
            continue
        if "localSheetId" in attrs:
            continue
        area = _AREA.fullmatch(html.unescape(m.group(2).decode("utf-8", "replace")).strip())
        if area is None:
            continue
        sheet = (area.group(1) or "").replace("''", "'") or area.group(2)
        first = parse_a1(area.group(3) + area.group(4))
        last = parse_a1(area.group(5) + area.group(6))
        if first is None or last is None or last[0] <= first[0] or last[1] < first[1]:
            continue  # one row is a header alone, not a table
        out.append((name, sheet, first, last))
    return out


def sheet_parts(path: Path) -> dict[str, str]:
    """Sheet name → its worksheet part in the package (nothing for a package not read)."""
    return _in_package(path, _sheet_parts, {})


def read_extras(path: Path, part: str) -> Extras:
    """The error cells and formulas of one worksheet part (none when it cannot be read)."""
    return _in_package(path, lambda zf: _read_part(zf, part), Extras())


def _in_package(path: Path, read: Callable[[zipfile.ZipFile], T], unread: T) -> T:
    """What ``read`` finds in the package at ``path``, or ``unread`` when it cannot be read
    (calamine has read it already: what is missing here is extra, not the cells)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return read(zf)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return unread
