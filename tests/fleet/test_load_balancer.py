"""Three nodes behind a real load balancer (HAProxy, round-robin, no stickiness): whichever
node a connection lands on, the client's session, answers and history are the same."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, StartServer, free_port

pytestmark = pytest.mark.slow

CONFIG = """\
global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    option forwardfor
frontend sheetstream
    bind 127.0.0.1:{port}
    default_backend nodes
backend nodes
    balance roundrobin
{servers}
"""


class Balancer:
    def __init__(self, port: int) -> None:
        self.port = port

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.contextmanager
def haproxy(tmp_path: Path, ports: list[int]) -> Iterator[Balancer]:
    binary = shutil.which("haproxy")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed; `make test` installs it (Debian: haproxy)")
        pytest.skip("haproxy is not installed (Debian: apt-get install haproxy)")
    port = free_port()
    servers = "\n".join(f"    server n{i} 127.0.0.1:{p}" for i, p in enumerate(ports))
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG.format(port=port, servers=servers))
    proc = subprocess.Popen(
        [binary, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield Balancer(port)
    finally:
        proc.terminate()
        proc.wait(10)


async def started(balancer: Balancer) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            try:
                if (await http.get(f"{balancer.http}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("haproxy did not start")


async def test_round_robin_without_stickiness(
    start_server: StartServer, redis_url: str, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {"broker_url": redis_url, "synthetic_rate": 100.0}
    nodes = [await start_server(node_id=f"node-{i}", **settings) for i in range(3)]
    with haproxy(tmp_path, [n.port for n in nodes]) as balancer:
        await started(balancer)
        async with httpx.AsyncClient() as http:
            seen = {(await http.get(f"{balancer.http}/readyz")).json()["node"] for _ in range(6)}
        assert seen == {"node-0", "node-1", "node-2"}  # every request may land anywhere
        first = await SheetstreamClient.connect(f"{balancer.ws}/ws/chat")
        request_id = await first.chat("through the balancer")
        start = await asyncio.wait_for(first.recv(), 10)
        chunks: list[dict[str, Any]] = []
        while len(chunks) < 2:
            frame = await asyncio.wait_for(first.recv(), 10)
            if frame["type"] == "chunk":
                chunks.append(frame)
        await first.close()
        # the next connection goes to the next node; it resumes where the first stopped
        async with SheetstreamClient.connect(
            f"{balancer.ws}/ws/chat", session_id=first.session_id
        ) as again:
            rest = await asyncio.wait_for(again.resume(start["stream_id"], after_seq=2), 20)
            assert rest.end is not None and rest.end["request_id"] == request_id
            assert "".join(c["text"] for c in chunks) + rest.text == SAMPLE
            follow_up = await asyncio.wait_for(again.ask("and then?"), 20)
            assert follow_up.text == SAMPLE
        async with httpx.AsyncClient() as http:
            for _ in range(3):  # the history from whichever node answers
                listed = await http.get(f"{balancer.http}/api/sessions/{first.session_id}/messages")
                questions = [m["question"] for m in listed.json()["messages"]]
                assert questions == ["through the balancer", "and then?"]
