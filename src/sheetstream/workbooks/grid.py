"""A workbook read once, cell by cell and typed, into the grids every view is made from.

The cells come from calamine (python-calamine), for xlsx, xlsm, xlsb, xls and ods alike. Each
sheet is a list of rows from A1 to its last used cell, every row as wide as the sheet; an empty
cell is ``""``. calamine reads an error cell (``#DIV/0!``) as empty too: for the formats whose
parts say more (xlsx, xlsm) :mod:`.xlsx_parts` finds the error cells and the formula texts, and
the error cells are put back as :class:`CellError`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias, cast

import python_calamine

from sheetstream.workbooks.xlsx_parts import defined_ranges, read_extras, sheet_parts

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

__all__ = [
    "BOOLEAN",
    "DATE",
    "DURATION",
    "EMPTY",
    "ERROR",
    "KIND_NAMES",
    "KIND_OF_TYPE",
    "NUMBER",
    "NUMBER_TYPES",
    "TEXT",
    "CellError",
    "ListObject",
    "Sheet",
    "Value",
    "as_timedelta",
    "as_timestamp",
    "has_cells",
    "kind",
    "read_workbook",
]


@dataclass(frozen=True, slots=True)
class CellError:
    """A cell holding an error value, as the spreadsheet program shows it (``#N/A``)."""

    code: str

    def __str__(self) -> str:
        return self.code


Value: TypeAlias = (
    str | float | int | bool | dt.date | dt.datetime | dt.time | dt.timedelta | CellError
)

EMPTY, TEXT, NUMBER, BOOLEAN, DATE, DURATION, ERROR = range(7)
KIND_NAMES = ("empty", "text", "number", "boolean", "date", "duration", "error")

KIND_OF_TYPE: dict[type, int] = {
    str: TEXT,
    float: NUMBER,
    int: NUMBER,
    bool: BOOLEAN,
    dt.date: DATE,
    dt.datetime: DATE,
    dt.time: DURATION,  # a time of day is a duration since midnight, as Excel stores it
    dt.timedelta: DURATION,
    CellError: ERROR,
}


def kind(value: Value) -> int:
    if value == "":
        return EMPTY
    return KIND_OF_TYPE.get(type(value), TEXT)


NUMBER_TYPES = frozenset({float, int})


def as_timestamp(value: dt.date) -> dt.datetime:
    """A date as midnight of that day; a date-time as it is."""
    return value if isinstance(value, dt.datetime) else dt.datetime.combine(value, dt.time())


def as_timedelta(value: dt.time | dt.timedelta) -> dt.timedelta:
    """A time of day as the duration since midnight (as Excel stores it); a duration as it is."""
    if isinstance(value, dt.time):
        return dt.timedelta(
            hours=value.hour,
            minutes=value.minute,
            seconds=value.second,
            microseconds=value.microsecond,
        )
    return value


def has_cells(rows: list[list[Value]]) -> bool:
    return any(row.count("") != len(row) for row in rows)


@dataclass(slots=True)
class Sheet:
    name: str
    hidden: bool
    rows: list[list[Value]]  # from A1; rows[r][c] is the cell at row r + 1, column c + 1
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0


@dataclass(frozen=True, slots=True)
class ListObject:
    """An Excel Table (a named range with a header row), or the range of a defined name;
    0-based inclusive bounds."""

    name: str
    sheet: str
    first_row: int
    first_col: int
    last_row: int
    last_col: int
    defined_name: bool = False  # a defined name's range, not an Excel Table


def read_workbook(path: Path, fmt: str) -> tuple[list[ListObject], Iterator[Sheet]]:
    """The workbook's Excel Tables, and its sheets (worksheets only; chart sheets have no
    cells) read one at a time as they are iterated: only one sheet's grid is in memory."""
    if fmt == "xls":
        with path.open("rb") as fh:
            if not fh.read(8).startswith(_OLE2):
                return [], iter(_read_biff_stream(path))
    tables = fmt in ("xlsx", "xlsm")
    with path.open("rb") as fh:  # read by its bytes, whatever its name says
        book = python_calamine.CalamineWorkbook.from_filelike(fh, load_tables=tables)
    try:
        objects = [_list_object(book, name) for name in book.table_names or ()] if tables else []
    except BaseException:
        book.close()
        raise
    found = [o for o in objects if o is not None]
    if tables:
        found += [
            ListObject(name, sheet, r0, c0, r1, c1, defined_name=True)
            for name, sheet, (r0, c0), (r1, c1) in defined_ranges(path)
        ]
    return found, _sheets(book, path, tables, fmt == "ods")


def _sheets(
    book: python_calamine.CalamineWorkbook, path: Path, xlsx: bool, ods: bool
) -> Iterator[Sheet]:
    # The error cells and formulas come from a second read of the sheet's XML, on a thread
    # while calamine parses the sheet (it lets the GIL go): the two take the time of one.
    pool = ThreadPoolExecutor(1, thread_name_prefix="sheet-extras")
    try:
        parts = sheet_parts(path) if xlsx else {}
        for meta in book.sheets_metadata:
            if meta.typ not in (
                python_calamine.SheetTypeEnum.WorkSheet,
                python_calamine.SheetTypeEnum.MacroSheet,
            ):
                continue
            part = parts.get(meta.name)
            extras = pool.submit(read_extras, path, part) if part is not None else None
            sheet = book.get_sheet_by_name(meta.name)
            rows = cast(
                list[list[Value]], sheet.to_python(skip_empty_area=False) if sheet.end else []
            )
            if not has_cells(rows):
                rows = []
            if ods:
                _ods_durations(rows)
            found = Sheet(
                name=meta.name,
                hidden=meta.visible != python_calamine.SheetVisibleEnum.Visible,
                rows=rows,
                merged=list(sheet.merged_cell_ranges or ()),
            )
            del sheet, rows  # the caller may let the grid go while this generator waits
            if extras is not None:
                extra = extras.result()
                found.formulas = extra.formulas
                _put_errors(found, extra.errors)
            yield found
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        book.close()


# as OpenDocument writes a time value (LibreOffice: PT40H30M00S): hours, minutes and seconds
# all present, so that a text cell such as "PT15M" stays text
_ISO_DURATION = re.compile(r"(-)?PT(\d{1,7})H(\d{1,2})M(\d{1,2}(?:\.\d{1,9})?)S")


def _ods_durations(rows: list[list[Value]]) -> None:
    """calamine hands an OpenDocument duration (a time cell past 24 h, as "PT40H30M00S") over
    as its ISO 8601 text: make it the duration it shows as."""
    for row in rows:
        for c, value in enumerate(row):
            if type(value) is str and value[:2] in ("PT", "-P"):
                match = _ISO_DURATION.fullmatch(value)
                if match:
                    sign, hours, minutes, seconds = match.groups()
                    span = dt.timedelta(
                        hours=int(hours), minutes=int(minutes), seconds=float(seconds)
                    )
                    row[c] = -span if sign else span


def _read_biff_stream(path: Path) -> list[Sheet]:
    """An Excel 2.x–5 file without the OLE container, which calamine does not read: xlrd
    does (and says which cells are errors)."""
    import xlrd  # type: ignore[import-untyped]

    book = xlrd.open_workbook(str(path), on_demand=True)
    sheets = []
    try:
        for index in range(book.nsheets):
            raw = book.sheet_by_index(index)
            rows: list[list[Value]] = []
            for r in range(raw.nrows):
                rows.append(
                    [
                        _biff_value(raw.cell_type(r, c), raw.cell_value(r, c), book.datemode)
                        for c in range(raw.ncols)
                    ]
                )
            if not has_cells(rows):
                rows = []
            sheets.append(Sheet(raw.name, getattr(raw, "visibility", 0) != 0, rows))
            book.unload_sheet(index)
    finally:
        book.release_resources()
    return sheets


def _biff_value(cell_type: int, value: object, datemode: int) -> Value:
    import xlrd

    if cell_type == xlrd.XL_CELL_TEXT:
        return str(value)
    if cell_type == xlrd.XL_CELL_NUMBER:
        return float(value)  # type: ignore[arg-type]
    if cell_type == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if cell_type == xlrd.XL_CELL_ERROR:
        return CellError(xlrd.error_text_from_code.get(value, "#ERROR!"))
    if cell_type == xlrd.XL_CELL_DATE:
        serial = float(value)  # type: ignore[arg-type]
        try:
            when = xlrd.xldate.xldate_as_datetime(serial, datemode)
        except (ValueError, OverflowError):
            return serial
        moment = cast(dt.datetime, when)
        if serial < 1:
            return moment.time()
        return moment.date() if moment.time() == dt.time(0) else moment
    return ""


def _put_errors(sheet: Sheet, errors: dict[tuple[int, int], str]) -> None:
    """Put the error cells into the grid (calamine left them empty)."""
    for (r, c), code in errors.items():
        if r >= len(sheet.rows):
            sheet.rows.extend([""] * sheet.width for _ in range(r + 1 - len(sheet.rows)))
        if c >= sheet.width:
            grow = c + 1 - sheet.width
            for row in sheet.rows:
                row.extend([""] * grow)
        if sheet.rows[r][c] == "":
            sheet.rows[r][c] = CellError(code)


def _list_object(book: python_calamine.CalamineWorkbook, name: str) -> ListObject | None:
    try:
        table = book.get_table_by_name(name)
    except python_calamine.CalamineError:
        return None
    start, end = table.start, table.end
    if start is None or end is None:
        return None
    # calamine's table range starts below the header row
    return ListObject(name, table.sheet, start[0] - 1, start[1], end[0], end[1])
