"""Fixtures shared by every test directory: a real uvicorn serving the real app."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
import uvicorn

from sheetstream.server import uvicorn_config
from sheetstream.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SAMPLE = (
    "Revenue grew 3.14% in Q1, e.g. in the North region. Dr. Lee agreed… mostly! "
    "Was it 1,234.56 EUR? Yes.\n\nThe second paragraph starts here. It has 2 sentences.\n"
    "A line without a stop\nAnd unicode: é 中文 😀 done.\r\n\r\nLast paragraph, no newline"
)


def small_workbook() -> bytes:
    """A valid two-region .xlsx, for tests that need a workbook and not its details."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["region", "revenue"])
    sheet.append(["North", 1234.5])
    sheet.append(["South", 800.25])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass
class RunningServer:
    settings: Settings
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def app(self) -> Any:
        return self.server.config.app

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


StartServer = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
def sample_text(tmp_path: Path) -> Path:
    path = tmp_path / "answer.txt"
    path.write_bytes(SAMPLE.encode())
    return path


@pytest.fixture
async def start_server(tmp_path: Path, sample_text: Path) -> AsyncIterator[StartServer]:
    running: list[RunningServer] = []

    async def start(**overrides: Any) -> RunningServer:
        values: dict[str, Any] = {
            "model": "synthetic",
            "synthetic_text": str(sample_text),
            "data_dir": tmp_path / "data",
            "log_level": "warning",
        }
        values.update(overrides)
        settings = Settings(**values)
        port = free_port()
        server = uvicorn.Server(uvicorn_config(settings, port=port))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped while starting")
            await asyncio.sleep(0.01)
        result = RunningServer(settings, server, task, port)
        running.append(result)
        return result

    yield start
    for item in running:
        if not item.task.done():
            await item.stop()


@dataclass
class ServerProcess:
    """`sheetstream serve` in a child process: its event loop is not the test's."""

    proc: asyncio.subprocess.Process
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serve_process(data_dir: Path, **settings: object) -> AsyncIterator[ServerProcess]:
    """Run the real server with `SHEETSTREAM_<NAME>` taken from `settings`; stop it after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEETSTREAM_")}
    env.update({"SHEETSTREAM_DATA_DIR": str(data_dir), "SHEETSTREAM_LOG_LEVEL": "warning"})
    env.update({f"SHEETSTREAM_{k.upper()}": str(v) for k, v in settings.items()})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "sheetstream", "serve", "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = ServerProcess(proc, port)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if proc.returncode is not None:
                    raise RuntimeError(f"server exited with {proc.returncode} while starting")
                try:
                    if (await http.get(f"{server.http}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("server did not start within 30 s")
        yield server
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
