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
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sheetstream.errors import Overloaded, RateLimited

P = ParamSpec("P")
T = TypeVar("T")


class Gate:
    """At most `slots` holders at once and `queue` more waiting; anyone past that is refused.

    With `per_client`, one client may hold or wait for only so many places, so one cannot fill
    the queue for everyone (`RateLimited`, HTTP 429)."""

    def __init__(self, what: str, slots: int, queue: int, per_client: int = 0) -> None:
        self.what = what  # "workbook parses", for the refusal's message
        self.slots = slots
        self.queue = queue
        self.per_client = per_client
        self.running = 0
        self.waiting = 0
        self.clients: Counter[str] = Counter()  # places held or waited for, by client
        self._free = asyncio.Semaphore(slots)
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix=what.split()[-1])
        self._seconds = 1.0  # how long one holder takes, smoothed: the base of Retry-After

    def check(self, client: str | None = None) -> None:
        """Refuse now if entering would have to wait in a full queue, or `client` has its
        share already."""
        if client is not None and self.per_client and self.clients[client] >= self.per_client:
            raise RateLimited(
                f"You have {self.clients[client]} {self.what} running or waiting; wait for "
                "one to finish before starting another."
            )
        if self.running >= self.slots and self.waiting >= self.queue:
            raise Overloaded(
                f"The server is busy with {self.running} {self.what} and {self.waiting} "
                "waiting; try again in a few seconds.",
                retry_after_s=self._seconds * (1 + self.waiting / self.slots),
            )

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args)` on this gate's own threads, once a slot is free."""
        return await self.run_for(None, fn, *args, **kwargs)

    async def run_for(
        self, client: str | None, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(*args)` on this gate's own threads, once a slot is free, as one of `client`'s.

        The slot is held until the thread is done, even if the caller stops waiting: a
        thread cannot be stopped, and the next holder must not find it still busy."""
        self.check(client)
        key = client if client is not None and self.per_client else None
        if key is not None:
            self.clients[key] += 1
        self.waiting += 1
        try:
            await self._free.acquire()
        except BaseException:
            self._leave(key)
            raise
        finally:
            self.waiting -= 1
        self.running += 1
        started = time.monotonic()

        def release(_: object) -> None:
            self.running -= 1
            self._free.release()
            self._leave(key)
            self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)

        loop = asyncio.get_running_loop()
        try:
            work = loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except BaseException:  # the pool is shut down: the slot was never used
            release(None)
            raise
        work.add_done_callback(release)
        return await asyncio.shield(work)

    def _leave(self, client: str | None) -> None:
        if client is not None:
            self.clients[client] -= 1
            if not self.clients[client]:
                del self.clients[client]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
