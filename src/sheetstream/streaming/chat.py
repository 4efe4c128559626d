"""The chat service: this node's sessions and connections, and the jobs a chat frame's path
goes through, each in its own module:

- `admission`: the connection caps, connect and disconnect, forgetting empty sessions;
- `dispatch`: what each client frame does;
- `answers`: one question's answer (workbook commands, tools, history);
- `control`: cancel, resume and delete, here or on another node;
- `fleet`: this node's lease and claims, the hub, the stream log (`relay`, `follower`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sheetstream import protocol
from sheetstream.access import TokenBook
from sheetstream.broker.base import Broker
from sheetstream.broker.memory import memory_broker
from sheetstream.errors import SheetstreamError
from sheetstream.llm.base import Model
from sheetstream.protocol import BatchOptions, CloseCode
from sheetstream.settings import Settings
from sheetstream.storage.base import Storage
from sheetstream.streaming import dispatch
from sheetstream.streaming.admission import Admission
from sheetstream.streaming.answers import Answers
from sheetstream.streaming.connection import Connection, DeliveryLimits, FrameSink
from sheetstream.streaming.control import Control
from sheetstream.streaming.fleet import Fleet
from sheetstream.streaming.registry import Deadlines, Registry, Session
from sheetstream.streaming.stats import Stats
from sheetstream.streaming.stream import Stream
from sheetstream.workbooks.service import WorkbookService

log = logging.getLogger(__name__)


class ChatService:
    def __init__(
        self,
        settings: Settings,
        model: Model,
        storage: Storage,
        workbooks: WorkbookService | None = None,
        clock: Callable[[], float] = time.monotonic,
        tokens: TokenBook | None = None,
        broker: Broker | None = None,
        node_id: str | None = None,
    ) -> None:
        self.tokens = tokens or TokenBook({})
        self.workbooks = workbooks
        self.settings = settings
        self.model = model
        self.storage = storage
        self.clock = clock
        self.stats = Stats()
        self.registry = Registry(clock, settings.stream_retention_s)
        self.default_batch = BatchOptions(settings.batch_max_tokens, settings.batch_max_delay_ms)
        self.limits = DeliveryLimits(
            control_frames=settings.control_queue_frames,
            max_lag_bytes=settings.max_lag_bytes,
            send_timeout_s=settings.send_timeout_s,
        )
        self.quotas = settings.quotas()
        self.broker = broker or memory_broker()
        self.node_id = node_id or settings.resolved_node_id()
        self.fleet = Fleet(self, self.broker, self.node_id)
        self.admission = Admission(self)
        self.answers = Answers(self)
        self.control = Control(self)
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        settings = self.settings
        deadlines = Deadlines(
            send_timeout_s=settings.send_timeout_s,
            max_lag_bytes=settings.max_lag_bytes,
            first_message_s=settings.first_message_timeout_s,
            idle_s=settings.idle_timeout_s,
        )
        await self.fleet.start()
        if not self.fleet.shared:
            # nothing is in memory yet: every session without messages is a leftover (in a
            # fleet, another node may be holding one)
            await self.admission.forget_empty(None)
        self._sweeper = asyncio.create_task(
            self.registry.sweep_forever(deadlines, swept=self._swept)
        )

    def _swept(self, gone: list[Session]) -> None:
        self.admission.track(asyncio.create_task(self._leave([s.session_id for s in gone])))

    async def _leave(self, session_ids: list[str]) -> None:
        """Sessions gone from this node: forget those without messages that no other node
        holds either."""
        try:
            held_nowhere = await self.fleet.unwatch(session_ids)
        except SheetstreamError as exc:
            log.warning("could not leave the channels of %d sessions: %s", len(session_ids), exc)
            return
        if held_nowhere:
            await self.admission.forget_empty(held_nowhere)

    def adopt_mirror(self, stream: Stream) -> None:
        """A mirror of another node's answer joins this node's registry."""
        session = self.registry.session(stream.session_id, stream.owner)
        self.registry.add_stream(session, stream)

    # --- what the routes call

    def over_capacity(self, address: str) -> str | None:
        return self.admission.over_capacity(address)

    async def connect(
        self,
        sink: FrameSink,
        session_id: str | None,
        remote: str,
        owner: str | None = None,
        address: str = "",
    ) -> Connection:
        return await self.admission.connect(sink, session_id, remote, owner, address)

    async def disconnect(self, conn: Connection) -> None:
        await self.admission.disconnect(conn)

    def handle(self, conn: Connection, text: str) -> None:
        dispatch.handle(self, conn, text)

    def reject(self, conn: Connection, error: SheetstreamError) -> None:
        self.stats.errors[error.code] += 1
        conn.push(protocol.error_frame(error.code, error.message, error.request_id))

    def cancel_stream(self, stream: Stream) -> None:
        self.control.cancel_stream(stream)

    async def delete_session(self, session_id: str, owner: str) -> bool:
        return await self.control.delete_session(session_id, owner)

    # --- shutdown

    async def shutdown(self) -> None:
        """Stop every answer (ended and stored as interrupted), write their ends to the log,
        leave the fleet, close every client with 1001 (reconnect and resume)."""
        grace = self.settings.shutdown_grace_s
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.admission.forgetting:
            await asyncio.wait(self.admission.forgetting, timeout=grace)
        running = [s for s in self.registry.running_streams() if s.remote_node is None]
        tasks = [s.task for s in running if s.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        await self.fleet.stop(grace)
        for conn in list(self.registry.connections.values()):
            conn.close(CloseCode.GOING_AWAY, "server shutting down; reconnect and resume")
        for conn in list(self.registry.connections.values()):
            with contextlib.suppress(Exception):
                await self.disconnect(conn)
