"""SQLite storage: the CPU it takes to store answers that end together.

Not a test. Run with ``.venv/bin/python benchmarks/storage_bench.py [--batches N]``;
``PYTHONPATH=<other checkout>/src`` measures another checkout's storage the same way.

Each batch is 100 answers at once, each doing what an answer does to storage: create its
session, read its history, add the question, and finish the message with a 2,000-token answer.
The process's CPU time (every thread) is read around each batch; the script prints the
minimum, median and 90th percentile per answer.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sheetstream.storage.base import MessageRecord
from sheetstream.storage.sqlite import SQLiteStorage

ANSWERS_PER_BATCH = 100
ANSWER = "word " * 2000


async def one_answer(store: SQLiteStorage, index: int) -> None:
    session_id = uuid.uuid4().hex
    await store.ensure_session(session_id, time.time(), None)
    await store.list_messages(session_id, limit=44)
    record = MessageRecord(
        stream_id=uuid.uuid4().hex,
        session_id=session_id,
        request_id=None,
        question="What is the total?",
        mode="stream",
        created_at=time.time(),
    )
    await store.add_message(record)
    await asyncio.sleep(0.001 * (index % 10))  # answers end over 10 ms, not all at once
    done = dataclasses.replace(
        record, answer=ANSWER, status="complete", answer_tokens=2000, chunks=63
    )
    await store.finish_message(done)


async def measure(batches: int) -> list[float]:
    with tempfile.TemporaryDirectory() as directory:
        store = SQLiteStorage(f"sqlite:///{Path(directory) / 'bench.db'}")
        await store.connect()
        per_answer_us: list[float] = []
        try:
            for _ in range(batches):
                start = time.process_time()
                await asyncio.gather(*(one_answer(store, i) for i in range(ANSWERS_PER_BATCH)))
                spent = time.process_time() - start
                per_answer_us.append(spent / ANSWERS_PER_BATCH * 1e6)
        finally:
            await store.disconnect()
    return per_answer_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    per_answer = sorted(asyncio.run(measure(args.batches)))
    print(
        f"CPU per stored answer over {args.batches} batches of {ANSWERS_PER_BATCH}: "
        f"min {per_answer[0]:.0f} µs, median {statistics.median(per_answer):.0f} µs, "
        f"p90 {per_answer[int(len(per_answer) * 0.9)]:.0f} µs"
    )


if __name__ == "__main__":
    main()
