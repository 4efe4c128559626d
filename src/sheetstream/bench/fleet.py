"""The scale-out scenario: sheetstream as a fleet on one Redis.

1. Cross-node lateness: nodes A and B (two `sheetstream serve`, synthetic model, one Redis
   database, separate data dirs). Each session has a reader tab on B (connected first, one
   `ping` sent, its `pong` read) and an asking tab on A; A's tab asks, both read the answer.
   One load worker holds both tabs of a session, so both arrivals are on one clock: per
   token k, local latency = arrival on A − (A's `start` arrival + k/rate) and cross-node
   lateness = arrival on B − the same due time. B must see A's chunks exactly (seqs, texts,
   tokens) and A's `end`.
2. Redis operations per token of that round: from both nodes' `fleet` figures
   (`/api/websocket/performance`) before and after, and from Redis's own `INFO commandstats`
   (server-wide: it counts every client of that Redis, and commands run inside scripts).
3. `sheetstream serve --workers 2` against `--workers 1` (both on the Redis broker), clients
   asking flat out, alternating rounds: tokens/s as the clients see it and the CPU of the
   whole service (its process and every child: the workers).

A benchmark, not a test: nothing here judges the figures. Redis is needed: the scenario
claims the first empty database (1–15) with a marker key and empties it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import secrets
import sys
import time
import urllib.request
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import orjson
import psutil

from sheetstream.bench.clients import CHAT, Expected, ProtocolViolation, open_client
from sheetstream.bench.load import Errors, LoadRun, WorkerProcesses, run_on_uvloop, split
from sheetstream.bench.servers import ModelPace, ServerProcess, free_port, server_env
from sheetstream.bench.summary import percentile, ratio, summarize
from sheetstream.llm.synthetic import prose_tokens

Progress = Callable[[str], None]
Row = dict[str, Any]

REDIS_SERVER = os.environ.get("SHEETSTREAM_BENCH_REDIS", "redis://127.0.0.1:6379")
# The key tests/redisdb.py claims a database with: one name, so a test run and a bench run
# on the same machine never take the same database (SET NX on the same key).
REDIS_MARKER = "sheetstream-test-run"
PING = '{"type":"ping","ts":1}'
CPU_SETTLE_S = 0.25
READY_TIMEOUT_S = 180.0
# `INFO commandstats` entries reported per token (the rest only count in `all`)
REDIS_COMMANDS = ("evalsha", "xadd", "xread", "xrange", "script|exists", "publish")
WORKER_COUNTS = (1, 2)


@dataclass(frozen=True, slots=True)
class FleetSizes:
    sessions: int  # 1. pairs of tabs (reader on B, asker on A)
    rate: float  # tokens/s of the synthetic model in 1.
    tokens: int  # tokens per answer in 1.
    ramp_s: float  # session i asks i/sessions · ramp_s after "go"
    lateness_rounds: int
    throughput_clients: int  # 3. clients asking flat out
    throughput_tokens: int
    throughput_rounds: int  # per worker count, alternating
    workers: int  # load worker processes
    warm_up: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FLEET_FULL = FleetSizes(
    sessions=500,
    rate=20.0,
    tokens=60,
    ramp_s=1.0,
    lateness_rounds=3,
    throughput_clients=100,
    throughput_tokens=2000,
    throughput_rounds=3,
    workers=2,
)
FLEET_QUICK = FleetSizes(
    sessions=50,
    rate=20.0,
    tokens=60,
    ramp_s=0.5,
    lateness_rounds=1,
    throughput_clients=10,
    throughput_tokens=200,
    throughput_rounds=1,
    workers=1,
    warm_up=False,
)


# --- Redis: a database of our own


@contextlib.contextmanager
def claimed_redis_db(server: str = REDIS_SERVER) -> Iterator[str]:
    """The URL of the first empty database 1–15, marked as ours; emptied on the way out."""
    import redis

    run = "bench-" + secrets.token_hex(4)
    url = None
    for db in range(1, 16):
        client = redis.Redis.from_url(f"{server}/{db}")
        try:
            if client.dbsize() == 0 and client.set(REDIS_MARKER, run, nx=True, ex=6 * 3600):
                if client.dbsize() == 1:
                    url = f"{server}/{db}"
                    break
                client.delete(REDIS_MARKER)  # someone else's keys arrived meanwhile
        finally:
            client.close()
    if url is None:
        raise RuntimeError(f"no empty Redis database on {server} (1–15 all hold keys)")
    try:
        yield url
    finally:
        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
        finally:
            client.close()


class RedisCounters:
    """`INFO commandstats` (server-wide) and the clients connected to other databases."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url)
        self._db = int(url.rsplit("/", 1)[1])

    def calls(self) -> dict[str, int]:
        """Calls per command, commands run inside scripts included."""
        stats: dict[str, Any] = self._client.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
        return calls

    def cpu_seconds(self) -> float:
        """The Redis server's own user + system CPU seconds (`INFO cpu`, main thread and all)."""
        info: dict[str, Any] = self._client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def other_clients(self) -> int:
        """Clients on other databases than ours: their commands are in commandstats too."""
        clients: list[dict[str, Any]] = self._client.client_list()
        return sum(1 for c in clients if int(c.get("db", 0)) != self._db)

    def version(self) -> str:
        info: dict[str, Any] = self._client.info("server")
        return str(info.get("redis_version"))

    def close(self) -> None:
        self._client.close()


def _calls_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after}


# --- the service under test


class Node(ServerProcess):
    """`sheetstream serve [--workers N]` with the bench's settings and the Redis broker."""

    def __init__(
        self,
        name: str,
        pace: ModelPace,
        workdir: Path,
        broker_url: str,
        workers: int | None = None,
    ) -> None:
        self.name = name
        self.workers = workers or 1
        self.port = free_port()
        data_dir = workdir / f"{name}-{self.port}"
        data_dir.mkdir(parents=True)
        self.log_path = data_dir / "server.log"
        env = server_env(self.port, pace, data_dir)
        env["SHEETSTREAM_BROKER_URL"] = broker_url
        env["SHEETSTREAM_NODE_ID"] = f"bench-{name}"
        command = [sys.executable, "-m", "sheetstream", "serve", "--port", str(self.port)]
        if workers is not None:
            command += ["--workers", str(workers)]
        self._spawn(command, env)
        self._tree: list[psutil.Process] = [self.process]

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until `/readyz` has answered 200 from as many nodes as there are workers."""
        deadline = time.monotonic() + timeout_s
        seen: set[str] = set()
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"node {self.name} exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.http_url("/readyz"), timeout=1.0) as response:
                    if response.status == 200:
                        seen.add(orjson.loads(response.read())["node"])
            except OSError:
                pass
            if len(seen) >= self.workers:
                self._tree = [self.process, *self.process.children(recursive=True)]
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"node {self.name}: {len(seen)} of {self.workers} worker(s) ready after "
            f"{timeout_s:g} s:\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the service's process and all its children."""
        return sum(self.cpu_by_process())

    def cpu_by_process(self) -> list[float]:
        """The same per process: the service's own first, then its children (the workers)."""
        used = []
        for process in self._tree:
            try:
                times = process.cpu_times()
            except psutil.Error:
                used.append(0.0)
                continue
            used.append(times.user + times.system)
        return used

    def clients_per_process(self) -> list[int]:
        """Established connections to our port held by each process that holds any."""
        counts = []
        for process in self._tree:
            with contextlib.suppress(psutil.Error):
                held = sum(
                    1
                    for c in process.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port
                )
                if held:
                    counts.append(held)
        return sorted(counts, reverse=True)

    def performance(self) -> dict[str, Any]:
        with urllib.request.urlopen(
            self.http_url("/api/websocket/performance"), timeout=10.0
        ) as response:
            data: dict[str, Any] = orjson.loads(response.read())
            return data


@contextlib.contextmanager
def running_nodes(
    specs: list[tuple[str, int | None]], pace: ModelPace, workdir: Path, broker_url: str
) -> Iterator[list[Node]]:
    """Start every (name, workers) at once, wait until all are ready, stop all at the end."""
    nodes: list[Node] = []
    try:
        for name, workers in specs:
            nodes.append(Node(name, pace, workdir, broker_url, workers))
        for node in nodes:
            node.wait_ready()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


class CpuWindow:
    """CPU seconds of some nodes, and of the whole machine, between open and `close`."""

    def __init__(self, nodes: list[Node]) -> None:
        self._nodes = nodes
        self._before = [node.cpu_seconds() for node in nodes]
        self._machine_before = _machine_busy_s()
        self._wall_before = time.monotonic()

    def close(self, client_cpu_s: float) -> tuple[list[float], float | None]:
        """Each node's CPU seconds, and the other programs' CPU in cores."""
        used = [node.cpu_seconds() - b for node, b in zip(self._nodes, self._before, strict=True)]
        machine = _machine_busy_s() - self._machine_before
        wall = time.monotonic() - self._wall_before
        background = max(0.0, machine - sum(used) - client_cpu_s)
        return used, (round(background / wall, 2) if wall > 0 else None)


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    busy = ("user", "nice", "system", "irq", "softirq")
    return float(sum(getattr(times, name, 0.0) for name in busy))


# --- 1. the load workers holding both tabs of each session


@dataclass(frozen=True, slots=True)
class PairJob:
    a_url: str
    b_url: str
    sessions: tuple[str, ...]
    offsets: tuple[float, ...]
    tokens: int
    rate: float
    timeout_s: float
    connect_concurrency: int = 50


@dataclass(slots=True)
class PairTotals:
    """What one worker's pairs saw; milliseconds, one value per token unless named otherwise."""

    answers: int = 0
    tokens: int = 0
    a_frames: int = 0
    b_frames: int = 0
    local_ms: array[float] = field(default_factory=lambda: array("d"))
    cross_ms: array[float] = field(default_factory=lambda: array("d"))
    hop_ms: array[float] = field(default_factory=lambda: array("d"))  # B arrival − A arrival
    # the same as local_ms and cross_ms, due (k − 1)/rate after the first chunk reached A:
    # without the lateness an answer had from its start
    local_steady_ms: array[float] = field(default_factory=lambda: array("d"))
    cross_steady_ms: array[float] = field(default_factory=lambda: array("d"))
    first_local_ms: array[float] = field(default_factory=lambda: array("d"))  # per answer
    first_cross_ms: array[float] = field(default_factory=lambda: array("d"))
    start_lag_ms: array[float] = field(default_factory=lambda: array("d"))  # B start − A start
    first_send: float | None = None
    last_end: float | None = None
    error_kinds: dict[str, int] = field(default_factory=dict)

    def merge(self, other: PairTotals) -> None:
        for kind, count in other.error_kinds.items():
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + count
        self.answers += other.answers
        self.tokens += other.tokens
        self.a_frames += other.a_frames
        self.b_frames += other.b_frames
        for name in (
            "local_ms",
            "cross_ms",
            "hop_ms",
            "local_steady_ms",
            "cross_steady_ms",
            "first_local_ms",
            "first_cross_ms",
            "start_lag_ms",
        ):
            getattr(self, name).extend(getattr(other, name))
        if other.first_send is not None:
            self.first_send = min(self.first_send or other.first_send, other.first_send)
        if other.last_end is not None:
            self.last_end = max(self.last_end or other.last_end, other.last_end)


@dataclass(slots=True)
class _Answer:
    start_at: float | None = None
    start: dict[str, Any] | None = None
    chunks: list[tuple[int, str, int]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    end: dict[str, Any] | None = None
    end_at: float | None = None


async def _read_answer(ws: Any, answer: _Answer) -> _Answer:
    """Frames to the `end`: `start`, chunks with their arrival times; other frames skipped.
    `answer` holds what came so far, should the answer never end."""
    while True:
        raw = await ws.recv()
        now = time.monotonic()
        frame = orjson.loads(raw)
        kind = frame["type"]
        if kind == "chunk":
            answer.chunks.append((frame["seq"], frame["text"], frame["tokens"]))
            answer.arrivals.append(now)
        elif kind == "start":
            answer.start_at, answer.start = now, frame
        elif kind == "end":
            answer.end_at, answer.end = now, frame
            return answer
        elif kind == "error":
            raise ProtocolViolation(f"error frame {frame.get('code')}: {frame.get('message')}")


def _progress_of(answer: _Answer) -> str:
    if answer.start is None:
        return "nothing"
    return f"start and {len(answer.chunks)} chunk(s)"


async def _both(asker: Any, reader: Any, timeout_s: float) -> tuple[_Answer, _Answer]:
    """Both tabs' answers; a TimeoutError says which tab did not get its `end` and how far
    each got."""
    a, b = _Answer(), _Answer()
    tasks = [
        asyncio.create_task(_read_answer(asker, a)),
        asyncio.create_task(_read_answer(reader, b)),
    ]
    done, pending = await asyncio.wait(
        tasks, timeout=timeout_s, return_when=asyncio.FIRST_EXCEPTION
    )
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        failure = task.exception()
        if failure is not None:
            raise failure
    if pending:
        late = " and ".join(side for side, task in zip("AB", tasks, strict=True) if task in pending)
        raise TimeoutError(
            f"no end on {late} after {timeout_s:g} s (A got {_progress_of(a)}, "
            f"B got {_progress_of(b)})"
        )
    return a, b


def _kind(exc: BaseException) -> str:
    """A short class of a failure, to count them by kind."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TimeoutError):
        return text.split(" after ")[0] + (" (B got nothing)" if "B got nothing" in text else "")
    return text[:100]


def _check(answer: _Answer, expected: Expected, side: str) -> None:
    if answer.start is None or answer.start_at is None or answer.end is None:
        raise ProtocolViolation(f"{side}: no start frame before the end")
    seqs = [seq for seq, _, _ in answer.chunks]
    if seqs != list(range(1, len(seqs) + 1)):
        raise ProtocolViolation(f"{side}: chunk seqs {seqs[:10]}… are not 1, 2, 3, …")
    end = answer.end
    tokens = sum(count for _, _, count in answer.chunks)
    if end.get("reason") != "complete":
        raise ProtocolViolation(f"{side}: answer ended {end.get('reason')!r}, not 'complete'")
    if end.get("seq") != len(seqs) or end.get("tokens") != tokens:
        raise ProtocolViolation(f"{side}: end {end} after {len(seqs)} chunks, {tokens} tokens")
    if tokens != expected.tokens:
        raise ProtocolViolation(f"{side}: {tokens} tokens where {expected.tokens} were expected")
    if "".join(text for _, text, _ in answer.chunks) != expected.text:
        raise ProtocolViolation(f"{side}: the chunk texts do not join to the expected answer")


def _record(a: _Answer, b: _Answer, rate: float, totals: PairTotals) -> None:
    """Check B against A, then time every token of both against A's due times."""
    assert a.start is not None and b.start is not None and a.start_at is not None
    assert b.start_at is not None
    if b.start.get("stream_id") != a.start.get("stream_id"):
        raise ProtocolViolation("B's start is of another stream than A's")
    if b.chunks != a.chunks:
        raise ProtocolViolation(
            f"B's chunks differ from A's ({len(b.chunks)} vs {len(a.chunks)} chunks)"
        )
    if b.end != a.end:
        raise ProtocolViolation(f"B's end {b.end} is not A's {a.end}")
    t0 = a.start_at
    t1 = a.arrivals[0] - 1 / rate if a.arrivals else t0
    k = 0
    for (_, _, count), at_a, at_b in zip(a.chunks, a.arrivals, b.arrivals, strict=True):
        for token in range(k + 1, k + count + 1):
            due = t0 + token / rate
            totals.local_ms.append((at_a - due) * 1000.0)
            totals.cross_ms.append((at_b - due) * 1000.0)
            totals.hop_ms.append((at_b - at_a) * 1000.0)
            steady = t1 + token / rate
            totals.local_steady_ms.append((at_a - steady) * 1000.0)
            totals.cross_steady_ms.append((at_b - steady) * 1000.0)
        if k == 0:
            totals.first_local_ms.append((at_a - t0 - 1 / rate) * 1000.0)
            totals.first_cross_ms.append((at_b - t0 - 1 / rate) * 1000.0)
        k += count
    totals.start_lag_ms.append((b.start_at - a.start_at) * 1000.0)
    totals.answers += 1
    totals.tokens += k
    totals.a_frames += len(a.chunks)
    totals.b_frames += len(b.chunks)
    ended = max(a.end_at or 0.0, b.end_at or 0.0)
    if totals.last_end is None or ended > totals.last_end:
        totals.last_end = ended


async def _open_pair(job: PairJob, session_id: str) -> tuple[Any, Any]:
    reader = await open_client(f"{job.b_url}?session_id={session_id}")
    try:
        await reader.send(PING)
        pong = orjson.loads(await reader.recv())
        if pong.get("type") != "pong":
            raise ProtocolViolation(f"B answered the ping with {pong.get('type')!r}")
        asker = await open_client(f"{job.a_url}?session_id={session_id}")
    except BaseException:
        await reader.close()
        raise
    return asker, reader


async def _pairs_work(
    index: int,
    job: PairJob,
    messages: multiprocessing.Queue[tuple[Any, ...]],
    go: Event,
    release: Event,
) -> None:
    errors = Errors()
    gate = asyncio.Semaphore(job.connect_concurrency)

    async def connect_one(session_id: str) -> tuple[Any, Any] | None:
        async with gate:
            try:
                return await _open_pair(job, session_id)
            except Exception as exc:
                errors.add(exc)
                return None

    opened = await asyncio.gather(*(connect_one(s) for s in job.sessions))
    pairs = [(p, o) for p, o in zip(opened, job.offsets, strict=True) if p is not None]
    messages.put(("ready", index, len(pairs), errors))
    errors = Errors()
    await asyncio.to_thread(go.wait)
    totals = PairTotals()
    expected = Expected("".join(prose_tokens(job.tokens)), job.tokens)
    cpu_before = time.process_time()
    started = time.monotonic()

    async def one(asker: Any, reader: Any, offset: float) -> None:
        try:
            if offset > 0:
                await asyncio.sleep(started + offset - time.monotonic())
            sent = time.monotonic()
            if totals.first_send is None or sent < totals.first_send:
                totals.first_send = sent
            await asker.send(CHAT)
            a, b = await _both(asker, reader, job.timeout_s - offset)
            _check(a, expected, "A")
            _check(b, expected, "B")
            _record(a, b, job.rate, totals)
        except Exception as exc:
            errors.add(exc)
            kind = _kind(exc)
            totals.error_kinds[kind] = totals.error_kinds.get(kind, 0) + 1

    tasks = [asyncio.create_task(one(a, b, offset)) for (a, b), offset in pairs]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=job.timeout_s + 10.0)
        for task in pending:
            task.cancel()
            errors.add(TimeoutError(f"answer not complete after {job.timeout_s + 10.0:g} s"))
        await asyncio.gather(*pending, return_exceptions=True)
    messages.put(("done", index, totals, errors, time.process_time() - cpu_before))
    await asyncio.to_thread(release.wait)
    await asyncio.gather(*(ws.close() for pair, _ in pairs for ws in pair), return_exceptions=True)


def pair_worker_main(
    index: int,
    job: PairJob,
    messages: multiprocessing.Queue[tuple[Any, ...]],
    go: Event,
    release: Event,
) -> None:
    """Entry point of a load worker process holding tab pairs."""
    run_on_uvloop(_pairs_work(index, job, messages, go, release))


class PairRun(WorkerProcesses):
    """Load worker processes (as `load.LoadRun`) each holding its pairs of tabs."""

    def __init__(self, jobs: list[PairJob]) -> None:
        super().__init__(pair_worker_main, jobs, __name__)
        self.connected = 0
        self.errors = Errors()
        self.totals = PairTotals()
        self.client_cpu_s = 0.0

    def wait_ready(self, timeout_s: float) -> None:
        for _, _, connected, errors in self._collect("ready", timeout_s):
            self.connected += connected
            self.errors.merge(errors)

    def wait_done(self, timeout_s: float) -> None:
        for _, _, totals, errors, cpu in self._collect("done", timeout_s):
            self.totals.merge(totals)
            self.errors.merge(errors)
            self.client_cpu_s += cpu


def pair_jobs(a: Node, b: Node, sizes: FleetSizes, sessions: list[str]) -> list[PairJob]:
    """Sessions dealt to the load workers round-robin; session i asks i/n · ramp_s in."""
    count = len(sessions)
    jobs = []
    for worker in range(min(sizes.workers, count) or 1):
        indices = range(worker, count, sizes.workers)
        jobs.append(
            PairJob(
                a.ws_url,
                b.ws_url,
                tuple(sessions[i] for i in indices),
                tuple(i / count * sizes.ramp_s for i in indices),
                sizes.tokens,
                sizes.rate,
                timeout_s=sizes.tokens / sizes.rate + sizes.ramp_s + 30.0,
            )
        )
    return jobs


# --- 1 + 2. lateness and Redis operations per token


LATENESS_METRICS = (
    "local_p50_ms",
    "local_p99_ms",
    "local_p999_ms",
    "local_max_ms",
    "cross_p50_ms",
    "cross_p99_ms",
    "cross_p999_ms",
    "cross_max_ms",
    "diff_p50_ms",
    "diff_p99_ms",
    "diff_p999_ms",
    "hop_p50_ms",
    "hop_p99_ms",
    "hop_p999_ms",
    "local_steady_p50_ms",
    "local_steady_p99_ms",
    "cross_steady_p50_ms",
    "cross_steady_p99_ms",
    "first_local_p99_ms",
    "first_cross_p99_ms",
    "start_lag_p50_ms",
    "start_lag_p99_ms",
    "a_frames_per_token",
    "b_frames_per_token",
    "a_server_p99_ms",
    "b_server_p99_ms",
    "a_loop_lag_p99_ms",
    "b_loop_lag_p99_ms",
    "a_cpu_cores",
    "b_cpu_cores",
    "redis_cpu_cores",
    "client_cpu_s",
    "background_cpu_cores",
)
OPS_METRICS = (
    "ops_per_token",
    "log_writes_per_token",
    "log_entries_per_token",
    "log_commands_per_token",
    "log_reads_per_token",
    *(f"redis_{name}_per_token" for name in REDIS_COMMANDS),
    "redis_all_per_token",
    "redis_cpu_us_per_token",
)


def lateness(
    sizes: FleetSizes, workdir: Path, broker_url: str, progress: Progress
) -> tuple[Row, Row]:
    """Rounds of 1. (with 2. measured in each): the lateness section and the ops section."""
    pace = ModelPace(rate=sizes.rate, tokens=sizes.tokens)
    counters = RedisCounters(broker_url)
    rounds: list[Row] = []
    try:
        with running_nodes([("A", None), ("B", None)], pace, workdir, broker_url) as (a, b):
            if sizes.warm_up:
                warm = [f"bench-warm-{i}" for i in range(max(2, sizes.sessions // 20))]
                _lateness_round(a, b, sizes, warm, counters)
            for index in range(sizes.lateness_rounds):
                sessions = [f"bench-{index}-{i}" for i in range(sizes.sessions)]
                row = _lateness_round(a, b, sizes, sessions, counters)
                rounds.append(row)
                progress(
                    f"fleet lateness round {index + 1}/{sizes.lateness_rounds}: "
                    f"local p50 {_fmt(row['local_p50_ms'])} p99 {_fmt(row['local_p99_ms'])} ms, "
                    f"cross-node p50 {_fmt(row['cross_p50_ms'])} "
                    f"p99 {_fmt(row['cross_p99_ms'])} ms, "
                    f"{_fmt(row['ops_per_token'], 3)} log ops/token, errors {row['errors']}"
                )
    finally:
        counters.close()
    section: Row = {
        "rounds": rounds,
        "summary": {m: summarize([r.get(m) for r in rounds]) for m in LATENESS_METRICS},
        "errors": sum(r["errors"] for r in rounds),
    }
    ops: Row = {
        "summary": {m: summarize([r.get(m) for r in rounds]) for m in OPS_METRICS},
        "redis_calls_per_round": [r["redis_calls"] for r in rounds],
        "commandstats_scope": "server-wide: every client of this Redis, other databases "
        "included (see redis_other_clients in each round), and commands run inside scripts",
    }
    return section, ops


def _lateness_round(
    a: Node, b: Node, sizes: FleetSizes, sessions: list[str], counters: RedisCounters
) -> Row:
    duration = sizes.tokens / sizes.rate + sizes.ramp_s
    with PairRun(pair_jobs(a, b, sizes, sessions)) as run:
        run.wait_ready(READY_TIMEOUT_S)
        figures_before = [a.performance()["fleet"], b.performance()["fleet"]]
        calls_before = counters.calls()
        redis_cpu_before = counters.cpu_seconds()
        window = CpuWindow([a, b])
        run.go()
        run.wait_done(duration + 90.0)
        time.sleep(CPU_SETTLE_S)  # the relay writes the last ends meanwhile
        redis_cpu = counters.cpu_seconds() - redis_cpu_before
        (a_cpu, b_cpu), background = window.close(run.client_cpu_s + redis_cpu)
        calls = _calls_delta(calls_before, counters.calls())
        other_clients = counters.other_clients()
        performance = [a.performance(), b.performance()]
    totals = run.totals
    elapsed = (
        totals.last_end - totals.first_send
        if totals.last_end is not None and totals.first_send is not None
        else None
    )
    fleet_a, fleet_b = (
        _fleet_delta(p["fleet"], before)
        for p, before in zip(performance, figures_before, strict=True)
    )
    tokens = totals.tokens

    def per_token(value: float) -> float | None:
        return round(value / tokens, 4) if tokens else None

    def cores(cpu: float) -> float | None:
        return round(cpu / elapsed, 3) if elapsed else None

    row: Row = {
        "sessions": len(sessions),
        "connected_pairs": run.connected,
        "answers_complete": totals.answers,
        "tokens": tokens,
        "samples": len(totals.local_ms),
        "elapsed_s": round(elapsed, 3) if elapsed else None,
        **_percentiles("local", totals.local_ms),
        **_percentiles("cross", totals.cross_ms),
        **_percentiles("hop", totals.hop_ms),
        "local_steady_p50_ms": _ms(percentile(totals.local_steady_ms, 50)),
        "local_steady_p99_ms": _ms(percentile(totals.local_steady_ms, 99)),
        "cross_steady_p50_ms": _ms(percentile(totals.cross_steady_ms, 50)),
        "cross_steady_p99_ms": _ms(percentile(totals.cross_steady_ms, 99)),
        "first_local_p50_ms": _ms(percentile(totals.first_local_ms, 50)),
        "first_local_p99_ms": _ms(percentile(totals.first_local_ms, 99)),
        "first_cross_p50_ms": _ms(percentile(totals.first_cross_ms, 50)),
        "first_cross_p99_ms": _ms(percentile(totals.first_cross_ms, 99)),
        "start_lag_p50_ms": _ms(percentile(totals.start_lag_ms, 50)),
        "start_lag_p99_ms": _ms(percentile(totals.start_lag_ms, 99)),
        "a_frames_per_token": per_token(totals.a_frames),
        "b_frames_per_token": per_token(totals.b_frames),
        "a_cpu_s": round(a_cpu, 3),
        "b_cpu_s": round(b_cpu, 3),
        "a_cpu_cores": cores(a_cpu),
        "b_cpu_cores": cores(b_cpu),
        "client_cpu_s": round(run.client_cpu_s, 3),
        "background_cpu_cores": background,
        "fleet_a": fleet_a,
        "fleet_b": fleet_b,
        "ops_per_token": per_token(fleet_a["log_commands"] + fleet_b["log_reads"]),
        "log_writes_per_token": per_token(fleet_a["log_writes"]),
        "log_entries_per_token": per_token(fleet_a["log_entries"]),
        "log_commands_per_token": per_token(fleet_a["log_commands"]),
        "log_reads_per_token": per_token(fleet_b["log_reads"]),
        **{f"redis_{name}_per_token": per_token(calls.get(name, 0)) for name in REDIS_COMMANDS},
        "redis_all_per_token": per_token(sum(calls.values())),
        # Redis's own CPU (`INFO cpu`): server-wide, like commandstats; commandstats' `usec`
        # would count a script's commands twice (in the script's time and their own)
        "redis_cpu_us_per_token": per_token(redis_cpu * 1e6),
        "redis_cpu_cores": cores(redis_cpu),
        "redis_calls": {name: n for name, n in sorted(calls.items()) if n},
        "redis_other_clients": other_clients,
        "errors": run.errors.count,
        "error_samples": run.errors.samples,
        "error_kinds": totals.error_kinds,
    }
    if run.errors.count:
        row["node_log_tails"] = {"A": a.log_tail(15), "B": b.log_tail(15)}
    for side, figures in zip("ab", performance, strict=True):
        delivery = figures.get("delivery_latency_ms", {})
        row[f"{side}_server_p50_ms"] = delivery.get("p50")
        row[f"{side}_server_p99_ms"] = delivery.get("p99")
        row[f"{side}_loop_lag_p99_ms"] = figures.get("event_loop_lag_ms", {}).get("p99")
    for q in ("p50", "p99", "p999"):
        row[f"diff_{q}_ms"] = _diff(row[f"cross_{q}_ms"], row[f"local_{q}_ms"])
    return row


def _fleet_delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    counts = ("log_writes", "log_commands", "log_entries", "log_reads", "reaped")
    return {key: int(after[key]) - int(before[key]) for key in counts}


def _percentiles(prefix: str, samples: array[float]) -> Row:
    return {
        f"{prefix}_p50_ms": _ms(percentile(samples, 50)),
        f"{prefix}_p90_ms": _ms(percentile(samples, 90)),
        f"{prefix}_p99_ms": _ms(percentile(samples, 99)),
        f"{prefix}_p999_ms": _ms(percentile(samples, 99.9)),
        f"{prefix}_max_ms": _ms(max(samples) if samples else None),
    }


def _diff(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else round(x - y, 3)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --- 3. two worker processes against one


THROUGHPUT_METRICS = (
    "tokens_per_s",
    "cpu_s_per_million_tokens",
    "server_cpu_cores",
    "redis_cpu_cores",
    "tokens_per_frame",
    "client_cpu_s",
    "background_cpu_cores",
    "elapsed_s",
)


def workers_throughput(
    sizes: FleetSizes, workdir: Path, broker_url: str, progress: Progress
) -> Row:
    pace = ModelPace(rate=0.0, tokens=sizes.throughput_tokens)
    specs: list[tuple[str, int | None]] = [(f"workers{n}", n) for n in WORKER_COUNTS]
    rounds: dict[int, list[Row]] = {n: [] for n in WORKER_COUNTS}
    counters = RedisCounters(broker_url)
    with contextlib.closing(counters), running_nodes(specs, pace, workdir, broker_url) as nodes:
        services = dict(zip(WORKER_COUNTS, nodes, strict=True))
        for n in WORKER_COUNTS if sizes.warm_up else ():
            _throughput_round(services[n], max(2, sizes.throughput_clients // 10), sizes, counters)
        for index in range(sizes.throughput_rounds):
            order = WORKER_COUNTS if index % 2 == 0 else WORKER_COUNTS[::-1]
            for n in order:
                row = _throughput_round(services[n], sizes.throughput_clients, sizes, counters)
                rounds[n].append(row)
                progress(
                    f"fleet throughput round {index + 1}/{sizes.throughput_rounds} "
                    f"--workers {n}: {row['tokens_per_s']:,.0f} tok/s, "
                    f"{row['server_cpu_cores']} cores busy, "
                    f"clients per worker {row['clients_per_worker']}, errors {row['errors']}"
                )
    servers: Row = {}
    for n, rows in rounds.items():
        servers[f"workers_{n}"] = {
            "rounds": rows,
            "summary": {m: summarize([r.get(m) for r in rows]) for m in THROUGHPUT_METRICS},
            "errors": sum(r["errors"] for r in rows),
        }
    return {
        "servers": servers,
        "ratios": {
            "throughput": _ratios(rounds, "tokens_per_s"),
            "cpu_per_token": _ratios(rounds, "cpu_s_per_million_tokens"),
        },
    }


def _throughput_round(node: Node, clients: int, sizes: FleetSizes, counters: RedisCounters) -> Row:
    tokens = sizes.throughput_tokens
    jobs = split(clients, sizes.workers, "stream", node.ws_url, answer_tokens=tokens, timeout_s=60)
    with LoadRun(jobs) as run:
        run.wait_ready(READY_TIMEOUT_S)
        per_worker = node.clients_per_process()
        by_process = node.cpu_by_process()
        redis_before = counters.cpu_seconds()
        window = CpuWindow([node])
        run.go()
        result = run.wait_done(120.0)
        time.sleep(CPU_SETTLE_S)
        redis_cpu = counters.cpu_seconds() - redis_before
        (cpu,), background = window.close(result.client_cpu_s + redis_cpu)
        by_process = [
            round(after - before, 3)
            for after, before in zip(node.cpu_by_process(), by_process, strict=True)
        ]
    totals = result.totals
    elapsed = result.elapsed_s or float("nan")
    delivered = totals.tokens
    return {
        "clients": clients,
        "clients_per_worker": per_worker,
        "answers_complete": totals.streams,
        "tokens": delivered,
        "frames": totals.frames,
        "elapsed_s": round(elapsed, 4),
        "tokens_per_s": round(delivered / elapsed, 1) if delivered else 0.0,
        "server_cpu_s": round(cpu, 3),
        "server_cpu_s_by_process": by_process,  # the service's own process, then its children
        "cpu_s_per_million_tokens": round(cpu / delivered * 1e6, 3) if delivered else None,
        "server_cpu_cores": round(cpu / elapsed, 3),
        "redis_cpu_cores": round(redis_cpu / elapsed, 3),
        "tokens_per_frame": round(delivered / totals.frames, 3) if totals.frames else None,
        "client_cpu_s": round(result.client_cpu_s, 3),
        "background_cpu_cores": background,
        "errors": result.errors.count,
        "error_samples": result.errors.samples,
    }


def _ratios(rounds: dict[int, list[Row]], metric: str) -> Row:
    """--workers 2 / --workers 1: of the medians, and per round."""
    two = [row.get(metric) for row in rounds[2]]
    one = [row.get(metric) for row in rounds[1]]
    medians = [summarize(two)["median"], summarize(one)["median"]]
    paired = [ratio(x, y) for x, y in zip(two, one, strict=True)]
    return {"of_medians": ratio(medians[0], medians[1]), "per_round": summarize(paired)}


# --- the scenario


def fleet(
    sizes: FleetSizes, workdir: Path, progress: Progress, redis_server: str = REDIS_SERVER
) -> Row:
    """All three parts on one claimed Redis database; the scenario's section of the report."""
    with claimed_redis_db(redis_server) as broker_url:
        counters = RedisCounters(broker_url)
        try:
            version = counters.version()
        finally:
            counters.close()
        progress(f"fleet: Redis {version} at {broker_url}")
        section, ops = lateness(sizes, workdir, broker_url, progress)
        throughput = workers_throughput(sizes, workdir, broker_url, progress)
    errors = section["errors"] + sum(s["errors"] for s in throughput["servers"].values())
    return {
        "sizes": sizes.to_json(),
        "redis": {"url": broker_url, "version": version},
        "lateness": section,
        "redis_ops": ops,
        "throughput": throughput,
        "errors": errors,
    }
