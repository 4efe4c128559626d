"""No single client can freeze, exhaust or crash the server: each defect found in review, as a
regression test against a real server (`sheetstream serve` in a child process where the
server's own event loop or memory is what the test watches)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import psutil
import pytest

from sheetstream.client import SheetstreamClient
from tests.conftest import ServerProcess, serve_process, small_workbook


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


async def upload_workbook(http: httpx.AsyncClient, base: str, data: bytes | None = None) -> str:
    files = {"file": ("sales.xlsx", data or small_workbook())}
    response = await http.post(f"{base}/api/workbooks", files=files)
    assert response.status_code == 201, response.text
    return str(response.json()["workbook_id"])


def rss_mib(server: ServerProcess) -> float:
    """The resident memory of the server and every process it started, in MiB."""
    root = psutil.Process(server.proc.pid)
    processes = [root, *root.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes if p.is_running()) / 2**20


HUGE = "SELECT repeat(repeat('x', 10000), 100) AS a FROM range(1000)"  # 1,000 cells of 1 MB


async def test_a_huge_query_result_is_capped_in_bytes_and_the_server_stays_small(
    tmp_path: Path,
) -> None:
    """It once came back as a 1 GB body and grew the server to 5.4 GiB."""
    async with (
        serve_process(tmp_path / "data", model="synthetic") as server,
        httpx.AsyncClient(timeout=60) as http,
    ):
        workbook_id = await upload_workbook(http, server.http)
        before = rss_mib(server)
        response = await http.post(
            f"{server.http}/api/workbooks/{workbook_id}/query", json={"sql": HUGE}
        )
        after = rss_mib(server)
    assert response.status_code == 200
    body = response.json()
    assert len(response.content) <= 1024 * 1024 + 4096  # the rows' cap, and the envelope
    assert body["truncated"] is True and body["truncated_by"] == "bytes"
    assert body["rows"][0][0].endswith("…[1000000 characters]")
    assert after - before < 300, f"the server grew from {before:.0f} to {after:.0f} MiB"


async def test_sql_in_chat_sends_bounded_frames_and_stores_a_bounded_copy(
    tmp_path: Path,
) -> None:
    """`/sql` once tokenized the whole result on the loop, sent it in a `tool` frame to every
    reader and stored it whole in the history."""
    async with (
        serve_process(tmp_path / "data", model="synthetic") as server,
        httpx.AsyncClient(timeout=60) as http,
    ):
        workbook_id = await upload_workbook(http, server.http)
        async with SheetstreamClient.connect(f"{server.ws}/ws/chat") as client:
            answer = await client.ask(f"/sql {HUGE}", workbook_id=workbook_id)
            session_id = client.session_id
        history = await http.get(f"{server.http}/api/sessions/{session_id}/messages")
    assert answer.reason in ("complete", "length")
    (tool,) = answer.tools
    assert len(orjson.dumps(tool)) < 40 * 1024
    assert tool["truncated"] is True and len(tool["rows"]) <= 20
    assert len(answer.text.encode()) < 40 * 1024
    assert "long text shortened" in answer.text or answer.reason == "length"
    (stored,) = history.json()["messages"]
    assert len(orjson.dumps(stored)) < 100 * 1024
