"""Receive one uploaded file from a multipart body, streaming it to disk under a size limit.

Nothing is buffered whole in memory: each piece of the body is parsed as it arrives and the
`file` part is written straight to `dest`. Crossing the limit stops the upload at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from sheetstream.errors import BadRequest, TooLarge


def limit_message(max_bytes: int) -> str:
    return (
        f"The upload is larger than the limit of {max_bytes / (1 << 20):g} MiB; "
        "remove unused sheets or rows and try again."
    )


async def receive_file(
    content_type: str, body: AsyncIterator[bytes], dest: Path, max_bytes: int
) -> str:
    """Write the multipart field `file` to `dest`; return the filename the client gave."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest("Send the workbook as multipart/form-data with a field named `file`.")
    state = _FilePart(dest, max_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": state.on_part_begin,
            "on_header_field": state.on_header_field,
            "on_header_value": state.on_header_value,
            "on_header_end": state.on_header_end,
            "on_headers_finished": state.on_headers_finished,
            "on_part_data": state.on_part_data,
            "on_part_end": state.on_part_end,
        },
    )
    try:
        async for piece in body:
            parser.write(piece)
        parser.finalize()
    except FormParserError as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise BadRequest(
            f"The body is not well-formed multipart/form-data ({detail}); send the workbook "
            "as a form field named `file`."
        ) from None
    finally:
        state.close()
    if state.filename is None or not state.complete:
        raise BadRequest("The form has no complete field named `file`; attach the workbook there.")
    return state.filename


class _FilePart:
    def __init__(self, dest: Path, max_bytes: int) -> None:
        self._dest = dest
        self._max = max_bytes
        self._field = b""
        self._value = b""
        self._disposition = b""
        self._handle: BinaryIO | None = None
        self._in_file = False
        self.size = 0
        self.filename: str | None = None
        self.complete = False

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        if self._field.lower() == b"content-disposition":
            self._disposition = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        if params.get(b"name") == b"file" and self.filename is None:
            raw = params.get(b"filename", b"")
            self.filename = raw.decode("utf-8", "replace")
            self._in_file = True
            self._handle = self._dest.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file or self._handle is None:
            return
        self.size += end - start
        if self.size > self._max:
            raise TooLarge(limit_message(self._max))
        self._handle.write(data[start:end])

    def on_part_end(self) -> None:
        if self._in_file:
            self.complete = True
            self._in_file = False
            self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
