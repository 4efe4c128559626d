"""A Redis database of its own for each test run, on the machine's Redis.

`fresh_redis_url()` claims the first empty database number (1–15) with a marker key, so two
runs on one machine never share one, and `release(url)` empties it again.
"""

from __future__ import annotations

import os
import secrets

import redis

SERVER = os.environ.get("SHEETSTREAM_TEST_REDIS_URL", "redis://127.0.0.1:6379")
MARKER = "sheetstream-test-run"


def fresh_redis_url(server: str = SERVER) -> str:
    run = secrets.token_hex(4)
    for db in range(1, 16):
        client = redis.Redis.from_url(f"{server}/{db}")
        try:
            if client.dbsize() == 0 and client.set(MARKER, run, nx=True, ex=3600):
                return f"{server}/{db}"
        finally:
            client.close()
    raise RuntimeError(f"no empty Redis database on {server} (1–15 all hold keys)")


def release(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def redis_reachable(server: str = SERVER) -> bool:
    client = redis.Redis.from_url(server, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
