"""Fixtures shared by every test directory: a real uvicorn serving the real app."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
