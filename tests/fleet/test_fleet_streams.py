"""Answers across nodes: several real servers in this process, one Redis between them, no
stickiness. A client may reach any node at any moment."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, StartServer


async def fleet(start_server: StartServer, redis_url: str, n: int, **extra: Any) -> list[Any]:
    settings = {"broker_url": redis_url, "synthetic_rate": 200.0, **extra}
    return [await start_server(node_id=f"node-{i}", **settings) for i in range(n)]


async def read_chunks(
    client: SheetstreamClient, stream_id: str, count: int
) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    while len(chunks) < count:
        frame = await asyncio.wait_for(client.recv(), 10)
        if frame.get("type") == "chunk" and frame["stream_id"] == stream_id:
            chunks.append(frame)
    return chunks


async def test_a_client_dropped_from_one_node_resumes_on_another(
    start_server: StartServer, redis_url: str
) -> None:
    a, b = await fleet(start_server, redis_url, 2)
    async with SheetstreamClient.connect(f"{a.ws}/ws/chat") as first:
        request_id = await first.chat("tell me", mode="token")
        start = await asyncio.wait_for(first.recv(), 10)
        assert start["type"] == "start"
        stream_id = start["stream_id"]
        seen = await read_chunks(first, stream_id, 3)
        session_id = first.session_id
    async with SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id=session_id) as second:
        answer = await asyncio.wait_for(second.resume(stream_id, after_seq=3), 20)
    assert [c["seq"] for c in answer.chunks] == list(range(4, answer.end["seq"] + 1))
    assert "".join(c["text"] for c in seen) + answer.text == SAMPLE
    assert answer.end["reason"] == "complete" and answer.end["request_id"] == request_id


async def test_two_tabs_on_two_nodes_both_see_the_answer_live(
    start_server: StartServer, redis_url: str
) -> None:
    a, b = await fleet(start_server, redis_url, 2)
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat") as tab_a,
        SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id=tab_a.session_id) as tab_b,
    ):
        await tab_b.ping(1.0)  # speaks once, as a tab does
        asked = await tab_a.ask("hello", mode="sentence")
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["type"] != "end":
            frames.append(await asyncio.wait_for(tab_b.recv(), 10))
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert frames[0]["stream_id"] == asked.stream_id
    chunks = [f for f in frames if f["type"] == "chunk"]
    assert [c["seq"] for c in chunks] == [c["seq"] for c in asked.chunks]
    assert "".join(c["text"] for c in chunks) == asked.text == SAMPLE
    assert frames[-1] == asked.end


async def test_busy_and_cancel_hold_across_nodes(start_server: StartServer, redis_url: str) -> None:
    a, b = await fleet(start_server, redis_url, 2, synthetic_rate=20.0)
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat") as tab_a,
        SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id=tab_a.session_id) as tab_b,
    ):
        await tab_b.ping(1.0)
        request_id = await tab_a.chat("slow answer")
        start = await asyncio.wait_for(tab_a.recv(), 10)
        await read_chunks(tab_a, start["stream_id"], 1)
        # the other node knows this session is answering
        refused = [f async for f in tab_b.follow(await tab_b.chat("me too", request_id="b1"))]
        assert refused[-1]["type"] == "error" and refused[-1]["code"] == "busy"
        await tab_b.cancel(request_id)  # a cancel sent to the other node
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["type"] != "end":
            frames.append(await asyncio.wait_for(tab_a.recv(), 10))
    end = frames[-1]
    assert end["type"] == "end" and end["reason"] == "cancelled"
    assert end["seq"] < len(SAMPLE.split())  # stopped early, not run to its end


async def test_history_is_the_same_from_every_node(
    start_server: StartServer, redis_url: str
) -> None:
    a, b, c = await fleet(start_server, redis_url, 3)
    async with SheetstreamClient.connect(f"{a.ws}/ws/chat") as client:
        await client.ask("first question")
        session_id = client.session_id
    async with SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id=session_id) as client:
        await client.ask("second question")
    async with httpx.AsyncClient() as http:
        listed = (await http.get(f"{c.http}/api/sessions/{session_id}/messages")).json()
    assert [m["question"] for m in listed["messages"]] == ["first question", "second question"]
    assert all(m["status"] == "complete" and m["answer"] == SAMPLE for m in listed["messages"])


async def test_resume_of_an_unknown_stream_is_refused_on_every_node(
    start_server: StartServer, redis_url: str
) -> None:
    (a,) = await fleet(start_server, redis_url, 1)
    async with SheetstreamClient.connect(f"{a.ws}/ws/chat") as client:
        await client.send({"type": "resume", "stream_id": "st_nope", "after_seq": 0})
        frame = await asyncio.wait_for(client.recv(), 10)
    assert frame["type"] == "error" and frame["code"] == "stream_expired"


async def test_an_empty_session_is_forgotten_only_when_no_node_holds_it(
    start_server: StartServer, redis_url: str
) -> None:
    a, b = await fleet(start_server, redis_url, 2)

    async def stored_status() -> int:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{a.http}/api/sessions/quiet/messages")).status_code

    tab_b = await SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id="quiet")
    async with SheetstreamClient.connect(f"{a.ws}/ws/chat", session_id="quiet"):
        pass
    await asyncio.sleep(1.5)  # node a's sweeper has let the session go (every 0.5 s)
    assert "quiet" not in a.app.state.chat.registry.sessions
    assert await stored_status() == 200  # node b still holds it
    await tab_b.close()
    for _ in range(100):
        if await stored_status() == 404:
            break
        await asyncio.sleep(0.05)
    assert await stored_status() == 404


async def test_a_tab_arriving_on_another_node_mid_answer_can_resume_it_and_is_busy(
    start_server: StartServer, redis_url: str
) -> None:
    a, b = await fleet(start_server, redis_url, 2, synthetic_rate=20.0)
    async with SheetstreamClient.connect(f"{a.ws}/ws/chat") as tab_a:
        await tab_a.chat("slow answer")
        start = await asyncio.wait_for(tab_a.recv(), 10)
        await read_chunks(tab_a, start["stream_id"], 1)
        async with SheetstreamClient.connect(
            f"{b.ws}/ws/chat", session_id=tab_a.session_id
        ) as late:
            assert late.resumable == [start["stream_id"]]  # named in its `session` frame
            refused = [f async for f in late.follow(await late.chat("me too", request_id="b1"))]
            assert refused[-1]["type"] == "error" and refused[-1]["code"] == "busy"
            resumed = await asyncio.wait_for(late.resume(start["stream_id"]), 20)
    assert resumed.text == SAMPLE and resumed.end is not None


async def test_the_owners_cap_holds_across_nodes(start_server: StartServer, redis_url: str) -> None:
    token = "ann:" + "a" * 24
    a, b = await fleet(
        start_server,
        redis_url,
        2,
        synthetic_rate=20.0,
        api_tokens=[token],
        max_generations_per_owner=1,
    )
    secret = token.split(":", 1)[1]
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat", token=secret) as first,
        SheetstreamClient.connect(f"{b.ws}/ws/chat", token=secret) as second,
    ):
        await first.chat("one")
        start = await asyncio.wait_for(first.recv(), 10)
        await read_chunks(first, start["stream_id"], 1)
        refused = [f async for f in second.follow(await second.chat("two", request_id="x"))]
        assert refused[-1]["code"] == "busy" and "1 answers" in refused[-1]["message"]
        frame: dict[str, Any] = {}
        while frame.get("type") != "end":
            frame = await asyncio.wait_for(first.recv(), 20)
        answered = await asyncio.wait_for(second.ask("two, later"), 20)
    assert answered.end is not None and answered.end["reason"] == "complete"
