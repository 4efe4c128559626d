"""History storage; `create_storage` picks a backend by URL scheme and imports only that one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sheetstream.storage.base import Storage


def create_storage(url: str) -> Storage:
    if url.startswith("sqlite://"):
        from sheetstream.storage.sqlite import SQLiteStorage

        return SQLiteStorage(url)
    raise ValueError(
        f"Unsupported SHEETSTREAM_DATABASE_URL {url.split(':', 1)[0]!r}:// ; use sqlite:///path.db"
    )
