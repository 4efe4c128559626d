"""A fleet in one test: several real servers sharing one fresh Redis database (and one data
directory with its SQLite file, or a fresh PostgreSQL database where a test asks for it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.pg import fresh_database, unreachable_reason
from tests.redisdb import fresh_redis_url, redis_reachable, release


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable at 127.0.0.1:6379; .ci/run starts it")
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    url = fresh_redis_url()
    yield url
    release(url)


@pytest.fixture
def database_url() -> Iterator[str]:
    """A new empty PostgreSQL database on the shared server, dropped after the test."""
    reason = unreachable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with fresh_database() as url:
        yield url
