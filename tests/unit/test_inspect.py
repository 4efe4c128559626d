"""Upload safety checks: every file is generated here, in tmp_path."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from sheetstream.errors import SheetstreamError
from sheetstream.workbooks.inspect import (
    InspectLimits,
    WorkbookRejected,
    _Budget,
    clean_filename,
    inspect,
    sniff,
)

LIMITS = InspectLimits()
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
)
WORKBOOK = b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'


def xlsx_bytes(build: Callable[[openpyxl.Workbook], None] | None = None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws["A1"] = "name"
    ws["B1"] = "amount"
    ws["A2"] = "apples"
    ws["B2"] = 3
    if build is not None:
        build(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def rezip(data: bytes, add: dict[str, bytes]) -> bytes:
    """Copy a zip, replacing or adding entries."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename not in add:
                dst.writestr(info, src.read(info))
        for name, payload in add.items():
            dst.writestr(name, payload, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def crafted(entries: dict[str, bytes]) -> bytes:
    """A minimal xlsx skeleton plus `entries`, written with zipfile."""
    return rezip(
        _empty_zip(),
        {"[Content_Types].xml": CONTENT_TYPES, "xl/workbook.xml": WORKBOOK, **entries},
    )


def _empty_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w"):
        pass
    return out.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rejected(
    path: Path, name: str | None = None, limits: InspectLimits = LIMITS
) -> WorkbookRejected:
    with pytest.raises(WorkbookRejected) as info:
        fmt = sniff(path, name or path.name)
        inspect(path, fmt, limits)
    return info.value


def accepted(path: Path, limits: InspectLimits = LIMITS) -> list[str]:
    return inspect(path, sniff(path, path.name), limits)


def _central(data: bytes, name: str) -> int:
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        (name_len,) = struct.unpack("<H", data[pos + 28 : pos + 30])
        if data[pos + 46 : pos + 46 + name_len] == name.encode():
            return pos
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(name)


# --- the error type --------------------------------------------------------------------------


def test_rejection_is_a_bad_request() -> None:
    exc = WorkbookRejected("no", status=415)
    assert isinstance(exc, SheetstreamError)
    assert exc.code == "bad_request"
    assert exc.status == 415


# --- accepted files --------------------------------------------------------------------------


def test_normal_xlsx_passes_without_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, "book.xlsx", xlsx_bytes())
    assert sniff(path, "Book.XLSX") == "xlsx"
    assert inspect(path, "xlsx", LIMITS) == []


def test_xlsm_with_macros_is_accepted_with_warning(tmp_path: Path) -> None:
    data = rezip(xlsx_bytes(), {"xl/vbaProject.bin": OLE2 + b"\x00" * 512})
    path = write(tmp_path, "macro.xlsm", data)
    assert sniff(path, path.name) == "xlsm"
    assert inspect(path, "xlsm", LIMITS) == ["Macros are present; they are never run."]


def test_formula_without_cached_value_warns(tmp_path: Path) -> None:
    def build(wb: openpyxl.Workbook) -> None:
        ws = wb.active
        assert ws is not None
        ws["C2"] = "=B2*2"
        ws["D2"] = "=SUM(B2:C2)"

    warnings = accepted(write(tmp_path, "f.xlsx", xlsx_bytes(build)))
    assert warnings == [
        "Sheet 1 has 2 formulas without a cached value; they read as empty "
        "(open and save it in Excel to compute them)."
    ]


def test_formula_with_cached_value_is_quiet(tmp_path: Path) -> None:
    sheet = (
        b'<worksheet><dimension ref="A1:B1"/><sheetData><row r="1">'
        b'<c r="A1"><v>1</v></c><c r="B1"><f>A1+1</f><v>2</v></c><c r="C1" s="1"/>'
        b"</row></sheetData></worksheet>"
    )
    path = write(tmp_path, "c.xlsx", crafted({"xl/worksheets/sheet1.xml": sheet}))
    assert accepted(path) == []


def test_formula_scan_spans_chunks(tmp_path: Path) -> None:
    cell = b'<c r="A1" t="str"><f>"x"</f><v /></c>'
    filler = b'<c r="B1" t="n"><v>1</v></c>'
    body = (filler * 40_000 + cell) * 6  # ~7 MB: cells cross 1 MiB chunk boundaries
    sheet = b"<worksheet><sheetData><row>" + body + b"</row></sheetData></worksheet>"
    path = write(tmp_path, "big.xlsx", crafted({"xl/worksheets/sheet2.xml": sheet}))
    # Repetitive filler compresses ~400x; relax the ratio so the scan itself is exercised.
    assert accepted(path, InspectLimits(max_ratio=10_000)) == [
        "Sheet 2 has 6 formulas without a cached value; they read as empty "
        "(open and save it in Excel to compute them)."
    ]


def test_merged_header_warns(tmp_path: Path) -> None:
    def build(wb: openpyxl.Workbook) -> None:
        ws = wb.active
        assert ws is not None
        ws.merge_cells("A1:B1")
        ws.merge_cells("A5:B6")

    assert accepted(write(tmp_path, "m.xlsx", xlsx_bytes(build))) == [
        "Sheet 1 has merged header cells"
    ]


def test_external_links_warn(tmp_path: Path) -> None:
    data = rezip(xlsx_bytes(), {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    warnings = accepted(write(tmp_path, "x.xlsx", data))
    assert warnings == ["The workbook links to external files; linked values are read as cached."]


def test_ods_is_sniffed_by_mimetype(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", "<office:document-content/>")
    path = write(tmp_path, "a.ods", out.getvalue())
    assert accepted(path) == []


def test_ods_with_wrong_mimetype_is_415(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        zf.writestr("content.xml", "<office:document-content/>")
    exc = rejected(write(tmp_path, "a.ods", out.getvalue()))
    assert exc.status == 415
    assert "opendocument.text" in exc.message


def test_the_bytes_tell_the_format_whatever_the_name(tmp_path: Path) -> None:
    old = OLE2 + b"\x00" * 512 + "Workbook".encode("utf-16-le") + b"\x00" * 512
    path = write(tmp_path, "old.xls", old)
    assert sniff(path, path.name) == "xls"
    assert inspect(path, "xls", LIMITS) == []
    assert sniff(write(tmp_path, "old.xlsx", old), "old.xlsx") == "xls"  # as Excel opens it
    assert sniff(write(tmp_path, "new.xls", xlsx_bytes()), "new.xls") == "xlsx"
    biff5 = b"\x09\x08\x08\x00\x00\x05\x05\x00" + b"\x00" * 64  # no OLE container
    assert sniff(write(tmp_path, "older.xls", biff5), "older.xls") == "xls"
    exc = rejected(write(tmp_path, "word.xls", OLE2 + b"\x00" * 1024))
    assert exc.status == 415
    assert "not an Excel workbook" in exc.message


@pytest.mark.parametrize(
    "data",
    [b"a,b\r\n1,2\r\n", "\ufeffname,city\nZoë,Zürich\n".encode(), "caf\xe9,1\n".encode("cp1252")],
    ids=["ascii", "utf8-bom", "cp1252"],
)
def test_csv_text_is_accepted(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "t.csv", data)
    assert sniff(path, path.name) == "csv"
    assert inspect(path, "csv", LIMITS) == []


# --- wrong type: 415 -------------------------------------------------------------------------


def test_unsupported_extension(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.txt", b"a,b\n"))
    assert exc.status == 415
    assert ".txt are not accepted" in exc.message


def test_text_renamed_xlsx(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.xlsx", b"name,amount\napples,3\n"))
    assert exc.status == 415
    assert "a text file renamed .xlsx" in exc.message


def test_html_renamed_xlsx(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.xlsx", b"<!DOCTYPE html>\n<html><body>login</body></html>"))
    assert exc.status == 415
    assert exc.message == "This file is an HTML page renamed .xlsx; upload the workbook itself."


def test_zip_without_workbook_parts_is_415(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("readme.txt", "hi")
    exc = rejected(write(tmp_path, "a.xlsx", out.getvalue()))
    assert exc.status == 415
    assert "without a workbook part ([Content_Types].xml and xl/workbook.xml)" in exc.message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64, "a program"),
        (b"a,b\n1,\x002\n", "control characters"),
        (b"<html><head></head><body>x</body></html>", "an HTML page"),
        (b'<?xml version="1.0"?><root/>', "an XML document"),
        (b"a,b\n\x81\x8d\x8f,\xff\xfe\n", "neither UTF-8 nor Windows-1252"),
    ],
    ids=["exe", "nul", "html", "xml", "undecodable"],
)
def test_bad_csv(tmp_path: Path, data: bytes, fragment: str) -> None:
    exc = rejected(write(tmp_path, "a.csv", data))
    assert exc.status == 415
    assert fragment in exc.message


# --- unsafe or corrupt: 422 ------------------------------------------------------------------


def test_html_prepended_polyglot(tmp_path: Path) -> None:
    data = b"<html><body>hello</body></html>\n" + xlsx_bytes()
    exc = rejected(write(tmp_path, "p.xlsx", data))
    assert exc.status == 422
    assert "data before the ZIP archive" in exc.message


def test_zip_prepended_to_zip(tmp_path: Path) -> None:
    # Starts with a local header, but the real archive is shifted: zipfile would tolerate it.
    data = b"PK\x03\x04" + b"\x00" * 60 + xlsx_bytes()
    exc = rejected(write(tmp_path, "p.xlsx", data))
    assert exc.status == 422
    assert "data before the ZIP archive" in exc.message


def test_appended_junk(tmp_path: Path) -> None:
    exc = rejected(write(tmp_path, "a.xlsx", xlsx_bytes() + b"<script>alert(1)</script>" * 4))
    assert exc.status == 422
    assert "data after the end of the ZIP archive" in exc.message


def test_truncated_zip(tmp_path: Path) -> None:
    data = xlsx_bytes()
    exc = rejected(write(tmp_path, "t.xlsx", data[: len(data) // 2]))
    assert exc.status == 422
    assert "not a readable workbook" in exc.message


def test_corrupt_central_directory(tmp_path: Path) -> None:
    data = bytearray(xlsx_bytes())
    pos = _central(bytes(data), "xl/workbook.xml")
    data[pos : pos + 4] = b"XXXX"
    exc = rejected(write(tmp_path, "c.xlsx", bytes(data)))
    assert exc.status == 422
    assert "not a readable workbook" in exc.message


def test_corrupt_entry_data(tmp_path: Path) -> None:
    sheet = b"<worksheet><sheetData>" + b"<row/>" * 5000 + b"</sheetData></worksheet>"
    data = bytearray(crafted({"xl/worksheets/sheet1.xml": sheet}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + 4
    data[start : start + 8] = b"\xff" * 8
    exc = rejected(write(tmp_path, "c.xlsx", bytes(data)))
    assert exc.status == 422
    assert "not a readable workbook" in exc.message


def test_encrypted_zip_entry(tmp_path: Path) -> None:
    data = bytearray(xlsx_bytes())
    pos = _central(bytes(data), "xl/workbook.xml")
    (flags,) = struct.unpack("<H", data[pos + 8 : pos + 10])
    data[pos + 8 : pos + 10] = struct.pack("<H", flags | 0x1)
    exc = rejected(write(tmp_path, "e.xlsx", bytes(data)))
    assert exc.status == 422
    assert "'xl/workbook.xml' is password-protected" in exc.message


def test_ole2_encrypted_package_as_xlsx(tmp_path: Path) -> None:
    data = OLE2 + b"\x00" * 1000 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 1000
    exc = rejected(write(tmp_path, "secret.xlsx", data))
    assert exc.status == 422
    assert "encrypted: remove the password in Excel and upload again" in exc.message


def test_an_office_file_that_is_no_workbook_is_415(tmp_path: Path) -> None:
    document = OLE2 + b"\x00" * 500 + "WordDocument".encode("utf-16-le") + b"\x00" * 500
    exc = rejected(write(tmp_path, "old.xlsx", document))
    assert exc.status == 415
    assert "an old-style Office file but not an Excel workbook" in exc.message


def test_too_many_entries(tmp_path: Path) -> None:
    entries = {f"xl/media/image{i}.png": b"x" for i in range(11)}
    path = write(tmp_path, "many.xlsx", crafted(entries))
    exc = rejected(path, limits=InspectLimits(max_entries=10))
    assert exc.status == 422
    assert exc.message == "The file has 13 entries; the limit is 10."


def test_zip_bomb_ratio(tmp_path: Path) -> None:
    # 8 MiB of zeros deflate to ~8 KB, a ratio near 1,000 (the 200 MB version is the same shape).
    path = write(tmp_path, "bomb.xlsx", crafted({"xl/media/blob.bin": bytes(8 << 20)}))
    exc = rejected(path)
    assert exc.status == 422
    assert "'xl/media/blob.bin' expands" in exc.message
    assert "ZIP bomb; the limit is 200 times" in exc.message


def test_total_declared_size(tmp_path: Path) -> None:
    path = write(tmp_path, "b.xlsx", xlsx_bytes())
    exc = rejected(path, limits=InspectLimits(max_unzipped_bytes=1000))
    assert exc.status == 422
    assert "; the limit is 1,000." in exc.message


def test_header_lying_about_size(tmp_path: Path) -> None:
    """Declared 1 KB in both headers, really 8 MiB of zeros: never decompressed past 1 KB."""
    name = "xl/worksheets/sheet1.xml"
    data = bytearray(crafted({name: b"<worksheet>" + bytes(8 << 20)}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        local = zf.getinfo(name).header_offset
    central = _central(bytes(data), name)
    data[local + 22 : local + 26] = struct.pack("<I", 1000)
    data[central + 24 : central + 28] = struct.pack("<I", 1000)
    path = write(tmp_path, "liar.xlsx", bytes(data))
    assert sniff(path, path.name) == "xlsx"  # the structure itself is fine
    exc = rejected(path)
    assert exc.status == 422
    assert "not a readable workbook" in exc.message
    assert "CRC" in exc.message


def test_budget_caps_actual_bytes() -> None:
    budget = _Budget(100)
    budget.take(60)
    with pytest.raises(WorkbookRejected, match="decompresses to more than 100 bytes") as info:
        budget.take(41)
    assert info.value.status == 422


def test_overlapping_entries(tmp_path: Path) -> None:
    data = bytearray(crafted({"xl/styles.xml": b"<styleSheet/>"}))
    central = _central(bytes(data), "xl/styles.xml")
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        first = zf.infolist()[0].header_offset
    data[central + 42 : central + 46] = struct.pack("<I", first)
    path = write(tmp_path, "o.xlsx", bytes(data))
    with pytest.raises(WorkbookRejected, match="overlap") as info:
        inspect(path, "xlsx", LIMITS)
    assert info.value.status == 422


def test_billion_laughs_in_shared_strings(tmp_path: Path) -> None:
    lol = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        b' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
        b' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n'
        b'<sst count="1" uniqueCount="1"><si><t>&lol3;</t></si></sst>'
    )
    exc = rejected(write(tmp_path, "l.xlsx", crafted({"xl/sharedStrings.xml": lol})))
    assert exc.status == 422
    assert "'xl/sharedStrings.xml' declares a DOCTYPE or ENTITY" in exc.message


def test_xxe_doctype_in_sheet(tmp_path: Path) -> None:
    sheet = (
        b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&x;</t></is></c>'
        b"</row></sheetData></worksheet>"
    )
    exc = rejected(write(tmp_path, "x.xlsx", crafted({"xl/worksheets/sheet1.xml": sheet})))
    assert exc.status == 422
    assert "'xl/worksheets/sheet1.xml' declares a DOCTYPE" in exc.message


def test_utf16_doctype_is_seen(tmp_path: Path) -> None:
    part = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "b">]><r/>'
    data = crafted({"xl/styles.xml": part.encode("utf-16")})
    exc = rejected(write(tmp_path, "u.xlsx", data))
    assert "declares a DOCTYPE" in exc.message


def test_doctype_hidden_behind_long_prolog(tmp_path: Path) -> None:
    part = b"<?xml version='1.0'?><!--" + b" <a> " * 20_000 + b"--><!DOCTYPE r><r/>"
    exc = rejected(write(tmp_path, "h.xlsx", crafted({"xl/styles.xml": part})))
    assert exc.status == 422
    assert "prolog longer than 65,536 bytes" in exc.message


def test_huge_dimension(tmp_path: Path) -> None:
    sheet = b'<worksheet><dimension ref="A1:XFD1048576"/><sheetData/></worksheet>'
    exc = rejected(write(tmp_path, "d.xlsx", crafted({"xl/worksheets/sheet3.xml": sheet})))
    assert exc.status == 422
    assert exc.message == (
        "Sheet 3's used range A1:XFD1048576 covers 17,179,869,184 cells; the limit is 20,000,000."
    )


def test_shared_strings_count_bomb(tmp_path: Path) -> None:
    sst = b'<sst count="999999999" uniqueCount="999999999"><si><t>a</t></si></sst>'
    exc = rejected(write(tmp_path, "s.xlsx", crafted({"xl/sharedStrings.xml": sst})))
    assert exc.status == 422
    assert "claims 999,999,999 strings" in exc.message


def string_sheet(cells: int) -> bytes:
    """A sheet whose first `cells` cells each use shared string number `i`."""
    row = b"".join(b'<c r="A%d" t="s"><v>%d</v></c>' % (i + 1, i) for i in range(cells))
    return b"<worksheet><sheetData><row>" + row + b"</row></sheetData></worksheet>"


def shared_strings(texts: list[bytes]) -> bytes:
    return b"<sst>" + b"".join(b"<si><t>" + t + b"</t></si>" for t in texts) + b"</sst>"


def test_shared_strings_used_by_their_cells_pass(tmp_path: Path) -> None:
    data = crafted(
        {
            "xl/worksheets/sheet1.xml": string_sheet(3000),
            "xl/sharedStrings.xml": shared_strings([b"s%d" % i for i in range(3000)]),
        }
    )
    path = write(tmp_path, "ok.xlsx", data)
    assert inspect(path, sniff(path, "ok.xlsx"), LIMITS) == []


def test_shared_strings_out_of_proportion_to_their_cells_are_refused(tmp_path: Path) -> None:
    """A small file whose string table inflates to millions of entries that no cell uses."""
    sst = shared_strings([b"u%d" % i for i in range(20_000)])
    data = crafted({"xl/worksheets/sheet1.xml": string_sheet(10), "xl/sharedStrings.xml": sst})
    exc = rejected(write(tmp_path, "p.xlsx", data))
    assert exc.status == 422
    assert "more than 10,010 entries but only 10 cells use one" in exc.message


def test_repeated_shared_strings_are_refused(tmp_path: Path) -> None:
    """Entries are distinct by definition: a table of one tiny string repeated is a bomb."""
    data = crafted(
        {
            "xl/worksheets/sheet1.xml": string_sheet(5000),
            "xl/sharedStrings.xml": shared_strings([b"a"] * 5000),
        }
    )
    exc = rejected(write(tmp_path, "r.xlsx", data))
    assert exc.status == 422
    assert "repeats 4,999 of its 5,000 entries" in exc.message


def test_a_few_repeated_shared_strings_are_tolerated(tmp_path: Path) -> None:
    texts = [b"s%d" % i for i in range(4000)] + [b"s1"] * 500  # a careless writer
    data = crafted(
        {
            "xl/worksheets/sheet1.xml": string_sheet(4500),
            "xl/sharedStrings.xml": shared_strings(texts),
        }
    )
    path = write(tmp_path, "c.xlsx", data)
    assert inspect(path, sniff(path, "c.xlsx"), LIMITS) == []


def test_duplicate_entry_names(tmp_path: Path) -> None:
    out = io.BytesIO(crafted({}))
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(out, "a") as zf,
    ):
        zf.writestr("xl/workbook.xml", WORKBOOK)
    exc = rejected(write(tmp_path, "dup.xlsx", out.getvalue()))
    assert exc.status == 422
    assert "same name" in exc.message


# --- clean_filename --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../x.xlsx", "x.xlsx"),
        ("C:\\evil\\a.xlsx", "a.xlsx"),
        ("C:a.xlsx", "a.xlsx"),
        ("\x00a.xlsx", "a.xlsx"),
        ("bud\x1bget\u202e.xlsx", "budget.xlsx"),
        ("Prévisions 2025 – 東京.xlsx", "Prévisions 2025 – 東京.xlsx"),
        ("", "workbook"),
        ("..", "workbook"),
        ("/tmp/", "workbook"),
        (".xlsx", "workbook.xlsx"),
        ("../.csv", "workbook.csv"),
    ],
)
def test_clean_filename(raw: str, clean: str) -> None:
    assert clean_filename(raw) == clean


def test_clean_filename_truncates_keeping_extension() -> None:
    name = clean_filename("é" * 500 + ".XLSX")
    assert len(name) == 120
    assert name.endswith(".XLSX")
    assert name.startswith("é")
