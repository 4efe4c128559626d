"""A fleet losing a node: real `sheetstream serve` processes on one Redis and one PostgreSQL
database, a node killed with SIGKILL or stopped with SIGTERM in the middle of an answer."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, ServerProcess, serve_process

pytestmark = pytest.mark.slow

LEASE_S = 1.5


@pytest.fixture
def node_settings(
    redis_url: str, database_url: str, tmp_path: Path, sample_text: Path
) -> dict[str, Any]:
    return {
        "broker_url": redis_url,
        "database_url": database_url,
        "node_lease_s": LEASE_S,
        "model": "synthetic",
        "synthetic_text": sample_text,
        "synthetic_rate": 15.0,
    }


@contextlib.asynccontextmanager
async def node(tmp_path: Path, settings: dict[str, Any], name: str) -> AsyncIterator[ServerProcess]:
    async with serve_process(tmp_path / "data", node_id=name, **settings) as server:
        yield server


async def frames_until_end(client: SheetstreamClient, stream_id: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1].get("type") != "end":
        frame = await asyncio.wait_for(client.recv(), 20)
        if frame.get("stream_id") == stream_id:
            frames.append(frame)
    return frames


async def chunks_before(client: SheetstreamClient, stream_id: str, n: int) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    while len(chunks) < n:
        frame = await asyncio.wait_for(client.recv(), 20)
        if frame.get("type") == "chunk" and frame["stream_id"] == stream_id:
            chunks.append(frame)
    return chunks


async def stored(http_base: str, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{http_base}/api/sessions/{session_id}/messages")
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def assert_one_clean_run(chunks: list[dict[str, Any]], end: dict[str, Any]) -> None:
    assert [c["seq"] for c in chunks] == list(range(1, len(chunks) + 1)), "a seq lost or doubled"
    assert end["seq"] == len(chunks)


async def test_a_killed_nodes_answer_ends_interrupted_once_for_every_reader(
    tmp_path: Path, node_settings: dict[str, Any]
) -> None:
    async with (
        node(tmp_path, node_settings, "doomed") as doomed,
        node(tmp_path, node_settings, "survivor") as survivor,
        node(tmp_path, node_settings, "bystander") as bystander,
    ):
        dropped = await SheetstreamClient.connect(f"{doomed.ws}/ws/chat")
        watcher = await SheetstreamClient.connect(
            f"{survivor.ws}/ws/chat", session_id=dropped.session_id
        )
        await watcher.ping(1.0)
        await dropped.chat("a long answer")
        start = await asyncio.wait_for(dropped.recv(), 20)
        stream_id = start["stream_id"]
        seen = await chunks_before(dropped, stream_id, 3)
        doomed.proc.send_signal(signal.SIGKILL)
        await doomed.proc.wait()
        with contextlib.suppress(ConnectionClosed):
            await dropped.close()
        # the second tab, on a live node, gets every chunk the dead node sent, then one end
        watched = await frames_until_end(watcher, stream_id)
        assert watched[0]["type"] == "start"
        chunks = [f for f in watched if f["type"] == "chunk"]
        end = watched[-1]
        assert end["reason"] == "interrupted"
        assert_one_clean_run(chunks, end)
        assert [c["seq"] for c in seen] == [1, 2, 3]
        assert len(chunks) < len(SAMPLE.split())  # it did die mid-answer
        # the dropped client comes back through another node and resumes where it was
        async with SheetstreamClient.connect(
            f"{bystander.ws}/ws/chat", session_id=dropped.session_id
        ) as back:
            resumed = await asyncio.wait_for(back.resume(stream_id, after_seq=3), 20)
        assert [c["seq"] for c in resumed.chunks] == list(range(4, end["seq"] + 1))
        assert resumed.end == end
        text = "".join(c["text"] for c in chunks)
        assert "".join(c["text"] for c in seen) + resumed.text == text
        await asyncio.sleep(2 * LEASE_S)  # every survivor's reaper has had its chance
        messages = await stored(bystander.http, dropped.session_id)
        assert len(messages) == 1
        assert messages[0]["status"] == "interrupted" and messages[0]["partial"] is True
        assert messages[0]["answer"] == text
        await watcher.close()


async def test_a_node_starting_up_leaves_a_live_nodes_answer_alone(
    tmp_path: Path, node_settings: dict[str, Any]
) -> None:
    async with (
        node(tmp_path, node_settings, "busy") as busy,
        SheetstreamClient.connect(f"{busy.ws}/ws/chat") as client,
    ):
        request_id = await client.chat("keep going")
        start = await asyncio.wait_for(client.recv(), 20)
        await chunks_before(client, start["stream_id"], 2)
        async with node(tmp_path, node_settings, "newcomer") as newcomer:
            # the newcomer found the answer `streaming` in the database and left it so
            during = await stored(newcomer.http, client.session_id)
            assert during[0]["status"] == "streaming"
            frames = await frames_until_end(client, start["stream_id"])
            assert frames[-1]["reason"] == "complete"
            assert frames[-1]["request_id"] == request_id
            messages = await stored(newcomer.http, client.session_id)
    assert messages[0]["status"] == "complete" and messages[0]["answer"] == SAMPLE


async def test_sigterm_closes_clients_with_1001_and_they_resume_elsewhere(
    tmp_path: Path, node_settings: dict[str, Any]
) -> None:
    async with (
        node(tmp_path, node_settings, "leaving") as leaving,
        node(tmp_path, node_settings, "staying") as staying,
    ):
        client = await SheetstreamClient.connect(f"{leaving.ws}/ws/chat")
        await client.chat("an answer cut short")
        start = await asyncio.wait_for(client.recv(), 20)
        stream_id = start["stream_id"]
        seen = await chunks_before(client, stream_id, 2)
        leaving.proc.send_signal(signal.SIGTERM)
        frames: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(await asyncio.wait_for(client.recv(), 20))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        # uvicorn shuts down, then exits by the signal it caught
        assert await asyncio.wait_for(leaving.proc.wait(), 20) in (0, -signal.SIGTERM)
        async with SheetstreamClient.connect(
            f"{staying.ws}/ws/chat", session_id=client.session_id
        ) as back:
            resumed = await asyncio.wait_for(back.resume(stream_id, after_seq=len(seen)), 20)
        assert resumed.end is not None and resumed.end["reason"] == "interrupted"
        chunks = seen + [f for f in frames if f.get("type") == "chunk"]
        chunks = chunks[: len(seen)] + resumed.chunks
        assert_one_clean_run(chunks, resumed.end)
        messages = await stored(staying.http, client.session_id)
        assert messages[0]["status"] == "interrupted"
        assert messages[0]["answer"] == "".join(c["text"] for c in chunks)


async def test_a_node_restarted_under_its_name_ends_the_answers_of_its_last_run(
    tmp_path: Path, node_settings: dict[str, Any]
) -> None:
    async with node(tmp_path, node_settings, "node-1") as first:
        client = await SheetstreamClient.connect(f"{first.ws}/ws/chat")
        await client.chat("cut short by a crash")
        start = await asyncio.wait_for(client.recv(), 20)
        seen = await chunks_before(client, start["stream_id"], 2)
        first.proc.send_signal(signal.SIGKILL)
        await first.proc.wait()
        with contextlib.suppress(ConnectionClosed):
            await client.close()
    async with (
        node(tmp_path, node_settings, "node-1") as again,
        SheetstreamClient.connect(f"{again.ws}/ws/chat", session_id=client.session_id) as back,
    ):
        resumed = await asyncio.wait_for(back.resume(start["stream_id"], after_seq=2), 30)
        assert resumed.end is not None and resumed.end["reason"] == "interrupted"
        text = "".join(c["text"] for c in seen) + resumed.text
        await asyncio.sleep(LEASE_S)
        messages = await stored(again.http, client.session_id)
    assert messages[0]["status"] == "interrupted" and messages[0]["answer"] == text
