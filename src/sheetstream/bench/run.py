"""`sheetstream bench [--quick] [--output FILE] [--plots DIR] [--scenarios NAME,...] [--fleet]`:
run the scenarios, print the table, save JSON, draw the charts.

By default the single-server scenarios run (throughput, latency, pace, idle_memory); the
fleet scenario (bench/fleet.py) needs a Redis and runs only when named or with `--fleet`.

A benchmark, not a test: nothing here judges the numbers. The exit status is 1 only when
clients saw protocol or correctness failures (the figures would then be meaningless) or a
scenario could not run.
"""

from __future__ import annotations

import datetime
import resource
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from sheetstream.bench import report as reporting
from sheetstream.bench.fleet import FLEET_FULL, FLEET_QUICK, FleetSizes, fleet
from sheetstream.bench.progress import Bars
from sheetstream.bench.scenarios import FULL, QUICK, Sizes, idle_memory, latency, throughput
from sheetstream.bench.servers import SERVER_KINDS

# Every connection is a socket in the server and one in a load worker; leave room for the rest.
_FD_HEADROOM = 1024

DEFAULT_SCENARIOS = ("throughput", "latency", "pace", "idle_memory")
SCENARIOS = (*DEFAULT_SCENARIOS, "fleet")


def chosen(names: str | None = None, with_fleet: bool = False) -> tuple[str, ...]:
    """The scenarios to run, in the usual order: `names` (comma-separated) or the defaults,
    plus the fleet scenario with `with_fleet`. ValueError names an unknown scenario."""
    wanted = (
        [name.strip() for name in names.split(",") if name.strip()]
        if names
        else list(DEFAULT_SCENARIOS)
    )
    unknown = [name for name in wanted if name not in SCENARIOS]
    if unknown:
        raise ValueError(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    if not wanted:
        raise ValueError(f"no scenario named; choose from {', '.join(SCENARIOS)}")
    if with_fleet:
        wanted.append("fleet")
    return tuple(name for name in SCENARIOS if name in wanted)


def main(
    quick: bool = False,
    output: str | None = None,
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS,
    fleet_sizes: FleetSizes | None = None,
    plots: str | None = None,
    sizes: Sizes | None = None,
) -> int:
    sizes = sizes or (QUICK if quick else FULL)
    fleet_sizes = fleet_sizes or (FLEET_QUICK if quick else FLEET_FULL)
    wanted = max(
        sizes.idle_connections, sizes.latency_clients, sizes.pace_clients, 2 * fleet_sizes.sessions
    )
    bars = Bars()
    fd_limit = _raise_fd_limit(wanted + _FD_HEADROOM, bars.note)
    started = time.monotonic()
    report: dict[str, Any] = {
        "benchmark": "sheetstream bench",
        "quick": quick,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": reporting.machine(),
        "sizes": sizes.to_json(),
        "selected": list(scenarios),
        "load_generator": _load_generator(sizes),
        "servers": _servers(),
        "fd_limit": fd_limit,
        "scenarios": {},
        "failures": [],
    }
    if "fleet" in scenarios:
        report["fleet_sizes"] = fleet_sizes.to_json()
    runners: dict[str, Callable[[Path], dict[str, Any]]] = {
        "throughput": lambda tmp: throughput(sizes, tmp, bars.step),
        "latency": lambda tmp: latency(sizes, tmp, bars.step),
        "pace": lambda tmp: latency(sizes, tmp, bars.step, "pace"),
        "idle_memory": lambda tmp: idle_memory(sizes, tmp, bars.step),
        "fleet": lambda tmp: fleet(fleet_sizes, tmp, bars.step),
    }
    with tempfile.TemporaryDirectory(prefix="sheetstream-bench-") as tmp:
        for name in scenarios:
            with bars.scenario(name, _steps(name, sizes)):
                try:
                    report["scenarios"][name] = runners[name](Path(tmp))
                except Exception as exc:
                    bars.note(f"{name}: failed: {exc}")
                    traceback.print_exc(file=sys.stderr)
                    report["failures"].append({"scenario": name, "error": f"{exc}"[:2000]})
    report["duration_s"] = round(time.monotonic() - started, 1)
    report["errors"] = sum(_errors(scenario) for scenario in report["scenarios"].values())
    report["aims"] = reporting.aims(report)
    print(reporting.render(report))
    if output:
        Path(output).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"\nJSON report: {output}")
    if plots:
        from sheetstream.bench.plots import draw

        for path in draw(report, Path(plots)):
            print(f"chart: {path}")
    return 1 if report["errors"] or report["failures"] else 0


def _steps(scenario: str, sizes: Sizes) -> int | None:
    """A scenario's progress steps: one per server per round; the fleet's are its own."""
    if scenario == "fleet":
        return None
    rounds = sizes.idle_rounds if scenario == "idle_memory" else sizes.rounds
    return rounds * len(SERVER_KINDS)


def _errors(scenario: dict[str, Any]) -> int:
    if "errors" in scenario:  # the fleet scenario counts its own
        return int(scenario["errors"])
    return sum(int(server["errors"]) for server in scenario["servers"].values())


def _raise_fd_limit(wanted: int, note: Callable[[str], None]) -> dict[str, int]:
    """Raise the soft open-files limit (children inherit it); the hard limit caps it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            note(f"open-files limit {new} is below the {wanted} this run wants")
        soft = new
    return {"soft": soft, "hard": hard}


def _load_generator(sizes: Sizes) -> dict[str, Any]:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {
        "workers": sizes.workers,
        "processes": "multiprocessing (forkserver), separate from the servers",
        "websockets": reporting.machine()["packages"]["websockets"],
        "event_loop": loop,
        "client_options": {"compression": None, "max_size": None, "ping_interval": None},
        "parser": "orjson",
        "checks": "seq consecutive from 1; end.seq = last seq; end.tokens = sum of chunk "
        "tokens = answer length; reason complete; chunk texts join to the expected answer",
    }


def _servers() -> dict[str, str]:
    return {
        "sheetstream": "python -m sheetstream serve (SHEETSTREAM_MODEL=synthetic, temp DATA_DIR)",
        "naive": "python -m sheetstream.bench.naive: one frame per token, each send awaited, "
        "built with sheetstream.server.uvicorn_config(settings, app=naive_app)",
        "raw": "python -m sheetstream.bench.raw: the websockets library's own server, up to 4 "
        "pre-escaped tokens per frame, nothing else",
        "log_level": "warning (all)",
    }
