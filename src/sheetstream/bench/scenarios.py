"""The single-server measurements, each run for every server in rotating rounds.

a) throughput: every client asks at once and the model streams flat out;
b) latency: many clients at a reading pace, each token timed against when it was due;
b') pace: the same at a faster human pace and twice the streams (`pace_*` sizes);
c) idle memory: server RSS as idle connections are opened in steps, and per connection.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from sheetstream.bench.load import LoadResult, LoadRun, split
from sheetstream.bench.servers import SERVER_KINDS, ModelPace, Server, ServerKind, running_servers
from sheetstream.bench.summary import percentile, quantiles, ratio, summarize

Progress = Callable[[str], None]
Row = dict[str, Any]
# Seconds to let the server finish work the round caused (e.g. storing answers) before reading
# its CPU time, and to let memory settle before reading RSS.
CPU_SETTLE_S = 0.25
RSS_SETTLE_S = 1.0
# where the latency distribution is sampled for the CDF chart (`--plots`): finer in the tail
CDF_QUANTILES = (
    *range(1, 90),
    *(90 + i / 10 for i in range(90)),
    *(99 + i / 100 for i in range(1, 100)),
    100,
)
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True, slots=True)
class Sizes:
    rounds: int
    workers: int
    throughput_clients: int
    throughput_tokens: int
    latency_clients: int
    latency_rate: float
    latency_tokens: int
    latency_ramp_s: float
    idle_connections: int
    pace_clients: int = 1000
    pace_rate: float = 50.0
    pace_tokens: int = 250
    idle_rounds: int = 3
    idle_steps: int = 4  # RSS is read after each step's share of the idle connections
    warm_up: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = Sizes(
    rounds=5,
    workers=2,
    throughput_clients=100,
    throughput_tokens=2000,
    latency_clients=500,
    latency_rate=20.0,
    latency_tokens=200,
    latency_ramp_s=1.0,
    idle_connections=10_000,
)
QUICK = Sizes(
    rounds=2,
    workers=1,
    throughput_clients=10,
    throughput_tokens=200,
    latency_clients=50,
    latency_rate=20.0,
    latency_tokens=20,
    latency_ramp_s=0.25,
    idle_connections=100,
    pace_clients=50,
    pace_rate=50.0,
    pace_tokens=25,
    idle_rounds=1,
    idle_steps=2,
    warm_up=False,
)


@dataclass(frozen=True, slots=True)
class Reading:
    """A reading-pace load: `clients` answers of `tokens` at `rate`, starts spread over ramp."""

    clients: int
    rate: float
    tokens: int
    ramp_s: float


def reading(sizes: Sizes, scenario: str) -> Reading:
    if scenario == "pace":
        return Reading(sizes.pace_clients, sizes.pace_rate, sizes.pace_tokens, sizes.latency_ramp_s)
    return Reading(
        sizes.latency_clients, sizes.latency_rate, sizes.latency_tokens, sizes.latency_ramp_s
    )


def round_order(round_index: int) -> tuple[ServerKind, ...]:
    """Rotate which server goes first, so none always runs on a warmer machine."""
    turn = round_index % len(SERVER_KINDS)
    return SERVER_KINDS[turn:] + SERVER_KINDS[:turn]


class CpuWindow:
    """CPU seconds used between open and `close`: by the server, and by the whole machine.

    What the machine used beyond the server and the load workers is background load (other
    programs on the box); it is reported per round because it is the main source of noise.
    """

    def __init__(self, server: Server) -> None:
        self._server = server
        self._server_before = server.cpu_seconds()
        self._machine_before = _machine_busy_s()
        self._wall_before = time.monotonic()

    def close(self, client_cpu_s: float) -> Row:
        server = self._server.cpu_seconds() - self._server_before
        machine = _machine_busy_s() - self._machine_before
        wall = time.monotonic() - self._wall_before
        background = max(0.0, machine - server - client_cpu_s)
        return {
            "server_cpu_s": round(server, 3),
            "background_cpu_cores": round(background / wall, 2) if wall > 0 else None,
        }


def _machine_busy_s() -> float:
    times = psutil.cpu_times()
    busy = ("user", "nice", "system", "irq", "softirq")  # guest time is already in user
    return float(sum(getattr(times, name, 0.0) for name in busy))


def _errors(result: LoadResult) -> Row:
    return {"errors": result.errors.count, "error_samples": result.errors.samples}


# --- a) throughput


def throughput(sizes: Sizes, workdir: Path, progress: Progress) -> Row:
    pace = ModelPace(rate=0.0, tokens=sizes.throughput_tokens)
    rounds: dict[ServerKind, list[Row]] = {kind: [] for kind in SERVER_KINDS}
    with running_servers(pace, workdir) as servers:
        for kind in SERVER_KINDS if sizes.warm_up else ():
            _throughput_round(servers[kind], max(2, sizes.throughput_clients // 10), sizes)
        for index in range(sizes.rounds):
            for kind in round_order(index):
                row = _throughput_round(servers[kind], sizes.throughput_clients, sizes)
                rounds[kind].append(row)
                progress(
                    f"throughput round {index + 1}/{sizes.rounds} {kind}: "
                    f"{row['tokens_per_s']:,.0f} tok/s, "
                    f"{row['cpu_s_per_million_tokens']:.2f} CPU s/Mtok, "
                    f"{row['tokens_per_frame']:.2f} tok/frame, errors {row['errors']}"
                )
    metrics = (
        "tokens_per_s",
        "cpu_s_per_million_tokens",
        "tokens_per_frame",
        "server_cpu_utilisation",
        "client_cpu_s",
        "background_cpu_cores",
        "elapsed_s",
    )
    result = _by_server(rounds, metrics)
    result["sizes"] = {
        "clients": sizes.throughput_clients,
        "tokens_per_answer": sizes.throughput_tokens,
        "rate": "0 (flat out)",
    }
    result["ratios"] = {
        "throughput": _ratios(rounds, "tokens_per_s"),
        "cpu_per_token": _ratios(rounds, "cpu_s_per_million_tokens"),
        "throughput_vs_raw": _ratios(rounds, "tokens_per_s", "raw"),
        "cpu_per_token_vs_raw": _ratios(rounds, "cpu_s_per_million_tokens", "raw"),
    }
    return result


def _throughput_round(server: Server, clients: int, sizes: Sizes) -> Row:
    tokens = sizes.throughput_tokens
    jobs = split(
        clients, sizes.workers, "stream", server.ws_url, answer_tokens=tokens, timeout_s=60.0
    )
    with LoadRun(jobs) as run:
        run.wait_ready(READY_TIMEOUT_S)
        window = CpuWindow(server)
        run.go()
        result = run.wait_done(120.0)
        time.sleep(CPU_SETTLE_S)
        cpu_row = window.close(result.client_cpu_s)
    cpu: float = cpu_row["server_cpu_s"]
    totals = result.totals
    elapsed = result.elapsed_s or float("nan")
    delivered = totals.tokens
    return {
        "clients": clients,
        "answers_complete": totals.streams,
        "tokens": delivered,
        "frames": totals.frames,
        "elapsed_s": round(elapsed, 4),
        "tokens_per_s": round(delivered / elapsed, 1) if delivered else 0.0,
        **cpu_row,
        "cpu_s_per_million_tokens": round(cpu / delivered * 1e6, 3) if delivered else None,
        "server_cpu_utilisation": round(cpu / elapsed, 3),
        "tokens_per_frame": round(delivered / totals.frames, 3) if totals.frames else None,
        "client_cpu_s": round(result.client_cpu_s, 3),
        **_errors(result),
    }


# --- b) latency


def latency(sizes: Sizes, workdir: Path, progress: Progress, scenario: str = "latency") -> Row:
    load = reading(sizes, scenario)
    pace = ModelPace(rate=load.rate, tokens=load.tokens)
    rounds: dict[ServerKind, list[Row]] = {kind: [] for kind in SERVER_KINDS}
    with running_servers(pace, workdir) as servers:
        if sizes.warm_up:
            _warm_up(servers, max(2, load.clients // 20), load)
        for index in range(sizes.rounds):
            for kind in round_order(index):
                row = _latency_round(servers[kind], sizes.workers, load)
                rounds[kind].append(row)
                server_side = (
                    f", server p50 {row['server_p50_ms']} p99 {row['server_p99_ms']} ms"
                    if kind == "sheetstream"
                    else ""
                )
                progress(
                    f"{scenario} round {index + 1}/{sizes.rounds} {kind}: "
                    f"p50 {row['p50_ms']:.2f} p99 {row['p99_ms']:.2f} ms{server_side}, "
                    f"errors {row['errors']}"
                )
    metrics = (
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "first_token_p50_ms",
        "first_token_p99_ms",
        "server_p50_ms",
        "server_p99_ms",
        "server_ttft_p99_ms",
        "server_ttft_added_p99_ms",
        "tokens_per_frame",
        "frames_per_token",
        "server_cpu_utilisation",
        "background_cpu_cores",
    )
    result = _by_server(rounds, metrics)
    result["sizes"] = {
        "clients": load.clients,
        "rate_tokens_per_s": load.rate,
        "tokens_per_answer": load.tokens,
        "ramp_s": load.ramp_s,
    }
    result["ratios"] = {
        "p99": _ratios(rounds, "p99_ms"),
        "cpu": _ratios(rounds, "server_cpu_utilisation"),
        "cpu_vs_raw": _ratios(rounds, "server_cpu_utilisation", "raw"),
    }
    return result


def _warm_up(servers: dict[ServerKind, Server], clients: int, load: Reading) -> None:
    """A few answers from each server at once, unmeasured, so round 1 does not pay first use."""
    jobs = []
    for kind in SERVER_KINDS:
        url = servers[kind].ws_url
        jobs += split(
            clients,
            1,
            "stream",
            url,
            answer_tokens=load.tokens,
            timeout_s=load.tokens / load.rate + 30.0,
        )
    with LoadRun(jobs) as run:
        run.wait_ready(READY_TIMEOUT_S)
        run.go()
        run.wait_done(load.tokens / load.rate + 90.0)


def _latency_round(server: Server, workers: int, load: Reading) -> Row:
    duration = load.tokens / load.rate + load.ramp_s
    jobs = split(
        load.clients,
        workers,
        "stream",
        server.ws_url,
        answer_tokens=load.tokens,
        rate=load.rate,
        ramp_s=load.ramp_s,
        timeout_s=duration + 30.0,
    )
    with LoadRun(jobs) as run:
        run.wait_ready(READY_TIMEOUT_S)
        window = CpuWindow(server)
        run.go()
        result = run.wait_done(duration + 90.0)
        cpu_row = window.close(result.client_cpu_s)
        performance = server.performance()
    samples = result.totals.latencies_ms
    first = result.totals.first_token_ms
    elapsed = result.elapsed_s or float("nan")
    frames, tokens = result.totals.frames, result.totals.tokens
    row: Row = {
        "clients": load.clients,
        "answers_complete": result.totals.streams,
        "samples": len(samples),
        "p50_ms": _ms(percentile(samples, 50)),
        "p90_ms": _ms(percentile(samples, 90)),
        "p99_ms": _ms(percentile(samples, 99)),
        "p999_ms": _ms(percentile(samples, 99.9)),
        "max_ms": _ms(max(samples) if samples else None),
        "cdf_ms": quantiles(samples, CDF_QUANTILES),
        "first_token_p50_ms": _ms(percentile(first, 50)),
        "first_token_p99_ms": _ms(percentile(first, 99)),
        "min_ms": _ms(min(samples) if samples else None),
        "tokens_per_frame": round(tokens / frames, 3) if frames else None,
        "frames_per_token": round(frames / tokens, 3) if tokens else None,
        "server_cpu_utilisation": round(cpu_row["server_cpu_s"] / elapsed, 3),
        "client_cpu_s": round(result.client_cpu_s, 3),
        **cpu_row,
        "server_p50_ms": None,
        "server_p99_ms": None,
        "server_ttft_p99_ms": None,
        **_errors(result),
    }
    if performance is not None:
        delivery = performance.get("delivery_latency_ms", {})
        row["server_p50_ms"] = delivery.get("p50")
        row["server_p99_ms"] = delivery.get("p99")
        row["server_samples"] = delivery.get("samples")
        first = performance.get("time_to_first_token_ms", {})
        # the model's own first token is due 1/R after the question: what the server adds
        # to that is its part of the time to first token
        due_ms = 1000.0 / load.rate
        for q in ("p50", "p99"):
            value = first.get(q)
            row[f"server_ttft_{q}_ms"] = value
            row[f"server_ttft_added_{q}_ms"] = None if value is None else round(value - due_ms, 3)
    return row


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --- c) idle memory


def idle_memory(sizes: Sizes, workdir: Path, progress: Progress) -> Row:
    # A fresh pair of servers per round: memory a server once grew into is not given back, so
    # a reused server would measure the allocator's reuse, not the cost of a connection.
    pace = ModelPace(rate=0.0, tokens=64)
    rounds: dict[ServerKind, list[Row]] = {kind: [] for kind in SERVER_KINDS}
    for index in range(sizes.idle_rounds):
        with running_servers(pace, workdir) as servers:
            for kind in round_order(index):
                row = _idle_round(servers[kind], sizes)
                rounds[kind].append(row)
                progress(
                    f"idle round {index + 1}/{sizes.idle_rounds} {kind}: "
                    f"{row['kib_per_connection']:.1f} KiB/connection "
                    f"({row['connected']} connected), errors {row['errors']}"
                )
    result = _by_server(rounds, ("kib_per_connection", "rss_before_mib", "rss_after_mib"))
    result["sizes"] = {"connections": sizes.idle_connections}
    result["ratios"] = {
        "kib_per_connection": _ratios(rounds, "kib_per_connection"),
        "kib_per_connection_vs_raw": _ratios(rounds, "kib_per_connection", "raw"),
    }
    return result


def _idle_round(server: Server, sizes: Sizes) -> Row:
    warm = split(20, 1, "idle", server.ws_url)
    with LoadRun(warm) as run:
        run.wait_ready(READY_TIMEOUT_S)
        run.go()
        run.wait_done(60.0)
    time.sleep(RSS_SETTLE_S)
    before = server.rss_bytes()
    steps = [sizes.idle_connections // sizes.idle_steps] * sizes.idle_steps
    steps[-1] += sizes.idle_connections - sum(steps)
    curve: list[tuple[int, float]] = [(0, round(before / 2**20, 2))]  # connections, RSS MiB
    result = LoadResult()
    with contextlib.ExitStack() as held:  # each step's connections stay open for the next
        runs = []
        for count in steps:
            run = held.enter_context(LoadRun(split(count, sizes.workers, "idle", server.ws_url)))
            run.wait_ready(READY_TIMEOUT_S)
            runs.append(run)
            time.sleep(RSS_SETTLE_S)
            curve.append((curve[-1][0] + count, round(server.rss_bytes() / 2**20, 2)))
        after = server.rss_bytes()
        for run in runs:
            run.go()
            step = run.wait_done(60.0)
            result.add(step.clients, step.connected, step.errors, step.totals, step.client_cpu_s)
        performance = server.performance()
    connected = result.connected
    row: Row = {
        "connections": sizes.idle_connections,
        "connected": connected,
        "rss_before_mib": round(before / 2**20, 2),
        "rss_after_mib": round(after / 2**20, 2),
        "kib_per_connection": round((after - before) / 1024 / connected, 2) if connected else None,
        "rss_mib_by_connections": curve,
        **_errors(result),
    }
    if performance is not None:
        row["server_connections_active"] = performance["connections"]["active"]
    return row


# --- shared


def _by_server(rounds: dict[ServerKind, list[Row]], metrics: tuple[str, ...]) -> Row:
    servers: Row = {}
    for kind, rows in rounds.items():
        servers[kind] = {
            "rounds": rows,
            "summary": {metric: summarize([row.get(metric) for row in rows]) for metric in metrics},
            "errors": sum(row["errors"] for row in rows),
        }
    return {"servers": servers}


def _ratios(rounds: dict[ServerKind, list[Row]], metric: str, against: ServerKind = "naive") -> Row:
    """sheetstream / `against`: of the medians, and per round (rounds run back to back)."""
    mine = [row.get(metric) for row in rounds["sheetstream"]]
    theirs = [row.get(metric) for row in rounds[against]]
    medians = [summarize(mine)["median"], summarize(theirs)["median"]]
    paired = [ratio(a, b) for a, b in zip(mine, theirs, strict=True)]
    return {"of_medians": ratio(medians[0], medians[1]), "per_round": summarize(paired)}
