"""Storage backends the contract suite runs against.

Each backend is a `StoreFactory`: `open()` returns a fresh, unconnected handle on one store
that is private to the test, so a test can close a handle and open another on the same data.
To add a backend, add its name to `BACKENDS` and a branch to `backend`.

PostgreSQL: one database per pytest session (`postgres_database`, dropped at the end), and in
it one schema per test. When the server (127.0.0.1:5432, or SHEETSTREAM_TEST_POSTGRES_URL) is
not reachable, the postgres tests are skipped, or fail when CI is set.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from sheetstream.storage import create_storage
from sheetstream.storage.base import Storage
from tests.pg import fresh_database, fresh_schema, unreachable_reason

BACKENDS = ["sqlite", "postgres"]


@dataclass(frozen=True)
class StoreFactory:
    name: str
    open: Callable[[], Storage]

    @asynccontextmanager
    async def connected(self, *, interrupt_streaming: bool = True) -> AsyncIterator[Storage]:
        """A new connected handle on the store, disconnected on exit."""
        store = self.open()
        await store.connect(interrupt_streaming=interrupt_streaming)
        try:
            yield store
        finally:
            await store.disconnect()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a database made for this test session; skipped (failed under CI) when the
    server does not answer."""
    reason = unreachable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run starts it")
        pytest.skip(f"{reason}; start it or set SHEETSTREAM_TEST_POSTGRES_URL")
    with fresh_database() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """A URL private to the test: a new empty schema of the session's database."""
    with fresh_schema(postgres_database) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    if request.param == "sqlite":
        # Nested directories that do not exist yet: the backend must create them.
        url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'history.db'}"
        yield StoreFactory("sqlite", lambda: create_storage(url))
    elif request.param == "postgres":
        # asked for only here, so a run of SQLite tests alone never needs the server
        pg_url: str = request.getfixturevalue("postgres_url")
        yield StoreFactory("postgres", lambda: create_storage(pg_url))
    else:
        raise AssertionError(f"unknown backend {request.param!r}")


@pytest.fixture
async def storage(backend: StoreFactory) -> AsyncIterator[Storage]:
    """A connected handle; disconnected after the test (a second disconnect is a no-op)."""
    async with backend.connected() as store:
        yield store
