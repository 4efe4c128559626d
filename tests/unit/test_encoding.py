"""A CSV file's encoding from its bytes; control characters mean it is not text."""

from __future__ import annotations

import codecs
import io

import pytest

from sheetstream.workbooks.encoding import NotText, detect_encoding, transcode

TEXT = "name;amount\nJosé;1,5\nÜlla;2\n€uro;3\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (TEXT.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-16"), "utf-16"),  # with its BOM
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),  # without a BOM: told by the NULs
        (TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("cp1252"), "cp1252"),
        (b"a,b\r\n1,2\r\n\x1a", "utf-8-sig"),  # the DOS end-of-file mark is text
    ],
)
def test_the_encoding_is_told_and_the_text_comes_back_as_utf8(data: bytes, expected: str) -> None:
    source = io.BytesIO(data)
    assert detect_encoding(source) == expected
    out = io.BytesIO()
    transcode(source, expected, out)
    assert out.getvalue().decode("utf-8").lstrip("\ufeff").replace("\r\n", "\n").rstrip("\x1a") in (
        TEXT,
        "a,b\n1,2\n",
    )


@pytest.mark.parametrize("data", [b"\x01", b"a,b\n\x00\x00\x07,2\n", bytes(range(256)) * 4])
def test_control_characters_are_not_text(data: bytes) -> None:
    with pytest.raises(NotText):
        detect_encoding(io.BytesIO(data))
