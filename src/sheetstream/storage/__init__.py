"""History storage; `create_storage` picks a backend by URL scheme and imports only that one."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sheetstream.storage.base import Storage


def create_storage(url: str, pool_size: int = 10) -> Storage:
    """The backend `url` names: `sqlite:///path.db`, or `postgresql://` (`postgres://`) with
    up to `pool_size` connections (SQLite ignores it)."""
    if url.startswith("sqlite://"):
        from sheetstream.storage.sqlite import SQLiteStorage

        return SQLiteStorage(url)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from sheetstream.storage.postgres import PostgresStorage
        except ImportError as exc:
            raise ImportError(
                f"PostgreSQL storage needs psycopg and psycopg_pool ({exc}); "
                "install them with: pip install 'sheetstream[fleet]'"
            ) from exc

        return PostgresStorage(url, pool_size)
    raise ValueError(
        f"Unsupported SHEETSTREAM_DATABASE_URL {url.split(':', 1)[0]!r}:// ; use "
        "sqlite:///path.db or postgresql://user@host:port/dbname"
    )
