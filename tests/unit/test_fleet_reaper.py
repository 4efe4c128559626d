"""The fleet's judgement of the dead, on the memory broker with a clock of our own and a real
SQLite history: who is dead, what the reaper stores, what it leaves alone."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from sheetstream import protocol
from sheetstream.broker.base import CHUNK, END, START, Broker, LogEntry
from sheetstream.broker.memory import MemoryClaims, MemoryHub, MemoryLog, MemorySpace
from sheetstream.protocol import EndReason
from sheetstream.storage import create_storage
from sheetstream.storage.base import MessageRecord, Storage
from sheetstream.streaming.fleet import NODES, RUNNING, Fleet
from sheetstream.streaming.follower import Follower

LEASE_S = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = create_storage(f"sqlite:///{tmp_path / 'history.db'}")
    await store.connect(interrupt_streaming=False)
    yield store
    await store.disconnect()


def shared_broker(space: MemorySpace) -> Broker:
    async def ok() -> bool:
        return True

    async def close() -> None:
        return None

    hub, log, claims = MemoryHub(space), MemoryLog(space), MemoryClaims(space)
    return Broker("memory://", hub, log, claims, True, ok, close)


def node(space: MemorySpace, name: str, storage: Storage) -> Fleet:
    service = types.SimpleNamespace(
        settings=types.SimpleNamespace(node_lease_s=LEASE_S, stream_retention_s=120.0),
        clock=space.clock,
        storage=storage,
        adopt_mirror=lambda stream: None,
        registry=types.SimpleNamespace(sessions={}),
    )
    return Fleet(service, shared_broker(space), name)  # type: ignore[arg-type]


async def answering(fleet: Fleet, stream_id: str, session_id: str, chunks: int) -> None:
    """An answer of `fleet`'s node in the log and the running group, as its relay leaves it."""
    description = {
        "node": fleet.node_id,
        "incarnation": fleet.incarnation,
        "session_id": session_id,
        "request_id": "r1",
        "mode": "token",
        "question": "q?",
        "created_at": time.time(),
    }
    value = orjson.dumps(description).decode()
    await fleet.broker.claims.join(RUNNING, stream_id, 86400, value=value)
    entries = [LogEntry(START, "", value)] + [
        LogEntry(CHUNK, protocol.chunk_frame(stream_id, n, f"w{n} ", 1), "0", n)
        for n in range(1, chunks + 1)
    ]
    await fleet.broker.log.append({stream_id: entries}, 600)


async def alive(*fleets: Fleet) -> None:
    for fleet in fleets:
        await fleet.broker.claims.join(NODES, fleet.node_id, LEASE_S, value=fleet._describe())


async def stored_question(storage: Storage, session_id: str, stream_id: str) -> None:
    await storage.ensure_session(session_id, time.time())
    await storage.add_message(
        MessageRecord(stream_id, session_id, "r1", "q?", "token", time.time())
    )


async def kinds(fleet: Fleet, stream_id: str) -> list[str]:
    return [e.kind for _, e in await fleet.broker.log.read(stream_id)]


async def test_a_dead_nodes_answer_ends_once_and_is_stored_with_its_text(storage: Storage) -> None:
    space = MemorySpace(Clock())
    dead, a, b = node(space, "dead", storage), node(space, "a", storage), node(space, "b", storage)
    await stored_question(storage, "s1", "st_1")
    await answering(dead, "st_1", "s1", chunks=3)
    space.clock.now += LEASE_S + 1  # type: ignore[attr-defined]
    await alive(a, b)
    await asyncio.gather(a._reap_dead(), b._reap_dead())
    assert (await kinds(a, "st_1")).count(END) == 1
    (message,) = await storage.list_messages("s1")
    assert message.status == "interrupted" and message.answer == "w1 w2 w3 "
    assert a.reaped + b.reaped == 1
    assert await a.broker.claims.members(RUNNING) == {}


async def test_a_live_node_is_never_reaped_and_a_restart_under_its_name_is(
    storage: Storage,
) -> None:
    space = MemorySpace(Clock())
    first, other = node(space, "node-1", storage), node(space, "other", storage)
    await answering(first, "st_old", "s1", chunks=1)
    await alive(first, other)
    await other._reap_dead()
    assert END not in await kinds(other, "st_old")
    restarted = node(space, "node-1", storage)  # same name, a new run: the old one is dead
    await alive(restarted)
    await other._reap_dead()
    assert (await kinds(other, "st_old"))[-1] == END


async def test_a_node_back_from_an_outage_waits_a_lease_before_judging(storage: Storage) -> None:
    clock = Clock()
    space = MemorySpace(clock)
    x = node(space, "x", storage)
    clock.now += LEASE_S
    assert x.may_judge()  # its lease has held since it started
    x.lease_ok = False  # the broker went away
    clock.now += 3 * LEASE_S
    assert not x.may_judge()
    x.renewed()  # x is back first: the others have not renewed yet, but will within a lease
    assert not x.may_judge()
    clock.now += LEASE_S / 2
    assert not x.may_judge()
    clock.now += LEASE_S / 2
    assert x.may_judge()


async def test_the_reaper_keeps_a_stored_answer_whose_log_is_gone(storage: Storage) -> None:
    space = MemorySpace(Clock())
    reaper = node(space, "reaper", storage)
    await stored_question(storage, "s2", "st_2")
    record = MessageRecord("st_2", "s2", "r1", "q?", "token", time.time())
    record.answer, record.status = "The full answer.", "complete"
    await storage.finish_message(record)
    value = orjson.dumps({"node": "gone", "session_id": "s2"}).decode()
    await reaper.broker.claims.join(RUNNING, "st_2", 86400, value=value)
    await alive(reaper)
    await reaper._reap_dead()
    (message,) = await storage.list_messages("s2")
    assert message.status == "complete" and message.answer == "The full answer."


async def test_a_mirror_whose_log_vanished_ends_though_others_are_busy() -> None:
    clock = Clock()
    space = MemorySpace(clock)
    log = MemoryLog(space)
    for stream_id in ("lost", "busy"):
        description = orjson.dumps({"node": "n9", "session_id": stream_id, "mode": "token"})
        await log.append({stream_id: [LogEntry(START, "", description.decode())]}, 10_000)
    follower = Follower(log, "here", clock, lambda stream: None)
    follower.start()
    try:
        lost = await follower.mirror("lost")
        await follower.mirror("busy")
        assert lost is not None
        del space.logs["lost"]  # Redis lost it
        for seq in range(1, 120):
            clock.now += 1
            chunk = protocol.chunk_frame("busy", seq, "x", 1)
            await log.append({"busy": [LogEntry(CHUNK, chunk, "0", seq)]}, 10_000)
            for _ in range(5):
                await asyncio.sleep(0)
        assert lost.finished and lost.reason is EndReason.INTERRUPTED
    finally:
        await follower.aclose()
