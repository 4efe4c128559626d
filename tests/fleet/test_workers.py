"""`sheetstream serve --workers N`: N processes on one port, each a node of the fleet, under
one parent that SIGTERM stops; and readiness when the broker is away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, StartServer, free_port

NODE = "wtest"


def _env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEETSTREAM_")}
    env.update({"SHEETSTREAM_DATA_DIR": str(data_dir), "SHEETSTREAM_LOG_LEVEL": "info"})
    env.update({f"SHEETSTREAM_{k.upper()}": v for k, v in settings.items()})
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _node_ids(base: str, wanted: int, within_s: float = 30.0) -> set[str]:
    """Ask `/readyz` on a new connection each time until `wanted` nodes have answered."""
    seen: set[str] = set()
    deadline = time.monotonic() + within_s
    while len(seen) < wanted and time.monotonic() < deadline:
        async with httpx.AsyncClient(base_url=base) as http:
            try:
                response = await http.get("/readyz")
            except httpx.TransportError:
                await asyncio.sleep(0.05)
                continue
        if response.status_code == 200:
            seen.add(response.json()["node"])
        else:
            await asyncio.sleep(0.05)
    return seen


async def test_two_workers_on_one_port_are_two_nodes_and_sigterm_stops_them(
    tmp_path: Path, sample_text: Path, redis_url: str
) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = _env(
        tmp_path / "data",
        broker_url=redis_url,
        model="synthetic",
        synthetic_text=str(sample_text),
        synthetic_rate="50",
        node_id=NODE,
    )
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "sheetstream", "serve", "--workers", "2", "--port", str(port)),
            env=env,
            stdout=log,
            stderr=log,
        )
    base, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        nodes = await _node_ids(base, 2)
        assert len(nodes) == 2, log_path.read_text()
        # SHEETSTREAM_NODE_ID, suffixed with each worker's pid
        pids = {int(node.removeprefix(f"{NODE}-")) for node in nodes}
        assert all(node.startswith(f"{NODE}-") for node in nodes)
        assert proc.pid not in pids and all(_alive(pid) for pid in pids)

        async with SheetstreamClient.connect(f"{ws}/ws/chat") as client:
            answer = await asyncio.wait_for(client.ask("hello", mode="sentence"), 20)
        assert answer.text == SAMPLE and answer.end["reason"] == "complete"

        # clients spread over both workers; every one gets 1001 at SIGTERM
        clients = [await SheetstreamClient.connect(f"{ws}/ws/chat") for _ in range(6)]
        for client in clients:
            await client.ping(1.0)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        for client in clients:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(client.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert await asyncio.wait_for(proc.wait(), 10) == 0, log_path.read_text()
        assert not any(_alive(pid) for pid in pids)  # the parent waited for each worker
        assert time.monotonic() - signalled < 6
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = log_path.read_text()
    assert text.count("Application shutdown complete") == 2 and "Traceback" not in text, text


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_start_up_with_the_broker_away_fails_fast(tmp_path: Path, workers: str) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "sheetstream", "serve", "--workers", workers, "--port", str(free_port())),
        env=_env(tmp_path / "data", broker_url=dead, model="synthetic"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 3
    assert b"Redis is not answering" in err and b"Application startup failed" in err


class Proxy:
    """A TCP forwarder to Redis that can be cut (every connection dropped, new ones refused)
    and restored on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@contextlib.asynccontextmanager
async def proxied(redis_url: str) -> AsyncIterator[tuple[Proxy, str]]:
    parts = urlsplit(redis_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    await proxy.start()
    try:
        yield proxy, f"redis://127.0.0.1:{proxy.port}{parts.path}"
    finally:
        if proxy.server is not None:
            await proxy.cut()


async def _ready(http: httpx.AsyncClient, want: bool, within_s: float = 15.0) -> httpx.Response:
    deadline = time.monotonic() + within_s
    while True:
        response = await http.get("/readyz")
        if response.json()["ready"] is want or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_readyz_says_the_broker_is_down_and_recovers_with_it(
    start_server: StartServer, redis_url: str
) -> None:
    async with proxied(redis_url) as (proxy, url):
        srv = await start_server(broker_url=url, node_id="node-r", node_lease_s=1.5)
        async with httpx.AsyncClient(base_url=srv.http, timeout=10) as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            body = ready.json()
            assert body["ready"] is True and body["down"] == [] and body["node"] == "node-r"
            assert body["broker"] == {"backend": "redis", "ok": True}

            await proxy.cut()
            started = time.monotonic()
            down = await _ready(http, False)
            assert down.status_code == 503 and time.monotonic() - started < 5
            body = down.json()
            assert body["down"] == ["broker"]
            assert body["broker"] == {"backend": "redis", "ok": False}
            assert body["storage"]["ok"] is True and body["model"]["ready"] is True
            health = await http.get("/", headers={"accept": "application/json"})
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert health.json()["node"] == "node-r" and health.json()["down"] == ["broker"]
            assert (await http.get("/healthz")).status_code == 200  # alive all along

            await proxy.start()  # Redis is back: the node is ready again by itself
            back = await _ready(http, True)
            assert back.status_code == 200 and back.json()["down"] == [], back.text
        async with SheetstreamClient.connect(f"{srv.ws}/ws/chat") as client:
            answer = await asyncio.wait_for(client.ask("after the outage"), 20)
        assert answer.end["reason"] == "complete"
