"""History and the workbook index in PostgreSQL, shared by every process of a fleet, through
psycopg 3's async API.

Calls borrow a connection from a `psycopg_pool.AsyncConnectionPool` (opened by `connect()`,
closed by `disconnect()`), each in autocommit mode, so a write is durable on return. Every
connection is checked as it leaves the pool, so one broken by a server restart is replaced
instead of handed out; waiting for a connection is bounded (`timeout`, 5 s), and so is a
whole call (`call_timeout`), so a request fails with `StorageError` rather than hanging.

The schema is a list of migrations applied in order and recorded in `sheetstream_migrations`,
under a transaction-scoped advisory lock so processes starting together apply each once. Tables
are created unqualified: in the first schema of the connection's `search_path`.

Several processes share the database, so a process connecting must not take the answers others
are streaming for a crash's: a fleet connects with `interrupt_streaming=False` and interrupts
its own answers with `interrupt_messages`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

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
Connection = psycopg.AsyncConnection[TupleRow]

_SCHEMES = ("postgresql://", "postgres://")
_URL_HELP = "use postgresql://user[:password]@host[:port]/dbname"

_SELECT = f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages"
_INSERT = (
    f"INSERT INTO messages ({', '.join(MESSAGE_COLUMNS)}, bytes) "
    f"VALUES ({', '.join('%s' for _ in MESSAGE_COLUMNS)}, %s)"
)
_SETS = ", ".join(f"{c} = %s" for c in FINAL_COLUMNS)
_UPDATE = f"UPDATE messages SET {_SETS}, bytes = %s WHERE stream_id = %s"
_HISTORY_BYTES = (
    "SELECT coalesce(sum(m.bytes), 0)::bigint FROM sessions s "
    "JOIN messages m ON m.session_id = s.id WHERE s.owner = %s"
)
_INTERRUPT_ALL = (
    "UPDATE messages SET status = 'interrupted', partial = true WHERE status = 'streaming'"
)

# Append new migrations; never edit or reorder applied ones. Each is applied in the same
# transaction as its row in sheetstream_migrations.
MIGRATIONS: list[tuple[str, tuple[str, ...]]] = [
    (
        "initial: the schema of SQLite's m001..m005",
        (
            """
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                created_at DOUBLE PRECISION NOT NULL,
                last_seen_at DOUBLE PRECISION NOT NULL,
                owner TEXT NOT NULL DEFAULT ''
            )
            """,
            "CREATE INDEX sessions_owner ON sessions (owner)",
            """
            CREATE TABLE messages (
                stream_id TEXT PRIMARY KEY,
                session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                request_id TEXT,
                question TEXT NOT NULL,
                mode TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                answer TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT 'streaming',
                partial BOOLEAN NOT NULL DEFAULT false,
                error_code TEXT,
                answer_tokens BIGINT NOT NULL DEFAULT 0,
                chunks BIGINT NOT NULL DEFAULT 0,
                first_token_ms DOUBLE PRECISION,
                duration_ms DOUBLE PRECISION,
                workbook_id TEXT,
                grounding TEXT,
                tools TEXT,
                bytes BIGINT NOT NULL DEFAULT 0,
                seq BIGINT GENERATED ALWAYS AS IDENTITY
            )
            """,
            "CREATE INDEX messages_session_created ON messages (session_id, created_at, seq)",
            # the few rows still streaming, found without a scan when answers are interrupted
            "CREATE INDEX messages_streaming ON messages (stream_id) WHERE status = 'streaming'",
        ),
    ),
    (
        "workbooks: the workbook index, SQLite's m006",
        (
            # the files stay in DATA_DIR/workbooks/<id>/; summary is JSON, as text
            """
            CREATE TABLE workbooks (
                id TEXT PRIMARY KEY,
                owner TEXT NOT NULL DEFAULT '',
                stored_bytes BIGINT NOT NULL,
                uploaded_at DOUBLE PRECISION NOT NULL,
                summary TEXT NOT NULL
            )
            """,
            "CREATE INDEX workbooks_owner ON workbooks (owner, uploaded_at)",
        ),
    ),
]

# pg_advisory_xact_lock key held while migrating: 'SHSTMIGR' in ASCII.
_MIGRATION_LOCK = 0x5348_5354_4D49_4752
_MIGRATION_LOCK_WAIT = "30s"


async def _migrate(conn: Connection) -> None:
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{_MIGRATION_LOCK_WAIT}'")
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS sheetstream_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """
        )
        cur = await conn.execute("SELECT coalesce(max(version), 0) FROM sheetstream_migrations")
        row = await cur.fetchone()
        version = int(row[0]) if row is not None else 0
        if version > len(MIGRATIONS):
            raise StorageError(
                f"PostgreSQL database schema version {version} is newer than this sheetstream "
                f"knows ({len(MIGRATIONS)}); upgrade sheetstream"
            )
        for number, (name, statements) in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO sheetstream_migrations (version, name) VALUES (%s, %s)",
                (number, name),
            )


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; SQLite can. Store U+FFFD in its place rather than fail.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _db_value(record: MessageRecord, column: str) -> Any:
    value = db_value(record, column)
    return _text(value) if isinstance(value, str) else value


def _one_line(text: str) -> str:
    return " ".join(text.split())


class PostgresStorage:
    """`Storage` on a PostgreSQL database; see the module docstring for the pool and fleet."""

    def __init__(
        self,
        url: str,
        pool_size: int = 10,
        *,
        timeout: float = 5.0,
        call_timeout: float = 30.0,
    ) -> None:
        """`pool_size`: the most connections this process opens (one is kept open);
        `timeout`: seconds to wait for a connection (and to open one); `call_timeout`: seconds
        a whole call may take."""
        if not url.startswith(_SCHEMES):
            raise ValueError(f"Invalid PostgreSQL URL: {_URL_HELP}")
        if pool_size < 1:
            raise ValueError(f"PostgreSQL pool_size must be at least 1, not {pool_size}")
        if timeout <= 0 or call_timeout <= 0:
            raise ValueError("PostgreSQL timeout and call_timeout must be positive")
        self._secrets = [os.environ.get("PGPASSWORD", "")]
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ValueError(
                f"Invalid PostgreSQL URL ({self._redact(str(exc))}): {_URL_HELP}"
            ) from None
        self._secrets.append(str(params.get("password") or ""))
        self._secrets = [s for s in self._secrets if len(s) >= 4]
        self._conninfo = url
        self.pool_size = pool_size
        self._timeout = timeout
        self._call_timeout = call_timeout
        host = str(params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST", ""))
        port = str(params.get("port") or os.environ.get("PGPORT") or 5432)
        self.where = f"{host}:{port}" if host else f"the local socket (port {port})"
        self.dbname = str(params.get("dbname") or "")
        # Connection settings the URL may override: it wins where it names them.
        defaults: dict[str, Any] = {
            "connect_timeout": max(1, math.ceil(timeout)),
            "application_name": "sheetstream",
        }
        self._kwargs: dict[str, Any] = {k: v for k, v in defaults.items() if k not in params}
        self._kwargs["autocommit"] = True
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._calls = 0  # calls under way, which disconnect() lets finish
        self._idle = asyncio.Event()
        self._idle.set()
        self._connecting = asyncio.Lock()

    def __repr__(self) -> str:
        return f"PostgresStorage({self.where}/{self.dbname}, pool_size={self.pool_size})"

    # --- errors -----------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        text = re.sub(r"(postgres(?:ql)?://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)
        text = re.sub(r"(password\s*=\s*)\S+", r"\1***", text, flags=re.IGNORECASE)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _failure(self, exc: BaseException, doing: str) -> StorageError:
        """The `StorageError` a psycopg (or timeout) error while `doing` something becomes."""
        detail = self._redact(_one_line(str(exc)))
        where = self.where
        if isinstance(exc, PoolTimeout):
            message = (
                f"PostgreSQL is not answering at {where}: no connection within "
                f"{self._timeout:g} s while {doing}; check that the server is up and reachable "
                "(the pool reconnects by itself once it is), or raise "
                "SHEETSTREAM_DATABASE_POOL_SIZE if every connection is busy"
            )
        elif isinstance(exc, PoolClosed):
            message = f"PostgreSQL storage was closed while {doing}; connect() it again"
        elif isinstance(exc, TimeoutError):
            message = (
                f"PostgreSQL is not answering at {where}: {doing} took over "
                f"{self._call_timeout:g} s; check the server and the network to it, then retry"
            )
        elif isinstance(exc, pg_errors.LockNotAvailable):
            message = (
                f"PostgreSQL at {where}: waited {_MIGRATION_LOCK_WAIT} for another process "
                f"to finish migrating the schema while {doing} ({detail}); find the session "
                "holding the lock (pg_locks) or retry"
            )
        elif isinstance(exc, psycopg.OperationalError) and "FATAL:" in detail:
            message = (
                f"PostgreSQL at {where} refused the connection ({detail}); check the user, "
                "password and database name in SHEETSTREAM_DATABASE_URL"
            )
        elif isinstance(exc, psycopg.OperationalError):
            message = (
                f"PostgreSQL is not answering at {where} ({detail}) while {doing}; check that "
                "the server is running and SHEETSTREAM_DATABASE_URL points at it (the pool "
                "reconnects by itself once it answers)"
            )
        elif isinstance(exc, pg_errors.ForeignKeyViolation):
            message = f"PostgreSQL refused {doing}: no such session (ensure_session first)"
        elif isinstance(exc, pg_errors.UniqueViolation):
            message = f"PostgreSQL refused {doing}: a message with that stream_id is stored"
        else:
            message = f"PostgreSQL at {where} failed {doing}: {detail}"
        return StorageError(message)

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self, *, interrupt_streaming: bool = True) -> None:
        """Migrate the schema, then open the pool. With `interrupt_streaming`, answers left
        `streaming` become `interrupted`: only right when no other process shares the
        database (a fleet passes False)."""
        async with self._connecting:  # two connect() calls at once open one pool
            if self._pool is None:
                self._pool = await self._open(interrupt_streaming)

    async def _open(self, interrupt_streaming: bool) -> AsyncConnectionPool[Connection]:
        doing = f"opening database {self.dbname!r}"
        try:
            # One connection of its own, whose errors say why (the pool's only time out).
            async with await psycopg.AsyncConnection.connect(
                self._conninfo, **self._kwargs
            ) as conn:
                await _migrate(conn)
                if interrupt_streaming:
                    await conn.execute(_INTERRUPT_ALL)

            async def check(conn: Connection) -> None:
                try:
                    await AsyncConnectionPool.check_connection(conn)
                except Exception:
                    # One broken usually means all are (a server restart): sweep the idle
                    # ones now, rather than the pool backing off over them one by one
                    # (1 s, 2 s, 4 s...) while the caller waits.
                    await pool.check()
                    raise

            pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
                self._conninfo,
                kwargs=self._kwargs,
                min_size=1,
                max_size=self.pool_size,
                open=False,
                check=check,
                timeout=self._timeout,
                # Give up on a connection that keeps failing soon, so the next call tries
                # afresh instead of waiting out a long backoff after the server is back.
                reconnect_timeout=2 * self._timeout,
                name="sheetstream",
            )
            try:
                await pool.open(wait=True, timeout=self._timeout)
            except BaseException:
                await pool.close()
                raise
        except psycopg.Error as exc:
            raise self._failure(exc, doing) from exc
        return pool

    async def disconnect(self) -> None:
        """Close the pool after the calls under way (at most `call_timeout`); a second call
        does nothing."""
        pool, self._pool = self._pool, None  # calls from now on fail fast
        if pool is None:
            return
        try:
            async with asyncio.timeout(self._call_timeout):
                await self._idle.wait()
        except TimeoutError:
            pass  # close anyway: the calls still under way fail
        finally:
            await pool.close()

    async def _run(self, doing: str, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """`fn(connection)` on a pooled connection; psycopg errors become `StorageError`."""
        pool = self._pool
        if pool is None:
            raise _not_connected()
        self._calls += 1
        self._idle.clear()
        try:
            async with asyncio.timeout(self._call_timeout):
                async with pool.connection(timeout=self._timeout) as conn:
                    return await fn(conn)
        except (psycopg.Error, TimeoutError) as exc:
            raise self._failure(exc, doing) from exc
        finally:
            self._calls -= 1
            if not self._calls:
                self._idle.set()

    # --- Storage ----------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when the server answers; False (not an error) when it does not."""
        if self._pool is None:
            raise _not_connected()
        try:
            return await self._run("pinging", _select_one)
        except StorageError:
            return False

    async def ensure_session(self, session_id: str, now: float, owner: str | None = None) -> bool:
        async def upsert(conn: Connection) -> bool:
            # Insert, else touch (checking the owner); a row deleted in between is inserted
            # on the next round.
            for _ in range(3):
                cur = await conn.execute(
                    "INSERT INTO sessions (id, created_at, last_seen_at, owner) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    (session_id, now, now, owner or ""),
                )
                if cur.rowcount:
                    return True
                cur = await conn.execute(
                    "UPDATE sessions SET last_seen_at = %s "
                    "WHERE id = %s AND (%s::text IS NULL OR owner = %s::text)",
                    (now, session_id, owner, owner),
                )
                if cur.rowcount:
                    return False
                if owner is not None and await _owner(conn, session_id) not in (owner, None):
                    break
            raise NotFound(SESSION_NOT_FOUND)

        return await self._run(f"opening session {session_id!r}", upsert)

    async def history_bytes(self, owner: str | None) -> int:
        async def total(conn: Connection) -> int:
            cur = await conn.execute(_HISTORY_BYTES, (owner or "",))
            row = await cur.fetchone()
            return int(row[0]) if row is not None else 0

        return await self._run("summing the history's bytes", total)

    async def delete_session(self, session_id: str) -> bool:
        async def delete(conn: Connection) -> bool:
            cur = await conn.execute("DELETE FROM sessions WHERE id = %s", (session_id,))
            return cur.rowcount > 0

        return await self._run(f"deleting session {session_id!r}", delete)

    async def forget_empty_sessions(self, session_ids: list[str] | None) -> int:
        async def forget(conn: Connection) -> int:
            empty = "NOT EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id)"
            if session_ids is None:
                cur = await conn.execute(f"DELETE FROM sessions s WHERE {empty}")
            else:
                cur = await conn.execute(
                    f"DELETE FROM sessions s WHERE s.id = ANY(%s) AND {empty}", (session_ids,)
                )
            return cur.rowcount

        if session_ids is not None and not session_ids:
            return 0
        return await self._run("forgetting empty sessions", forget)

    async def session_owner(self, session_id: str) -> str | None:
        return await self._run(f"reading session {session_id!r}", lambda c: _owner(c, session_id))

    async def add_message(self, record: MessageRecord) -> None:
        values = (*(_db_value(record, c) for c in MESSAGE_COLUMNS), record.stored_bytes())

        async def insert(conn: Connection) -> None:
            await conn.execute(_INSERT, values)

        await self._run(f"storing message {record.stream_id!r}", insert)

    async def finish_message(self, record: MessageRecord) -> None:
        values = (
            *(_db_value(record, c) for c in FINAL_COLUMNS),
            record.stored_bytes(),
            record.stream_id,
        )

        async def update(conn: Connection) -> int:
            cur = await conn.execute(_UPDATE, values)
            return cur.rowcount

        if await self._run(f"finishing message {record.stream_id!r}", update) == 0:
            raise StorageError(f"No message with stream_id {record.stream_id!r} to finish")

    async def interrupt_messages(self, stream_ids: list[str]) -> int:
        """Mark those of the messages still `streaming` as `interrupted` (partial), their
        answers as stored; how many changed."""

        async def interrupt(conn: Connection) -> int:
            cur = await conn.execute(
                f"{_INTERRUPT_ALL} AND stream_id = ANY(%s)", (list(stream_ids),)
            )
            return cur.rowcount

        if not stream_ids:
            return 0
        return await self._run(f"interrupting {len(stream_ids)} messages", interrupt)

    async def list_messages(self, session_id: str, limit: int = 1000) -> list[MessageRecord]:
        """The session's latest `limit` messages, oldest first."""
        # The latest `limit` rows newest first, then reversed so the caller reads them in order.
        query = f"{_SELECT} WHERE session_id = %s ORDER BY created_at DESC, seq DESC LIMIT %s"

        async def select(conn: Connection) -> list[TupleRow]:
            cur = await conn.execute(query, (session_id, limit))
            return await cur.fetchall()

        rows = await self._run(f"reading session {session_id!r}", select)
        return [record_from_row(row) for row in reversed(rows)]

    async def add_workbook(self, entry: WorkbookEntry) -> bool:
        values = (
            _text(entry.workbook_id),
            _text(entry.owner),
            entry.stored_bytes,
            entry.uploaded_at,
            json.dumps(entry.summary),  # ASCII: a NUL in it is escaped
        )

        async def insert(conn: Connection) -> bool:
            cur = await conn.execute(
                f"INSERT INTO workbooks ({WORKBOOK_COLUMNS}) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                values,
            )
            return cur.rowcount > 0

        return await self._run(f"indexing workbook {entry.workbook_id!r}", insert)

    async def get_workbook(self, workbook_id: str) -> WorkbookEntry | None:
        async def select(conn: Connection) -> TupleRow | None:
            cur = await conn.execute(
                f"SELECT {WORKBOOK_COLUMNS} FROM workbooks WHERE id = %s", (_text(workbook_id),)
            )
            return await cur.fetchone()

        row = await self._run(f"reading workbook {workbook_id!r}", select)
        return None if row is None else workbook_from_row(row)

    async def list_workbooks(self, owner: str | None) -> list[WorkbookEntry]:
        where, params = ("", ()) if owner is None else ("WHERE owner = %s", (_text(owner),))
        query = f"SELECT {WORKBOOK_COLUMNS} FROM workbooks {where} ORDER BY uploaded_at, id"

        async def select(conn: Connection) -> list[TupleRow]:
            cur = await conn.execute(query, params)
            return await cur.fetchall()

        return [workbook_from_row(row) for row in await self._run("listing workbooks", select)]

    async def workbook_usage(self, owner: str) -> tuple[int, int]:
        async def usage(conn: Connection) -> tuple[int, int]:
            cur = await conn.execute(
                "SELECT count(*), coalesce(sum(stored_bytes), 0)::bigint FROM workbooks "
                "WHERE owner = %s",
                (_text(owner),),
            )
            row = await cur.fetchone()
            return (0, 0) if row is None else (int(row[0]), int(row[1]))

        return await self._run("summing the workbooks' bytes", usage)

    async def delete_workbook(self, workbook_id: str) -> bool:
        async def delete(conn: Connection) -> bool:
            cur = await conn.execute("DELETE FROM workbooks WHERE id = %s", (_text(workbook_id),))
            return cur.rowcount > 0

        return await self._run(f"deleting workbook {workbook_id!r}", delete)


def _not_connected() -> StorageError:
    return StorageError("PostgreSQL storage is not connected (connect() first, or it was closed)")


async def _select_one(conn: Connection) -> bool:
    cur = await conn.execute("SELECT 1")
    return await cur.fetchone() == (1,)


async def _owner(conn: Connection, session_id: str) -> str | None:
    cur = await conn.execute("SELECT owner FROM sessions WHERE id = %s", (session_id,))
    row = await cur.fetchone()
    return None if row is None else str(row[0])
