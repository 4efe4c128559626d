"""One hostile or unlucky client against a real server: what it costs everyone else.

Not a test. Run with ``.venv/bin/python benchmarks/hostile_bench.py [--rounds N]``; to measure
another checkout's server the same way, put its ``src`` first on ``PYTHONPATH``.

Each round starts a fresh ``sheetstream serve`` (synthetic model, default limits) and runs:

- **boundaries**: ``/sql SELECT repeat('.', 5000)`` in sentence mode, an answer with no
  sentence boundary; the answer's seconds and the longest ``/healthz`` wait meanwhile.
- **huge query**: ``POST /api/workbooks/{id}/query`` of 1,000 cells of 1 MB each; the body's
  bytes, the seconds, and how far the server's processes grew.
- **upload burst**: eight shared-strings bombs and eight zip bombs sent at once; the peak
  memory of the server's processes, the slowest answer, and the statuses.

The report gives the median of the rounds for each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sheetstream.client import SheetstreamClient
from tests.conftest import ServerProcess, serve_process, small_workbook
from tests.e2e.test_hardening import HUGE, string_table_bomb, zip_bomb


def tree_rss_mib(server: ServerProcess) -> float:
    root = psutil.Process(server.proc.pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20


async def upload(http: httpx.AsyncClient, server: ServerProcess) -> str:
    files = {"file": ("sales.xlsx", small_workbook())}
    response = await http.post(f"{server.http}/api/workbooks", files=files)
    response.raise_for_status()
    return str(response.json()["workbook_id"])


async def boundaries(server: ServerProcess, http: httpx.AsyncClient) -> dict[str, float]:
    workbook_id = await upload(http, server)
    # no keepalive: a frozen server would have the client give up before the answer ends
    async with SheetstreamClient.connect(f"{server.ws}/ws/chat", ping_interval=None) as client:
        started = time.perf_counter()
        asking = asyncio.create_task(
            client.ask(
                "/sql SELECT repeat('.', 5000) AS a", mode="sentence", workbook_id=workbook_id
            )
        )
        waits = []
        async with httpx.AsyncClient(timeout=120) as health:
            while not asking.done():
                sent = time.perf_counter()
                await health.get(f"{server.http}/healthz")
                waits.append(time.perf_counter() - sent)
                await asyncio.sleep(0.05)
        await asking
    return {"answer_s": time.perf_counter() - started, "healthz_max_s": max(waits)}


async def huge_query(server: ServerProcess, http: httpx.AsyncClient) -> dict[str, float]:
    workbook_id = await upload(http, server)
    before = peak = tree_rss_mib(server)
    started = time.perf_counter()
    sending = asyncio.create_task(
        http.post(f"{server.http}/api/workbooks/{workbook_id}/query", json={"sql": HUGE})
    )
    while not sending.done():
        peak = max(peak, tree_rss_mib(server))
        await asyncio.sleep(0.02)
    response = await sending
    return {
        "body_mib": len(response.content) / 2**20,
        "seconds": time.perf_counter() - started,
        "growth_mib": peak - before,
    }


async def upload_burst(server: ServerProcess, http: httpx.AsyncClient) -> dict[str, Any]:
    bombs = [("s.xlsx", string_table_bomb())] * 8 + [("z.xlsx", zip_bomb())] * 8
    peak = tree_rss_mib(server)
    started = time.perf_counter()
    slowest = 0.0

    async def send(name: str, data: bytes) -> int:
        nonlocal slowest
        response = await http.post(f"{server.http}/api/workbooks", files={"file": (name, data)})
        slowest = max(slowest, time.perf_counter() - started)
        return response.status_code

    sending = asyncio.gather(*(send(name, data) for name, data in bombs))
    while not sending.done():
        peak = max(peak, tree_rss_mib(server))
        await asyncio.sleep(0.02)
    statuses = collections.Counter(await sending)
    return {
        "peak_mib": peak,
        "slowest_s": slowest,
        "statuses": ", ".join(f"{n}×{s}" for s, n in sorted(statuses.items())),
    }


SCENARIOS = {"boundaries": boundaries, "huge query": huge_query, "upload burst": upload_burst}


async def main(rounds: int) -> None:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="sheetstream-hostile-") as tmp:
        for number in range(rounds):
            for name, scenario in SCENARIOS.items():
                data = Path(tmp) / f"{name}-{number}".replace(" ", "-")
                async with (
                    serve_process(data, model="synthetic", workbook_uploads_per_client=32) as srv,
                    httpx.AsyncClient(timeout=300) as http,
                ):
                    figures = await scenario(srv, http)
                results[name].append(figures)
                print(f"round {number + 1} {name}: {figures}", file=sys.stderr, flush=True)
    print(f"\n{rounds} round(s), medians")
    for name, runs in results.items():
        print(f"\n{name}")
        for key in runs[0]:
            values = [run[key] for run in runs]
            if isinstance(values[0], str):
                print(f"  {key:14} {' | '.join(values)}")
            else:
                print(f"  {key:14} {statistics.median(values):10.2f}   (runs: ", end="")
                print(", ".join(f"{v:.2f}" for v in values) + ")")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args().rounds))
