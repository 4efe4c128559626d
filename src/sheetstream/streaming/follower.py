"""Mirrors of answers other nodes generate, fed from the shared stream log.

A mirror is a `Stream` like any other to this node's connections: they read its frames
through their cursors, so replay, live delivery and slow-consumer rules are the ones of a
local answer. One task per node follows every mirrored stream with one blocking read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from sheetstream import protocol
from sheetstream.broker.base import CHUNK, END, PREFACE, START, Cursor, LogEntry, StreamLog
from sheetstream.errors import Unavailable
from sheetstream.protocol import BatchOptions, EndReason, StreamingMode
from sheetstream.streaming.stream import Stream

log = logging.getLogger(__name__)

FOLLOW_BLOCK_S = 1.0
RETRY_S = 0.5
ABANDONED_S = 60.0  # a mirror with no news this long whose log is gone ends as interrupted
ABANDON_CHECK_S = 10.0  # how often the quiet mirrors' logs are looked for


class Follower:
    def __init__(
        self,
        stream_log: StreamLog,
        node_id: str,
        clock: Callable[[], float],
        adopt: Callable[[Stream], None],
    ) -> None:
        self._log = stream_log
        self._node_id = node_id
        self._clock = clock
        self._adopt = adopt  # puts a new mirror in the registry
        self._cursors: dict[str, Cursor] = {}
        self._mirrors: dict[str, Stream] = {}
        self._news: dict[str, float] = {}
        self._making: dict[str, asyncio.Future[Stream | None]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reads = 0

    @property
    def following(self) -> int:
        return len(self._cursors)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="follower")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def mirror(
        self, stream_id: str, description: dict[str, Any] | None = None
    ) -> Stream | None:
        """A mirror of `stream_id`, replayed from the log so far and followed from there;
        None when the log has no such stream. `description` (from the hub) lets a stream
        whose start is not written yet be mirrored at once."""
        known = self._mirrors.get(stream_id)
        if known is not None:
            return known
        making = self._making.get(stream_id)
        if making is not None:
            return await asyncio.shield(making)
        future: asyncio.Future[Stream | None] = asyncio.get_running_loop().create_future()
        self._making[stream_id] = future
        try:
            stream = await self._make(stream_id, description)
            future.set_result(stream)
            return stream
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter may not exist
            raise
        finally:
            del self._making[stream_id]

    async def _make(self, stream_id: str, description: dict[str, Any] | None) -> Stream | None:
        entries = await self._log.read(stream_id)
        if entries and entries[0][1].kind == START:
            description = orjson.loads(entries[0][1].data)
        if description is None:
            return None
        stream = mirror_of(stream_id, description, self._clock)
        for _, entry in entries:
            if not apply(stream, entry, self._clock):
                end_locally(stream, EndReason.INTERRUPTED)
                break
        cursor: Cursor = entries[-1][0] if entries else "0"
        self._adopt(stream)
        if not stream.finished:
            self._mirrors[stream_id] = stream
            self._cursors[stream_id] = cursor
            self._news[stream_id] = self._clock()
            await self._nudge()
        return stream

    async def _nudge(self) -> None:
        self._wake.set()
        with contextlib.suppress(Unavailable):
            await self._log.nudge(self._node_id)

    async def _run(self) -> None:
        next_check = self._clock() + ABANDON_CHECK_S
        while True:
            if not self._cursors:
                await self._wake.wait()
            self._wake.clear()
            try:
                await self._read()
                if self._clock() >= next_check:
                    next_check = self._clock() + ABANDON_CHECK_S
                    await self._abandon(self._clock())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every mirror depends on this task: it must go on
                if isinstance(exc, Unavailable):
                    log.warning("could not follow the stream log: %s", exc.message)
                else:
                    log.exception("following the stream log failed")
                await asyncio.sleep(RETRY_S)

    async def _read(self) -> None:
        found = await self._log.follow(self._node_id, dict(self._cursors), FOLLOW_BLOCK_S)
        self.reads += 1
        now = self._clock()
        for stream_id, entries in found.items():
            stream = self._mirrors.get(stream_id)
            if stream is None:
                continue
            for cursor, entry in entries:
                if not apply(stream, entry, self._clock):
                    log.error("the log of %s skips a chunk; ending its mirror", stream_id)
                    end_locally(stream, EndReason.INTERRUPTED)
                    break
                self._cursors[stream_id] = cursor
            self._news[stream_id] = now
            if stream.finished:
                self._forget(stream_id)

    def _forget(self, stream_id: str) -> None:
        self._mirrors.pop(stream_id, None)
        self._cursors.pop(stream_id, None)
        self._news.pop(stream_id, None)

    async def _abandon(self, now: float) -> None:
        """End the mirrors whose log vanished (Redis lost it): nobody will end them."""
        quiet = [s for s, last in self._news.items() if now - last >= ABANDONED_S]
        if not quiet:
            return
        for stream_id, exists in (await self._log.exists(quiet)).items():
            self._news[stream_id] = now
            if not exists and stream_id in self._mirrors:
                end_locally(self._mirrors[stream_id], EndReason.INTERRUPTED)
                self._forget(stream_id)


def mirror_of(stream_id: str, description: dict[str, Any], clock: Callable[[], float]) -> Stream:
    mode = StreamingMode(description["mode"])
    stream = Stream(
        stream_id,
        description["session_id"],
        description.get("request_id"),
        mode,
        BatchOptions(1, 0),
        clock,
    )
    stream.owner = description.get("owner")
    stream.remote_node = description.get("node")
    return stream


def apply(stream: Stream, entry: LogEntry, clock: Callable[[], float]) -> bool:
    """One log entry into a mirror; False when the log skips a chunk (it cannot go on)."""
    if entry.kind == CHUNK:
        chunk = orjson.loads(entry.frame)
        if chunk["seq"] <= stream.last_seq:
            return True  # seen already (a replay overlapping the live read, or a rewrite)
        if chunk["seq"] != stream.last_seq + 1:
            return False
        produced = float(entry.data) if entry.data else time.time()
        oldest = clock() - max(0.0, time.time() - produced)
        stream.mirror_chunk(entry.frame, chunk["text"], chunk["tokens"], oldest)
    elif entry.kind == PREFACE:
        if entry.n > len(stream.preface):
            stream.add_preface(entry.frame)
    elif entry.kind == END:
        reason = orjson.loads(entry.frame).get("reason")
        known = reason in EndReason.__members__.values()
        stream.mirror_end(
            entry.frame, entry.data or None, EndReason(reason) if known else EndReason.ERROR
        )
    return True


def end_locally(stream: Stream, reason: EndReason) -> None:
    frame = protocol.end_frame(
        stream.stream_id, stream.last_seq, reason, stream.tokens, stream.request_id
    )
    stream.mirror_end(frame, None, reason)
