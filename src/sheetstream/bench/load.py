"""Load worker processes: each opens its share of the clients, waits for `go`, runs, reports.

The parent drives them in steps so it can read the server between them: start the workers
and wait until every client is connected (`wait_ready`), take the "before" readings, `go`,
wait for the reports (`wait_done`), take the "after" readings, and only then let the workers
close their connections (leaving the `with` block).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from types import TracebackType
from typing import Any, Literal, Self

from websockets.asyncio.client import ClientConnection

from sheetstream.bench.clients import Expected, Totals, ask, open_client
from sheetstream.llm.synthetic import prose_tokens

JobKind = Literal["stream", "idle"]
_MAX_ERROR_SAMPLES = 5


@dataclass(frozen=True, slots=True)
class Job:
    """One worker's share: its clients' start offsets (seconds after `go`) say how many."""

    kind: JobKind
    url: str
    offsets: tuple[float, ...]
    answer_tokens: int = 0
    rate: float = 0.0  # > 0: time every token against its due time
    timeout_s: float = 120.0
    connect_concurrency: int = 50


@dataclass(slots=True)
class Errors:
    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, exc: BaseException) -> None:
        self.count += 1
        if len(self.samples) < _MAX_ERROR_SAMPLES:
            self.samples.append(f"{type(exc).__name__}: {exc}"[:300])

    def merge(self, other: Errors) -> None:
        self.count += other.count
        room = _MAX_ERROR_SAMPLES - len(self.samples)
        self.samples.extend(other.samples[:room])


@dataclass(slots=True)
class LoadResult:
    """What all workers' clients saw, merged."""

    clients: int = 0
    connected: int = 0
    errors: Errors = field(default_factory=Errors)
    totals: Totals = field(default_factory=Totals)
    client_cpu_s: float = 0.0

    @property
    def elapsed_s(self) -> float | None:
        first, last = self.totals.first_send, self.totals.last_end
        return None if first is None or last is None else last - first

    def add(self, clients: int, connected: int, errors: Errors, totals: Totals, cpu: float) -> None:
        self.clients += clients
        self.connected += connected
        self.errors.merge(errors)
        self.client_cpu_s += cpu
        mine = self.totals
        mine.streams += totals.streams
        mine.frames += totals.frames
        mine.tokens += totals.tokens
        mine.latencies_ms.extend(totals.latencies_ms)
        mine.first_token_ms.extend(totals.first_token_ms)
        if totals.first_send is not None:
            mine.first_send = min(mine.first_send or totals.first_send, totals.first_send)
        if totals.last_end is not None:
            mine.last_end = max(mine.last_end or totals.last_end, totals.last_end)


def split(clients: int, workers: int, kind: JobKind, url: str, **options: Any) -> list[Job]:
    """Deal clients to workers round-robin; with `ramp_s`, client i asks i/clients·ramp_s in."""
    ramp_s: float = options.pop("ramp_s", 0.0)
    jobs = []
    for worker in range(min(workers, clients) or 1):
        indices = range(worker, clients, workers)
        offsets = tuple(index / clients * ramp_s for index in indices)
        jobs.append(Job(kind, url, offsets, **options))
    return jobs


class WorkerProcesses:
    """Load worker processes forked from a clean fork server (with `preload` imported, not
    this process's state), each running `target(index, job, messages, go, release)`."""

    def __init__(self, target: Callable[..., None], jobs: Sequence[Any], preload: str) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([preload])
        self._messages: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
        self._go = context.Event()
        self._release = context.Event()
        self._jobs = jobs
        self._processes = [
            context.Process(
                target=target,
                args=(index, job, self._messages, self._go, self._release),
                name=f"bench-load-{index}",
                daemon=True,
            )
            for index, job in enumerate(jobs)
        ]

    def __enter__(self) -> Self:
        for process in self._processes:
            process.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        for process in self._processes:
            process.join(30)
        for process in self._processes:
            if process.is_alive():
                process.terminate()
                process.join(5)

    def go(self) -> None:
        self._go.set()

    def _collect(self, step: str, timeout_s: float) -> list[tuple[Any, ...]]:
        """One `step` message from every worker (a crashed worker fails it)."""
        deadline = time.monotonic() + timeout_s
        got: list[tuple[Any, ...]] = []
        while len(got) < len(self._processes):
            if time.monotonic() > deadline:
                raise TimeoutError(f"load workers not {step} after {timeout_s:g} s")
            try:
                message = self._messages.get(timeout=0.5)
            except queue.Empty:
                dead = [p.name for p in self._processes if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"load worker(s) {', '.join(dead)} crashed") from None
                continue
            if message[0] != step:
                raise RuntimeError(f"load worker sent {message[0]!r} while {step!r} was due")
            got.append(message)
        return got


class LoadRun(WorkerProcesses):
    """The workers running `jobs` of streaming or idle clients."""

    def __init__(self, jobs: list[Job]) -> None:
        super().__init__(worker_main, jobs, __name__)
        self._jobs: list[Job] = jobs
        self.result = LoadResult()
        self._connect_errors: dict[int, Errors] = {}
        self._connected: dict[int, int] = {}

    def wait_ready(self, timeout_s: float) -> None:
        """Block until every worker has opened its clients (or failed to)."""
        for message in self._collect("ready", timeout_s):
            _, index, connected, errors = message
            self._connected[index] = connected
            self._connect_errors[index] = errors

    def wait_done(self, timeout_s: float) -> LoadResult:
        """Block until every worker reports; the connections stay open until `__exit__`."""
        for message in self._collect("done", timeout_s):
            _, index, totals, errors, cpu = message
            errors.merge(self._connect_errors.get(index, Errors()))
            clients = len(self._jobs[index].offsets)
            self.result.add(clients, self._connected.get(index, 0), errors, totals, cpu)
        return self.result


def worker_main(
    index: int,
    job: Job,
    messages: multiprocessing.Queue[tuple[Any, ...]],
    go: Event,
    release: Event,
) -> None:
    """Entry point of a load worker process."""
    run_on_uvloop(_work(index, job, messages, go, release))


def run_on_uvloop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is there: the clients' CPU is the scarce resource here."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


async def _work(
    index: int,
    job: Job,
    messages: multiprocessing.Queue[tuple[Any, ...]],
    go: Event,
    release: Event,
) -> None:
    errors = Errors()
    gate = asyncio.Semaphore(job.connect_concurrency)

    async def connect_one() -> ClientConnection | None:
        async with gate:
            try:
                return await open_client(job.url)
            except Exception as exc:
                errors.add(exc)
                return None

    opened = await asyncio.gather(*(connect_one() for _ in job.offsets))
    clients = [(ws, offset) for ws, offset in zip(opened, job.offsets, strict=True) if ws]
    messages.put(("ready", index, len(clients), errors))
    errors = Errors()
    await asyncio.to_thread(go.wait)
    totals = Totals()
    cpu_before = time.process_time()
    if job.kind == "stream":
        await _stream_all(job, clients, totals, errors)
    messages.put(("done", index, totals, errors, time.process_time() - cpu_before))
    await asyncio.to_thread(release.wait)
    await asyncio.gather(*(ws.close() for ws, _ in clients), return_exceptions=True)


async def _stream_all(
    job: Job, clients: list[tuple[ClientConnection, float]], totals: Totals, errors: Errors
) -> None:
    expected = Expected("".join(prose_tokens(job.answer_tokens)), job.answer_tokens)
    started = time.monotonic()

    async def one(ws: ClientConnection, offset: float) -> None:
        try:
            if offset > 0:
                await asyncio.sleep(started + offset - time.monotonic())
            await ask(ws, expected, job.rate, totals)
        except Exception as exc:
            errors.add(exc)

    tasks = [asyncio.create_task(one(ws, offset)) for ws, offset in clients]
    _, pending = await asyncio.wait(tasks, timeout=job.timeout_s)
    for task in pending:
        task.cancel()
        errors.add(TimeoutError(f"answer not complete after {job.timeout_s:g} s"))
    await asyncio.gather(*pending, return_exceptions=True)
