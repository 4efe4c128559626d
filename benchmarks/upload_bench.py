"""Small uploads end to end: POST /api/workbooks of a ~10 KB workbook, with warm parse workers
and with a new process per upload, side by side; pandas + openpyxl reading the same file for
scale.

Not a test. Run with ``.venv/bin/python benchmarks/upload_bench.py [--uploads N]``.

Two real servers (``sheetstream serve``, synthetic model) run at once, one with
``SHEETSTREAM_WORKBOOK_PARSE_WARM=2`` and one with ``=0``; the uploads alternate between them so
both see the same machine noise. Each upload is timed from the request to the response
(inspection, parse, profile, index). Medians and p90 are printed, and the ratio of medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openpyxl


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def small_workbook(path: Path) -> Path:
    """About 10 KB: a 200-row table of text, numbers and dates, and a notes sheet."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "orders"
    ws.append(["id", "region", "amount", "day"])
    for i in range(200):
        ws.append([i, ["North", "South", "East"][i % 3], i * 1.25, dt.date(2024, 1, 1 + i % 28)])
    book.create_sheet("notes").append(["Prepared by finance"])
    book.save(path)
    return path


def start(data_dir: Path, warm: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEETSTREAM_")}
    env |= {
        "SHEETSTREAM_DATA_DIR": str(data_dir),
        "SHEETSTREAM_MODEL": "synthetic",
        "SHEETSTREAM_LOG_LEVEL": "warning",
        "SHEETSTREAM_WORKBOOK_PARSE_WARM": str(warm),
        "SHEETSTREAM_QUOTA_WORKBOOKS": "100000",
        "SHEETSTREAM_QUOTA_WORKBOOK_BYTES": str(1 << 40),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "sheetstream", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("a server did not start")


def upload(http: httpx.Client, url: str, data: bytes) -> float:
    started = time.perf_counter()
    response = http.post(
        f"{url}/api/workbooks", files={"file": ("orders.xlsx", data, "application/octet-stream")}
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise SystemExit(f"upload failed: {response.status_code} {response.text[:300]}")
    return elapsed


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=40, help="per server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="upload_bench_") as tmp:
        root = Path(tmp)
        src = small_workbook(root / "orders.xlsx")
        data = src.read_bytes()
        print(f"workbook: {len(data):,} bytes")
        servers = {name: start(root / name, warm) for name, warm in (("warm", 2), ("cold", 0))}
        times: dict[str, list[float]] = {name: [] for name in servers}
        try:
            with httpx.Client(timeout=60) as http:
                for _, url in servers.values():  # one each first: imports, caches
                    upload(http, url, data)
                time.sleep(1.0)  # the warm server's workers are loaded again
                for _ in range(args.uploads):
                    for name, (_, url) in servers.items():
                        times[name].append(upload(http, url, data))
                        if name == "warm":
                            time.sleep(0.3)  # uploads a person makes: the next worker is ready
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
        import pandas as pd

        reads = []
        for _ in range(args.uploads):
            started = time.perf_counter()
            pd.read_excel(src, sheet_name=None, engine="openpyxl")
            reads.append(time.perf_counter() - started)
    print(f"{'':34s}{'median ms':>10s}{'p90 ms':>10s}")
    for name, label in (
        ("warm", "upload, warm parse workers"),
        ("cold", "upload, process per upload"),
    ):
        values = times[name]
        print(f"{label:34s}{statistics.median(values) * 1000:10.1f}{p90(values) * 1000:10.1f}")
    print(
        f"{'pandas.read_excel (openpyxl)':34s}{statistics.median(reads) * 1000:10.1f}"
        f"{p90(reads) * 1000:10.1f}"
    )
    ratio = statistics.median(times["cold"]) / statistics.median(times["warm"])
    print(f"cold / warm (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
