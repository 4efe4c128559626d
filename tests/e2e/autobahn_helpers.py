"""The production server in a subprocess, and kosoku results summed up for assertion messages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port

STARTUP_TIMEOUT_S = 30.0
# Settings.shutdown_grace_s (3 s) plus slack for the lifespan shutdown.
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def serve_subprocess(data_dir: Path, **env: str) -> Iterator[ServerProcess]:
    """`python -m sheetstream serve` on a free port, as production starts it.

    Inherited SHEETSTREAM_* variables are dropped so every other setting is the default;
    `env` adds SHEETSTREAM_* variables. Yields once GET / answers; SIGTERM on exit.
    """
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SHEETSTREAM_")}
    child_env.update({"SHEETSTREAM_DATA_DIR": str(data_dir), **env})
    log = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sheetstream", "serve", "--port", str(port)],
            env=child_env,
            cwd=data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, port, log)
    try:
        _wait_until_answering(server)
        yield server
    finally:
        _stop(process)


def _wait_until_answering(server: ServerProcess) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {server.process.returncode} while starting:\n"
                + server.log_tail()
            )
        try:
            httpx.get(f"http://127.0.0.1:{server.port}/", timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"server did not answer GET / within {STARTUP_TIMEOUT_S} s:\n"
                    + server.log_tail()
                ) from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def verdict_counts(results: Sequence[Any]) -> Counter[str]:
    """How many cases got each message verdict (OK, NON-STRICT, INFORMATIONAL, FAILED, ...)."""
    return Counter(result.behavior.value for result in results)


def describe(result: Any) -> str:
    close = result.remote_close_code
    if close is not None and result.remote_close_reason:
        close = f"{close} {result.remote_close_reason!r}"
    return (
        f"{result.case_id}: behavior={result.behavior.value} ({result.result}); "
        f"close={result.behavior_close.value} ({result.result_close}); "
        f"server close code={close}; {result.description!r}"
    )
