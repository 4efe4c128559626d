"""The broker in process memory: one service, or several in one process sharing a space."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sheetstream.broker.base import (
    CHUNK,
    END,
    ENDED,
    LOST,
    REFUSED,
    STALE,
    START,
    WRITTEN,
    Broker,
    Cursor,
    Handler,
    LogEntry,
)

logger = logging.getLogger(__name__)


@dataclass
class _Log:
    entries: list[LogEntry] = field(default_factory=list)
    taken: dict[str, int] = field(default_factory=dict)  # per kind, the highest `n`
    expires_at: float = 0.0

    @property
    def ended(self) -> bool:
        return END in self.taken


class MemorySpace:
    """What the memory backends of one service (or of several test nodes) share."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.channels: dict[str, list[Handler]] = defaultdict(list)
        self.logs: dict[str, _Log] = {}
        self.keys: dict[str, tuple[str, float]] = {}  # key -> (holder, expires_at)
        self.groups: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
        self.changed: dict[str, asyncio.Event] = {}  # follower -> set on news for it
        self.following: dict[str, set[str]] = defaultdict(set)  # stream -> followers
        self._next_purge = 0.0

    def purge(self) -> None:
        """Drop expired logs now and then (at most once a second): one never read again
        must not stay."""
        now = self.clock()
        if now < self._next_purge:
            return
        self._next_purge = now + 1.0
        for stream_id in [s for s, log in self.logs.items() if log.expires_at <= now]:
            del self.logs[stream_id]
        for group in [g for g, members in self.groups.items() if not members]:
            del self.groups[group]

    def live_log(self, stream_id: str) -> _Log | None:
        log = self.logs.get(stream_id)
        if log is not None and log.expires_at <= self.clock():
            del self.logs[stream_id]
            return None
        return log

    def live_members(self, group: str) -> dict[str, tuple[str, float]]:
        members = self.groups[group]  # an empty group is dropped by `purge`
        now = self.clock()
        for member in [m for m, (_, expires) in members.items() if expires <= now]:
            del members[member]
        return members


class MemoryHub:
    def __init__(self, space: MemorySpace) -> None:
        self._space = space
        self._mine: dict[str, Handler] = {}

    async def publish(self, channel: str, message: str) -> int:
        handlers = list(self._space.channels.get(channel, ()))
        for handler in handlers:
            try:
                handler(message)
            except Exception:  # as with Redis: one node's failure is its own
                logger.exception("a hub handler failed on %s", channel)
        return len(handlers)

    async def subscribe(self, channel: str, handler: Handler) -> None:
        await self.unsubscribe(channel)
        self._mine[channel] = handler
        self._space.channels[channel].append(handler)

    async def listeners(self, channels: list[str]) -> dict[str, int]:
        return {channel: len(self._space.channels.get(channel, ())) for channel in channels}

    async def unsubscribe(self, channel: str) -> None:
        handler = self._mine.pop(channel, None)
        if handler is not None:
            self._space.channels[channel].remove(handler)
            if not self._space.channels[channel]:
                del self._space.channels[channel]


class MemoryLog:
    def __init__(self, space: MemorySpace) -> None:
        self._space = space

    async def append(
        self, entries: dict[str, list[LogEntry]], ttl_s: float, ended_ttl_s: float | None = None
    ) -> dict[str, str]:
        space = self._space
        space.purge()
        results: dict[str, str] = {}
        for stream_id, items in entries.items():
            log = space.live_log(stream_id)
            if log is not None and log.ended:
                results[stream_id] = REFUSED
                continue
            if log is None:
                if not items or items[0].kind != START:
                    results[stream_id] = LOST
                    continue
                log = space.logs[stream_id] = _Log()
            results[stream_id] = WRITTEN
            for entry in items:
                if entry.kind == END and entry.n != log.taken.get(CHUNK, 0):
                    results[stream_id] = STALE
                    break
                if entry.n <= log.taken.get(entry.kind, 0):
                    continue  # written before
                log.entries.append(entry)
                log.taken[entry.kind] = entry.n
                if entry.kind == END:
                    results[stream_id] = ENDED
                    break
            ends_here = results[stream_id] == ENDED and ended_ttl_s is not None
            ttl = ended_ttl_s if ends_here and ended_ttl_s is not None else ttl_s
            log.expires_at = space.clock() + ttl
            for follower in space.following.get(stream_id, ()):
                event = space.changed.get(follower)
                if event is not None:
                    event.set()
        return results

    async def exists(self, stream_ids: list[str]) -> dict[str, bool]:
        return {s: self._space.live_log(s) is not None for s in stream_ids}

    async def read(self, stream_id: str, after: Cursor = "0") -> list[tuple[Cursor, LogEntry]]:
        log = self._space.live_log(stream_id)
        if log is None:
            return []
        start = int(after)
        return [(str(i + 1), e) for i, e in enumerate(log.entries[start:], start)]

    async def follow(
        self, follower: str, cursors: dict[str, Cursor], block_s: float
    ) -> dict[str, list[tuple[Cursor, LogEntry]]]:
        space = self._space
        event = space.changed.setdefault(follower, asyncio.Event())
        for stream_id in cursors:
            space.following[stream_id].add(follower)
        try:
            found = await self._new(cursors)
            if not found and block_s > 0:
                event.clear()
                try:
                    await asyncio.wait_for(event.wait(), block_s)
                except TimeoutError:
                    return {}
                found = await self._new(cursors)
            return found
        finally:
            for stream_id in cursors:
                followers = space.following.get(stream_id)
                if followers is not None:
                    followers.discard(follower)
                    if not followers:
                        del space.following[stream_id]

    async def _new(self, cursors: dict[str, Cursor]) -> dict[str, list[tuple[Cursor, LogEntry]]]:
        found = {}
        for stream_id, cursor in cursors.items():
            entries = await self.read(stream_id, cursor)
            if entries:
                found[stream_id] = entries
        return found

    async def nudge(self, follower: str) -> None:
        event = self._space.changed.setdefault(follower, asyncio.Event())
        event.set()


class MemoryClaims:
    def __init__(self, space: MemorySpace) -> None:
        self._space = space

    def _holder(self, key: str) -> str | None:
        held = self._space.keys.get(key)
        if held is None:
            return None
        if held[1] <= self._space.clock():
            del self._space.keys[key]
            return None
        return held[0]

    async def claim(self, key: str, holder: str, ttl_s: float) -> str | None:
        current = self._holder(key)
        if current is not None and current != holder:
            return current
        self._space.keys[key] = (holder, self._space.clock() + ttl_s)
        return None

    async def release(self, key: str, holder: str) -> bool:
        if self._holder(key) != holder:
            return False
        del self._space.keys[key]
        return True

    async def holder(self, key: str) -> str | None:
        return self._holder(key)

    async def join(
        self, group: str, member: str, ttl_s: float, limit: int = 0, value: str = ""
    ) -> bool:
        members = self._space.live_members(group)
        if member not in members and limit and len(members) >= limit:
            return False
        members[member] = (value, self._space.clock() + ttl_s)
        return True

    async def leave(self, group: str, member: str) -> None:
        self._space.live_members(group).pop(member, None)

    async def members(self, group: str) -> dict[str, str]:
        return {m: value for m, (value, _) in self._space.live_members(group).items()}

    async def renew(
        self, keys: dict[str, str], groups: dict[str, list[str]], ttl_s: float
    ) -> list[str]:
        expires = self._space.clock() + ttl_s
        lost = []
        for key, holder in keys.items():
            current = self._holder(key)
            if current is None or current == holder:
                self._space.keys[key] = (holder, expires)
            else:
                lost.append(key)
        for group, names in groups.items():
            members = self._space.live_members(group)
            for member in names:
                value = members[member][0] if member in members else ""
                members[member] = (value, expires)
        return lost


def memory_broker(space: MemorySpace | None = None) -> Broker:
    space = space or MemorySpace()

    async def ping() -> bool:
        return True

    async def close() -> None:
        return None

    return Broker(
        url="memory://",
        hub=MemoryHub(space),
        log=MemoryLog(space),
        claims=MemoryClaims(space),
        shared=False,
        ping=ping,
        close=close,
    )
