"""The broker on Redis: pub/sub for the hub, a Redis stream per answer for the log, and keys
and sorted sets with server-side expiry for the claims.

Every lease is timed by the Redis server's clock (`TIME` inside the scripts), so the nodes'
clocks need not agree. Every call is one round trip; the log's `append` sends the entries of
all streams in one pipeline. Connection errors surface as `Unavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

from sheetstream.broker.base import (
    END,
    ENDED,
    LOST,
    REFUSED,
    STALE,
    WRITTEN,
    Broker,
    Cursor,
    Handler,
    LogEntry,
)
from sheetstream.errors import SheetstreamError, Unavailable

log = logging.getLogger(__name__)

PREFIX = "ss:"
MAX_LOG_ENTRIES = 100_000  # a safety bound on one answer's log (trimmed approximately)

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
return current
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# absent or mine: mine again (a lapse during a stall is healed); another's: lost (1)
_RENEW_KEY = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 0
end
return 1
"""

_PRUNE = (
    _NOW_MS
    + """
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #dead > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  for i = 1, #dead, 1000 do
    redis.call('HDEL', KEYS[2], unpack(dead, i, math.min(i + 999, #dead)))
  end
end
"""
)

_JOIN = (
    _PRUNE
    + """
local ttl = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1])
    and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
"""
)

_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 0
"""

_MEMBERS = (
    _PRUNE
    + """
local names = redis.call('ZRANGE', KEYS[1], 0, -1)
if #names == 0 then return {} end
local values = redis.call('HMGET', KEYS[2], unpack(names))
local out = {}
for i = 1, #names do
  out[2 * i - 1] = names[i]
  out[2 * i] = values[i] or ''
end
return out
"""
)

_RENEW_MEMBERS = (
    _NOW_MS
    + """
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('HSET', KEYS[2], ARGV[i], '')
  end
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])
end
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 0
"""
)

# KEYS: the stream, its counters (per kind, the highest n taken; `end` once it has one), read
# once and written once per call.
# ARGV: ttl ms, max entries, then kind, n, frame, data for each entry.
# Returns 0: refused (it has an end); 3: lost (no log, and these do not begin with `start`);
# 1: written; 2: written, with its first end; 4: written up to an end that follows other
# chunks than the log has (not written).
_APPEND = """
local taken = redis.call('HMGET', KEYS[2], 'start', 'preface', 'chunk', 'end')
if taken[4] then return 0 end
if not (taken[1] or taken[2] or taken[3]) and ARGV[3] ~= 'start' then return 3 end
local counts = {start = tonumber(taken[1] or '0'), preface = tonumber(taken[2] or '0'),
                chunk = tonumber(taken[3] or '0'), ['end'] = 0}
local result = 1
for i = 3, #ARGV, 4 do
  local kind = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  if kind == 'end' and n ~= counts.chunk then
    result = 4
    break
  end
  if n > counts[kind] then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
               'k', kind, 'f', ARGV[i + 2], 'd', ARGV[i + 3], 'n', n)
    counts[kind] = n
    if kind == 'end' then
      result = 2
      break
    end
  end
end
redis.call('HSET', KEYS[2], 'start', counts.start, 'preface', counts.preface,
           'chunk', counts.chunk)
if result == 2 then redis.call('HSET', KEYS[2], 'end', 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return result
"""

_APPENDED = {0: REFUSED, 1: WRITTEN, 2: ENDED, 3: LOST, 4: STALE}


async def _execute(
    client: aioredis.Redis, scripts: list[AsyncScript], build: Callable[[Any], None]
) -> list[Any]:
    """One pipeline of EVALSHAs (and plain commands) built by `build`. redis-py's scripts in a
    pipeline cost a SCRIPT EXISTS round trip per pipeline; here a script is loaded only when
    Redis says it does not have it (a new or restarted server), and the pipeline sent again:
    what it writes is safe to write twice."""
    for attempt in range(2):
        async with client.pipeline(transaction=False) as pipe:
            build(pipe)
            try:
                return list(await pipe.execute())
            except NoScriptError:
                if attempt:
                    raise
        for script in scripts:
            await client.script_load(script.script)
    raise AssertionError("unreachable")


def _evalsha(pipe: Any, script: AsyncScript, keys: list[str], args: list[Any]) -> None:
    pipe.evalsha(script.sha, len(keys), *keys, *args)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable(
        f"Redis is not answering ({type(exc).__name__}); the service recovers by itself when "
        "it is back: try again in a few seconds."
    )


@contextlib.asynccontextmanager
async def _mapped() -> AsyncIterator[None]:
    try:
        yield
    except ResponseError as exc:  # Redis answered, and refused: a bug, not an outage
        log.error("Redis refused a command: %s", exc)
        raise SheetstreamError("The server's broker refused a request; please try again.") from exc
    except (RedisError, OSError) as exc:
        raise _unavailable(exc) from exc


class RedisHub:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        # Pub/sub channels are server-wide, not per database: a fleet's channels carry its
        # database number, so fleets (and test runs) on other databases never hear them.
        db = client.connection_pool.connection_kwargs.get("db", 0)
        self._prefix = f"{PREFIX}{db}:"
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._handlers: dict[str, Handler] = {}
        self._reader: asyncio.Task[None] | None = None

    async def publish(self, channel: str, message: str) -> int:
        async with _mapped():
            return int(await self._client.publish(self._prefix + channel, message))

    async def subscribe(self, channel: str, handler: Handler) -> None:
        self._handlers[self._prefix + channel] = handler
        async with _mapped():
            await self._pubsub.subscribe(self._prefix + channel)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="redis-hub")

    async def unsubscribe(self, channel: str) -> None:
        if self._handlers.pop(self._prefix + channel, None) is not None:
            async with _mapped():
                await self._pubsub.unsubscribe(self._prefix + channel)

    async def listeners(self, channels: list[str]) -> dict[str, int]:
        if not channels:
            return {}
        async with _mapped():
            counts: Any = await self._client.pubsub_numsub(*(self._prefix + c for c in channels))
        return {str(name)[len(self._prefix) :]: int(n) for name, n in counts}

    async def _read(self) -> None:
        """Hand each message to its channel's handler; on a lost connection, reconnect (the
        client subscribes again to every channel) after a pause."""
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("the hub lost Redis (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            except Exception:  # the node hears nothing while this task is gone: go on
                log.exception("reading the hub failed")
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            handler = self._handlers.get(message["channel"])
            if handler is not None:
                try:
                    handler(message["data"])
                except Exception:
                    log.exception("a hub handler failed on %s", message["channel"])

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]


class RedisLog:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._append = client.register_script(_APPEND)
        self._wake: dict[str, str] = {}  # follower -> last wake entry seen

    async def append(
        self, entries: dict[str, list[LogEntry]], ttl_s: float, ended_ttl_s: float | None = None
    ) -> dict[str, str]:
        streams = list(entries)

        def build(pipe: Any) -> None:
            for stream_id in streams:
                ends = ended_ttl_s is not None and any(e.kind == END for e in entries[stream_id])
                ttl = ended_ttl_s if ends and ended_ttl_s is not None else ttl_s
                args: list[Any] = [_ms(ttl), MAX_LOG_ENTRIES]
                for entry in entries[stream_id]:
                    args += (entry.kind, entry.n, entry.frame, entry.data)
                key = PREFIX + "log:" + stream_id
                _evalsha(pipe, self._append, [key, key + ":n"], args)

        async with _mapped():
            results = await _execute(self._client, [self._append], build)
        return {s: _APPENDED[int(r)] for s, r in zip(streams, results, strict=True)}

    async def exists(self, stream_ids: list[str]) -> dict[str, bool]:
        if not stream_ids:
            return {}
        async with _mapped(), self._client.pipeline(transaction=False) as pipe:
            for stream_id in stream_ids:
                pipe.exists(PREFIX + "log:" + stream_id)
            found = await pipe.execute()
        return {s: bool(n) for s, n in zip(stream_ids, found, strict=True)}

    async def read(self, stream_id: str, after: Cursor = "0") -> list[tuple[Cursor, LogEntry]]:
        async with _mapped():
            found: Any = await self._client.xrange(
                PREFIX + "log:" + stream_id, min="(" + after if after != "0" else "-"
            )
        return [(entry_id, _entry(fields)) for entry_id, fields in found]

    async def follow(
        self, follower: str, cursors: dict[str, Cursor], block_s: float
    ) -> dict[str, list[tuple[Cursor, LogEntry]]]:
        wake = PREFIX + "wake:" + follower
        streams: Any = {PREFIX + "log:" + s: (c if c != "0" else "0-0") for s, c in cursors.items()}
        streams[wake] = self._wake.get(follower, "0-0")
        async with _mapped():
            found: Any = await self._client.xread(
                streams, block=_ms(block_s) if block_s > 0 else None, count=1000
            )
        result: dict[str, list[tuple[Cursor, LogEntry]]] = {}
        for key, items in found or []:
            if key == wake:
                self._wake[follower] = items[-1][0]
                continue
            stream_id = key[len(PREFIX) + len("log:") :]
            result[stream_id] = [(entry_id, _entry(fields)) for entry_id, fields in items]
        return result

    async def nudge(self, follower: str) -> None:
        wake = PREFIX + "wake:" + follower
        async with _mapped(), self._client.pipeline(transaction=False) as pipe:
            pipe.xadd(wake, {"n": "1"}, maxlen=8, approximate=False)
            pipe.pexpire(wake, 60_000)
            await pipe.execute()


def _entry(fields: dict[str, str]) -> LogEntry:
    return LogEntry(fields["k"], fields["f"], fields.get("d", ""), int(fields.get("n", 1)))


class RedisClaims:
    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._renew_key = client.register_script(_RENEW_KEY)
        self._join = client.register_script(_JOIN)
        self._leave = client.register_script(_LEAVE)
        self._members = client.register_script(_MEMBERS)
        self._renew_members = client.register_script(_RENEW_MEMBERS)

    @staticmethod
    def _group_keys(group: str) -> list[str]:
        return [PREFIX + "g:" + group, PREFIX + "gv:" + group]

    async def claim(self, key: str, holder: str, ttl_s: float) -> str | None:
        async with _mapped():
            current = await self._claim(keys=[PREFIX + "c:" + key], args=[holder, _ms(ttl_s)])
        return None if current is None else str(current)

    async def release(self, key: str, holder: str) -> bool:
        async with _mapped():
            return bool(await self._release(keys=[PREFIX + "c:" + key], args=[holder]))

    async def holder(self, key: str) -> str | None:
        async with _mapped():
            value = await self._client.get(PREFIX + "c:" + key)
        return None if value is None else str(value)

    async def join(
        self, group: str, member: str, ttl_s: float, limit: int = 0, value: str = ""
    ) -> bool:
        async with _mapped():
            joined = await self._join(
                keys=self._group_keys(group), args=[member, _ms(ttl_s), limit, value]
            )
        return bool(joined)

    async def leave(self, group: str, member: str) -> None:
        async with _mapped():
            await self._leave(keys=self._group_keys(group), args=[member])

    async def members(self, group: str) -> dict[str, str]:
        async with _mapped():
            flat = await self._members(keys=self._group_keys(group), args=[])
        return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def renew(
        self, keys: dict[str, str], groups: dict[str, list[str]], ttl_s: float
    ) -> list[str]:
        if not keys and not groups:
            return []
        ttl = _ms(ttl_s)

        def build(pipe: Any) -> None:
            for key, holder in keys.items():
                _evalsha(pipe, self._renew_key, [PREFIX + "c:" + key], [holder, ttl])
            for group, names in groups.items():
                if names:
                    _evalsha(pipe, self._renew_members, self._group_keys(group), [ttl, *names])

        scripts = [self._renew_key, self._renew_members]
        async with _mapped():
            results = await _execute(self._client, scripts, build)
        # the keys' results come first, in order
        return [key for key, lost in zip(keys, results, strict=False) if lost == 1]


POOL_WAIT_S = 5.0  # longest a call waits for a free connection before `unavailable`


def redis_broker(url: str, pool_size: int = 64) -> Broker:
    # A pool that waits for a free connection: a burst of answers starting must queue for
    # one, not fail (the default pool refuses past its size at once).
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=POOL_WAIT_S,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=10.0,
    )
    client = aioredis.Redis(connection_pool=pool)
    hub = RedisHub(client)

    async def ping() -> bool:
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False

    async def close() -> None:
        await hub.aclose()
        await client.aclose()
        await pool.aclose()

    return Broker(
        url=url,
        hub=hub,
        log=RedisLog(client),
        claims=RedisClaims(client),
        shared=True,
        ping=ping,
        close=close,
    )
