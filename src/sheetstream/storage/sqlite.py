"""History and the workbook index in one SQLite file, through the stdlib `sqlite3` module.

The single connection lives on one dedicated worker thread, so the event loop never blocks on
disk and the connection is never shared between threads. Calls are group-committed: those made
while the thread is busy wait and then go to it together, in one transaction with a savepoint
each, so a call that fails undoes only its own writes. A call returns once its transaction has
committed. Under load that is one thread hop and one commit for many calls; alone, a call goes
at once.
The schema is a list of migrations applied in order and counted by `PRAGMA user_version`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sheetstream.errors import NotFound, StorageError
from sheetstream.storage.base import SESSION_NOT_FOUND, MessageRecord, WorkbookEntry
from sheetstream.storage.rows import (
    FINAL_COLUMNS,
    MESSAGE_COLUMNS,
    WORKBOOK_COLUMNS,
    db_value,
    record_from_row,
    workbook_from_row,
)

T = TypeVar("T")

_PREFIX = "sqlite:///"
_MEMORY = ":memory:"

_SELECT = f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages"
_INSERT = (
    f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}, bytes) "
    f"VALUES ({', '.join('?' for _ in MESSAGE_COLUMNS)}, ?)"
)
_SETS = ", ".join(f"{c} = ?" for c in FINAL_COLUMNS)
_UPDATE = f"UPDATE messages SET {_SETS}, bytes = ? WHERE stream_id = ?"
_INTERRUPT = "UPDATE messages SET status = 'interrupted', partial = 1 WHERE status = 'streaming'"
_HISTORY_BYTES = (
    "SELECT coalesce(sum(m.bytes), 0) FROM sessions s JOIN messages m ON m.session_id = s.id "
    "WHERE s.owner = ?"
)


def _m001_initial(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            last_seen_at REAL NOT NULL
        )
        """
    )
    conn.execute(
        """
        CREATE TABLE messages (
            stream_id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            request_id TEXT,
            question TEXT NOT NULL,
            mode TEXT NOT NULL,
            created_at REAL NOT NULL,
            answer TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'streaming',
            partial INTEGER NOT NULL DEFAULT 0,
            error_code TEXT,
            answer_tokens INTEGER NOT NULL DEFAULT 0,
            chunks INTEGER NOT NULL DEFAULT 0,
            first_token_ms REAL,
            duration_ms REAL,
            workbook_id TEXT
        )
        """
    )
    conn.execute("CREATE INDEX messages_session_created ON messages (session_id, created_at)")


def _m002_grounding(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE messages ADD COLUMN grounding TEXT")  # JSON, or NULL


def _m003_owner(conn: sqlite3.Connection) -> None:
    # the owner of the token that created the session; '' for sessions of an open service
    conn.execute("ALTER TABLE sessions ADD COLUMN owner TEXT NOT NULL DEFAULT ''")


def _m004_tools(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE messages ADD COLUMN tools TEXT")  # JSON list, or NULL


def _m005_usage(conn: sqlite3.Connection) -> None:
    # what each message takes, for the owners' history quota, summed by owner through an index
    conn.execute("ALTER TABLE messages ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0")
    conn.execute(
        "UPDATE messages SET bytes = length(CAST(question AS BLOB)) + "
        "length(CAST(answer AS BLOB)) + coalesce(length(CAST(grounding AS BLOB)), 0) + "
        "coalesce(length(CAST(tools AS BLOB)), 0)"
    )
    conn.execute("CREATE INDEX sessions_owner ON sessions (owner)")


def _m006_workbooks(conn: sqlite3.Connection) -> None:
    # the workbook index (the files stay in DATA_DIR/workbooks/<id>/); summary is JSON
    conn.execute(
        """
        CREATE TABLE workbooks (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL DEFAULT '',
            stored_bytes INTEGER NOT NULL,
            uploaded_at REAL NOT NULL,
            summary TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX workbooks_owner ON workbooks (owner, uploaded_at)")


# Append new migrations; never edit or reorder applied ones. user_version = how many ran.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m001_initial,
    _m002_grounding,
    _m003_owner,
    _m004_tools,
    _m005_usage,
    _m006_workbooks,
]


def _path_from_url(url: str) -> str:
    """`sqlite:///rel.db` -> `rel.db`; `sqlite:////abs/x.db` -> `/abs/x.db`; `:memory:` kept."""
    if not url.startswith(_PREFIX) or not url[len(_PREFIX) :]:
        raise ValueError(
            f"Invalid SQLite URL {url!r}: use sqlite:///relative/path.db or sqlite:////abs/path.db"
        )
    return url[len(_PREFIX) :]


def _open(path: str, interrupt_streaming: bool) -> sqlite3.Connection:
    if path != _MEMORY:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: autocommit; the module never opens transactions behind our back.
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn)
        if interrupt_streaming:
            conn.execute(_INTERRUPT)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    # IMMEDIATE takes the write lock before the version is read, so two processes starting on
    # the same file cannot both apply the same migration.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StorageError(
                f"SQLite database schema version {version} is newer than this sheetstream "
                f"knows ({len(MIGRATIONS)}); upgrade sheetstream"
            )
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            migration(conn)
            conn.execute(f"PRAGMA user_version = {number:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


Call = Callable[[sqlite3.Connection], Any]
# what one call gave: its value, or the exception it raised
Outcome = tuple[Any, BaseException | None]


def run_batch(conn: sqlite3.Connection, calls: list[Call]) -> list[Outcome]:
    """Run the calls in one transaction, each under its own savepoint; commit once.

    A call that raises is rolled back to its savepoint and the others go on. If the commit
    itself fails, every call gets that error: none of their writes happened."""
    outcomes: list[Outcome] = []
    single = len(calls) == 1
    # IMMEDIATE: the write lock is taken (or waited for) up front, so a batch that reads and
    # then writes cannot be refused mid-way by another process's write
    conn.execute("BEGIN IMMEDIATE")
    try:
        for call in calls:
            if single:  # nothing to keep apart: the transaction is the call's own
                outcomes.append((call(conn), None))
                continue
            conn.execute("SAVEPOINT call")
            try:
                value = call(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO call")
                outcomes.append((None, exc))
            else:
                outcomes.append((value, None))
            conn.execute("RELEASE call")
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return [(None, exc)] * len(calls)
    return outcomes


class SQLiteStorage:
    """`Storage` on one SQLite file; see the module docstring for the threading model."""

    def __init__(self, url: str) -> None:
        self.path = _path_from_url(url)
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        # calls waiting for the thread, and whether a batch is on it
        self._waiting: list[tuple[Call, asyncio.Future[Any]]] = []
        self._on_thread = False
        self._drained: list[asyncio.Future[None]] = []

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` on the worker thread, grouped with the calls made meanwhile;
        sqlite3 errors become `StorageError`."""
        if self._conn is None:
            raise StorageError(
                "SQLite storage is not connected (connect() first, or it was closed)"
            )
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((fn, future))
        if not self._on_thread:
            self._send(self._conn)
        try:
            return await future
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite storage failed: {exc}") from exc

    def _send(self, conn: sqlite3.Connection) -> None:
        """Hand every waiting call to the thread as one batch."""
        assert self._executor is not None
        batch, self._waiting = self._waiting, []
        self._on_thread = True
        loop = asyncio.get_running_loop()
        done = self._executor.submit(run_batch, conn, [call for call, _ in batch])
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(self._back, conn, batch, done))

    def _back(
        self,
        conn: sqlite3.Connection,
        batch: list[tuple[Call, asyncio.Future[Any]]],
        done: concurrent.futures.Future[list[Outcome]],
    ) -> None:
        """A batch came back: answer its callers, and send the calls that waited for it."""
        self._on_thread = False
        try:
            outcomes = done.result()
        except BaseException as exc:  # the thread could not run it at all
            outcomes = [(None, exc)] * len(batch)
        for (_, future), (value, error) in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)
        if self._waiting:
            self._send(conn)
            return
        for waiter in self._drained:
            if not waiter.done():
                waiter.set_result(None)
        self._drained.clear()

    async def connect(self, *, interrupt_streaming: bool = True) -> None:
        """Open (creating and migrating) the file; with `interrupt_streaming`, answers left
        `streaming` become `interrupted`."""
        if self._conn is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sheetstream-sqlite")
        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(
                executor, _open, self.path, interrupt_streaming
            )
        except sqlite3.Error as exc:
            executor.shutdown(wait=False)
            raise StorageError(f"Cannot open SQLite database {self.path!r}: {exc}") from exc
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    async def disconnect(self) -> None:
        """Close the connection after the calls already queued; a second call does nothing."""
        conn, executor = self._conn, self._executor
        self._conn = None  # calls from now on fail fast; those made already still run
        if conn is None or executor is None:
            return
        if self._on_thread:
            drained = asyncio.get_running_loop().create_future()
            self._drained.append(drained)
            await drained
        self._executor = None
        try:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        except sqlite3.Error as exc:
            raise StorageError(f"Closing SQLite database failed: {exc}") from exc
        finally:
            executor.shutdown(wait=False)

    async def ping(self) -> bool:
        return await self._run(lambda c: c.execute("SELECT 1").fetchone() == (1,))

    async def ensure_session(self, session_id: str, now: float, owner: str | None = None) -> bool:
        def upsert(c: sqlite3.Connection) -> bool:
            inserted = c.execute(
                "INSERT OR IGNORE INTO sessions (id, created_at, last_seen_at, owner) "
                "VALUES (?, ?, ?, ?)",
                (session_id, now, now, owner or ""),
            ).rowcount
            if inserted:
                return True
            if owner is not None:
                row = c.execute("SELECT owner FROM sessions WHERE id = ?", (session_id,)).fetchone()
                if row[0] != owner:
                    raise NotFound(SESSION_NOT_FOUND)
            c.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (now, session_id))
            return False

        return await self._run(upsert)

    async def history_bytes(self, owner: str | None) -> int:
        row = await self._run(lambda c: c.execute(_HISTORY_BYTES, (owner or "",)).fetchone())
        return int(row[0])

    async def delete_session(self, session_id: str) -> bool:
        deleted = await self._run(
            lambda c: c.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount
        )
        return bool(deleted)

    async def forget_empty_sessions(self, session_ids: list[str] | None) -> int:
        def forget(c: sqlite3.Connection) -> int:
            if session_ids is None:
                return c.execute(
                    "DELETE FROM sessions WHERE NOT EXISTS "
                    "(SELECT 1 FROM messages WHERE session_id = sessions.id)"
                ).rowcount
            return c.executemany(
                "DELETE FROM sessions WHERE id = ?1 "
                "AND NOT EXISTS (SELECT 1 FROM messages WHERE session_id = ?1)",
                [(session_id,) for session_id in session_ids],
            ).rowcount

        return await self._run(forget) if session_ids is None or session_ids else 0

    async def session_owner(self, session_id: str) -> str | None:
        row = await self._run(
            lambda c: c.execute("SELECT owner FROM sessions WHERE id = ?", (session_id,)).fetchone()
        )
        return None if row is None else str(row[0])

    async def add_message(self, record: MessageRecord) -> None:
        values = (*(db_value(record, c) for c in MESSAGE_COLUMNS), record.stored_bytes())
        await self._run(lambda c: c.execute(_INSERT, values))

    async def finish_message(self, record: MessageRecord) -> None:
        values = (
            *(db_value(record, c) for c in FINAL_COLUMNS),
            record.stored_bytes(),
            record.stream_id,
        )
        updated = await self._run(lambda c: c.execute(_UPDATE, values).rowcount)
        if updated == 0:
            raise StorageError(f"No message with stream_id {record.stream_id!r} to finish")

    async def interrupt_messages(self, stream_ids: list[str]) -> int:
        """Mark those of the messages still `streaming` as `interrupted` (partial), their
        answers as stored; how many changed."""

        def interrupt(c: sqlite3.Connection) -> int:
            # all or none: the call runs in a transaction (see run_batch)
            return c.executemany(
                f"{_INTERRUPT} AND stream_id = ?", [(stream_id,) for stream_id in stream_ids]
            ).rowcount

        return await self._run(interrupt) if stream_ids else 0

    async def list_messages(self, session_id: str, limit: int = 1000) -> list[MessageRecord]:
        """The session's latest `limit` messages, oldest first."""
        # The latest `limit` rows newest first, then reversed so the caller reads them in order.
        query = f"{_SELECT} WHERE session_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?"
        rows = await self._run(lambda c: c.execute(query, (session_id, limit)).fetchall())
        return [record_from_row(row) for row in reversed(rows)]

    async def add_workbook(self, entry: WorkbookEntry) -> bool:
        values = (
            entry.workbook_id,
            entry.owner,
            entry.stored_bytes,
            entry.uploaded_at,
            json.dumps(entry.summary),
        )
        added = await self._run(
            lambda c: (
                c.execute(
                    f"INSERT OR IGNORE INTO workbooks ({WORKBOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                    values,
                ).rowcount
            )
        )
        return bool(added)

    async def get_workbook(self, workbook_id: str) -> WorkbookEntry | None:
        query = f"SELECT {WORKBOOK_COLUMNS} FROM workbooks WHERE id = ?"
        row = await self._run(lambda c: c.execute(query, (workbook_id,)).fetchone())
        return None if row is None else workbook_from_row(row)

    async def list_workbooks(self, owner: str | None) -> list[WorkbookEntry]:
        where, params = ("", ()) if owner is None else ("WHERE owner = ?", (owner,))
        query = f"SELECT {WORKBOOK_COLUMNS} FROM workbooks {where} ORDER BY uploaded_at, id"
        rows = await self._run(lambda c: c.execute(query, params).fetchall())
        return [workbook_from_row(row) for row in rows]

    async def workbook_usage(self, owner: str) -> tuple[int, int]:
        query = "SELECT count(*), coalesce(sum(stored_bytes), 0) FROM workbooks WHERE owner = ?"
        row = await self._run(lambda c: c.execute(query, (owner,)).fetchone())
        return int(row[0]), int(row[1])

    async def delete_workbook(self, workbook_id: str) -> bool:
        deleted = await self._run(
            lambda c: c.execute("DELETE FROM workbooks WHERE id = ?", (workbook_id,)).rowcount
        )
        return bool(deleted)
