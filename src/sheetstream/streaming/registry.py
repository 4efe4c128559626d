"""The process's live sessions, streams and connections, and the sweeper that tends them."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sheetstream.protocol import CloseCode
from sheetstream.streaming.connection import Connection
from sheetstream.streaming.stream import Stream


@dataclass(frozen=True, slots=True)
class Deadlines:
    """What the sweeper enforces on every connection; 0 turns a deadline off."""

    send_timeout_s: float
    max_lag_bytes: int
    first_message_s: float
    idle_s: float


@dataclass(eq=False)
class Session:
    """A conversation: its connections (tabs) and its streams still worth resuming."""

    session_id: str
    owner: str | None = None  # the token's owner; None when the service is open
    connections: dict[Connection, None] = field(default_factory=dict)
    streams: dict[str, Stream] = field(default_factory=dict)
    # the last (question, answer) turns the prompt uses, loaded on first chat; a session
    # just created has none to load: () until its first answer
    history: deque[tuple[str, str]] | tuple[()] | None = None
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
        self.per_address: Counter[str] = Counter()

    def session(self, session_id: str, owner: str | None = None) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = Session(session_id, owner)
        return session

    def add_connection(self, session: Session, conn: Connection) -> None:
        session.connections[conn] = None
        self.connections[conn.connection_id] = conn
        self.per_address[conn.address] += 1

    def remove_connection(self, conn: Connection) -> bool:
        """Forget a connection; False if it was already gone."""
        if self.connections.pop(conn.connection_id, None) is None:
            return False
        self.per_address[conn.address] -= 1
        if self.per_address[conn.address] <= 0:
            del self.per_address[conn.address]
        session = self.sessions.get(conn.session_id)
        if session is not None:
            session.connections.pop(conn, None)
        return True

    def running_for(self, owner: str) -> int:
        """Answers being generated in the sessions of `owner` (mirrors included)."""
        return sum(1 for s in self.sessions.values() if s.owner == owner and s.active is not None)

    def add_stream(self, session: Session, stream: Stream) -> None:
        session.streams[stream.stream_id] = stream
        self.streams[stream.stream_id] = stream

    def drop_stream(self, stream: Stream) -> None:
        """Forget a stream that never started (refused by the fleet)."""
        self.streams.pop(stream.stream_id, None)
        session = self.sessions.get(stream.session_id)
        if session is not None:
            session.streams.pop(stream.stream_id, None)

    def running_streams(self) -> list[Stream]:
        return [s for s in self.streams.values() if not s.finished]

    def expire(self) -> list[Session]:
        """Forget streams past their retention, and sessions left with nothing (returned)."""
        cutoff = self.clock() - self.retention_s
        for stream_id, stream in list(self.streams.items()):
            if stream.ended_at is not None and stream.ended_at < cutoff and not stream.subscribers:
                del self.streams[stream_id]
                session = self.sessions.get(stream.session_id)
                if session is not None:
                    session.streams.pop(stream_id, None)
        swept = []
        for session_id, session in list(self.sessions.items()):
            if not session.connections and not session.streams:
                del self.sessions[session_id]
                swept.append(session)
        return swept

    def enforce(self, limits: Deadlines) -> None:
        """Close slow consumers, connections that never spoke, and idle ones."""
        now = self.clock()
        for conn in list(self.connections.values()):
            if conn.sending and now - conn.send_started > limits.send_timeout_s:
                conn.drop_slow_consumer(f"a send took over {limits.send_timeout_s:g} s")
            elif conn.queue_depth > 1 and conn.lag_bytes() > limits.max_lag_bytes:
                conn.drop_slow_consumer(f"over {limits.max_lag_bytes} bytes waiting")
            elif (
                conn.last_received is None
                and limits.first_message_s
                and now - conn.connected_at > limits.first_message_s
                and not conn.following  # a second tab watching an answer says nothing
            ):
                conn.close(
                    CloseCode.POLICY_VIOLATION,
                    f"no message within {limits.first_message_s:g} s of connecting; "
                    "send a frame (a ping will do) after the session frame",
                )
            elif (
                limits.idle_s
                and now - max(conn.last_received or conn.connected_at, conn.last_sent)
                > limits.idle_s
                and not conn.following
            ):
                conn.close(
                    CloseCode.NORMAL,
                    f"idle for {limits.idle_s:g} s; reconnect when needed (ping to stay)",
                )

    async def sweep_forever(
        self,
        limits: Deadlines,
        interval_s: float = 0.5,
        swept: Callable[[list[Session]], None] | None = None,
    ) -> None:
        """Enforce the deadlines and expire what is done, every `interval_s`; `swept` gets
        the sessions forgotten in each round (and must not block)."""
        while True:
            await asyncio.sleep(interval_s)
            self.enforce(limits)
            gone = self.expire()
            if gone and swept is not None:
                swept(gone)
