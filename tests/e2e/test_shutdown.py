"""SIGTERM: clients get 1001, partial answers are stored, the process exits promptly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from sheetstream.client import SheetstreamClient
from tests.conftest import SAMPLE, StartServer, free_port


async def wait_until_serving(url: str, proc: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if proc.returncode is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if (await http.get(url, headers={"accept": "application/json"})).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start")


async def test_sigterm_closes_clients_with_1001_and_keeps_partial_answers(
    tmp_path: Path, sample_text: Path, start_server: StartServer
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SHEETSTREAM_MODEL": "synthetic",
        "SHEETSTREAM_SYNTHETIC_TEXT": str(sample_text),
        "SHEETSTREAM_SYNTHETIC_RATE": "20",
        "SHEETSTREAM_DATA_DIR": str(tmp_path / "data"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "sheetstream", "serve", "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_until_serving(f"http://127.0.0.1:{port}/", proc)
        client = await SheetstreamClient.connect(f"ws://127.0.0.1:{port}/ws/term")
        request_id = await client.chat("slow answer")
        chunks = []
        async for frame in client.follow(request_id):
            if frame["type"] == "chunk":
                chunks.append(frame)
            if len(chunks) == 3:
                break
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await client.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        returncode = await asyncio.wait_for(proc.wait(), 10)
        assert returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
        assert time.monotonic() - signalled < 5
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    again = await start_server(data_dir=tmp_path / "data")
    async with httpx.AsyncClient(base_url=again.http) as http:
        stored = (await http.get("/api/sessions/term/messages")).json()["messages"]
    assert len(stored) == 1
    assert stored[0]["status"] == "interrupted" and stored[0]["partial"] is True
    text = "".join(c["text"] for c in chunks)
    assert stored[0]["answer"].startswith(text) and SAMPLE.startswith(stored[0]["answer"])
