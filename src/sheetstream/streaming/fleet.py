"""This node's part in a fleet: its lease, the claims of its answers, the hub's messages, and
ending the answers of nodes that died.

With the default `memory://` broker the fleet is this one process: the claims still decide
`busy` and the per-owner caps, but nothing is written to a log nobody else reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import orjson

from sheetstream import protocol
from sheetstream.broker.base import CHUNK, END, ENDED, PREFACE, STALE, START, Broker, LogEntry
from sheetstream.errors import SheetstreamError, Unavailable, owner_busy, session_busy
from sheetstream.protocol import EndReason
from sheetstream.storage.base import MessageRecord
from sheetstream.streaming.follower import Follower
from sheetstream.streaming.relay import Relay
from sheetstream.streaming.stream import Stream

if TYPE_CHECKING:
    from sheetstream.streaming.chat import ChatService

log = logging.getLogger(__name__)

NODES = "nodes"  # group: the live nodes, each under its lease
RUNNING = "running"  # group: answers being generated → their node; outlives a dead node
RUNNING_TTL_S = 24 * 3600.0
REAP_CLAIM_S = 30.0
FLEET = "fleet"  # channel every node hears


def session_key(session_id: str) -> str:
    return "session:" + session_id


def owner_group(owner: str) -> str:
    return "owner:" + owner


def node_channel(node_id: str) -> str:
    return "node:" + node_id


def session_channel(session_id: str) -> str:
    return "session:" + session_id


class Fleet:
    def __init__(self, service: ChatService, broker: Broker, node_id: str) -> None:
        self.service = service
        self.broker = broker
        self.node_id = node_id
        self.lease_s = service.settings.node_lease_s
        self.shared = broker.shared
        self.relay = Relay(
            broker.log,
            service.settings.stream_retention_s,
            service.clock,
            self._logged_end,
            self._ended_elsewhere,
        )
        self.follower = Follower(broker.log, node_id, service.clock, service.adopt_mirror)
        self.started_at = time.time()
        # this run of the node: a restart under the same NODE_ID is another incarnation, and
        # the answers of the one before are a dead node's
        self.incarnation = secrets.token_hex(8)
        self.reaped = 0
        self.lease_ok = True  # the last renewal reached the broker
        self._lease_since = service.clock()  # since when renewals have kept succeeding
        self._claimed: dict[str, tuple[str, str]] = {}  # our stream → its session claim, holder
        self._slots: dict[str, list[str]] = {}  # owner group → our streams in it
        self._watched: set[str] = set()  # sessions whose channel this node hears
        self._leaving: set[str] = set()  # being unsubscribed now
        self._wanted: set[str] = set()  # asked for again while being unsubscribed
        self._tasks: set[asyncio.Task[Any]] = set()
        self._beat: asyncio.Task[None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}

    def figures(self) -> dict[str, Any]:
        """What this node did with the broker, for the performance endpoint: log writes
        (round trips, per-stream commands, entries), log reads, answers of dead nodes ended."""
        relay = self.relay
        return {
            "node": self.node_id,
            "shared": self.shared,
            "lease_ok": self.lease_ok,
            "log_writes": relay.appends,
            "log_commands": relay.commands,
            "log_entries": relay.entries,
            "log_reads": self.follower.reads,
            "mirrors": self.follower.following,
            "reaped": self.reaped,
        }

    # --- lifecycle

    async def start(self) -> None:
        await self.broker.claims.join(NODES, self.node_id, self.lease_s, value=self._describe())
        await self.broker.hub.subscribe(node_channel(self.node_id), self._on_message)
        await self.broker.hub.subscribe(FLEET, self._on_message)
        if self.shared:
            self.relay.start()
            self.follower.start()
            self._reaper = asyncio.create_task(self._reap_forever(), name="reaper")
        self._beat = asyncio.create_task(self._heartbeat(), name="heartbeat")

    async def stop(self, grace_s: float) -> None:
        """After the answers ended: write their ends, finish what is under way (releases,
        replies), leave the fleet."""
        for task in (self._beat, self._reaper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.shared and not await self.relay.flush(grace_s):
            log.warning("shutting down with %d answers not written to the log", self.relay.backlog)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        await self.relay.aclose()
        await self.follower.aclose()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(SheetstreamError):
            await self.broker.claims.leave(NODES, self.node_id)

    def _describe(self) -> str:
        return orjson.dumps(
            {"started_at": self.started_at, "incarnation": self.incarnation}
        ).decode()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        """Background work that must not be lost to the garbage collector."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("fleet task %s failed", task.get_name(), exc_info=task.exception())

    # --- answers

    async def admit(self, stream: Stream, owner: str | None, cap: int) -> None:
        """Claim the session and a place in the owner's cap for `stream`, fleet-wide.

        Raises `Busy` when another node is answering in the session or the owner's answers
        fill the cap, `Unavailable` when the broker does not answer."""
        key = session_key(stream.session_id)
        holder = orjson.dumps(
            {"node": self.node_id, "stream_id": stream.stream_id, "request_id": stream.request_id}
        ).decode()
        claims = self.broker.claims
        current = await claims.claim(key, holder, self.lease_s)
        if current is not None and orjson.loads(current)["node"] == self.node_id:
            # ours, from an answer that has ended here but not yet let go (it is storing)
            await claims.release(key, current)
            current = await claims.claim(key, holder, self.lease_s)
        if current is not None:
            raise session_busy(stream.request_id, elsewhere=True)
        if owner is not None and cap:
            if not await claims.join(owner_group(owner), stream.stream_id, self.lease_s, cap):
                await claims.release(key, holder)
                raise owner_busy(cap, stream.request_id)
            self._slots.setdefault(owner_group(owner), []).append(stream.stream_id)
        self._claimed[stream.stream_id] = (key, holder)

    def publish_start(self, stream: Stream, record: MessageRecord) -> None:
        """Log the answer from its first frame, and, in the background (off the time to
        first token), enter it in the running group and tell the session's other nodes."""
        if not self.shared:
            return
        description = {
            "node": self.node_id,
            "incarnation": self.incarnation,
            "session_id": stream.session_id,
            "request_id": stream.request_id,
            "mode": stream.mode.value,
            "owner": stream.owner,
            "question": record.question,
            "workbook_id": record.workbook_id,
            "created_at": record.created_at,
        }
        # logged first: with Redis away the answer goes on, and is written when it is back
        self.relay.track(stream, description)
        self.spawn(self._announce(stream, description), "announce")

    async def _announce(self, stream: Stream, description: dict[str, Any]) -> None:
        message = {"op": "start", "stream_id": stream.stream_id, "description": description}
        try:
            await self.broker.claims.join(
                RUNNING, stream.stream_id, RUNNING_TTL_S, value=orjson.dumps(description).decode()
            )
            await self.broker.hub.publish(
                session_channel(stream.session_id), orjson.dumps(message).decode()
            )
        except Unavailable as exc:  # no reaper will know of it should this node die now
            log.warning("could not announce the answer %s: %s", stream.stream_id, exc.message)

    async def release(self, stream: Stream) -> None:
        """The answer ended: free the session and the owner's place (its log entry goes
        once its end is written)."""
        claimed = self._claimed.pop(stream.stream_id, None)
        claims = self.broker.claims
        try:
            if claimed is not None:
                await claims.release(*claimed)
            if stream.owner is not None:
                group = owner_group(stream.owner)
                mine = self._slots.get(group, [])
                if stream.stream_id in mine:
                    mine.remove(stream.stream_id)
                    if not mine:
                        del self._slots[group]
                await claims.leave(group, stream.stream_id)
        except Unavailable as exc:  # the leases lapse on their own
            log.warning("could not release the claims of %s: %s", stream.stream_id, exc.message)

    def _logged_end(self, stream: Stream) -> None:
        self.spawn(self._leave_running(stream.stream_id), "leave-running")

    def _ended_elsewhere(self, stream: Stream) -> None:
        """The log refused this node's writes: another node ended the answer, taking this
        node for dead (its lease lapsed while it was cut off). Its readers get what the log
        has, then the log's end; the model stops; what it made since is dropped."""
        log.warning(
            "answer %s was ended by another node (this node's lease lapsed); stopping it",
            stream.stream_id,
        )
        self.spawn(self._fence(stream), "fence")

    async def _fence(self, stream: Stream) -> None:
        end_frame = protocol.end_frame(
            stream.stream_id, stream.ready_seq, EndReason.INTERRUPTED, 0, stream.request_id
        )
        error_frame = None
        with contextlib.suppress(Unavailable):
            for _, entry in await self.broker.log.read(stream.stream_id):
                if entry.kind == END:
                    end_frame, error_frame = entry.frame, entry.data or None
        stream.fence(end_frame, error_frame)
        stream.cancel_requested = True  # ends the generation without storing (the reaper did)
        if stream.task is not None:
            stream.task.cancel()

    async def _leave_running(self, stream_id: str) -> None:
        with contextlib.suppress(Unavailable):
            await self.broker.claims.leave(RUNNING, stream_id)

    # --- the session's channel

    async def watch(self, session_id: str) -> None:
        if not self.shared:
            return
        if session_id in self._leaving:
            self._wanted.add(session_id)  # `unwatch` is leaving it: it hears it again after
            return
        if session_id in self._watched:
            return
        self._watched.add(session_id)
        try:
            await self.broker.hub.subscribe(session_channel(session_id), self._on_message)
        except Unavailable:
            self._watched.discard(session_id)
            raise

    async def unwatch(self, session_ids: list[str]) -> list[str]:
        """Stop hearing the channels of sessions that left this node; returns those no node
        hears any more, which are then held nowhere. A session back here meanwhile is kept,
        and one whose channel could not be left is tried again at its next sweep."""
        if not self.shared:
            return session_ids
        gone = []
        for session_id in session_ids:
            if session_id in self.service.registry.sessions:
                continue  # a connection brought it back while this ran
            if session_id in self._watched:
                self._leaving.add(session_id)
                try:
                    await self.broker.hub.unsubscribe(session_channel(session_id))
                except Unavailable:
                    self._wanted.discard(session_id)  # still heard: nothing to do again
                    continue
                finally:
                    self._leaving.discard(session_id)
                if session_id in self._wanted or session_id in self.service.registry.sessions:
                    # a connection came for it during the await: hear it again
                    self._wanted.discard(session_id)
                    await self.broker.hub.subscribe(session_channel(session_id), self._on_message)
                    continue
                self._watched.discard(session_id)
            gone.append(session_id)
        counts = await self.broker.hub.listeners([session_channel(s) for s in gone])
        return [s for s in gone if not counts.get(session_channel(s))]

    async def active_elsewhere(self, session_id: str) -> dict[str, Any] | None:
        """The answer another node is generating in the session, if any."""
        if not self.shared:
            return None
        holder = await self.broker.claims.holder(session_key(session_id))
        if holder is None:
            return None
        found: dict[str, Any] = orjson.loads(holder)
        return found if found["node"] != self.node_id else None

    async def tell(self, node_id: str, message: dict[str, Any]) -> int:
        return await self.broker.hub.publish(node_channel(node_id), orjson.dumps(message).decode())

    async def tell_session(self, session_id: str, message: dict[str, Any]) -> int:
        if not self.shared:
            return 0
        channel = session_channel(session_id)
        return await self.broker.hub.publish(channel, orjson.dumps(message).decode())

    def _on_message(self, text: str) -> None:
        message = orjson.loads(text)
        handler = self.handlers.get(message.get("op", ""))
        if handler is not None:
            handler(message)

    # --- leases and the dead

    async def _heartbeat(self) -> None:
        claims = self.broker.claims
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                held = dict(self._claimed.values())
                # a renewal slower than a third of the lease is as good as a failed one
                async with asyncio.timeout(self.lease_s / 3):
                    lost = await claims.renew(held, dict(self._slots), self.lease_s)
                    # renews this node's lease, or takes it again if it lapsed (the broker
                    # was away, or restarted empty)
                    await claims.join(NODES, self.node_id, self.lease_s, value=self._describe())
                for key in lost:
                    log.warning("the claim %s lapsed and another node took it", key)
                self.renewed()
            except (Unavailable, TimeoutError) as exc:
                if self.lease_ok:
                    why = exc.message if isinstance(exc, Unavailable) else "too slow"
                    log.warning("could not renew this node's lease: %s", why)
                self.lease_ok = False
            except Exception:
                log.exception("the heartbeat failed")

    def renewed(self) -> None:
        """A renewal reached the broker."""
        if not self.lease_ok:
            self._lease_since = self.service.clock()
        self.lease_ok = True

    def may_judge(self) -> bool:
        """Only a node whose own lease has held for a whole lease may take others for dead:
        after an outage of the broker, every live node renews within that time."""
        return self.lease_ok and self.service.clock() - self._lease_since >= self.lease_s

    async def _reap_forever(self) -> None:
        """End the answers of dead nodes, in a task of its own so that storage being slow
        never delays the heartbeat."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if not self.may_judge():
                continue
            try:
                await self._reap_dead()
            except SheetstreamError as exc:
                log.warning("could not end the answers of dead nodes: %s", exc.message)
            except Exception:
                log.exception("ending the answers of dead nodes failed")

    def _alive(self, description: dict[str, Any], alive: dict[str, str]) -> bool:
        node = description.get("node")
        if node not in alive:
            return False
        incarnation = description.get("incarnation")
        if incarnation is None:
            return True
        now = orjson.loads(alive[node] or "{}").get("incarnation")
        return now is None or now == incarnation

    async def _reap_dead(self) -> None:
        claims = self.broker.claims
        running = await claims.members(RUNNING)
        if not running:
            return
        alive = await claims.members(NODES)
        for stream_id, value in running.items():
            description = orjson.loads(value) if value else {}
            if self._alive(description, alive):
                continue
            if await claims.claim("reap:" + stream_id, self.node_id, REAP_CLAIM_S) is not None:
                continue  # another node is ending it
            if await self._reap(stream_id, description):
                await claims.leave(RUNNING, stream_id)
            await claims.release("reap:" + stream_id, self.node_id)

    async def _reap(self, stream_id: str, description: dict[str, Any]) -> bool:
        """End a dead node's answer for every reader: `end` reason `interrupted` after the
        chunks it logged, and the stored message interrupted with that text (only if it is
        still `streaming`). True when nothing is left to do."""
        storage = self.service.storage
        entries: list[LogEntry] = []
        for _attempt in range(3):
            entries = [entry for _, entry in await self.broker.log.read(stream_id)]
            if not entries:
                # its log is gone: nothing to end for readers; the history must not stay
                # `streaming` (a finished one is left as it is)
                await storage.interrupt_messages([stream_id])
                return True
            if any(e.kind == END for e in entries):
                break  # ended (by its node, or by a reaper that could not store it)
            chunks = [orjson.loads(e.frame) for e in entries if e.kind == CHUNK]
            end = protocol.end_frame(
                stream_id,
                len(chunks),
                EndReason.INTERRUPTED,
                sum(c["tokens"] for c in chunks),
                description.get("request_id"),
            )
            retention = self.service.settings.stream_retention_s
            entry = LogEntry(END, end, "", len(chunks))
            appended = await self.broker.log.append({stream_id: [entry]}, retention, retention)
            if appended[stream_id] == STALE:
                continue  # a chunk came meanwhile (the node was not dead yet): read again
            if appended[stream_id] == ENDED:
                self.reaped += 1
                log.warning(
                    "node %s died while answering %s: ended as interrupted after %d chunks",
                    description.get("node"),
                    stream_id,
                    len(chunks),
                )
        else:
            return False
        record = _record_from_log(stream_id, description, entries)
        # only a message still `streaming` gets the text (one its node stored is kept)
        if record is not None and await storage.interrupt_messages([stream_id]):
            await storage.finish_message(record)
        return True


def _record_from_log(
    stream_id: str, description: dict[str, Any], entries: list[LogEntry]
) -> MessageRecord | None:
    """The stored message of an answer as its log tells it (after an `end`, when read again)."""
    for entry in entries:
        if entry.kind == START and entry.data:
            description = orjson.loads(entry.data)
    if "session_id" not in description:
        return None
    chunks = [orjson.loads(e.frame) for e in entries if e.kind == CHUNK]
    ends = [orjson.loads(e.frame) for e in entries if e.kind == END]
    reason = ends[0]["reason"] if ends else EndReason.INTERRUPTED.value
    return MessageRecord(
        stream_id=stream_id,
        session_id=description["session_id"],
        request_id=description.get("request_id"),
        question=description.get("question", ""),
        mode=description.get("mode", "token"),
        created_at=description.get("created_at", time.time()),
        answer="".join(c["text"] for c in chunks),
        status=reason,
        partial=reason != EndReason.COMPLETE.value,
        answer_tokens=sum(c["tokens"] for c in chunks),
        chunks=len(chunks),
        workbook_id=description.get("workbook_id"),
        tools=[orjson.loads(e.frame) for e in entries if e.kind == PREFACE] or None,
    )
