"""No single client can freeze, exhaust or crash the server: each defect found in review, as a
regression test against a real server (`sheetstream serve` in a child process where the
server's own event loop or memory is what the test watches)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from sheetstream.client import SheetstreamClient
from tests.conftest import ServerProcess, serve_process


async def health_while(server: ServerProcess, work: asyncio.Task[object]) -> list[float]:
    """Ask `/healthz` every 50 ms until `work` is done; each answer's wait, in seconds.

    A request that waits longer than 5 s fails the test: the server's loop was frozen."""
    waits = []
    async with httpx.AsyncClient(timeout=5.0) as http:
        while not work.done():
            started = asyncio.get_running_loop().time()
            response = await http.get(f"{server.http}/healthz")
            assert response.status_code == 200
            waits.append(asyncio.get_running_loop().time() - started)
            await asyncio.sleep(0.05)
    return waits


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        ("sentence", "." * 20_000),
        ("sentence", "!)" * 10_000),
        ("paragraph", " " * 20_000),
        ("paragraph", "\r" * 20_000),
    ],
    ids=["dots", "bangs", "spaces", "carriage-returns"],
)
async def test_an_answer_without_boundaries_does_not_freeze_the_server(
    tmp_path: Path, mode: str, text: str
) -> None:
    """The first version rescanned all pending text on every token: 5,000 dots in sentence
    mode froze the server for 27 s. A model can write such text; it must stream like any."""
    answer_file = tmp_path / "answer.txt"
    answer_file.write_text(text + "\nEnd.")
    async with (
        serve_process(
            tmp_path / "data",
            model="synthetic",
            synthetic_text=answer_file,
            max_answer_tokens=100_000,
        ) as server,
        SheetstreamClient.connect(f"{server.ws}/ws/chat") as client,
    ):
        asking = asyncio.create_task(client.ask("go", mode=mode))
        await health_while(server, asking)
        answer = await asking
    assert answer.reason == "complete"
    assert answer.text == text + "\nEnd."
