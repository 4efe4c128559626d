"""Decide whether an uploaded spreadsheet is safe to parse, and what it is.

Runs before any parser touches the file. Stdlib only (zipfile, re, codecs, struct).

* `clean_filename` makes an uploaded name safe to store and show.
* `sniff` checks that the extension is allowed and that the bytes match it (ZIP structure for
  .xlsx/.xlsm/.ods, OLE2 for .xls, decodable text for .csv); it also rejects ZIP polyglots
  (data before the archive or after its end record) and password-protected workbooks.
* `inspect` looks inside ZIP workbooks for bombs (entry count, compression ratio, declared and
  actual decompressed size, overlapping entries), XML DTD tricks (billion laughs, XXE), huge
  declared used ranges and shared-strings counts that readers pre-allocate by, and returns
  warnings (macros, external links, merged header cells, formulas without cached values).

Everything raises `WorkbookRejected`, whose `status` is 415 (wrong or unsupported type) or 422
(unsafe or corrupt content).
"""

from __future__ import annotations

import itertools
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from sheetstream.errors import SheetstreamError
from sheetstream.workbooks.encoding import NotText, detect_encoding

__all__ = [
    "Format",
    "InspectLimits",
    "WorkbookRejected",
    "clean_filename",
    "inspect",
    "sniff",
]

Format = Literal["xlsx", "xlsm", "xlsb", "xls", "ods", "csv"]

_EXTENSIONS: dict[str, Format] = {
    ".xlsx": "xlsx",
    ".xlsm": "xlsm",
    ".xlsb": "xlsb",
    ".xls": "xls",
    ".ods": "ods",
    ".csv": "csv",
    ".tsv": "csv",
}
_ZIP_FORMATS = frozenset({"xlsx", "xlsm", "xlsb", "ods"})
# a BIFF2–BIFF8 stream without an OLE container starts with its BOF record (Excel 2.x to 5)
_BIFF_BOF = (b"\x09\x00", b"\x09\x02", b"\x09\x04", b"\x09\x08")
# the stream an Excel 97–2003 (BIFF8) or Excel 5/95 (BIFF5) file keeps its sheets in
_BIFF_STREAMS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))
_OFFICE_DOCUMENT = re.compile(
    rb"<(?:[\w.-]{1,32}:)?Relationship\s[^>]{0,2048}?Type\s{0,8}=\s{0,8}[\"'][^\"']{0,256}"
    rb"/officeDocument[\"'][^>]{0,2048}>",
)
_TARGET = re.compile(rb"Target\s{0,8}=\s{0,8}[\"']([^\"']{1,512})[\"']")

_ZIP_LOCAL = b"PK\x03\x04"
_ZIP_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"

_MAX_ZIP_COMMENT = 1024
_RATIO_MIN_SIZE = 1 << 20  # the ratio check applies to entries over 1 MiB uncompressed
_MAX_SHARED_STRINGS = 10_000_000
_MIN_SHARED_STRING_BYTES = 7
_CHUNK = 1 << 20
_MAX_CELL_CARRY = 4 << 20  # a single <c> element longer than this is not scanned for formulas
_CSV_HEAD = 1024
_MAX_FILENAME = 120

_UNREADABLE = "The file is not a readable workbook ({detail}); upload it again or re-save it."
# what the ZIP reader raises on a damaged archive, besides its own errors
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,
    OverflowError,
    struct.error,
    zlib.error,
    NotImplementedError,  # a compression method it lacks
    RuntimeError,
    KeyError,
    IndexError,
)


class WorkbookRejected(SheetstreamError):
    """The upload is not a workbook we accept; `status` is 415 (type) or 422 (content)."""

    code = "bad_request"

    def __init__(self, message: str, *, status: int = 422, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id)
        self.status = status


@dataclass(frozen=True)
class InspectLimits:
    max_entries: int = 5000
    max_ratio: float = 200.0
    max_unzipped_bytes: int = 1 << 30
    max_cells_per_sheet: int = 20_000_000
    max_xml_scan_bytes: int = 65536


# ---------------------------------------------------------------------------------------------
# Filenames


_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_filename(name: str) -> str:
    """Basename only, no control characters, at most 120 characters, never empty."""
    text = unicodedata.normalize("NFC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = re.split(r"[/\\]", text)[-1]
    text = _DRIVE.sub("", text).strip()
    ext = _extension(text)
    suffix = text[len(text) - len(ext) :] if ext else ""
    stem = text[: len(text) - len(ext)].strip().lstrip(".").rstrip(". ")
    if not stem:
        return "workbook" + ext
    return stem[: _MAX_FILENAME - len(suffix)].rstrip(". ") + suffix


def _extension(name: str) -> str:
    dot = name.rfind(".")
    if dot < 0:
        return ""
    ext = name[dot:].lower()
    return ext if ext in _EXTENSIONS else ""


# ---------------------------------------------------------------------------------------------
# Sniffing


def sniff(path: Path, filename: str, max_entries: int = 5000) -> Format:
    """The workbook format, told by the file's bytes, if its extension is one we take.

    The bytes decide, as they do for a spreadsheet program: an .xlsx package named .xls is read
    as .xlsx, an Excel 97 file named .xlsx as .xls, an Excel 2.x–5 file (a BIFF stream without
    the OLE container) as .xls. Text is read as CSV only under .csv or .tsv.

    A ZIP package's directory is read only once its end record says it has at most
    `max_entries` entries: the directory of a hostile file would otherwise be read whole."""
    ext = _extension(clean_filename(filename))
    if not ext:
        shown = Path(filename.replace("\\", "/")).suffix or "(none)"
        raise WorkbookRejected(
            f"Files of type {shown} are not accepted; upload .xlsx, .xlsm, .xlsb, .xls, .ods "
            "or .csv.",
            status=415,
        )
    named = _EXTENSIONS[ext]
    try:
        with path.open("rb") as fh:
            head = fh.read(_CSV_HEAD)
            if not head:
                raise WorkbookRejected(f"The {ext} file is empty.", status=415)
            if head.startswith(_OLE2):
                if _contains(fh, _ENCRYPTED_PACKAGE):
                    raise WorkbookRejected(
                        "The workbook is encrypted: remove the password in Excel and upload again.",
                        status=422,
                    )
                if not any(_contains(fh, name) for name in _BIFF_STREAMS):
                    raise WorkbookRejected(
                        f"This file is an old-style Office file but not an Excel workbook (a "
                        f"Word or PowerPoint file renamed {ext}?); upload the workbook itself.",
                        status=415,
                    )
                return "xls"
            if head.startswith(_BIFF_BOF) and named != "csv":
                return "xls"
            if head.startswith(_ZIP_LOCAL) or named in _ZIP_FORMATS:
                return _sniff_zip(fh, head, named, ext, max_entries)
            if named != "csv":
                raise WorkbookRejected(
                    f"This file is {_describe(head)} renamed {ext}; upload the workbook itself.",
                    status=415,
                )
            _sniff_csv(fh, head)
    except OSError as exc:
        raise WorkbookRejected(_UNREADABLE.format(detail=exc.strerror or "I/O error")) from exc
    except _ZIP_ERRORS as exc:  # whatever the ZIP reader makes of a damaged directory
        raise WorkbookRejected(_UNREADABLE.format(detail=_detail(exc))) from exc
    return "csv"


def _detail(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return text or "corrupt ZIP"


def _describe(head: bytes) -> str:
    lowered = head[:_CSV_HEAD].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_ZIP_LOCAL):
        return "a ZIP archive (such as .xlsx or .ods)"
    if head.startswith(_OLE2):
        return "an old-style Office file (.xls or .doc)"
    if head.startswith(b"MZ") or head.startswith(b"\x7fELF"):
        return "a program"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered:
        return "an HTML page"
    if lowered.startswith((b"<?xml", b"<!doctype")):
        return "an XML document"
    if b"\x00" in head:
        return "a binary file"
    return "a text file"


def _sniff_zip(fh: IO[bytes], head: bytes, named: Format, ext: str, max_entries: int) -> Format:
    if not head.startswith(_ZIP_LOCAL):
        if _contains(fh, _ZIP_LOCAL):
            raise WorkbookRejected(
                "The file has data before the ZIP archive (a polyglot file); upload the "
                "workbook itself.",
                status=422,
            )
        raise WorkbookRejected(
            f"This file is {_describe(head)} renamed {ext}; upload the workbook itself.",
            status=415,
        )
    _check_zip_frame(fh, max_entries)
    fh.seek(0)
    try:
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            names = {info.filename.lower(): info.filename for info in infos}
            _check_encrypted(infos)
            if "mimetype" in names:
                with zf.open(names["mimetype"]) as member:
                    mimetype = member.read(len(_ODS_MIMETYPE) + 64).strip()
                if mimetype == _ODS_MIMETYPE:
                    return "ods"
                if named == "ods":
                    raise WorkbookRejected(
                        "The .ods file's mimetype is "
                        f"{mimetype[:64].decode('ascii', 'replace')!r}, not "
                        f"{_ODS_MIMETYPE.decode()!r}; upload an OpenDocument spreadsheet.",
                        status=415,
                    )
            main = _main_part(zf, names)
            if main.endswith(".bin"):
                return "xlsb"
            if main.endswith(".xml") and "[content_types].xml" in names:
                types = zf.open(names["[content_types].xml"]).read(1 << 20)
                return "xlsm" if named == "xlsm" or b"macroEnabled" in types else "xlsx"
            if named == "ods":
                raise WorkbookRejected(
                    "The .ods file has no mimetype entry; it is not an OpenDocument spreadsheet.",
                    status=415,
                )
            kind = "an OpenDocument file" if "mimetype" in names else "a ZIP archive"
            raise WorkbookRejected(
                f"This file is {kind} without a workbook part ([Content_Types].xml and "
                f"xl/workbook.xml), not an Excel workbook renamed {ext}; upload the workbook "
                "itself.",
                status=415,
            )
    except _ZIP_ERRORS as exc:
        raise WorkbookRejected(_UNREADABLE.format(detail=_detail(exc))) from exc


def _main_part(zf: zipfile.ZipFile, names: dict[str, str]) -> str:
    """The workbook part's name, lowercased: the package's officeDocument relationship says,
    else the usual names."""
    rels = names.get("_rels/.rels")
    if rels is not None:
        with zf.open(rels) as member:
            found = _OFFICE_DOCUMENT.search(member.read(1 << 20))
        target = _TARGET.search(found.group(0)) if found else None
        if target is not None:
            part = target.group(1).decode("utf-8", "replace").lstrip("/").lower()
            if part in names:
                return part
    for part in ("xl/workbook.xml", "xl/workbook.bin"):
        if part in names:
            return part
    return ""


def _contains(fh: IO[bytes], needle: bytes) -> bool:
    fh.seek(0)
    carry = b""
    while chunk := fh.read(_CHUNK):
        if needle in carry + chunk:
            return True
        carry = chunk[-(len(needle) - 1) :]
    return False


def _check_zip_frame(fh: IO[bytes], max_entries: int) -> None:
    """The archive must start at byte 0 and end at its end-of-central-directory record, and
    its directory must hold at most `max_entries` entries and fit in the file."""
    size = fh.seek(0, 2)
    tail_len = min(size, 22 + 0xFFFF)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    base = size - tail_len
    pos = tail.rfind(_ZIP_EOCD)
    found = False
    while pos >= 0:
        if pos + 22 <= len(tail):
            found = True
            (_, _, _, _, entries, cd_size, cd_offset, comment_len) = struct.unpack(
                "<4sHHHHIIH", tail[pos : pos + 22]
            )
            if pos + 22 + comment_len == len(tail):
                break
        pos = tail.rfind(_ZIP_EOCD, 0, pos)
    else:
        if found:
            raise WorkbookRejected(
                "The file has data after the end of the ZIP archive (a polyglot or damaged "
                "file); upload the workbook itself.",
                status=422,
            )
        raise WorkbookRejected(_UNREADABLE.format(detail="no end-of-archive record; truncated?"))
    if comment_len > _MAX_ZIP_COMMENT:
        raise WorkbookRejected(
            f"The ZIP archive carries a {comment_len:,}-byte comment; the limit is "
            f"{_MAX_ZIP_COMMENT:,}.",
            status=422,
        )
    eocd_at = base + pos
    cd_end_expected = eocd_at
    if cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF or entries == 0xFFFF:
        locator = tail[pos - 20 : pos] if pos >= 20 else b""
        if len(locator) != 20 or not locator.startswith(_ZIP64_LOCATOR):
            raise WorkbookRejected(_UNREADABLE.format(detail="bad ZIP64 locator"))
        (zip64_at,) = struct.unpack("<Q", locator[8:16])
        if zip64_at + 56 > eocd_at:
            raise WorkbookRejected(_UNREADABLE.format(detail="bad ZIP64 locator"))
        fh.seek(zip64_at)
        record = fh.read(56)
        if len(record) != 56 or not record.startswith(_ZIP64_EOCD):
            raise WorkbookRejected(_UNREADABLE.format(detail="bad ZIP64 end record"))
        (entries,) = struct.unpack("<Q", record[32:40])
        cd_size, cd_offset = struct.unpack("<QQ", record[40:56])
        cd_end_expected = zip64_at
    if entries > max_entries:
        raise WorkbookRejected(
            f"The file has {entries:,} entries; the limit is {max_entries:,}.", status=422
        )
    if cd_offset + cd_size != cd_end_expected:
        raise WorkbookRejected(
            "The file has data before the ZIP archive or between its parts (a polyglot file); "
            "upload the workbook itself.",
            status=422,
        )


def _check_encrypted(infos: list[zipfile.ZipInfo]) -> None:
    for info in infos:
        if info.flag_bits & 0x1:
            raise WorkbookRejected(
                f"The archive entry {info.filename!r} is password-protected; remove the "
                "password and upload again.",
                status=422,
            )


def _sniff_csv(fh: IO[bytes], head: bytes) -> None:
    kind = _describe(head)
    if kind in ("a binary file", "a text file"):
        try:
            detect_encoding(fh)
            return
        except NotText as exc:
            raise WorkbookRejected(
                f"The .csv file is not text: {exc}. Save it as CSV (UTF-8, UTF-16 or "
                "Windows-1252) and upload again.",
                status=415,
            ) from exc
    raise WorkbookRejected(
        f"This file is {kind} renamed .csv; upload a comma-separated text file.", status=415
    )


# ---------------------------------------------------------------------------------------------
# Inspection


_DOCTYPE = re.compile(rb"<!\s{0,64}(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_SHEET_NAME = re.compile(r"^xl/worksheets/sheet(\d+)\.xml$")
_SHEET_PART = re.compile(r"^xl/worksheets/[^/]+\.xml$", re.IGNORECASE)
_SHARED_STRINGS = re.compile(r"^xl/[^/]*sharedstrings[^/]*\.xml$", re.IGNORECASE)
_STRING_CELL = re.compile(rb"\st\s{0,8}=\s{0,8}[\"']s[\"']")
_ENTRY_OPEN = re.compile(rb"<(?:[\w.-]{1,32}:)?si(?:\s[^>]{0,1024})?>")
_ENTRY_CLOSE = re.compile(rb"</(?:[\w.-]{1,32}:)?si\s{0,8}>")
_UNUSED_STRINGS = 10_000  # entries a table may hold beyond the cells that use them
_REPEATS_ALLOWED = 1_000  # and repeated entries (a careless writer's), if under a tenth
_DIMENSION = re.compile(
    rb"<(?:[\w.-]{1,32}:)?dimension\s[^>]{0,512}?\bref\s{0,8}=\s{0,8}[\"']"
    rb"\$?([A-Za-z]{1,3})\$?(\d{1,7})(?::\$?([A-Za-z]{1,3})\$?(\d{1,7}))?[\"']"
)
_SST = re.compile(rb"<(?:[\w.-]{1,32}:)?sst\b([^>]{0,4096})>")
_ATTR_COUNT = re.compile(rb"\b(uniqueCount|count)\s{0,8}=\s{0,8}[\"'](\d{1,20})[\"']")
_CELL_OPEN = re.compile(rb"<(?:[\w.-]{1,32}:)?c(?:\s[^>]{0,1024})?>")
_CELL_CLOSE = re.compile(rb"</(?:[\w.-]{1,32}:)?c\s{0,8}>")
_TAIL_KEEP = 1100  # longer than any open tag _CELL_OPEN or _MERGE can match
_FORMULA = re.compile(rb"<(?:[\w.-]{1,32}:)?f[\s>/]")
_VALUE = re.compile(rb"<(?:[\w.-]{1,32}:)?v(?:\s[^>]{0,256})?(?<!/)>")
_MERGE = re.compile(
    rb"<(?:[\w.-]{1,32}:)?mergeCell\s[^>]{0,512}?\bref\s{0,8}=\s{0,8}[\"']"
    rb"\$?[A-Za-z]{1,3}\$?(\d{1,7})(?::\$?[A-Za-z]{1,3}\$?(\d{1,7}))?[\"']"
)


class _Budget:
    """Caps the bytes actually decompressed across the whole archive."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise WorkbookRejected(
                f"The file decompresses to more than {self.limit:,} bytes (its headers "
                "understate its size); the limit is "
                f"{self.limit:,}.",
                status=422,
            )


def inspect(path: Path, fmt: Format, limits: InspectLimits) -> list[str]:
    """Reject unsafe ZIP workbooks; return human-readable warnings about safe ones."""
    if fmt not in _ZIP_FORMATS:
        return []
    try:
        with path.open("rb") as fh, zipfile.ZipFile(fh) as zf:
            return _inspect_zip(fh, zf, fmt, limits)
    except (*_ZIP_ERRORS, OSError) as exc:
        raise WorkbookRejected(_UNREADABLE.format(detail=_detail(exc))) from exc


def _inspect_zip(
    fh: IO[bytes], zf: zipfile.ZipFile, fmt: Format, limits: InspectLimits
) -> list[str]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise WorkbookRejected(
            f"The file has {len(infos):,} entries; the limit is {limits.max_entries:,}.",
            status=422,
        )
    _check_encrypted(infos)
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise WorkbookRejected(
            "The archive has two entries with the same name; readers disagree on which one "
            "counts, so it is refused.",
            status=422,
        )
    total = 0
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_MIN_SIZE and ratio > limits.max_ratio:
            raise WorkbookRejected(
                f"The entry {info.filename!r} expands {ratio:,.0f} times "
                f"({info.compress_size:,} to {info.file_size:,} bytes), a ZIP bomb; the limit "
                f"is {limits.max_ratio:,.0f} times.",
                status=422,
            )
        total += info.file_size
    if total > limits.max_unzipped_bytes:
        raise WorkbookRejected(
            f"The file unzips to {total:,} bytes; the limit is {limits.max_unzipped_bytes:,}.",
            status=422,
        )
    _check_overlap(fh, infos)

    budget = _Budget(limits.max_unzipped_bytes)
    warnings: list[str] = []
    parts = [i for i in infos if not i.is_dir() and i.filename.lower().endswith((".xml", ".rels"))]
    sheets = [i for i in parts if _SHEET_PART.match(i.filename)]
    string_cells = 0  # cells that use a shared string: the table can hold no more entries
    for info in sheets:  # first, so the shared strings can be weighed against their cells
        number = _SHEET_NAME.match(info.filename)
        found, used = _inspect_sheet(
            zf, info, int(number.group(1)) if number else 0, limits, budget
        )
        warnings.extend(found)
        string_cells += used
    for info in parts:
        name = info.filename
        if info in sheets:
            continue
        head = _read_head(zf, info, limits.max_xml_scan_bytes, budget)
        _check_xml_head(name, head, info.file_size, limits)
        if _SHARED_STRINGS.search(name):
            _check_shared_strings(head, info.file_size)
            _check_shared_string_entries(zf, info, string_cells, budget)

    lowered = [n.lower() for n in names]
    if fmt == "ods":
        has_macros = any(n.startswith(("basic/", "scripts/")) for n in lowered)
    else:
        has_macros = any(
            n == "xl/vbaproject.bin" or n.startswith("xl/macrosheets/") for n in lowered
        )
    if has_macros:
        warnings.insert(0, "Macros are present; they are never run.")
    if any(n.startswith("xl/externallinks/") for n in lowered):
        warnings.append("The workbook links to external files; linked values are read as cached.")
    return warnings


def _check_overlap(fh: IO[bytes], infos: list[zipfile.ZipInfo]) -> None:
    """Entries whose data overlap (the non-recursive ZIP bomb) are refused."""
    spans: list[tuple[int, int, str]] = []
    for info in infos:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) != 30 or not local.startswith(_ZIP_LOCAL):
            raise WorkbookRejected(
                _UNREADABLE.format(detail=f"bad local header for {info.filename!r}")
            )
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        end = info.header_offset + 30 + name_len + extra_len + info.compress_size
        spans.append((info.header_offset, end, info.filename))
    spans.sort()
    for (_, end, name), (start, _, next_name) in itertools.pairwise(spans):
        if start < end:
            raise WorkbookRejected(
                f"The archive entries {name!r} and {next_name!r} overlap, a ZIP-bomb technique.",
                status=422,
            )


def _read_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, n: int, budget: _Budget) -> bytes:
    with zf.open(info) as member:
        head = member.read(n)
    budget.take(len(head))
    return head


def _stream(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> Iterator[bytes]:
    with zf.open(info) as member:
        while chunk := member.read(_CHUNK):
            budget.take(len(chunk))
            yield chunk


def _check_xml_head(name: str, head: bytes, size: int, limits: InspectLimits) -> None:
    text = _as_utf8(head)
    if _DOCTYPE.search(text):
        raise WorkbookRejected(
            f"The part {name!r} declares a DOCTYPE or ENTITY (entity expansion or external "
            "entity attack); workbooks never need one.",
            status=422,
        )
    if size > len(head) and not _root_in(text):
        raise WorkbookRejected(
            f"The part {name!r} has a prolog longer than {limits.max_xml_scan_bytes:,} bytes; "
            "it cannot be checked for DTD attacks.",
            status=422,
        )


def _as_utf8(head: bytes) -> bytes:
    """UTF-16 parts are re-encoded so the byte patterns apply; anything else is left alone."""
    encoding = None
    if head.startswith(b"\xff\xfe") or head.startswith(b"<\x00"):
        encoding = "utf-16-le"
    elif head.startswith(b"\xfe\xff") or head.startswith(b"\x00<"):
        encoding = "utf-16-be"
    if encoding is None:
        return head
    return head.decode(encoding, errors="ignore").lstrip("\ufeff").encode("utf-8")


def _root_in(text: bytes) -> bool:
    """Whether the root element starts within `text`, after any comments and PIs (linear)."""
    pos = 0
    while True:
        pos = text.find(b"<", pos)
        if pos < 0 or pos + 1 >= len(text):
            return False
        if text.startswith(b"<?", pos):
            end = text.find(b"?>", pos + 2)
            if end < 0:
                return False
            pos = end + 2
        elif text.startswith(b"<!--", pos):
            end = text.find(b"-->", pos + 4)
            if end < 0:
                return False
            pos = end + 3
        else:
            return True


def _check_shared_strings(head: bytes, size: int) -> None:
    match = _SST.search(head)
    if not match:
        return
    attrs = dict(_ATTR_COUNT.findall(match.group(1)))
    raw = attrs.get(b"uniqueCount", attrs.get(b"count"))
    if raw is None:
        return
    declared = int(raw)
    plausible = min(size // _MIN_SHARED_STRING_BYTES, _MAX_SHARED_STRINGS)
    if declared > plausible:
        raise WorkbookRejected(
            f"The shared-strings table claims {declared:,} strings in {size:,} bytes; the limit "
            f"is {plausible:,} (readers pre-allocate by that count).",
            status=422,
        )


def _check_shared_string_entries(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, string_cells: int, budget: _Budget
) -> None:
    """Each entry of a shared-strings table is a distinct string used by at least one cell.

    A table of millions of repeated tiny strings inflates a small file into gigabytes of
    reader memory; it is refused as soon as it holds more entries than cells use, or
    repeats itself."""
    allowed = string_cells + _UNUSED_STRINGS
    seen: set[int] = set()
    entries = repeats = 0
    buf = b""
    for chunk in _stream(zf, info, budget):
        buf += chunk
        pos = keep = 0
        while True:
            opened = _ENTRY_OPEN.search(buf, pos)
            if opened is None:
                keep = max(pos, len(buf) - _TAIL_KEEP)
                break
            closed = _ENTRY_CLOSE.search(buf, opened.end())
            if closed is None:
                keep = opened.start()
                break
            entries += 1
            if entries > allowed:
                raise WorkbookRejected(
                    f"The shared-strings table holds more than {allowed:,} entries but only "
                    f"{string_cells:,} cells use one; each entry belongs to a cell, so the "
                    "table is out of proportion. Re-save the workbook in a spreadsheet program.",
                    status=422,
                )
            digest = hash(buf[opened.end() : closed.start()])
            if digest in seen:
                repeats += 1
            else:
                seen.add(digest)
            pos = closed.end()
        buf = buf[keep:]
        if len(buf) > _MAX_CELL_CARRY:
            buf = buf[-_TAIL_KEEP:]
    if repeats > _REPEATS_ALLOWED and repeats * 10 > entries:
        raise WorkbookRejected(
            f"The shared-strings table repeats {repeats:,} of its {entries:,} entries; each "
            "entry should be a distinct string. Re-save the workbook in a spreadsheet program.",
            status=422,
        )


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters.upper():
        number = number * 26 + (ch - 64)
    return number


def _inspect_sheet(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    number: int,
    limits: InspectLimits,
    budget: _Budget,
) -> tuple[list[str], int]:
    """Warnings about one sheet part (numbered as `xl/worksheets/sheetN.xml`, else 0), and
    how many of its cells use a shared string."""
    formulas = 0
    string_cells = 0
    merged_header = False
    buf = b""
    first = True
    for chunk in _stream(zf, info, budget):
        if first:
            head = chunk[: limits.max_xml_scan_bytes]
            _check_xml_head(info.filename, head, info.file_size, limits)
            _check_dimension(number, head, limits)
            first = False
        buf += chunk
        pos = 0
        keep = 0
        while True:
            opened = _CELL_OPEN.search(buf, pos)
            if opened is None:
                keep = max(pos, len(buf) - _TAIL_KEEP)
                break
            if opened.group().endswith(b"/>"):
                pos = opened.end()
                continue
            closed = _CELL_CLOSE.search(buf, opened.end())
            if closed is None:
                keep = opened.start()
                break
            if _STRING_CELL.search(opened.group()):
                string_cells += 1
            body = buf[opened.end() : closed.start()]
            if _FORMULA.search(body) and not _VALUE.search(body):
                formulas += 1
            pos = closed.end()
        if not merged_header:
            merged_header = _has_merged_header(buf)
        buf = buf[keep:]
        if len(buf) > _MAX_CELL_CARRY:
            buf = buf[-_TAIL_KEEP:]
    if first:  # empty part
        _check_xml_head(info.filename, b"", info.file_size, limits)
    label = f"Sheet {number}" if number else f"The sheet part {info.filename!r}"
    warnings: list[str] = []
    if merged_header:
        warnings.append(f"{label} has merged header cells")
    if formulas:
        noun = "formula" if formulas == 1 else "formulas"
        warnings.append(
            f"{label} has {formulas:,} {noun} without a cached value; they read as empty "
            "(open and save it in Excel to compute them)."
        )
    return warnings, string_cells


def _has_merged_header(buf: bytes) -> bool:
    for match in _MERGE.finditer(buf):
        rows = [int(g) for g in match.groups() if g is not None]
        if min(rows) <= 1:
            return True
    return False


def _check_dimension(number: int, head: bytes, limits: InspectLimits) -> None:
    match = _DIMENSION.search(head)
    if not match:
        return
    c1, r1, c2, r2 = match.groups()
    col_a, row_a = _column_number(c1), int(r1)
    col_b, row_b = (_column_number(c2), int(r2)) if c2 and r2 else (col_a, row_a)
    cells = (abs(row_b - row_a) + 1) * (abs(col_b - col_a) + 1)
    if cells > limits.max_cells_per_sheet:
        ref = f"{c1.decode().upper()}{row_a}"
        if c2 and r2:
            ref += f":{c2.decode().upper()}{row_b}"
        raise WorkbookRejected(
            f"Sheet {number}'s used range {ref} covers {cells:,} cells; the limit is "
            f"{limits.max_cells_per_sheet:,}.",
            status=422,
        )
