"""Hostile uploads against a real server: each is refused (or defused) quickly and cheaply.

Every file is generated here, in memory, and POSTed to a real uvicorn running the real app.
For each case we check the status, that the message names the problem, that the answer came
within a few seconds, that the (in-process) server's memory stayed bounded, that nothing was
kept on disk for a refused file, and that chat still works afterwards.
"""

from __future__ import annotations

import gc
import io
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from sheetstream.client import SheetstreamClient
from tests.conftest import RunningServer, StartServer, small_workbook

MiB = 1 << 20
MAX_SECONDS = 10.0
MAX_RSS_GROWTH = 300 * MiB

# ---------------------------------------------------------------------------------------------
# Building hostile files


def rewrite(
    data: bytes,
    replace: dict[str, Callable[[bytes], bytes]] | None = None,
    add: dict[str, bytes] | None = None,
) -> bytes:
    """Copy a ZIP, transforming some entries and appending others."""
    replace = replace or {}
    out = io.BytesIO()
    assert set(replace) <= set(zipfile.ZipFile(io.BytesIO(data)).namelist()), replace
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            body = src.read(info)
            if info.filename in replace:
                body = replace[info.filename](body)
            dst.writestr(info.filename, body)
        for name, body in (add or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def entry(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(name)


def zip_bomb() -> bytes:
    """A well-formed xlsx skeleton plus one entry of 64 MiB of zeros (about 1000 to 1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("[Content_Types].xml", entry(small_workbook(), "[Content_Types].xml"))
        bomb.writestr("xl/workbook.xml", entry(small_workbook(), "xl/workbook.xml"))
        zeros = b"\0" * MiB
        with bomb.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(64):
                member.write(zeros)
    return buffer.getvalue()


def shared_strings_bomb() -> bytes:
    sst = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'count="999999999" uniqueCount="999999999"><si><t>x</t></si></sst>'
    )
    # openpyxl writes inline strings, so the part (and its wiring) is added, not replaced
    kind = "officeDocument/2006/relationships/sharedStrings"
    ct = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
    return rewrite(
        small_workbook(),
        replace={
            "[Content_Types].xml": lambda body: body.replace(
                b"</Types>",
                b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/></Types>' % ct,
            ),
            "xl/_rels/workbook.xml.rels": lambda body: body.replace(
                b"</Relationships>",
                b'<Relationship Id="rIdSst" Target="sharedStrings.xml" '
                b'Type="http://schemas.openxmlformats.org/%s"/></Relationships>' % kind.encode(),
            ),
        },
        add={"xl/sharedStrings.xml": sst},
    )


BILLION_LAUGHS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<!DOCTYPE lolz [\n"
    b'  <!ENTITY lol "lol">\n'
    + b"".join(
        b'  <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b"]>\n"
)


def billion_laughs() -> bytes:
    def poison(body: bytes) -> bytes:
        # keep the original root element, put the DTD and an entity use in front of it
        without_decl = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", body)
        return BILLION_LAUGHS + without_decl.replace(b"</workbook>", b"<x>&lol9;</x></workbook>")

    return rewrite(small_workbook(), replace={"xl/workbook.xml": poison})


def xxe() -> bytes:
    def poison(body: bytes) -> bytes:
        without_decl = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", body)
        dtd = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        )
        return dtd + without_decl.replace(b"<v>", b"<v>&xxe;", 1)

    return rewrite(small_workbook(), replace={"xl/worksheets/sheet1.xml": poison})


def huge_dimension() -> bytes:
    def poison(body: bytes) -> bytes:
        patched, n = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', body)
        assert n == 1, body[:500]
        return patched

    return rewrite(small_workbook(), replace={"xl/worksheets/sheet1.xml": poison})


def macro_workbook() -> bytes:
    def content_types(body: bytes) -> bytes:
        body = body.replace(
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
            b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        )
        return body.replace(
            b"</Types>",
            b'<Override PartName="/xl/vbaProject.bin" '
            b'ContentType="application/vnd.ms-office.vbaProject"/></Types>',
        )

    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + b"Attribute VB_Name = Module1"
    return rewrite(
        small_workbook(),
        replace={"[Content_Types].xml": content_types},
        add={"xl/vbaProject.bin": vba},
    )


def encrypted_ole2() -> bytes:
    """What Excel writes for a password-protected .xlsx: an OLE2 file with EncryptedPackage."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    directory = "EncryptedInfo".encode("utf-16-le") + b"\0" * 40
    directory += "EncryptedPackage".encode("utf-16-le") + b"\0" * 40
    return header + directory + b"\x5a" * 4096


def truncated_zip() -> bytes:
    data = small_workbook()
    return data[: len(data) // 2]


# ---------------------------------------------------------------------------------------------
# Posting and checking


@dataclass
class Outcome:
    response: httpx.Response
    seconds: float
    rss_growth: int
    body: dict[str, object] = field(default_factory=dict)


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def post(srv: RunningServer, name: str, data: bytes) -> Outcome:
    before = rss()
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=srv.http, timeout=30) as http:
        response = await http.post("/api/workbooks", files={"file": (name, data)})
    seconds = time.monotonic() - started
    growth = rss() - before
    return Outcome(response, seconds, growth, response.json())


def stored(srv: RunningServer) -> list[Path]:
    folder = srv.settings.data_dir / "workbooks"
    return sorted(folder.iterdir()) if folder.exists() else []


async def assert_chat_still_works(srv: RunningServer) -> None:
    async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
        answer = await client.ask("still there?")
    assert answer.reason == "complete"


def assert_cheap(outcome: Outcome) -> None:
    assert outcome.seconds < MAX_SECONDS, f"took {outcome.seconds:.1f} s"
    assert outcome.rss_growth < MAX_RSS_GROWTH, f"RSS grew {outcome.rss_growth / MiB:.0f} MiB"


REFUSED = [
    pytest.param("bomb.xlsx", zip_bomb, 422, "ZIP bomb", id="zip-bomb"),
    pytest.param("sst.xlsx", shared_strings_bomb, 422, "shared-strings", id="shared-strings-bomb"),
    pytest.param("laughs.xlsx", billion_laughs, 422, "DOCTYPE", id="billion-laughs"),
    pytest.param("xxe.xlsx", xxe, 422, "external entity", id="xxe"),
    pytest.param("wide.xlsx", huge_dimension, 422, "A1:XFD1048576", id="huge-dimension"),
    pytest.param(
        "notes.xlsx", lambda: b"just some notes\nnot a workbook\n", 415, "text file", id="text-xlsx"
    ),
    pytest.param(
        "page.csv",
        lambda: b"<!DOCTYPE html>\n<html><body><table><tr><td>1</td></tr></table></body></html>",
        415,
        "HTML",
        id="html-csv",
    ),
    pytest.param("secret.xlsx", encrypted_ole2, 422, "encrypted", id="encrypted-ole2"),
    pytest.param("cut.xlsx", truncated_zip, 422, "readable", id="truncated-zip"),
]


@pytest.mark.parametrize(("name", "make", "status", "word"), REFUSED)
async def test_hostile_upload_is_refused_cheaply(
    start_server: StartServer,
    name: str,
    make: Callable[[], bytes],
    status: int,
    word: str,
) -> None:
    srv = await start_server()
    data = make()
    outcome = await post(srv, name, data)
    assert outcome.response.status_code == status, outcome.response.text
    message = str(outcome.body["message"])
    assert word.lower() in message.lower(), message
    assert_cheap(outcome)
    assert stored(srv) == []
    await assert_chat_still_works(srv)


async def test_encrypted_message_says_how_to_fix_it(start_server: StartServer) -> None:
    srv = await start_server()
    outcome = await post(srv, "secret.xlsx", encrypted_ole2())
    assert outcome.response.status_code == 422
    assert "password" in str(outcome.body["message"])


async def test_oversize_body_is_413_without_reading_it(start_server: StartServer) -> None:
    srv = await start_server(workbook_max_bytes=100_000)
    outcome = await post(srv, "big.xlsx", b"PK\x03\x04" + b"\0" * 300_000)
    assert outcome.response.status_code == 413, outcome.response.text
    assert "limit" in str(outcome.body["message"])
    assert_cheap(outcome)
    assert stored(srv) == []
    await assert_chat_still_works(srv)


async def test_traversal_filename_is_cleaned_and_kept_inside_data_dir(
    start_server: StartServer, tmp_path: Path
) -> None:
    srv = await start_server()
    data_dir = srv.settings.data_dir.resolve()

    def outside() -> set[Path]:
        found = tmp_path.parent.rglob("x.xlsx")
        return {p for p in found if not p.resolve().is_relative_to(data_dir)}

    # other tests of the session leave their own x.xlsx around: only a new one counts
    before = outside()
    outcome = await post(srv, "../../x.xlsx", small_workbook())
    assert outcome.response.status_code == 201, outcome.response.text
    assert outcome.body["filename"] == "x.xlsx"
    assert_cheap(outcome)
    escaped = outside() - before
    assert escaped == set()
    assert [p.name for p in stored(srv)] == [outcome.body["workbook_id"]]
    await assert_chat_still_works(srv)


async def test_macro_workbook_is_accepted_with_a_macro_warning(start_server: StartServer) -> None:
    srv = await start_server()
    outcome = await post(srv, "macros.xlsm", macro_workbook())
    assert outcome.response.status_code == 201, outcome.response.text
    assert outcome.body["format"] == "xlsm"
    warnings = outcome.body["warnings"]
    assert isinstance(warnings, list)
    assert any("macros" in str(w).lower() and "never run" in str(w) for w in warnings), warnings
    assert_cheap(outcome)
    await assert_chat_still_works(srv)
