"""Redis or PostgreSQL away and back: private servers on free ports, stopped and started
under running nodes. New chats get `unavailable`; open connections stay open; nothing of an
answer in progress is lost; the nodes recover by themselves."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, StartServer
from tests.fleet.servers import PrivatePostgres, PrivateRedis, private_postgres, private_redis

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path) as server:
        yield server


@pytest.fixture
def postgres_server() -> Iterator[PrivatePostgres]:
    # its own folder outside pytest's (which only root may enter): the server runs as postgres
    directory = Path(tempfile.mkdtemp(prefix="sheetstream-pg-"))
    directory.chmod(0o755)
    try:
        with private_postgres(directory) as server:
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def eventually_answers(ws: str, within_s: float = 20.0) -> SheetstreamClient:
    """A connection that has just had a whole answer, once the node has recovered."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            client = await SheetstreamClient.connect(f"{ws}/ws/chat")
            answer = await asyncio.wait_for(client.ask("are you back?"), 10)
            if answer.end is not None and answer.end["reason"] == "complete":
                return client
            await client.close()
        except (ConnectionClosed, OSError, TimeoutError):
            pass
        except Exception as exc:  # a refusal while recovering: `unavailable`
            if "unavailable" not in str(exc):
                raise
        assert asyncio.get_running_loop().time() < deadline, "the node did not recover"
        await asyncio.sleep(0.25)


async def next_error(client: SheetstreamClient, request_id: str) -> dict[str, Any]:
    frames = [f async for f in client.follow(request_id)]
    return frames[-1]


async def test_redis_away_and_back(start_server: StartServer, redis_server: PrivateRedis) -> None:
    settings = {"broker_url": redis_server.url, "node_lease_s": 3.0, "synthetic_rate": 40.0}
    a = await start_server(node_id="a", **settings)
    b = await start_server(node_id="b", **settings)
    open_client = await SheetstreamClient.connect(f"{a.ws}/ws/chat")
    request_id = await open_client.chat("an answer through an outage")
    start = await asyncio.wait_for(open_client.recv(), 10)
    redis_server.stop()
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"{a.http}/readyz")
    assert ready.status_code == 503 and ready.json()["down"] == ["broker"]
    await asyncio.sleep(0.5)
    redis_server.start()
    # the answer in progress lost nothing: every chunk, in order, then its end
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1].get("type") != "end":
        frame = await asyncio.wait_for(open_client.recv(), 20)
        if frame.get("stream_id") == start["stream_id"]:
            frames.append(frame)
    chunks = [f for f in frames if f["type"] == "chunk"]
    assert [c["seq"] for c in chunks] == list(range(1, len(chunks) + 1))
    assert "".join(c["text"] for c in chunks) == SAMPLE
    assert frames[-1]["reason"] == "complete" and frames[-1]["request_id"] == request_id
    pong = await asyncio.wait_for(open_client.ping(7.0), 5)
    assert pong["ts"] == 7.0
    await open_client.close()
    # both nodes recover by themselves, and a client moving between them resumes again
    on_a = await eventually_answers(a.ws)
    await eventually_answers(b.ws)
    stream_request = await on_a.chat("once more")
    start = await asyncio.wait_for(on_a.recv(), 10)
    assert start["request_id"] == stream_request
    await on_a.close()
    async with SheetstreamClient.connect(f"{b.ws}/ws/chat", session_id=on_a.session_id) as back:
        resumed = await asyncio.wait_for(back.resume(start["stream_id"]), 20)
    assert resumed.text == SAMPLE and resumed.end is not None


async def test_a_chat_while_redis_is_away_is_told_unavailable(
    start_server: StartServer, redis_server: PrivateRedis
) -> None:
    a = await start_server(node_id="a", broker_url=redis_server.url)
    async with SheetstreamClient.connect(f"{a.ws}/ws/chat") as client:
        redis_server.stop()
        error = await next_error(client, await client.chat("hello?"))
        assert error["type"] == "error" and error["code"] == "unavailable"
        assert "Redis" in error["message"] and "try again" in error["message"]
        pong = await asyncio.wait_for(client.ping(3.0), 5)  # still open
        assert pong["ts"] == 3.0
        # a new connection is told too, then closed with 1013 (try again later)
        async with websockets.connect(f"{a.ws}/ws/chat") as raw:
            told = orjson.loads(await asyncio.wait_for(raw.recv(), 10))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(raw.recv(), 10)
        assert told["type"] == "error" and told["code"] == "unavailable"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        redis_server.start()
    await eventually_answers(a.ws)


async def test_postgres_away_and_back(
    start_server: StartServer, redis_url: str, postgres_server: PrivatePostgres
) -> None:
    settings = {"broker_url": redis_url, "database_url": postgres_server.url}
    a = await start_server(node_id="a", **settings)
    async with SheetstreamClient.connect(f"{a.ws}/ws/chat") as client:
        await client.ask("before")
        postgres_server.stop()
        async with httpx.AsyncClient() as http:
            ready = await http.get(f"{a.http}/readyz")
        assert ready.status_code == 503 and ready.json()["down"] == ["storage"]
        pong = await asyncio.wait_for(client.ping(5.0), 5)  # the open connection stays
        assert pong["ts"] == 5.0
        async with websockets.connect(f"{a.ws}/ws/chat") as raw:
            told = orjson.loads(await asyncio.wait_for(raw.recv(), 15))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(raw.recv(), 10)
        assert told["type"] == "error" and told["code"] == "unavailable"
        assert "PostgreSQL" in told["message"]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        postgres_server.start()
    await eventually_answers(a.ws)
    async with httpx.AsyncClient() as http:
        listed = await http.get(f"{a.http}/api/sessions/{client.session_id}/messages")
    assert listed.json()["messages"][0]["question"] == "before"
