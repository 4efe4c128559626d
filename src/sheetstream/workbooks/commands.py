"""Chat commands that answer exactly from the workbook, with any model: /sheets, /profile, /sql.

Pure rendering of profiles and query results as Markdown, and what the model is told about
the attached workbook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sheetstream.grounding import Evidence, Source
from sheetstream.workbooks.names import CELLS_TABLE
from sheetstream.workbooks.preview import CHAT_TABLE, preview
from sheetstream.workbooks.query import QueryResult

COMMANDS = ("/sheets", "/profile", "/sql")
# The most a command's answer may hold; a token is at least one byte, so this also bounds
# its tokens (command answers are exempt from MAX_ANSWER_TOKENS, which bounds a model).
COMMAND_TEXT_BYTES = 32 * 1024
_STATS = ("min", "max", "mean", "sum")


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # "sheets" | "profile" | "sql"
    argument: str


def parse_command(content: str) -> Command | None:
    """A chat message that starts with one of COMMANDS, or None for an ordinary question."""
    text = content.strip()
    word, _, rest = text.partition(" ")
    if word.lower() not in COMMANDS:
        return None
    return Command(word[1:].lower(), rest.strip())


def sheets_text(workbook: dict[str, Any]) -> str:
    lines = [f"**{workbook['filename']}** has {len(workbook['sheets'])} sheet(s):", ""]
    lines += [
        "| sheet | table | found as | rows | columns | hidden |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for sheet in workbook["sheets"]:
        found = _layout(sheet)
        lines.append(
            f"| {_cell(sheet['name'])} | `{sheet['table']}` | {found} | {sheet['rows']} | "
            f"{len(sheet['columns'])} | {'yes' if sheet.get('hidden') else 'no'} |"
        )
    cells = workbook.get("cells")
    if cells:
        lines += ["", f"Every non-empty cell ({cells['rows']}) is in table `{cells['table']}`."]
    if workbook.get("warnings"):
        lines += ["", "Warnings:", *(f"- {w}" for w in workbook["warnings"])]
    return _bounded(lines, "ask /profile SHEET for one sheet") + "\n"


def _layout(sheet: dict[str, Any]) -> str:
    """How a table was found: "table at B4:D8, header row 4", "cells only" …"""
    layout = str(sheet.get("layout", "table"))
    if not sheet.get("range"):
        return layout
    header = f", header row {sheet['header_row']}" if sheet.get("header_row") else ""
    return f"{layout} at {sheet['range']}{header}"


def profile_text(workbook: dict[str, Any], sheet_name: str = "") -> str:
    sheets = [
        s
        for s in workbook["sheets"]
        if not sheet_name or sheet_name.lower() in (s["name"].lower(), s["table"].lower())
    ]
    if not sheets:
        names = ", ".join(_cell(s["name"]) for s in workbook["sheets"])
        reply = f"There is no sheet named {sheet_name[:200]!r}. The sheets are: {names}."
        return _bounded([reply[: COMMAND_TEXT_BYTES // 4]], "") + "\n"
    parts = []
    for sheet in sheets:
        parts.append(
            f"### {_cell(sheet['name'])} (`{sheet['table']}`, {sheet['rows']} rows, "
            f"{_layout(sheet)})\n"
        )
        parts.append("| column | type | non-null | distinct | min | max | mean | sum |")
        parts.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for col in sheet["columns"]:
            stats = " | ".join(_cell(col.get(k)) for k in _STATS)
            parts.append(
                f"| {_cell(col['name'])} | {col['type']} | {col.get('non_null', '')} | "
                f"{col.get('distinct', '')} | {stats} |"
            )
        parts.append("")
    return _bounded(parts, "ask /profile SHEET for one sheet" if not sheet_name else "")


def sql_text(result: QueryResult) -> str:
    """A query result as a Markdown table: the first rows, long text shortened."""
    if not result.columns:
        return "The query returned no columns.\n"
    shown = preview(result, CHAT_TABLE)
    columns = shown.columns
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.rows]
    footer = f"{len(result.rows)} row(s)"
    if len(shown.rows) < len(result.rows):
        footer += f", first {len(shown.rows)} shown"
    if len(columns) < len(result.columns):
        footer += f"; {len(result.columns)} columns, first {len(columns)} shown"
    notes = []
    if result.truncated_by == "rows":
        notes.append("truncated at the row limit")
    elif result.truncated_by == "bytes":
        notes.append("truncated at the size limit")
    if result.truncated_by == "cells" or shown.cut:
        notes.append("long text shortened")
    if notes:
        footer += f" ({'; '.join(notes)})"
    return _bounded([*lines, "", f"{footer}."], "add a LIMIT or select fewer columns") + "\n"


def _bounded(lines: list[str], hint: str) -> str:
    """The lines as one text of at most COMMAND_TEXT_BYTES, cut between lines with a note."""
    note = f"\n… shortened to {COMMAND_TEXT_BYTES // 1024} KiB" + (f"; {hint}" if hint else "")
    budget = COMMAND_TEXT_BYTES - len(note.encode()) - 2
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line.encode()) + 1
        if size > budget:
            return "\n".join(kept) + note + "."
        kept.append(line)
    return "\n".join(kept)


def workbook_prompt(workbook: dict[str, Any]) -> str:
    """What the model is told about the attached workbook."""
    lines = [f"The user attached the workbook {workbook['filename']!r}. Its tables:"]
    for sheet in workbook["sheets"]:
        cols = ", ".join(f"{c['name']} ({c['type']})" for c in sheet["columns"])
        where = f" at {sheet['range']}" if sheet.get("range") else ""
        lines.append(
            f"- {sheet['table']} (sheet {sheet['name']}{where}, {sheet['rows']} rows): {cols}"
        )
    if workbook.get("cells"):
        lines.append(
            f"Every non-empty cell is also a row of table {CELLS_TABLE}(sheet, row, col, "
            "address, type, number, text, boolean, date, duration, error, formula); query it "
            "for values outside the tables, e.g. SELECT address, number FROM cells WHERE "
            "sheet = '…' AND type = 'number'."
        )
    lines.append("Only state numbers that come from the data.")
    return "\n".join(lines)


def profile_evidence(workbook: dict[str, Any]) -> Evidence:
    """Every number the profile holds, each with where it came from."""
    evidence = Evidence([])
    for sheet in workbook["sheets"]:
        evidence.add(float(sheet["rows"]), Source("profile", f"{sheet['name']} rows"))
        for col in sheet["columns"]:
            for key in (*_STATS, "non_null", "distinct"):
                value = col.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    label = f"{sheet['name']}.{col['name']} {key}"
                    evidence.add(float(value), Source("profile", label))
    return evidence


def _cell(value: object) -> str:
    """A value as one Markdown table cell (or heading): pipes escaped, lines joined."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")
