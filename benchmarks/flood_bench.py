"""A flooding client beside twenty chatting ones: does the flood reach the others?

Not a test. Run with ``.venv/bin/python benchmarks/flood_bench.py [--rounds N]``.

One sheetstream server (synthetic model, 60-token answers paced at 20 tokens/s, default
limits) runs in its own process. Each round, twenty clients ask at once and time their answer
from `start` to `end` and each chunk's lateness against the pace; in the flooded rounds a
separate process meanwhile sends pings as fast as its socket allows, reconnecting whenever it is
closed. Quiet and flooded rounds alternate, and the report gives the median of the per-round
figures and the server's CPU seconds per round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import orjson
import psutil
from websockets.asyncio.client import connect

CLIENTS = 20
TOKENS = 60
RATE = 20.0

FLOODER = """
import asyncio, sys
from websockets.asyncio.client import connect

async def main(url):
    sent = 0
    while True:
        try:
            async with connect(url, compression=None) as ws:
                await ws.recv()
                while True:
                    await ws.send('{"type": "ping", "ts": 1}')
                    sent += 1
                    if sent % 50 == 0:
                        await asyncio.sleep(0)
        except Exception:
            await asyncio.sleep(0.01)

asyncio.run(main(sys.argv[1]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def one_answer(url: str) -> tuple[float, list[float]]:
    """(seconds from `start` to `end`, each chunk's lateness against the pace in ms)."""
    async with connect(url, compression=None) as ws:
        await ws.recv()
        await ws.send(orjson.dumps({"type": "chat", "content": "q", "request_id": "r1"}).decode())
        started = None
        tokens = 0
        lateness = []
        while True:
            frame = orjson.loads(await ws.recv())
            now = time.perf_counter()
            if frame["type"] == "start":
                started = now
            elif frame["type"] == "chunk" and started is not None:
                tokens += frame["tokens"]
                lateness.append(max(0.0, (now - started - tokens / RATE) * 1000))
            elif frame["type"] == "end":
                assert frame["reason"] == "complete", frame
                return now - (started or now), lateness


async def one_round(url: str, server: psutil.Process, flood: bool) -> dict[str, float]:
    flooder = (
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", FLOODER, url, stderr=subprocess.DEVNULL
        )
        if flood
        else None
    )
    try:
        await asyncio.sleep(0.5)  # the flood is running before anyone asks
        cpu_before = sum(server.cpu_times()[:2])
        results = await asyncio.gather(*(one_answer(url) for _ in range(CLIENTS)))
        cpu = sum(server.cpu_times()[:2]) - cpu_before
    finally:
        if flooder is not None:
            flooder.terminate()
            await flooder.wait()
    durations = [d for d, _ in results]
    lateness = sorted(x for _, late in results for x in late)
    return {
        "answer_s_median": statistics.median(durations),
        "lateness_ms_p50": lateness[len(lateness) // 2],
        "lateness_ms_p99": lateness[int(len(lateness) * 0.99)],
        "server_cpu_s": cpu,
    }


async def main(rounds: int) -> None:
    port = free_port()
    data = tempfile.mkdtemp(prefix="sheetstream_flood_")
    env = dict(
        os.environ,
        SHEETSTREAM_MODEL="synthetic",
        SHEETSTREAM_SYNTHETIC_RATE=str(RATE),
        SHEETSTREAM_SYNTHETIC_TOKENS=str(TOKENS),
        SHEETSTREAM_MAX_ANSWER_TOKENS=str(TOKENS + 1),
        SHEETSTREAM_DATA_DIR=data,
        SHEETSTREAM_LOG_LEVEL="warning",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sheetstream", "serve", "--port", str(port), env=env
    )
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(100):
                try:
                    await http.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        server = psutil.Process(proc.pid)
        url = f"ws://127.0.0.1:{port}/ws/chat"
        figures: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(rounds):
            for flood in (False, True):
                figures[flood].append(await one_round(url, server, flood))
        async with httpx.AsyncClient() as http:
            perf = (await http.get(f"http://127.0.0.1:{port}/api/websocket/performance")).json()
    finally:
        proc.terminate()
        await proc.wait()
    print(f"{CLIENTS} clients x {TOKENS} tokens at {RATE:g} tok/s; {rounds} rounds each, medians")
    print(f"{'':24}{'quiet':>12}{'flooded':>12}{'ratio':>8}")
    for key in ("answer_s_median", "lateness_ms_p50", "lateness_ms_p99", "server_cpu_s"):
        quiet = statistics.median(r[key] for r in figures[False])
        flooded = statistics.median(r[key] for r in figures[True])
        ratio = f"{flooded / quiet:.2f}" if quiet else "-"
        print(f"{key:24}{quiet:12.3f}{flooded:12.3f}{ratio:>8}")
    print("rate_limited errors sent:", perf["errors_by_code"].get("rate_limited", 0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
