"""Who may connect: the connection caps, a connection's arrival in its session and its
departure, and forgetting sessions that never got a message."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from sheetstream import protocol
from sheetstream.errors import Busy, SheetstreamError
from sheetstream.streaming.connection import Connection, FrameSink
from sheetstream.streaming.ids import new_id

if TYPE_CHECKING:
    from sheetstream.streaming.chat import ChatService

log = logging.getLogger(__name__)


class Admission:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.forgetting: set[asyncio.Task[None]] = set()

    def over_capacity(self, address: str) -> str | None:
        """Why a new connection from `address` must wait, or None if it may come in."""
        settings = self.service.settings
        total, per_address = settings.max_connections, settings.max_connections_per_address
        registry = self.service.registry
        if len(registry.connections) >= total:
            return f"server full ({total} connections); try again later"
        if per_address and registry.per_address[address] >= per_address:
            return f"{per_address} connections from your address already; close one or try later"
        return None

    async def connect(
        self,
        sink: FrameSink,
        session_id: str | None,
        remote: str,
        owner: str | None = None,
        address: str = "",
    ) -> Connection:
        """Register a connection in its session and send it the `session` frame.

        Raises `NotFound` for a session that belongs to another owner, `Busy` when the
        connection caps are reached (checked again after the storage round trip, so
        connections arriving together cannot overshoot them), and `Unavailable` when the
        database or the broker does not answer.
        """
        service = self.service
        session_id = session_id or new_id("ss")
        created = await service.storage.ensure_session(session_id, time.time(), owner)
        full = self.over_capacity(address)
        if full is not None:
            if created and session_id not in service.registry.sessions:
                self.forget_later([session_id])  # the row just made has no session to hold
            raise Busy(full)
        await service.fleet.watch(session_id)
        elsewhere = None if created else await service.fleet.active_elsewhere(session_id)
        # looked up after the awaits: the sweeper may drop an empty session meanwhile
        session = service.registry.session(session_id, owner)
        if created:  # a new conversation: nothing to read back before answering
            session.history = ()  # made at its first answer
        conn = Connection(
            new_id("cn"),
            session.session_id,
            sink,
            service.stats,
            service.limits,
            service.clock,
            remote,
            address,
            owner,
            service.settings.messages_per_minute,
        )
        service.registry.add_connection(session, conn)
        service.stats.connections_active += 1
        service.stats.connections_total += 1
        resumable = session.resumable()
        if elsewhere is not None and elsewhere["stream_id"] not in session.streams:
            resumable.append(elsewhere["stream_id"])
        conn.push(protocol.session_frame(session.session_id, resumable))
        conn.start()
        return conn

    async def disconnect(self, conn: Connection) -> None:
        """Forget a connection; its streams go on (a dropped connection cancels nothing).

        It stays counted (by the caps, and by the sweeper's deadlines) until it has stopped."""
        registry = self.service.registry
        if conn.connection_id not in registry.connections:
            return
        try:
            await conn.stop()
        finally:
            if registry.remove_connection(conn):
                self.service.stats.connections_active -= 1

    # --- sessions that never got a message

    def forget_later(self, session_ids: list[str]) -> None:
        """`forget_empty` in the background: the sweeper and a refused connection never wait
        on storage."""
        self.track(asyncio.create_task(self.forget_empty(session_ids)))

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a forgetting task until it is done; shutdown waits for it."""
        self.forgetting.add(task)
        task.add_done_callback(self.forgetting.discard)

    async def forget_empty(self, session_ids: list[str] | None) -> None:
        """Sessions gone from memory that never got a message leave storage too (None: all
        of them): a client connecting in a loop must not grow the database by a row each."""
        service = self.service
        try:
            await service.storage.forget_empty_sessions(session_ids)
        except Exception:
            log.exception("could not forget empty sessions")
            return
        # one that came back meanwhile (its connection ran before this) gets its row again
        for session_id in session_ids or ():
            session = service.registry.sessions.get(session_id)
            if session is None:
                continue
            try:
                await service.storage.ensure_session(session_id, time.time(), session.owner)
            except SheetstreamError:
                log.exception("could not restore the row of session %s", session_id)
