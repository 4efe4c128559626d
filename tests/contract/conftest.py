"""Storage backends the contract suite runs against.

Each backend is a `StoreFactory`: `open()` returns a fresh, unconnected handle on one store
that is private to the test, so a test can close a handle and open another on the same data.
To add a backend, add its name to `BACKENDS` and a branch to `backend` (skip it when its server
is not configured, e.g. no SHEETSTREAM_TEST_POSTGRES_URL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from sheetstream.storage import create_storage
from sheetstream.storage.base import Storage

BACKENDS = ["sqlite"]


@dataclass(frozen=True)
class StoreFactory:
    name: str
    open: Callable[[], Storage]

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[Storage]:
        """A new connected handle on the store, disconnected on exit."""
        store = self.open()
        await store.connect()
        try:
            yield store
        finally:
            await store.disconnect()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "sqlite":
        # Nested directories that do not exist yet: the backend must create them.
        url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'history.db'}"
        return StoreFactory("sqlite", lambda: create_storage(url))
    raise AssertionError(f"unknown backend {request.param!r}")


@pytest.fixture
async def storage(backend: StoreFactory) -> AsyncIterator[Storage]:
    """A connected handle; disconnected after the test (a second disconnect is a no-op)."""
    async with backend.connected() as store:
        yield store
