"""Every corpus file through sheetstream's parse, compared with the reference reader.

    python -m tests.corpus.compare      # one line per file, then the totals

For each file: is it accepted; is every number the reference reader finds (a number cell;
for CSV, a field that reads as a number with the file's decimal mark) a number in the cell
view at its address; is it the same number in its table where a table covers it, unless the
reference finds the table's column genuinely mixed (numbers beside text, dates or durations);
and is each sheet's layout the one MANIFEST.json says a person sees.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from sheetstream.workbooks.inspect import sniff
from sheetstream.workbooks.parse import ParseLimits
from sheetstream.workbooks.parse_pool import ParsePool
from sheetstream.workbooks.xlsx_parts import a1, parse_a1
from tests.corpus.reference import Cell, read_cells

FILES = Path(__file__).parent / "files"
ENTRIES: dict[str, dict[str, Any]] = json.loads((FILES / "MANIFEST.json").read_text("utf-8"))[
    "files"
]
LIMITS = ParseLimits(timeout_s=60)


@dataclass
class Outcome:
    name: str
    profile: dict[str, Any]
    numbers: int = 0  # numbers the reference reader finds
    in_cells: int = 0  # ... that are that number in the cell view, at that address
    in_tables: int = 0  # ... that are that number in the table covering them
    mixed: int = 0  # ... in a column the reference finds mixed (text in the table)
    cells_only: int = 0  # ... outside every table (titles, notes, totals rows)
    lost: list[str] = field(default_factory=list)  # what is missing, said plainly
    layouts: list[str] = field(default_factory=list)  # sheets laid out otherwise


def reference_cells(name: str) -> dict[tuple[str, str], Cell]:
    """The reference reader's cells; for CSV, fields that read as numbers become numbers."""
    entry = ENTRIES[name]
    cells = read_cells(FILES / name)
    if entry["format"] != "csv":
        return cells
    decimal, thousands = entry.get("decimal", "."), entry.get("thousands", "")
    out = {}
    for key, cell in cells.items():
        text = str(cell.value).strip()
        plain = text
        grouped = rf"[+-]?\d{{1,3}}(\{thousands}\d{{3}})+(\{decimal}\d+)?"
        if thousands and re.fullmatch(grouped, text):
            plain = plain.replace(thousands, "")
        plain = plain.replace(decimal, ".") if decimal != "." else plain
        number = None
        if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", plain) and not re.match(
            r"[+-]?0\d", plain
        ):
            number = float(plain)
        out[key] = Cell("number", number) if number is not None else cell
    return out


def _numbers(cells: dict[tuple[str, str], Cell]) -> dict[tuple[str, str], float]:
    return {k: float(c.value) for k, c in cells.items() if c.kind == "number"}  # type: ignore[arg-type]


def _same(a: object, b: float) -> bool:
    return (
        isinstance(a, int | float)
        and not isinstance(a, bool)
        and (a == b or abs(a - b) <= 1e-12 * abs(b))
    )


def _expected_tables(sheet: dict[str, Any]) -> list[tuple[str, int]]:
    out = []
    for t in sheet["tables"]:
        first, last = t["range"].split(":")
        if "totals_row" in t:
            last = re.sub(r"\d+$", str(t["totals_row"] - 1), last)
        out.append((f"{first}:{last}", t["header_rows"][-1] if t["header_rows"] else 0))
    return out


def compare(pool: ParsePool, name: str, scratch: Path) -> Outcome:
    src = FILES / name
    dest = scratch / (name + ".duckdb")
    profile = pool.parse(src, sniff(src, src.name), dest, LIMITS)
    outcome = Outcome(name, profile)
    entry = ENTRIES[name]
    for sheet, want in entry["sheets"].items():
        found = [s for s in profile["sheets"] if s["name"] == sheet]
        layouts = [s["layout"] for s in found]
        if want["layout"] == "key-value":
            ok = layouts == ["key-value"]
        else:
            have = [(s["range"], s["header_row"]) for s in found if s["range"]]
            wanted = _expected_tables(want)
            ok = have == wanted if wanted else layouts == [want["layout"]]
        if not ok:
            got = [(s["layout"], s["range"], s["header_row"]) for s in found]
            outcome.layouts.append(
                f"{sheet!r}: {want['layout']} {_expected_tables(want)}, got {got}"
            )
    if "reference_reader" in entry:
        return outcome  # no independent reading to hold the file to
    cells = reference_cells(name)
    numbers = _numbers(cells)
    outcome.numbers = len(numbers)
    con = duckdb.connect(str(dest), read_only=True)
    try:
        viewed = {
            (s, a): n
            for s, a, n in con.execute(
                "SELECT sheet, address, number FROM cells WHERE type = 'number'"
            ).fetchall()
        }
        covered: dict[tuple[str, str], tuple[object, bool]] = {}
        for table in profile["sheets"]:
            if not table["range"]:
                continue
            _table_values(con, table, cells, covered)
    finally:
        con.close()
    for key, number in numbers.items():
        where = f"{key[0]}!{key[1]} = {number!r}"
        if _same(viewed.get(key), number):
            outcome.in_cells += 1
        else:
            outcome.lost.append(f"{where}: cell view has {viewed.get(key)!r}")
        if key not in covered:
            outcome.cells_only += 1
            continue
        value, mixed = covered[key]
        if _same(value, number):
            outcome.in_tables += 1
        elif mixed:
            outcome.mixed += 1
        else:
            outcome.lost.append(f"{where}: its table has {value!r}")
    return outcome


def _table_values(
    con: duckdb.DuckDBPyConnection,
    table: dict[str, Any],
    cells: dict[tuple[str, str], Cell],
    out: dict[tuple[str, str], tuple[object, bool]],
) -> None:
    """Each cell a table covers: its value in the table, and whether the reference finds its
    column mixed."""
    first, last = table["range"].split(":")
    (r0, c0), (r1, c1) = parse_a1(first), parse_a1(last)
    data0 = table["header_row"] if table["header_row"] else r0
    names = [c["name"] for c in table["columns"]]
    quoted = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
    by_row = {
        row[0]: row[1:]
        for row in con.execute(f'SELECT _row, {quoted} FROM "{table["table"]}"').fetchall()
    }
    sheet = table["name"]
    for i, col in enumerate(range(c0, c1 + 1)):
        kinds = {
            cells[(sheet, a1(r, col))].kind
            for r in range(data0, r1 + 1)
            if (sheet, a1(r, col)) in cells
        } - {"error"}
        mixed = len(kinds) > 1
        for r in range(data0, r1 + 1):
            key = (sheet, a1(r, col))
            if key in cells and cells[key].kind == "number":
                row = by_row.get(r + 1)
                out[key] = (row[i] if row is not None else None, mixed)


def main() -> int:
    pool = ParsePool(LIMITS, 2)
    pool.start()
    totals = Outcome("all", {})
    failed = 0
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for name in sorted(ENTRIES):
                try:
                    o = compare(pool, name, Path(scratch))
                except Exception as exc:
                    failed += 1
                    print(f"{name:42s} REFUSED {exc}")
                    continue
                for f in ("numbers", "in_cells", "in_tables", "mixed", "cells_only"):
                    setattr(totals, f, getattr(totals, f) + getattr(o, f))
                totals.lost += o.lost
                totals.layouts += o.layouts
                print(
                    f"{name:42s} numbers {o.numbers:4d}  cell view {o.in_cells:4d}  "
                    f"tables {o.in_tables:4d}  mixed {o.mixed:3d}  cells only {o.cells_only:3d}"
                    + ("".join(f"\n    lost {x}" for x in o.lost))
                    + ("".join(f"\n    layout {x}" for x in o.layouts))
                )
    finally:
        pool.close()
    print(
        f"files {len(ENTRIES)}, accepted {len(ENTRIES) - failed}; numbers {totals.numbers}: "
        f"in the cell view {totals.in_cells}, in their tables {totals.in_tables}, in mixed "
        f"columns {totals.mixed}, outside tables {totals.cells_only}; lost {len(totals.lost)}; "
        f"sheets laid out otherwise than MANIFEST.json says {len(totals.layouts)}"
    )
    return 1 if failed or totals.lost or totals.layouts else 0


if __name__ == "__main__":
    sys.exit(main())
