"""The process's live sessions, streams and connections, and the sweeper that tends them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sheetstream.streaming.connection import Connection
from sheetstream.streaming.stream import Stream


@dataclass(eq=False)
class Session:
    """A conversation: its connections (tabs) and its streams still worth resuming."""

    session_id: str
    connections: dict[Connection, None] = field(default_factory=dict)
    streams: dict[str, Stream] = field(default_factory=dict)
    history: list[tuple[str, str]] | None = None  # (question, answer), loaded on first chat
    workbook_id: str | None = None  # attached by the last chat that named one

    @property
    def active(self) -> Stream | None:
        """The stream being generated, if any (one at a time per session)."""
        for stream in reversed(self.streams.values()):
            if not stream.finished:
                return stream
        return None

    def resumable(self) -> list[str]:
        return list(self.streams)


class Registry:
    def __init__(self, clock: Callable[[], float], retention_s: float) -> None:
        self.clock = clock
        self.retention_s = retention_s
        self.sessions: dict[str, Session] = {}
        self.streams: dict[str, Stream] = {}
        self.connections: dict[str, Connection] = {}

    def session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = Session(session_id)
        return session

    def add_stream(self, session: Session, stream: Stream) -> None:
        session.streams[stream.stream_id] = stream
        self.streams[stream.stream_id] = stream

    def running_streams(self) -> list[Stream]:
        return [s for s in self.streams.values() if not s.finished]

    def expire(self) -> None:
        """Forget streams past their retention, and sessions left with nothing."""
        cutoff = self.clock() - self.retention_s
        for stream_id, stream in list(self.streams.items()):
            if stream.ended_at is not None and stream.ended_at < cutoff and not stream.subscribers:
                del self.streams[stream_id]
                session = self.sessions.get(stream.session_id)
                if session is not None:
                    session.streams.pop(stream_id, None)
        for session_id, session in list(self.sessions.items()):
            if not session.connections and not session.streams:
                del self.sessions[session_id]

    def find_slow_consumers(self, send_timeout_s: float, max_lag_bytes: int) -> None:
        now = self.clock()
        for conn in list(self.connections.values()):
            if conn.sending and now - conn.send_started > send_timeout_s:
                conn.drop_slow_consumer(f"a send took over {send_timeout_s:g} s")
            elif conn.queue_depth > 1 and conn.lag_bytes() > max_lag_bytes:
                conn.drop_slow_consumer(f"over {max_lag_bytes} bytes waiting")

    async def sweep_forever(
        self, send_timeout_s: float, max_lag_bytes: int, interval_s: float = 0.5
    ) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.find_slow_consumers(send_timeout_s, max_lag_bytes)
            self.expire()
