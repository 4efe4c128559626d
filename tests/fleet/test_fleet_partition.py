"""A node cut off from Redis longer than its lease, while it goes on generating: another
node takes it for dead and ends its answer; when the node is back, the log has the last
word. Every reader, on either node, gets the same chunks and the same one `end`."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from sheetstream.client import SheetstreamClient
from tests.conftest import StartServer
from tests.pg import Proxy

pytestmark = pytest.mark.slow

LEASE_S = 1.5


async def until_end(client: SheetstreamClient, stream_id: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1].get("type") != "end":
        frame = await asyncio.wait_for(client.recv(), 30)
        if frame.get("stream_id") == stream_id:
            frames.append(frame)
    return frames


async def test_a_node_taken_for_dead_yields_to_the_log(
    start_server: StartServer, redis_url: str
) -> None:
    proxy = Proxy(redis_url)
    await proxy.start()
    settings: dict[str, Any] = {
        "node_lease_s": LEASE_S,
        "synthetic_text": "",
        "synthetic_tokens": 300,
        "synthetic_rate": 20.0,
        "max_answer_tokens": 400,
    }
    cut_off = await start_server(node_id="cut-off", broker_url=proxy.url, **settings)
    healthy = await start_server(node_id="healthy", broker_url=redis_url, **settings)
    try:
        async with (
            SheetstreamClient.connect(f"{cut_off.ws}/ws/chat") as local,
            SheetstreamClient.connect(f"{healthy.ws}/ws/chat", session_id=local.session_id) as far,
        ):
            await far.ping(1.0)
            await local.chat("a long answer")
            start = await asyncio.wait_for(local.recv(), 10)
            stream_id = start["stream_id"]
            seen = 0
            while seen < 3:
                frame = await asyncio.wait_for(local.recv(), 10)
                seen += frame.get("type") == "chunk"
            await proxy.stop()  # cut off for longer than its lease; it keeps generating
            far_frames = await until_end(far, stream_id)
            assert far_frames[-1]["reason"] == "interrupted"
            await proxy.start()
            local_frames = await until_end(local, stream_id)
        far_chunks = [f for f in far_frames if f["type"] == "chunk"]
        local_chunks = [f for f in local_frames if f["type"] == "chunk"]
        # the local reader never saw a chunk the log lacks, and got the log's end
        assert len(local_chunks) + 3 == len(far_chunks)
        assert local_frames[-1] == far_frames[-1]
        assert far_frames[-1]["seq"] == len(far_chunks) < 300
        async with httpx.AsyncClient() as http:
            stored = await http.get(f"{healthy.http}/api/sessions/{local.session_id}/messages")
        (message,) = stored.json()["messages"]
        assert message["status"] == "interrupted"
        assert message["answer"] == "".join(c["text"] for c in far_chunks)
    finally:
        await proxy.stop()
