"""Writes the answers this node generates to the shared stream log, for readers elsewhere.

Each chunk is appended once, as its stream cut it, and sent to this node's readers only
once it is in the log (`Stream.gated`): a reader who moves to another node has never seen a
chunk the log lacks. A chunk waiting for the log counts as a busy reader, so the batcher
gathers the next tokens meanwhile; with no readers here it cuts at `max_tokens` or at the
`max_delay_ms` deadline, so a reader on another node waits at most that long plus the log's
round trips.
One writer task sends everything that changed since its last write in one pipeline, so under
load several chunks of many streams travel in one round trip. What is not written yet is
what the stream itself holds (its frames past the relay's counts): nothing is copied, and
while Redis is away the backlog is bounded by the answers' own length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from sheetstream.broker.base import (
    CHUNK,
    END,
    LOST,
    PREFACE,
    REFUSED,
    STALE,
    START,
    LogEntry,
    StreamLog,
)
from sheetstream.errors import Unavailable
from sheetstream.streaming.stream import Stream

log = logging.getLogger(__name__)

RETRY_S = 0.5  # pause after a failed write before the next try


@dataclass(slots=True)
class _Written:
    description: str  # the start entry's data
    start: bool = False
    preface: int = 0
    chunks: int = 0
    ended: bool = False


class Relay:
    def __init__(
        self,
        stream_log: StreamLog,
        retention_s: float,
        clock: Callable[[], float],
        ended: Callable[[Stream], None],
        refused: Callable[[Stream], None],
    ) -> None:
        self._log = stream_log
        self._retention_s = retention_s
        self._clock = clock
        self._ended = ended  # once the stream's end is in the log
        self._refused = refused  # the log took another end first (this node was taken for dead)
        self._written: dict[Stream, _Written] = {}
        self._dirty: dict[Stream, None] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing waits to be written
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.appends = 0  # log writes (round trips), for the benchmark's operations per token
        self.entries = 0
        self.commands = 0  # one per stream per write
        self.rewrites = 0  # logs written again from their start after Redis lost them

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relay")

    def track(self, stream: Stream, description: Mapping[str, object]) -> None:
        """Write `stream` to the log from now on, starting with its description."""
        self._written[stream] = _Written(orjson.dumps(description).decode())
        stream.gated = True
        stream.on_change = self.changed
        self.changed(stream)

    def changed(self, stream: Stream) -> None:
        self._dirty[stream] = None
        self._idle.clear()
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._dirty)

    async def flush(self, timeout_s: float) -> bool:
        """Wait until everything is written (shutdown); False at the timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self._idle.is_set()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._write()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, Unavailable):
                    log.warning("could not write to the stream log: %s", exc.message)
                else:
                    log.exception("writing to the stream log failed")
                await asyncio.sleep(RETRY_S)
                self._wake.set()
            if not self._dirty:
                self._idle.set()

    async def _write(self) -> None:
        batch = self._collect()
        if not batch:
            return
        try:
            results = await self._log.append(
                {s.stream_id: entries for s, (entries, _) in batch.items()},
                self._ttl(),
                self._retention_s,
            )
        except BaseException:
            for stream in batch:  # written on the next try (what is there already is skipped)
                self._dirty[stream] = None
            raise
        self.appends += 1
        self.commands += len(batch)
        for stream, (entries, marks) in batch.items():
            result = results.get(stream.stream_id)
            written = self._written.get(stream)
            if written is None:
                continue
            if result == REFUSED:  # another node ended it: what the log has is all there is
                self._forget(stream)
                self._refused(stream)
                continue
            if result == STALE:  # cannot be, but for a log changed under us: try again
                self._dirty[stream] = None
                continue
            if result == LOST:  # Redis lost the log: write it again from its start
                self.rewrites += 1
                written.start, written.preface, written.chunks = False, 0, 0
                self._dirty[stream] = None
                continue
            self.entries += len(entries)
            written.start = True
            written.preface, written.chunks, written.ended = marks
            stream.release(written.chunks, written.preface, written.ended)
            if written.ended:
                self._forget(stream)
                self._ended(stream)

    def _forget(self, stream: Stream) -> None:
        self._written.pop(stream, None)
        self._dirty.pop(stream, None)
        stream.on_change = None

    def _ttl(self) -> float:
        # while an answer is generated its log must outlive a dead node's lease by far; from
        # its end it stays for the retention, like the stream in memory
        return max(self._retention_s, 600.0)

    def _collect(self) -> dict[Stream, tuple[list[LogEntry], tuple[int, int, bool]]]:
        batch = {}
        dirty, self._dirty = self._dirty, {}
        wall_offset = time.time() - self._clock()
        for stream in dirty:
            written = self._written.get(stream)
            if written is None:
                continue
            entries: list[LogEntry] = []
            if not written.start:
                entries.append(LogEntry(START, stream.start_frame, written.description))
            for index in range(written.preface, len(stream.preface)):
                entries.append(LogEntry(PREFACE, stream.preface[index], "", index + 1))
            for seq in range(written.chunks, stream.last_seq):
                oldest = stream.oldest[seq] + wall_offset
                entries.append(LogEntry(CHUNK, stream.frames[seq], f"{oldest:.6f}", seq + 1))
            ended = stream.end_published
            if ended:
                frame, error = stream.end_frame or "", stream.error_frame or ""
                entries.append(LogEntry(END, frame, error, stream.last_seq))
            if entries:
                batch[stream] = (entries, (len(stream.preface), stream.last_seq, ended))
        return batch
