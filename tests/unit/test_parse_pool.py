"""The warm parse workers: each parses one workbook under the same caps as a cold process, a
new one starts behind it, a dead one is replaced, and closing stops the idle ones."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from sheetstream.workbooks.parse import ParseLimits, WorkbookUnreadable, run_worker
from sheetstream.workbooks.parse_pool import ParsePool


def workbook(path: Path, rows: int = 3) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["n"])
    for i in range(rows):
        ws.append([i])
    book.save(path)
    return path


def warmed(pool: ParsePool, count: int) -> None:
    """Wait (bounded) until `count` workers are idle and loaded."""
    pool.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with pool._lock:
            idle = list(pool._idle)
        if len(idle) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} warm workers did not start")


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    pool = ParsePool(ParseLimits(timeout_s=60), size=2)
    yield pool
    pool.close()


def test_each_parse_takes_a_warm_worker_and_another_starts_behind_it(
    pool: ParsePool, tmp_path: Path
) -> None:
    warmed(pool, 2)
    assert pool.started == 2
    with pool._lock:
        first = pool._idle[0]
    src = workbook(tmp_path / "a.xlsx")
    profile = pool.parse(src, "xlsx", tmp_path / "a.duckdb", pool.limits)
    assert profile["sheets"][0]["rows"] == 3
    assert first.wait(timeout=10) == 0  # the warm worker did this parse, and ends (reaped apart)
    warmed(pool, 2)
    assert pool.started == 3  # one replaced it; no more
    for n in range(3):
        dest = tmp_path / f"b{n}.duckdb"
        assert pool.parse(src, "xlsx", dest, pool.limits)["sheets"][0]["rows"] == 3
    warmed(pool, 2)
    assert pool.started == 6


def test_a_worker_that_died_while_idle_is_replaced(pool: ParsePool, tmp_path: Path) -> None:
    warmed(pool, 2)
    with pool._lock:
        for proc in pool._idle:
            proc.kill()
            proc.wait()
    src = workbook(tmp_path / "a.xlsx")
    assert pool.parse(src, "xlsx", tmp_path / "a.duckdb", pool.limits)["sheets"][0]["rows"] == 3


def test_a_warm_worker_keeps_the_time_limit_and_the_next_parse_is_whole(tmp_path: Path) -> None:
    pool = ParsePool(ParseLimits(timeout_s=0.001), size=1)
    try:
        warmed(pool, 1)
        src = workbook(tmp_path / "a.xlsx", rows=2000)
        with pytest.raises(WorkbookUnreadable, match=r"took longer than 0\.001 s"):
            pool.parse(src, "xlsx", tmp_path / "a.duckdb", pool.limits)
        assert not (tmp_path / "a.duckdb").exists()
    finally:
        pool.close()


def test_a_warm_worker_keeps_the_memory_cap(tmp_path: Path) -> None:
    pool = ParsePool(ParseLimits(memory_mb=64), size=1)
    try:
        pool.start()
        src = workbook(tmp_path / "a.xlsx")
        with pytest.raises(WorkbookUnreadable, match="more than 64 MiB of memory"):
            pool.parse(src, "xlsx", tmp_path / "a.duckdb", pool.limits)
    finally:
        pool.close()


def test_closing_stops_the_idle_workers(tmp_path: Path) -> None:
    pool = ParsePool(ParseLimits(timeout_s=60), size=2)
    warmed(pool, 2)
    with pool._lock:
        idle = list(pool._idle)
    pool.close()
    assert all(proc.returncode is not None for proc in idle)
    pool.start()  # closed: starts nothing
    assert pool.started == 2


def test_the_answer_is_read_past_descriptor_1024(pool: ParsePool, tmp_path: Path) -> None:
    """A busy server holds thousands of connections: the worker's pipe is then a descriptor
    above 1024, which select() cannot watch."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip(f"the open-files limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1300), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        pool.start()
        src = workbook(tmp_path / "a.xlsx")
        profile = pool.parse(src, "xlsx", tmp_path / "a.duckdb", pool.limits)
        assert profile["sheets"][0]["rows"] == 3
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _fake_worker(script: str) -> subprocess.Popen[bytes]:
    """A process that behaves as a worker does at its end (what a real one cannot be made
    to do on demand)."""
    return subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_worker_that_says_much_on_stderr_is_read_to_its_answer(tmp_path: Path) -> None:
    proc = _fake_worker(
        "import sys; sys.stdin.readline(); sys.stderr.write('x' * 300_000); sys.stderr.flush();"
        "print('{\"sheets\": []}', flush=True)"
    )
    profile = run_worker(proc, ["job"], tmp_path / "a.duckdb", ParseLimits(timeout_s=20))
    assert profile == {"sheets": []}
    assert proc.wait(timeout=20) == 0


def test_a_worker_that_lingers_after_its_answer_is_killed_at_its_time_limit(
    tmp_path: Path,
) -> None:
    proc = _fake_worker(
        "import sys, time; sys.stdin.readline(); print('{\"sheets\": []}', flush=True);"
        "time.sleep(600)"
    )
    profile = run_worker(proc, ["job"], tmp_path / "a.duckdb", ParseLimits(timeout_s=1))
    assert profile == {"sheets": []}
    assert proc.wait(timeout=30) == -signal.SIGKILL
