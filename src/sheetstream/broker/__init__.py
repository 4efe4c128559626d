"""What a service's processes share; `create_broker` picks a backend by URL and imports only
that one (`memory://` needs nothing; `redis://` needs the `fleet` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sheetstream.broker.base import Broker


def create_broker(url: str, pool_size: int = 64) -> Broker:
    if url.startswith("memory://"):
        from sheetstream.broker.memory import memory_broker

        return memory_broker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from sheetstream.broker.redis import redis_broker

        return redis_broker(url, pool_size)
    raise ValueError(
        f"Unsupported SHEETSTREAM_BROKER_URL {url.split(':', 1)[0]!r}:// ; use memory:// "
        "(one process) or redis://host:port/db"
    )


def redacted(url: str) -> str:
    """The URL without its password, for logs and health reports."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    return scheme + sep + rest
