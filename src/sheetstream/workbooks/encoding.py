"""Which text encoding a CSV file is in, from its bytes: UTF-8 (with or without its BOM),
UTF-16 (little- or big-endian, with its BOM or without one, told by where the NUL bytes fall),
or Windows-1252, the encoding Excel writes "CSV" in on Western Windows.

Text holds no control characters but tab, line breaks, form feed and the DOS end-of-file mark:
a file that does, once decoded, is binary, not a CSV file.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import IO

__all__ = ["NotText", "detect_encoding", "transcode"]

_CHUNK = 1 << 20
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")


class NotText(ValueError):
    """The bytes are not text in any encoding taken; the message says what they look like."""


def _guess_utf16(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    sample = head[: len(head) - len(head) % 2]
    if len(sample) < 4:
        return None
    odd_nuls = sample[1::2].count(0)
    even_nuls = sample[0::2].count(0)
    pairs = len(sample) // 2
    if odd_nuls > 0.9 * pairs and even_nuls < 0.1 * pairs:
        return "utf-16-le"
    if even_nuls > 0.9 * pairs and odd_nuls < 0.1 * pairs:
        return "utf-16-be"
    return None


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    fh.seek(0)
    while chunk := fh.read(_CHUNK):
        yield chunk


def _decodes(fh: IO[bytes], encoding: str) -> bool:
    """The whole file decodes, and holds no control character text does not have."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in _chunks(fh):
            if _CONTROL.search(decoder.decode(chunk)):
                raise NotText("it holds control characters, so it is binary")
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    if _CONTROL.search(tail):
        raise NotText("it holds control characters, so it is binary")
    return True


def detect_encoding(fh: IO[bytes]) -> str:
    """The Python codec to read the whole of ``fh`` with, or :class:`NotText`."""
    fh.seek(0)
    head = fh.read(4096)
    utf16 = _guess_utf16(head)
    candidates = [utf16] if utf16 else ["utf-8-sig", "cp1252"]
    for encoding in candidates:
        if _decodes(fh, encoding):
            return encoding
    if utf16:
        raise NotText("it looks like UTF-16 but does not decode as UTF-16")
    raise NotText("it is neither UTF-8 nor Windows-1252 text")


def transcode(fh: IO[bytes], encoding: str, out: IO[bytes]) -> None:
    """Write ``fh`` (in ``encoding``) to ``out`` as UTF-8 without a BOM, chunk by chunk."""
    decoder = codecs.getincrementaldecoder(encoding)()
    for chunk in _chunks(fh):
        out.write(decoder.decode(chunk).encode("utf-8"))
    out.write(decoder.decode(b"", final=True).encode("utf-8"))
