"""A bounded door for expensive work: so many at once, so many waiting, the rest turned away.

Parsing a workbook or running a query takes a thread, memory and seconds. Without a door, a
burst of them (or one client sending many) queues without end and takes every thread;
with it, the excess learns at once to come back later (`Overloaded`, HTTP 503 with
`Retry-After`), and the work that does run keeps its own thread pool, so parses cannot starve
queries or the other way round.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sheetstream.errors import Overloaded

P = ParamSpec("P")
T = TypeVar("T")


class Gate:
    """At most `slots` holders at once and `queue` more waiting; anyone past that is refused."""

    def __init__(self, what: str, slots: int, queue: int) -> None:
        self.what = what  # "workbook parses", for the refusal's message
        self.slots = slots
        self.queue = queue
        self.running = 0
        self.waiting = 0
        self._free = asyncio.Semaphore(slots)
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=what.split()[-1])
        self._seconds = 1.0  # how long one holder takes, smoothed: the base of Retry-After

    def check(self) -> None:
        """Refuse now if entering would have to wait in a full queue."""
        if self.running >= self.slots and self.waiting >= self.queue:
            raise Overloaded(
                f"The server is busy with {self.running} {self.what} and {self.waiting} "
                "waiting; try again in a few seconds.",
                retry_after_s=self._seconds * (1 + self.waiting / self.slots),
            )

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args)` on this gate's own threads, once a slot is free.

        The slot is held until the thread is done, even if the caller stops waiting: a
        thread cannot be stopped, and the next holder must not find it still busy."""
        self.check()
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        started = time.monotonic()

        def release(_: object) -> None:
            self.running -= 1
            self._free.release()
            self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)

        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        work.add_done_callback(release)
        return await asyncio.shield(work)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
