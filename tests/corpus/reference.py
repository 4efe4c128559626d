"""An independent reader of the corpus: what each cell of a workbook holds, read plainly.

It shares no code with sheetstream. It reads

- .xlsx / .xlsm with openpyxl: once with ``data_only=True`` for the cached values, once with
  ``data_only=False`` for the formula text;
- .xls (BIFF2 to BIFF8) with xlrd, with ``formatting_info=True`` for the number formats;
- .ods with odfpy;
- .xlsb with pyxlsb for the workbook and its shared strings, and the sheet and style parts
  record by record (pyxlsb's own rows drop each cell's style, and without it a date cannot
  be told from a number);
- .csv with Python's csv module, given an encoding and a delimiter, or finding them in the
  MANIFEST.json beside the file. A CSV file is one sheet named after the file's stem, and
  every field in it is text: the reader does not guess numbers.

``read_cells`` maps (sheet name, A1 address) to a ``Cell`` for every cell that holds
something; an empty string is not a cell, and neither is a formula without a cached value.
A cell's kind is one of:

- "number": an int or a float (xlrd and odfpy give floats for integers in .xls and .xlsb;
  openpyxl and ODS give an int for a value written without a decimal point);
- "text": a str; the _xHHHH_ escapes .xlsx uses for control characters are decoded (openpyxl
  leaves them in place), so a NUL in a header comes back as "\\x00";
- "boolean": a bool;
- "date": a datetime.datetime (a date alone is midnight of that day), when the number
  format shows a calendar date, as Excel decides it;
- "duration": a datetime.timedelta, for elapsed-time formats such as [h]:mm and also for
  time-of-day formats such as hh:mm; a time of day is its timedelta since midnight (for a
  value of one day or more with a time-only format, the whole value);
- "error": the error's text, e.g. "#DIV/0!" or "#N/A".

``Cell.formula`` is the formula text where the reader can give it: "=SUM(B2:B4)" from .xlsx
and .xlsm, the ODF text from .ods (e.g. "of:=SUM([.B2:.B4])"), and None for .xls and .xlsb,
whose formulas are stored as tokens.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import struct
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

KINDS = frozenset({"number", "text", "boolean", "date", "duration", "error"})
ERROR_TEXTS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)
BIFF_ERRORS = {
    0x00: "#NULL!",
    0x07: "#DIV/0!",
    0x0F: "#VALUE!",
    0x17: "#REF!",
    0x1D: "#NAME?",
    0x24: "#NUM!",
    0x2A: "#N/A",
    0x2B: "#GETTING_DATA",
}
EXCEL_EPOCH = dt.datetime(1899, 12, 30)


@dataclass(frozen=True)
class Cell:
    kind: str
    value: object
    formula: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown cell kind {self.kind!r}")


Cells = dict[tuple[str, str], Cell]


def read_cells(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> Cells:
    """Every non-empty cell of the workbook at ``path``, by (sheet name, A1 address)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix == ".xls":
        return _read_xls(path)
    if suffix == ".ods":
        return _read_ods(path)
    if suffix == ".xlsb":
        return _read_xlsb(path)
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(path, encoding, delimiter)
    raise ValueError(f"no reader for {path.name}")


def numbers(path: Path) -> dict[tuple[str, str], float]:
    """Every numeric cell (kind "number"; not booleans, dates or durations), as a float."""
    out: dict[tuple[str, str], float] = {}
    for key, cell in read_cells(path).items():
        if cell.kind == "number":
            assert isinstance(cell.value, int | float)
            out[key] = float(cell.value)
    return out


def sheet_states(path: Path) -> dict[str, str]:
    """Every sheet, empty ones too, in workbook order: "visible", "hidden" or "veryHidden"."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        wb = _load_openpyxl(path, data_only=True)
        try:
            return {ws.title: str(ws.sheet_state) for ws in wb.worksheets}
        finally:
            wb.close()
    if suffix == ".xls":
        book = _open_xlrd(path)
        names = ("visible", "hidden", "veryHidden")
        return {sh.name: names[sh.visibility] for sh in book.sheets()}
    if suffix == ".ods":
        return {name: state for name, state, _ in _ods_tables(path)}
    if suffix == ".xlsb":
        return {name: state for name, state, _ in _xlsb_sheets(path)}
    if suffix in (".csv", ".tsv", ".txt"):
        return {path.stem: "visible"}
    raise ValueError(f"no reader for {path.name}")


# --------------------------------------------------------------------------- shared helpers


def address(row: int, col: int) -> str:
    """The A1 address of a zero-based (row, column)."""
    letters = ""
    n = col + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return f"{letters}{row + 1}"


_QUOTED = re.compile(r'"[^"]*"|\\.|_.|\*.')
_BRACKETS = re.compile(r"\[[^\]]*\]")
_ELAPSED = re.compile(r"\[(h+|m+|s+)\]", re.IGNORECASE)


def temporal_kind(number_format: str | None) -> str | None:
    """ "date", "duration" or None (a plain number) for an Excel number format code.

    Like Excel, only the first section counts; quoted text, escaped characters and
    [colour] or [$-locale] brackets are ignored. [h], [m] or [s] make an elapsed time; a
    format with hours, minutes or seconds but no day, month or year is a time of day, which
    this reader also calls a duration.
    """
    if not number_format:
        return None
    first = number_format.split(";")[0]
    if _ELAPSED.search(first):
        return "duration"
    bare = _BRACKETS.sub("", _QUOTED.sub("", first)).lower()
    if bare in ("general", "@"):
        return None
    has_date = any(ch in bare for ch in "dy") or ("m" in bare and not any(c in bare for c in "hs"))
    has_time = any(ch in bare for ch in "hs")
    if has_date:
        return "date"
    if has_time:
        return "duration"
    if "m" in bare:  # "mmm" alone: a month name
        return "date"
    return None


_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape_ooxml(text: str) -> str:
    """Decode the _xHHHH_ escapes that OOXML uses for characters XML 1.0 cannot hold.

    openpyxl turns _x005F_ into "_" and leaves the others, so only the escapes of
    characters that XML cannot carry literally (controls below U+0020 other than tab, line
    feed and carriage return, which Excel escapes as well, and U+FFFE/U+FFFF) are decoded.
    """

    def sub(m: re.Match[str]) -> str:
        code = int(m.group(1), 16)
        if code < 0x20 or code in (0xFFFE, 0xFFFF):
            return chr(code)
        return m.group(0)

    return _ESCAPE.sub(sub, text) if "_x" in text else text


# --------------------------------------------------------------------------- xlsx / xlsm


def _load_openpyxl(path: Path, *, data_only: bool) -> Any:
    import openpyxl  # type: ignore[import-untyped, unused-ignore]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no default style", unknown extensions, ...
        return openpyxl.load_workbook(path, data_only=data_only, keep_links=False)


def _read_xlsx(path: Path) -> Cells:
    from openpyxl.utils.datetime import to_excel  # type: ignore[import-untyped, unused-ignore]
    from openpyxl.worksheet.formula import ArrayFormula  # type: ignore[import-untyped, unused-ignore]

    values = _load_openpyxl(path, data_only=True)
    formulas = _load_openpyxl(path, data_only=False)
    out: Cells = {}
    try:
        for ws in values.worksheets:
            if not hasattr(ws, "iter_rows"):  # a chart sheet
                continue
            fws = formulas[ws.title]
            for row in ws.iter_rows():
                for cell in row:
                    v = cell.value
                    if v is None or v == "":
                        continue
                    fv = fws[cell.coordinate].value
                    formula: str | None = None
                    if isinstance(fv, ArrayFormula):
                        formula = str(fv.text)
                    elif isinstance(fv, str) and fws[cell.coordinate].data_type == "f":
                        formula = fv
                    kind, value = _openpyxl_value(cell, v, values.epoch, to_excel)
                    out[(ws.title, cell.coordinate)] = Cell(kind, value, formula)
    finally:
        values.close()
        formulas.close()
    return out


def _openpyxl_value(cell: Any, v: Any, epoch: dt.datetime, to_excel: Any) -> tuple[str, Any]:
    if cell.data_type == "e":
        return "error", str(v)
    if isinstance(v, bool):
        return "boolean", v
    if isinstance(v, int | float):
        return "number", v
    if isinstance(v, dt.timedelta):
        return "duration", v
    if isinstance(v, dt.time):
        return "duration", dt.timedelta(
            hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond
        )
    if isinstance(v, dt.datetime):
        if temporal_kind(cell.number_format) == "duration":  # a time format, a value >= 1
            return "duration", dt.timedelta(days=float(to_excel(v, epoch)))
        return "date", v
    if isinstance(v, dt.date):
        return "date", dt.datetime.combine(v, dt.time())
    if isinstance(v, str):
        return "text", unescape_ooxml(v)
    return "text", str(v)


# --------------------------------------------------------------------------- xls


def _open_xlrd(path: Path) -> Any:
    import xlrd  # type: ignore[import-untyped, unused-ignore]

    log = io.StringIO()  # xlrd reports oddities ("file size not 512 + multiple...") here
    try:
        return xlrd.open_workbook(str(path), formatting_info=True, logfile=log)
    except NotImplementedError:  # formatting_info is not implemented for some BIFF versions
        return xlrd.open_workbook(str(path), formatting_info=False, logfile=log)


def _read_xls(path: Path) -> Cells:
    import xlrd  # type: ignore[import-untyped, unused-ignore]

    book = _open_xlrd(path)
    out: Cells = {}
    for sh in book.sheets():
        for r in range(sh.nrows):
            for c in range(sh.ncols):
                ctype = sh.cell_type(r, c)
                v = sh.cell_value(r, c)
                cell: Cell | None = None
                if ctype == xlrd.XL_CELL_TEXT:
                    cell = Cell("text", v) if v != "" else None
                elif ctype == xlrd.XL_CELL_NUMBER:
                    cell = Cell("number", float(v))
                elif ctype == xlrd.XL_CELL_BOOLEAN:
                    cell = Cell("boolean", bool(v))
                elif ctype == xlrd.XL_CELL_ERROR:
                    cell = Cell("error", BIFF_ERRORS.get(int(v), f"#ERR{int(v)}"))
                elif ctype == xlrd.XL_CELL_DATE:
                    fmt = _xlrd_format(book, sh, r, c)
                    if temporal_kind(fmt) == "duration":
                        cell = Cell("duration", dt.timedelta(days=float(v)))
                    else:
                        cell = Cell("date", xlrd.xldate.xldate_as_datetime(v, book.datemode))
                if cell is not None:
                    out[(sh.name, address(r, c))] = cell
    return out


def _xlrd_format(book: Any, sh: Any, r: int, c: int) -> str | None:
    try:
        xf = book.xf_list[sh.cell_xf_index(r, c)]
        return str(book.format_map[xf.format_key].format_str)
    except (IndexError, KeyError, AttributeError):  # no formatting information
        return None


# --------------------------------------------------------------------------- ods

_ISO_DURATION = re.compile(
    r"^(-)?P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?"
    r"(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_iso_duration(text: str) -> dt.timedelta:
    """ODF time values: ISO 8601 durations such as PT36H30M00S or P1DT2H."""
    m = _ISO_DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    sign, days, hours, minutes, seconds = m.groups()
    td = dt.timedelta(
        days=float(days or 0),
        hours=float(hours or 0),
        minutes=float(minutes or 0),
        seconds=float(seconds or 0),
    )
    return -td if sign else td


def _ods_number(text: str) -> int | float:
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def _ods_tables(path: Path) -> Iterator[tuple[str, str, Any]]:
    from odf.namespaces import STYLENS, TABLENS  # type: ignore[import-untyped, unused-ignore]
    from odf.opendocument import load  # type: ignore[import-untyped, unused-ignore]
    from odf.style import Style, TableProperties  # type: ignore[import-untyped, unused-ignore]
    from odf.table import Table  # type: ignore[import-untyped, unused-ignore]

    doc = load(str(path))
    hidden: set[str] = set()
    for style in doc.automaticstyles.getElementsByType(Style):
        for props in style.getElementsByType(TableProperties):
            if props.attributes.get((TABLENS, "display")) == "false":
                hidden.add(style.attributes.get((STYLENS, "name")))
    for table in doc.spreadsheet.getElementsByType(Table):
        name = table.attributes.get((TABLENS, "name"))
        style = table.attributes.get((TABLENS, "style-name"))
        yield name, "hidden" if style in hidden else "visible", table


def _ods_rows(element: Any) -> Iterator[Any]:
    from odf.namespaces import TABLENS  # type: ignore[import-untyped, unused-ignore]

    for child in element.childNodes:
        if child.qname == (TABLENS, "table-row"):
            yield child
        elif child.qname in (
            (TABLENS, "table-header-rows"),
            (TABLENS, "table-row-group"),
            (TABLENS, "table-rows"),
        ):
            yield from _ods_rows(child)


def _read_ods(path: Path) -> Cells:
    from odf.namespaces import TABLENS  # type: ignore[import-untyped, unused-ignore]

    out: Cells = {}
    cell_names = ((TABLENS, "table-cell"), (TABLENS, "covered-table-cell"))
    for name, _state, table in _ods_tables(path):
        r = 0
        for row in _ods_rows(table):
            row_repeat = int(row.attributes.get((TABLENS, "number-rows-repeated"), 1))
            found: list[tuple[int, int, Cell]] = []
            c = 0
            for cell_el in row.childNodes:
                if cell_el.qname not in cell_names:
                    continue
                col_repeat = int(cell_el.attributes.get((TABLENS, "number-columns-repeated"), 1))
                cell = _ods_cell(cell_el)
                if cell is not None:
                    found.append((c, col_repeat, cell))
                c += col_repeat
            for dr in range(row_repeat if found else 0):
                for c0, n, cell in found:
                    for dc in range(n):
                        out[(name, address(r + dr, c0 + dc))] = cell
            r += row_repeat
    return out


CALCEXTNS = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"


def _ods_cell(el: Any) -> Cell | None:
    from odf.namespaces import OFFICENS, TABLENS, TEXTNS  # type: ignore[import-untyped, unused-ignore]
    from odf.teletype import extractText  # type: ignore[import-untyped, unused-ignore]

    attrs = el.attributes
    vtype = attrs.get((OFFICENS, "value-type"))
    formula = attrs.get((TABLENS, "formula"))
    paragraphs = [
        extractText(p) for p in el.childNodes if p.qname in ((TEXTNS, "p"), (TEXTNS, "h"))
    ]
    text = "\n".join(paragraphs)
    if attrs.get((CALCEXTNS, "value-type")) == "error" or (
        formula and vtype in (None, "string") and text in ERROR_TEXTS
    ):
        return Cell("error", text, formula)
    if vtype in ("float", "percentage", "currency"):
        return Cell("number", _ods_number(attrs[(OFFICENS, "value")]), formula)
    if vtype == "date":
        value = dt.datetime.fromisoformat(attrs[(OFFICENS, "date-value")])
        return Cell("date", value, formula)
    if vtype == "time":
        return Cell("duration", parse_iso_duration(attrs[(OFFICENS, "time-value")]), formula)
    if vtype == "boolean":
        return Cell("boolean", attrs[(OFFICENS, "boolean-value")] == "true", formula)
    string_value = attrs.get((OFFICENS, "string-value"))
    if string_value:
        return Cell("text", string_value, formula)
    if text:
        return Cell("text", text, formula)
    return None


# --------------------------------------------------------------------------- xlsb

BRT_ROW_HDR = 0
BRT_CELL_BLANK = 1
BRT_CELL_RK = 2
BRT_CELL_ERROR = 3
BRT_CELL_BOOL = 4
BRT_CELL_REAL = 5
BRT_CELL_ST = 6
BRT_CELL_ISST = 7
BRT_FMLA_STRING = 8
BRT_FMLA_NUM = 9
BRT_FMLA_BOOL = 10
BRT_FMLA_ERROR = 11
BRT_CELL_RSTRING = 62
BRT_FMT = 44
BRT_XF = 47
BRT_BUNDLE_SH = 156
BRT_BEGIN_CELL_XFS = 617
BRT_END_CELL_XFS = 618
# built-in number formats that Excel shows as dates in East Asian locales
_LOCALE_DATE_FORMATS = set(range(27, 37)) | set(range(50, 59))


def xlsb_records(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(record type, payload) for each record of a BIFF12 part; types as the spec numbers them."""
    pos, end = 0, len(data)
    while pos < end:
        rtype, pos = _varint(data, pos, 2)
        size, pos = _varint(data, pos, 4)
        yield rtype, data[pos : pos + size]
        pos += size


def _varint(data: bytes, pos: int, most: int) -> tuple[int, int]:
    """A BIFF12 variable-length number of at most ``most`` bytes at ``pos``, and the position
    after it: seven bits a byte, the high bit set while more follow."""
    value = 0
    for i in range(most):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            break
    return value, pos


def _wide_string(data: bytes, at: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", data, at)
    if n == 0xFFFFFFFF:  # XLNullableWideString: null
        return "", at + 4
    return data[at + 4 : at + 4 + 2 * n].decode("utf-16-le"), at + 4 + 2 * n


def _rk(raw: int) -> int | float:
    if raw & 0x02:
        n = raw >> 2
        if n & (1 << 29):
            n -= 1 << 30
        return n / 100 if raw & 0x01 else float(n)
    (value,) = struct.unpack("<d", struct.pack("<Q", (raw & 0xFFFFFFFC) << 32))
    return float(value / 100 if raw & 0x01 else value)


def _xlsb_sheets(path: Path) -> Iterator[tuple[str, str, str]]:
    """(name, state, part) for each sheet, from pyxlsb's names and the workbook part."""
    import pyxlsb  # type: ignore[import-untyped, unused-ignore]

    states = ("visible", "hidden", "veryHidden")
    with zipfile.ZipFile(path) as zf:
        rels_xml = ElementTree.fromstring(zf.read("xl/_rels/workbook.bin.rels"))
        targets = {rel.attrib["Id"]: rel.attrib["Target"] for rel in rels_xml}
        bundles: list[tuple[str, str, str]] = []
        for rtype, rec in xlsb_records(zf.read("xl/workbook.bin")):
            if rtype == BRT_BUNDLE_SH:
                (hs_state,) = struct.unpack_from("<I", rec, 0)
                rel_id, at = _wide_string(rec, 8)
                name, _ = _wide_string(rec, at)
                target = targets[rel_id].lstrip("/")
                part = target if target.startswith("xl/") else f"xl/{target}"
                bundles.append((name, states[hs_state & 0x3], part))
    with pyxlsb.open_workbook(str(path)) as wb:
        assert list(wb.sheets) == [b[0] for b in bundles], (wb.sheets, bundles)
    yield from bundles


def _xlsb_styles(zf: zipfile.ZipFile) -> list[str | None]:
    """The number format code of every cell XF, by XF index."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS  # type: ignore[import-untyped, unused-ignore]

    try:
        data = zf.read("xl/styles.bin")
    except KeyError:
        return []
    custom: dict[int, str] = {}
    xfs: list[str | None] = []
    in_cell_xfs = False
    for rtype, rec in xlsb_records(data):
        if rtype == BRT_FMT:
            (ifmt,) = struct.unpack_from("<H", rec, 0)
            custom[ifmt] = _wide_string(rec, 2)[0]
        elif rtype == BRT_BEGIN_CELL_XFS:
            in_cell_xfs = True
        elif rtype == BRT_END_CELL_XFS:
            in_cell_xfs = False
        elif rtype == BRT_XF and in_cell_xfs:
            (ifmt,) = struct.unpack_from("<H", rec, 2)
            if ifmt in custom:
                xfs.append(custom[ifmt])
            elif ifmt in _LOCALE_DATE_FORMATS:
                xfs.append("yyyy-mm-dd")
            else:
                xfs.append(BUILTIN_FORMATS.get(ifmt))
    return xfs


def _read_xlsb(path: Path) -> Cells:
    import pyxlsb  # type: ignore[import-untyped, unused-ignore]

    sheets = list(_xlsb_sheets(path))
    out: Cells = {}
    with pyxlsb.open_workbook(str(path)) as wb, zipfile.ZipFile(path) as zf:
        shared: Any = wb.stringtable  # indexable by the shared string's number
        formats = _xlsb_styles(zf)
        date1904 = _xlsb_date1904(zf)
        for name, _state, part in sheets:
            row = 0
            for rtype, rec in xlsb_records(zf.read(part)):
                if rtype == BRT_ROW_HDR:
                    (row,) = struct.unpack_from("<I", rec, 0)
                    continue
                if not BRT_CELL_RK <= rtype <= BRT_FMLA_ERROR and rtype != BRT_CELL_RSTRING:
                    continue
                col, style = struct.unpack_from("<II", rec, 0)
                fmt = formats[style & 0xFFFFFF] if (style & 0xFFFFFF) < len(formats) else None
                cell = _xlsb_cell(rtype, rec, fmt, shared, date1904)
                if cell is not None:
                    out[(name, address(row, col))] = cell
    return out


def _xlsb_date1904(zf: zipfile.ZipFile) -> bool:
    for rtype, rec in xlsb_records(zf.read("xl/workbook.bin")):
        if rtype == 153:  # BrtWbProp: flags, bit 0 is f1904
            return bool(struct.unpack_from("<I", rec, 0)[0] & 0x01)
    return False


def _xlsb_cell(rtype: int, rec: bytes, fmt: str | None, shared: Any, date1904: bool) -> Cell | None:
    if rtype in (BRT_CELL_ERROR, BRT_FMLA_ERROR):
        return Cell("error", BIFF_ERRORS.get(rec[8], f"#ERR{rec[8]}"))
    if rtype in (BRT_CELL_BOOL, BRT_FMLA_BOOL):
        return Cell("boolean", rec[8] != 0)
    if rtype in (BRT_CELL_ST, BRT_FMLA_STRING):
        text = _wide_string(rec, 8)[0]
        return Cell("text", text) if text else None
    if rtype == BRT_CELL_RSTRING:
        text = _wide_string(rec, 9)[0]
        return Cell("text", text) if text else None
    if rtype == BRT_CELL_ISST:
        (i,) = struct.unpack_from("<I", rec, 8)
        text = str(shared[i])
        return Cell("text", text) if text else None
    number: float
    if rtype == BRT_CELL_RK:
        number = _rk(struct.unpack_from("<I", rec, 8)[0])
    elif rtype in (BRT_CELL_REAL, BRT_FMLA_NUM):
        number = float(struct.unpack_from("<d", rec, 8)[0])
    else:
        return None
    kind = temporal_kind(fmt)
    if kind == "duration":
        return Cell("duration", dt.timedelta(days=number))
    if kind == "date":
        return Cell("date", serial_to_datetime(number, date1904))
    return Cell("number", number)


def serial_to_datetime(serial: float, date1904: bool = False) -> dt.datetime:
    """An Excel date serial as a datetime, rounded to the millisecond, as Excel shows it.

    In the 1900 system serials below 60 count from 1899-12-31: Excel's phantom 1900-02-29
    is serial 60 and has no datetime (it comes back as 1900-03-01).
    """
    if date1904:
        base = dt.datetime(1904, 1, 1)
    elif serial < 60:
        base = dt.datetime(1899, 12, 31)
    else:
        base = EXCEL_EPOCH
    return base + dt.timedelta(milliseconds=round(serial * 86_400_000))


# --------------------------------------------------------------------------- csv


def _read_csv(path: Path, encoding: str | None, delimiter: str | None) -> Cells:
    if encoding is None or delimiter is None:
        entry = _manifest_entry(path)
        encoding = encoding or str(entry["encoding"])
        delimiter = delimiter or str(entry["delimiter"])
    out: Cells = {}
    with path.open(encoding=encoding, newline="") as fh:
        for r, fields in enumerate(csv.reader(fh, delimiter=delimiter)):
            for c, text in enumerate(fields):
                if text != "":
                    out[(path.stem, address(r, c))] = Cell("text", text)
    return out


def _manifest_entry(path: Path) -> dict[str, Any]:
    manifest = path.parent / "MANIFEST.json"
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        entry: dict[str, Any] = files[path.name]
    except (OSError, KeyError) as exc:
        msg = f"{path.name}: give encoding= and delimiter=, or list the file in {manifest}"
        raise ValueError(msg) from exc
    return entry
