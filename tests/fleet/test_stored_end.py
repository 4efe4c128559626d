"""An answer's `end` goes out only once the answer is stored: whoever has the `end`, on any
node, finds the answer in the history, and a database that stops right after loses nothing.
PostgreSQL is reached through a relay that can stall every byte, as a slow disk or network
does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, StartServer
from tests.pg import Proxy


@pytest.fixture
async def stalling_database(database_url: str) -> AsyncIterator[Proxy]:
    proxy = Proxy(database_url)
    await proxy.start()
    yield proxy
    proxy.resume()
    await proxy.stop()


async def frames_until_quiet(client: SheetstreamClient, quiet_s: float) -> list[dict[str, Any]]:
    """Every frame that comes until none has come for `quiet_s`."""
    frames = []
    while True:
        try:
            frames.append(await asyncio.wait_for(client.recv(), quiet_s))
        except TimeoutError:
            return frames


async def test_the_end_waits_for_the_answer_to_be_stored_on_every_node(
    start_server: StartServer, redis_url: str, stalling_database: Proxy
) -> None:
    settings = {
        "broker_url": redis_url,
        "database_url": stalling_database.url,
        "synthetic_rate": 2000.0,  # the whole answer streams well within the pool's timeout
    }
    a = await start_server(node_id="node-a", **settings)
    b = await start_server(node_id="node-b", **settings)
    async with (
        SheetstreamClient.connect(f"{a.ws}/ws/chat") as asker,
        SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id=asker.session_id) as watcher,
    ):
        await asker.ask("first")
        await watcher.ping(1.0)
        while (await asyncio.wait_for(watcher.recv(), 10))["type"] != "end":
            pass  # the watcher saw the first answer too
        request_id = await asker.chat("second", mode="token")
        first = [await asyncio.wait_for(asker.recv(), 10) for _ in range(2)]
        assert [f["type"] for f in first] == ["start", "chunk"]
        stalling_database.pause()  # the answer goes on: no more reads, only its writes
        seen = {"asker": first + await frames_until_quiet(asker, 1.0)}
        seen["watcher"] = await frames_until_quiet(watcher, 0.3)
        for frames in seen.values():
            kinds = {f["type"] for f in frames}
            assert "chunk" in kinds and "end" not in kinds  # the text came, the end waits
        asker_text = "".join(f["text"] for f in seen["asker"] if f["type"] == "chunk")
        assert asker_text == SAMPLE

        stalling_database.resume()
        end = await asyncio.wait_for(asker.recv(), 15)
        assert end["type"] == "end" and end["request_id"] == request_id
        assert end["reason"] == "complete"
        async with httpx.AsyncClient(timeout=15) as http:
            for node in (a, b):  # read right after the end, from either node
                listed = await http.get(f"{node.http}/api/sessions/{asker.session_id}/messages")
                last = listed.json()["messages"][-1]
                assert (last["question"], last["status"]) == ("second", "complete")
                assert last["answer"] == SAMPLE
        while (frame := await asyncio.wait_for(watcher.recv(), 10))["type"] != "end":
            pass
        assert frame == end
