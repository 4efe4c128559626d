"""Databases of their own for tests, on the machine's PostgreSQL.

`fresh_database()` creates `sheetstream_test_<random>` (from template0) and drops it on exit
(`WITH (FORCE)`, so connections left open do not keep it); `fresh_schema(url)` does the same
for a schema inside one database, which is much cheaper, and returns a URL whose
`search_path` is that schema. The server defaults to the local trust-auth superuser and can be
overridden with `SHEETSTREAM_TEST_POSTGRES_URL` (a postgresql:// URL of a database the user
can connect to; the user must be allowed to create databases).

`Proxy` stands between a client and the server on a port of its own, so a test can make the
server "go away" (every connection cut, new ones refused) and "come back" without touching
the real server, which other test runs may be using.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PREFIX = "sheetstream_test_"


def server_url() -> str:
    return os.environ.get("SHEETSTREAM_TEST_POSTGRES_URL") or DEFAULT_SERVER


def where(url: str) -> str:
    """host:port of a URL, for messages (never its password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def unreachable_reason(server: str | None = None) -> str | None:
    """None when the server accepts a connection, else why not."""
    server = server or server_url()
    try:
        with psycopg.connect(server, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL is not reachable at {where(server)} ({first})"
    return None


def with_params(url: str, **params: str) -> str:
    """`url` with those query parameters set (replacing any of the same name)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def with_database(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{quote(dbname)}"))


def with_search_path(url: str, schema: str) -> str:
    """`url` whose connections use `schema` first (PostgreSQL's `options=-c search_path=`)."""
    return with_params(url, options=f"-csearch_path={schema}")


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def create_database(server: str | None = None) -> str:
    """A new empty database on the server; the URL to it."""
    server = server or server_url()
    name = f"{PREFIX}{secrets.token_hex(6)}"
    with _admin(server) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name)
            )
        )
    return with_database(server, name)


def drop_database(url: str, server: str | None = None) -> None:
    """Drop the database `url` names, closing whatever is still connected to it."""
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith(PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a test database ({PREFIX}*)")
    with _admin(server or server_url()) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def fresh_database(server: str | None = None) -> Iterator[str]:
    """A postgresql:// URL of a new empty database, dropped on exit."""
    url = create_database(server)
    try:
        yield url
    finally:
        drop_database(url, server)


@contextlib.contextmanager
def fresh_schema(database_url: str) -> Iterator[str]:
    """A URL of `database_url` whose connections see only a new empty schema (dropped, with
    everything in it, on exit)."""
    name = f"t_{secrets.token_hex(6)}"
    with _admin(database_url) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield with_search_path(database_url, name)
    finally:
        with _admin(database_url) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Proxy:
    """A TCP relay on 127.0.0.1:`port` to the server of `target` (a postgresql:// URL), run
    on the test's event loop. `stop()` cuts every connection and refuses new ones, as a
    server going down does; `start()` accepts again. `pause()` holds every byte in both
    directions, as a stalled server or network does, until `resume()`. `url` is `target`
    through the relay."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = free_port()
        user, at, _ = parts.netloc.rpartition("@")
        self.url = urlunsplit(parts._replace(netloc=f"{user}{at}127.0.0.1:{self.port}"))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)
