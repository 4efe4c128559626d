"""PostgreSQL specifics: URLs, errors that say what to do, the pool surviving a server
restart, and migrations when several processes start at once.

Each test gets a schema of its own (`postgres_url`, see conftest.py); "the server going away"
is a `Proxy` in front of it being stopped, so the real server is never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import pytest

from sheetstream.errors import StorageError
from sheetstream.storage import create_storage
from sheetstream.storage.postgres import MIGRATIONS, PostgresStorage
from tests.pg import Proxy, free_port, with_database, with_params

T = TypeVar("T")
T0 = 1_750_000_000.5
SECRET = "s3cret-Passw0rd"


def query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def backends_of(url: str, app: str) -> int:
    rows = query(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,))
    return int(rows[0][0])  # type: ignore[call-overload]


async def backends_gone(url: str, app: str, within: float = 5.0) -> int:
    """The backends left for `app`, once none are or `within` seconds have passed: a backend
    leaves pg_stat_activity a moment after its client closed the connection, not at once."""
    deadline = time.monotonic() + within
    while (left := backends_of(url, app)) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling another server's view
        await asyncio.sleep(0.05)
    return left


async def eventually(call: Callable[[], Awaitable[T]], within: float) -> T:
    """`call()`'s result once it stops raising `StorageError`, trying for `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await call()
        except StorageError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_create_storage_takes_both_schemes_and_the_pool_size() -> None:
    for scheme in ("postgresql", "postgres"):
        store = create_storage(f"{scheme}://u@db.example:6543/history", pool_size=3)
        assert isinstance(store, PostgresStorage)
        assert store.pool_size == 3
        assert store.where == "db.example:6543" and store.dbname == "history"
    assert create_storage("postgresql://u@h/d").pool_size == 10  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="postgresql://"):
        create_storage("mysql://u@h/d")


@pytest.mark.parametrize(
    "url",
    ["postgresql://u@h/d?nonsense=1", f"postgresql://u:{SECRET}@h/d?nonsense=1", "sqlite:///x"],
)
def test_bad_urls_raise_value_error_without_the_password(url: str) -> None:
    with pytest.raises(ValueError, match="postgresql://user") as caught:
        PostgresStorage(url)
    assert SECRET not in str(caught.value)


def test_bad_pool_size() -> None:
    with pytest.raises(ValueError, match="pool_size"):
        PostgresStorage("postgresql://u@h/d", pool_size=0)


def test_repr_has_no_password() -> None:
    store = PostgresStorage(f"postgresql://u:{SECRET}@h:1/d")
    assert SECRET not in repr(store) and "h:1/d" in repr(store)


async def test_server_not_answering_is_a_storage_error_saying_where() -> None:
    port = free_port()  # nothing listens there
    store = PostgresStorage(f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/x", timeout=1)
    started = time.monotonic()
    with pytest.raises(StorageError) as caught:
        await store.connect()
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert f"PostgreSQL is not answering at 127.0.0.1:{port}" in message
    assert "SHEETSTREAM_DATABASE_URL" in message
    assert SECRET not in message
    with pytest.raises(StorageError, match="not connected"):
        await store.ping()
    await store.disconnect()


async def test_missing_database_is_a_storage_error_saying_what_to_check(
    postgres_database: str,
) -> None:
    url = with_database(postgres_database, "sheetstream_test_no_such_database")
    store = PostgresStorage(url, timeout=1)
    with pytest.raises(StorageError, match="refused the connection") as caught:
        await store.connect()
    assert "does not exist" in str(caught.value)
    assert "database name in SHEETSTREAM_DATABASE_URL" in str(caught.value)


async def test_newer_schema_is_refused(postgres_url: str) -> None:
    store = PostgresStorage(postgres_url)
    await store.connect()
    await store.disconnect()
    query(
        postgres_url,
        "INSERT INTO sheetstream_migrations (version, name) VALUES (%s, 'future')",
        (len(MIGRATIONS) + 1,),
    )
    with pytest.raises(StorageError, match="newer than this sheetstream knows"):
        await PostgresStorage(postgres_url).connect()


async def test_a_database_of_the_first_schema_gains_the_workbook_index(postgres_url: str) -> None:
    """A database the history-only release made keeps its history and gains the index."""
    with psycopg.connect(postgres_url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "CREATE TABLE sheetstream_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for statement in MIGRATIONS[0][1]:
            conn.execute(statement)
        conn.execute("INSERT INTO sheetstream_migrations (version, name) VALUES (1, 'initial')")
        conn.execute("INSERT INTO sessions VALUES ('s1', 1, 1, 'alice')")
    store = PostgresStorage(postgres_url)
    await store.connect()
    try:
        assert await store.session_owner("s1") == "alice"
        assert await store.list_workbooks(None) == []
        assert await store.workbook_usage("alice") == (0, 0)
    finally:
        await store.disconnect()
    versions = query(postgres_url, "SELECT version FROM sheetstream_migrations ORDER BY version")
    assert versions == [(1,), (2,)] and len(MIGRATIONS) == 2


async def test_processes_starting_together_migrate_once(postgres_url: str) -> None:
    stores = [PostgresStorage(postgres_url, pool_size=1) for _ in range(8)]
    await asyncio.gather(*(s.connect() for s in stores))
    try:
        assert all(await asyncio.gather(*(s.ping() for s in stores)))
        await stores[0].ensure_session("s1", T0)
        assert await stores[-1].session_owner("s1") == ""
    finally:
        await asyncio.gather(*(s.disconnect() for s in stores))
    versions = query(postgres_url, "SELECT version FROM sheetstream_migrations ORDER BY version")
    assert versions == [(n,) for n in range(1, len(MIGRATIONS) + 1)]


async def test_pool_size_bounds_the_connections(postgres_url: str) -> None:
    url = with_params(postgres_url, application_name="sheetstream-pool-size")
    store = PostgresStorage(url, pool_size=2)
    await asyncio.gather(store.connect(), store.connect())  # one pool, not two
    try:
        await store.ensure_session("s1", T0)
        await asyncio.gather(*(store.history_bytes("") for _ in range(50)))
        assert 1 <= backends_of(postgres_url, "sheetstream-pool-size") <= 2
    finally:
        await store.disconnect()
    assert await backends_gone(postgres_url, "sheetstream-pool-size") == 0


async def test_connections_the_server_drops_are_replaced(postgres_url: str) -> None:
    """A backend killed (as by a restart or an administrator) is never handed out: the
    pool checks each connection as it lends it."""
    url = with_params(postgres_url, application_name="sheetstream-dropped")
    store = PostgresStorage(url, pool_size=4)
    await store.connect()
    try:
        await store.ensure_session("s1", T0)
        await asyncio.gather(*(store.history_bytes("") for _ in range(20)))  # grow the pool
        killed = query(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            ("sheetstream-dropped",),
        )
        assert killed and all(ok for (ok,) in killed)
        for _ in range(10):
            assert await store.session_owner("s1") == ""
        assert await asyncio.gather(*(store.session_owner("s1") for _ in range(10))) == [""] * 10
        assert await store.ping() is True
    finally:
        await store.disconnect()


async def test_the_pool_recovers_after_the_server_restarts(postgres_url: str) -> None:
    proxy = Proxy(postgres_url)
    await proxy.start()
    store = PostgresStorage(proxy.url, pool_size=3, timeout=1)
    try:
        await store.connect()
        await store.ensure_session("s1", T0)
        await asyncio.gather(*(store.history_bytes("") for _ in range(10)))

        await proxy.stop()  # the server goes away
        started = time.monotonic()
        assert await store.ping() is False
        with pytest.raises(StorageError) as caught:
            await store.ensure_session("s2", T0)
        assert time.monotonic() - started < 5  # failed within the timeouts, did not hang
        message = str(caught.value)
        assert f"PostgreSQL is not answering at 127.0.0.1:{proxy.port}" in message
        assert "while opening session 's2'" in message

        await proxy.start()  # and comes back
        started = time.monotonic()
        assert await eventually(lambda: store.ensure_session("s2", T0), within=10) is True
        recovery = time.monotonic() - started
        assert recovery < 10
        # Every connection lent from now on works: none broken is handed out again.
        for _ in range(10):
            assert await store.session_owner("s1") == ""
        owners = await asyncio.gather(*(store.session_owner("s2") for _ in range(10)))
        assert owners == [""] * 10
        assert await store.ping() is True
    finally:
        await store.disconnect()
        await proxy.stop()


async def test_a_restart_between_calls_costs_no_call(postgres_url: str) -> None:
    """The server restarts while the process is idle: every pooled connection is dead, yet
    the very next call succeeds, on a fresh one, without waiting out any backoff."""
    proxy = Proxy(postgres_url)
    await proxy.start()
    store = PostgresStorage(proxy.url, pool_size=5, timeout=2)
    try:
        await store.connect()
        await store.ensure_session("s1", T0)
        await asyncio.gather(*(store.history_bytes("") for _ in range(20)))  # several open
        await proxy.stop()
        await proxy.start()
        started = time.monotonic()
        assert await store.session_owner("s1") == ""
        assert time.monotonic() - started < 1
        assert await asyncio.gather(*(store.session_owner("s1") for _ in range(10))) == [""] * 10
    finally:
        await store.disconnect()
        await proxy.stop()


async def test_nul_in_text_is_stored_as_a_replacement_character(postgres_url: str) -> None:
    """PostgreSQL text cannot hold NUL, so it is stored as U+FFFD rather than failing the
    write; JSON columns keep it (escaped) exactly."""
    from tests.contract.test_storage_contract import finished, make_record

    store = PostgresStorage(postgres_url)
    await store.connect()
    try:
        await store.ensure_session("s1", T0)
        record = make_record(1, question="a\x00b", request_id="r\x00")
        await store.add_message(record)
        done = finished(record, answer="x\x00y", grounding={"n\x00": ["\x00"]})
        await store.finish_message(done)
        [got] = await store.list_messages("s1")
        assert got.question == "a\ufffdb" and got.request_id == "r\ufffd"
        assert got.answer == "x\ufffdy"
        assert got.grounding == {"n\x00": ["\x00"]}
        assert await store.history_bytes("") == done.stored_bytes()
    finally:
        await store.disconnect()
