"""Workbook parsing: sheetstream's parse_workbook vs pandas.read_excel(engine="openpyxl").

Not a test. Run with ``.venv/bin/python benchmarks/parse_bench.py [--rounds N] [--generate-only]``.

The workbook (3 sheets x 200,000 rows x 12 columns of ints, floats, text and dates) is written
once with openpyxl's write-only mode and cached in the temp directory. Each trial runs in a fresh
child process, alternating the two contenders, and reports its own wall time and peak RSS
(the maximum of the child's own and its children's ``ru_maxrss``, so parse_workbook's worker
process is included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHEETS = 3
ROWS = 200_000
CACHE_DIR = Path(tempfile.gettempdir()) / "sheetstream_parse_bench"
WORKBOOK = CACHE_DIR / f"bench_{SHEETS}x{ROWS}.xlsx"

HEADER = [
    "id",
    "quantity",
    "price",
    "discount",
    "region",
    "product",
    "customer",
    "order_date",
    "ship_date",
    "score",
    "notes",
    "year",
]
REGIONS = ["North", "South", "East", "West", "Central"]
PRODUCTS = [f"Product {i:03d}" for i in range(250)]


def generate(path: Path) -> None:
    import openpyxl

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial.xlsx")
    rng = random.Random(42)
    wb = openpyxl.Workbook(write_only=True)
    base = dt.date(2020, 1, 1)
    started = time.perf_counter()
    for s in range(SHEETS):
        ws = wb.create_sheet(f"Sheet {s + 1}")
        ws.append(HEADER)
        for i in range(ROWS):
            order = base + dt.timedelta(days=rng.randrange(1500))
            ws.append(
                [
                    i + 1,
                    rng.randrange(1, 500),
                    round(rng.uniform(1, 1000), 2),
                    rng.random(),
                    rng.choice(REGIONS),
                    rng.choice(PRODUCTS),
                    f"C{rng.randrange(100_000):06d}",
                    order,
                    dt.datetime.combine(order, dt.time(rng.randrange(24), rng.randrange(60))),
                    rng.gauss(50, 15),
                    None if rng.random() < 0.3 else f"note {rng.randrange(1000)}",
                    order.year,
                ]
            )
            if (i + 1) % 50_000 == 0:
                elapsed = time.perf_counter() - started
                print(f"  sheet {s + 1}: {i + 1:,} rows ({elapsed:.0f} s)", flush=True)
    print("  saving…", flush=True)
    wb.save(tmp)
    tmp.replace(path)
    print(f"  wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", flush=True)


_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
kind, src, dest = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "sheetstream":
    from sheetstream.workbooks.parse import ParseLimits, parse_workbook
    t = time.perf_counter()
    profile = parse_workbook(Path(src), "xlsx", Path(dest), ParseLimits(timeout_s=600))
    elapsed = time.perf_counter() - t
    rows = sum(s["rows"] for s in profile["sheets"])
else:
    import pandas as pd
    t = time.perf_counter()
    frames = pd.read_excel(src, sheet_name=None, engine="openpyxl")
    elapsed = time.perf_counter() - t
    rows = sum(len(f) for f in frames.values())
import threading
for thread in threading.enumerate():  # the worker is reaped apart from the answer: wait for it
    if thread is not threading.main_thread():
        thread.join(timeout=60)
peak_kib = max(
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
)
print(json.dumps({"seconds": elapsed, "peak_mib": peak_kib / 1024, "rows": rows}))
"""


def trial(kind: str, src: Path, workdir: Path) -> dict[str, float]:
    dest = workdir / f"{kind}-{time.monotonic_ns()}.duckdb"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(src), str(dest)],
        capture_output=True,
        text=True,
        check=False,
    )
    dest.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} trial failed:\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()

    if not WORKBOOK.exists():
        print(f"Generating {SHEETS} x {ROWS:,} x {len(HEADER)} workbook (once)…", flush=True)
        generate(WORKBOOK)
    if args.generate_only:
        return

    results: dict[str, list[dict[str, float]]] = {"sheetstream": [], "pandas": []}
    with tempfile.TemporaryDirectory(prefix="parse_bench_") as tmp:
        for r in range(args.rounds):
            for kind in ("sheetstream", "pandas"):
                res = trial(kind, WORKBOOK, Path(tmp))
                results[kind].append(res)
                print(
                    f"round {r + 1} {kind:11s} {res['seconds']:7.2f} s  "
                    f"peak {res['peak_mib']:7.0f} MiB  rows {int(res['rows']):,}",
                    flush=True,
                )

    med = {k: statistics.median(x["seconds"] for x in v) for k, v in results.items()}
    peak = {k: max(x["peak_mib"] for x in v) for k, v in results.items()}
    print()
    print(f"{'':24s}{'median s':>10s}{'peak MiB':>10s}")
    print(f"{'parse_workbook':24s}{med['sheetstream']:10.2f}{peak['sheetstream']:10.0f}")
    print(f"{'pandas.read_excel':24s}{med['pandas']:10.2f}{peak['pandas']:10.0f}")
    print(f"speed-up: {med['pandas'] / med['sheetstream']:.1f}x")


if __name__ == "__main__":
    main()
