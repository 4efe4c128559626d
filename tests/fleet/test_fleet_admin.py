"""The admin channel of a fleet: whichever node it is open on, it sees and acts on every node
(real servers in this process, one Redis between them)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sheetstream.broker.redis import redis_broker
from sheetstream.client import SheetstreamClient
from sheetstream.streaming.fleet import FLEET
from tests.conftest import RunningServer, StartServer

TOKEN = "admin-t0ken-for-the-fleet"
ALICE = "alice-t0ken-4f9c2a7e1b"
BOB = "bob-t0ken-8d3e6f0a5c2b"

Frame = dict[str, Any]


async def fleet(
    start_server: StartServer, redis_url: str, n: int, **extra: Any
) -> list[RunningServer]:
    settings = {"broker_url": redis_url, "admin_token": TOKEN, "synthetic_rate": 200.0, **extra}
    return [await start_server(node_id=f"node-{i}", **settings) for i in range(n)]


@contextlib.asynccontextmanager
async def admin_of(srv: RunningServer) -> AsyncIterator[ClientConnection]:
    async with connect(f"{srv.ws}/ws/admin?token={TOKEN}") as admin:
        yield admin


async def ask(admin: ClientConnection, frame: Frame) -> Frame:
    await admin.send(orjson.dumps(frame).decode())
    reply: Frame = orjson.loads(await asyncio.wait_for(admin.recv(), 10))
    return reply


async def next_broadcast(client: SheetstreamClient) -> Frame:
    while True:
        frame = await asyncio.wait_for(client.recv(), 10)
        if frame["type"] == "broadcast":
            return frame


async def nothing_broadcast(client: SheetstreamClient) -> None:
    """No broadcast reached `client`: the frames before the answer to a ping hold none."""
    await client.send({"type": "ping", "ts": 7.0})
    while True:
        frame = await asyncio.wait_for(client.recv(), 10)
        assert frame["type"] != "broadcast", frame
        if frame["type"] == "pong":
            return


async def test_a_broadcast_reaches_every_node_and_the_receipt_counts_each(
    start_server: StartServer, redis_url: str
) -> None:
    a, b, c = await fleet(start_server, redis_url, 3)
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat") as on_a,
        SheetstreamClient.connect(f"{b.ws}/ws/chat") as on_b1,
        SheetstreamClient.connect(f"{b.ws}/ws/chat") as on_b2,
        SheetstreamClient.connect(f"{c.ws}/ws/chat") as on_c,
        admin_of(a) as admin,
    ):
        receipt = await ask(
            admin, {"type": "broadcast", "content": "Maintenance", "level": "warning"}
        )
        assert receipt["type"] == "receipt" and receipt["missing"] == 0
        assert receipt["nodes"] == {
            "node-0": {"delivered": 1, "failed": 0},
            "node-1": {"delivered": 2, "failed": 0},
            "node-2": {"delivered": 1, "failed": 0},
        }
        assert receipt["delivered"] == 4 and receipt["failed"] == 0
        frames = [await next_broadcast(x) for x in (on_a, on_b1, on_b2, on_c)]
    assert {f["content"] for f in frames} == {"Maintenance"}
    assert {f["level"] for f in frames} == {"warning"}
    assert len({f["ts"] for f in frames}) == 1  # one broadcast, one time


async def test_a_broadcast_to_a_session_reaches_its_tabs_on_every_node(
    start_server: StartServer, redis_url: str
) -> None:
    a, b, c = await fleet(start_server, redis_url, 3)
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat") as tab_a,
        SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id=tab_a.session_id) as tab_b,
        SheetstreamClient.connect(f"{c.ws}/ws/chat") as other,
        admin_of(c) as admin,
    ):
        frame = {"type": "broadcast", "content": "just you", "session_id": tab_a.session_id}
        receipt = await ask(admin, frame)
        assert receipt["delivered"] == 2 and receipt["failed"] == 0
        assert (
            receipt["nodes"]["node-0"]
            == receipt["nodes"]["node-1"]
            == {
                "delivered": 1,
                "failed": 0,
            }
        )
        assert receipt["nodes"]["node-2"] == {"delivered": 0, "failed": 0}
        assert (await next_broadcast(tab_a))["content"] == "just you"
        assert (await next_broadcast(tab_b))["content"] == "just you"
        await nothing_broadcast(other)
        missing = await ask(
            admin, {"type": "broadcast", "content": "x", "session_id": "held-nowhere"}
        )
        assert missing["type"] == "error" and missing["code"] == "not_found"


async def test_a_broadcast_to_an_owner_reaches_their_tabs_on_every_node(
    start_server: StartServer, redis_url: str
) -> None:
    a, b = await fleet(start_server, redis_url, 2, api_tokens=[f"alice:{ALICE}", f"bob:{BOB}"])
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat", token=ALICE) as alice_a,
        SheetstreamClient.connect(f"{b.ws}/ws/chat", token=ALICE) as alice_b,
        SheetstreamClient.connect(f"{b.ws}/ws/chat", token=BOB) as bob,
        admin_of(b) as admin,
    ):
        receipt = await ask(admin, {"type": "broadcast", "content": "hi alice", "owner": "alice"})
        assert receipt["delivered"] == 2
        assert receipt["nodes"] == {
            "node-0": {"delivered": 1, "failed": 0},
            "node-1": {"delivered": 1, "failed": 0},
        }
        assert (await next_broadcast(alice_a))["content"] == "hi alice"
        assert (await next_broadcast(alice_b))["content"] == "hi alice"
        await nothing_broadcast(bob)


async def test_sessions_lists_every_node_with_its_node(
    start_server: StartServer, redis_url: str
) -> None:
    a, b, c = await fleet(start_server, redis_url, 3)
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat") as on_a,
        SheetstreamClient.connect(f"{c.ws}/ws/chat") as on_c,
        SheetstreamClient.connect(f"{a.ws}/ws/chat") as shared_a,
        SheetstreamClient.connect(f"{c.ws}/ws/chat", session_id=shared_a.session_id) as shared_c,
        admin_of(b) as admin,
    ):
        reply = await ask(admin, {"type": "sessions", "request_id": "s1"})
    assert reply["type"] == "sessions" and reply["request_id"] == "s1"
    by_id = {s["session_id"]: s for s in reply["sessions"]}
    assert set(by_id) == {on_a.session_id, on_c.session_id, shared_a.session_id}
    assert len(reply["sessions"]) == 3  # a session on two nodes is listed once
    assert by_id[on_a.session_id]["node"] == "node-0"
    assert by_id[on_a.session_id]["nodes"] == ["node-0"]
    assert by_id[on_c.session_id]["node"] == "node-2"
    assert [x["node"] for x in by_id[on_c.session_id]["connections"]] == ["node-2"]
    shared = by_id[shared_a.session_id]
    assert sorted(shared["nodes"]) == ["node-0", "node-2"]
    assert sorted(x["node"] for x in shared["connections"]) == ["node-0", "node-2"]
    assert shared["streaming"] is False
    assert shared_c.session_id == shared_a.session_id


async def test_stats_has_every_node_and_the_fleet_totals(
    start_server: StartServer, redis_url: str
) -> None:
    a, b, c = await fleet(start_server, redis_url, 3)
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat"),
        SheetstreamClient.connect(f"{b.ws}/ws/chat"),
        SheetstreamClient.connect(f"{b.ws}/ws/chat"),
        admin_of(c) as admin,
    ):
        stats = await ask(admin, {"type": "stats"})
    assert stats["node"] == "node-2"
    assert stats["connections"]["active"] == 0 and stats["queue_depth"] == {}  # this node
    assert sorted(stats["nodes"]) == ["node-0", "node-1", "node-2"]
    active = {node: f["connections"]["active"] for node, f in stats["nodes"].items()}
    assert active == {"node-0": 1, "node-1": 2, "node-2": 0}
    totals = stats["fleet"]
    assert totals["answered"] == 3 and totals["missing"] == 0
    assert totals["connections"]["active"] == 3 and totals["connections"]["total"] == 3
    assert totals["sessions"] == 3 and totals["streams"]["active"] == 0


async def test_cancel_sent_to_another_node_stops_the_answer_where_it_is_generated(
    start_server: StartServer, redis_url: str
) -> None:
    a, b = await fleet(start_server, redis_url, 2, synthetic_rate=20.0)
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat") as tab_a,
        SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id=tab_a.session_id) as tab_b,
        admin_of(b) as admin,
    ):
        await tab_b.ping(1.0)  # speaks once, as a tab does
        await tab_a.chat("slow answer")
        start = await asyncio.wait_for(tab_a.recv(), 10)
        assert start["type"] == "start"
        mirrored = await asyncio.wait_for(tab_b.recv(), 10)  # node-1 mirrors it
        assert mirrored["type"] == "start" and mirrored["stream_id"] == start["stream_id"]
        listed = (await ask(admin, {"type": "sessions"}))["sessions"]
        assert listed[0]["streaming"] is True and listed[0]["stream_id"] == start["stream_id"]
        assert listed[0]["node"] == "node-0"  # where it is generated, not the mirror
        receipt = await ask(admin, {"type": "cancel", "stream_id": start["stream_id"]})
        assert receipt["cancelled"] == 1 and receipt["node"] == "node-0"
        frames: list[Frame] = []
        while not frames or frames[-1]["type"] != "end":
            frames.append(await asyncio.wait_for(tab_a.recv(), 10))
        assert frames[-1]["reason"] == "cancelled"
        missing = await ask(admin, {"type": "cancel", "stream_id": "st_nope"})
        assert missing["type"] == "error" and missing["code"] == "not_found"


async def test_disconnect_closes_a_connection_on_another_node(
    start_server: StartServer, redis_url: str
) -> None:
    a, b = await fleet(start_server, redis_url, 2)
    async with (
        SheetstreamClient.connect(f"{b.ws}/ws/chat") as victim,
        SheetstreamClient.connect(f"{b.ws}/ws/chat") as bystander,
        admin_of(a) as admin,
    ):
        listed = (await ask(admin, {"type": "sessions"}))["sessions"]
        by_id = {s["session_id"]: s for s in listed}
        connection = by_id[victim.session_id]["connections"][0]
        assert connection["node"] == "node-1"
        receipt = await ask(
            admin,
            {"type": "disconnect", "connection_id": connection["connection_id"], "reason": "bye"},
        )
        assert receipt["closed"] == 1 and receipt["nodes"]["node-1"] == {"closed": 1}
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(victim.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert closed.value.rcvd.reason == "bye"
        await bystander.ping(2.0)  # still open
        gone = await ask(admin, {"type": "disconnect", "connection_id": "c_nope"})
        assert gone["type"] == "error" and gone["code"] == "not_found"


async def test_a_node_that_does_not_answer_is_counted_missing(
    start_server: StartServer, redis_url: str
) -> None:
    a, b = await fleet(start_server, redis_url, 2)
    silent = redis_broker(redis_url)
    await silent.hub.subscribe(FLEET, lambda _: None)  # hears the fleet, never answers
    try:
        async with SheetstreamClient.connect(f"{b.ws}/ws/chat"), admin_of(a) as admin:
            started = time.monotonic()
            receipt = await ask(admin, {"type": "broadcast", "content": "anyone?"})
            waited = time.monotonic() - started
            stats = await ask(admin, {"type": "stats"})
    finally:
        await silent.close()
    assert receipt["delivered"] == 1 and receipt["missing"] == 1
    assert sorted(receipt["nodes"]) == ["node-0", "node-1"]
    assert 0.9 <= waited < 5
    assert stats["fleet"]["missing"] == 1 and sorted(stats["nodes"]) == ["node-0", "node-1"]
