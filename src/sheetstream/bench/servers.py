"""The three servers under test, each in its own process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import psutil

ServerKind = Literal["sheetstream", "naive", "raw"]
SERVER_KINDS: tuple[ServerKind, ...] = ("sheetstream", "naive", "raw")
HOST = "127.0.0.1"
_READY_PATH: dict[ServerKind, str] = {
    "sheetstream": "/readyz",
    "naive": "/healthz",
    "raw": "/healthz",
}
_MODULE: dict[ServerKind, str] = {
    "sheetstream": "sheetstream",
    "naive": "sheetstream.bench.naive",
    "raw": "sheetstream.bench.raw",
}


@dataclass(frozen=True, slots=True)
class ModelPace:
    """What the synthetic model streams: `tokens` per answer at `rate` tokens/s (0 = flat out)."""

    rate: float
    tokens: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(port: int, pace: ModelPace, data_dir: Path) -> dict[str, str]:
    """The environment both servers get; only port and data dir differ between them."""
    env = dict(os.environ)
    env.update(
        {
            "SHEETSTREAM_HOST": HOST,
            "SHEETSTREAM_PORT": str(port),
            "SHEETSTREAM_MODEL": "synthetic",
            "SHEETSTREAM_SYNTHETIC_RATE": repr(pace.rate),
            "SHEETSTREAM_SYNTHETIC_TOKENS": str(pace.tokens),
            "SHEETSTREAM_SYNTHETIC_TEXT": "",
            # Above the answer length, so answers end `complete` rather than `length`.
            "SHEETSTREAM_MAX_ANSWER_TOKENS": str(pace.tokens + 1),
            "SHEETSTREAM_DATA_DIR": str(data_dir),
            "SHEETSTREAM_DATABASE_URL": "",
            # uvicorn logs every WebSocket open at info; that would time the logger, not us.
            "SHEETSTREAM_LOG_LEVEL": "warning",
            # One client address opens every connection, and idle ones are measured on
            # purpose: the per-client limits would measure themselves.
            "SHEETSTREAM_MAX_CONNECTIONS_PER_ADDRESS": "0",
            "SHEETSTREAM_MESSAGES_PER_MINUTE": "0",
            "SHEETSTREAM_FIRST_MESSAGE_TIMEOUT_S": "0",
            "SHEETSTREAM_IDLE_TIMEOUT_S": "0",
        }
    )
    return env


class ServerProcess:
    """A server started as a child process, logging to a file: its URLs, log, readiness
    and stop."""

    port: int
    log_path: Path
    popen: subprocess.Popen[bytes]
    ready_path = "/readyz"
    name = "server"

    def _spawn(self, command: list[str], env: dict[str, str]) -> None:
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.process = psutil.Process(self.popen.pid)

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws/chat"

    def http_url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until `ready_path` answers 200; raises if the process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        url = self.http_url(self.ready_path)
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} server exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} server not ready after {timeout_s:g} s:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL if it is still there after `timeout_s`."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class Server(ServerProcess):
    """A running server process: its URLs, CPU time, RSS and (sheetstream) its own stats."""

    def __init__(self, kind: ServerKind, pace: ModelPace, workdir: Path) -> None:
        self.kind = kind
        self.name = kind
        self.ready_path = _READY_PATH[kind]
        self.pace = pace
        self.port = free_port()
        data_dir = workdir / f"{kind}-{self.port}"
        data_dir.mkdir(parents=True)
        self.log_path = data_dir / "server.log"
        command = [sys.executable, "-m", _MODULE[kind]]
        if kind == "sheetstream":
            command.append("serve")
        command += ["--port", str(self.port)]
        self._spawn(command, server_env(self.port, pace, data_dir))

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server process has used so far."""
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        return int(self.process.memory_info().rss)

    def performance(self) -> dict[str, Any] | None:
        """sheetstream's `/api/websocket/performance`; None for the other servers."""
        if self.kind != "sheetstream":
            return None
        url = self.http_url("/api/websocket/performance")
        with urllib.request.urlopen(url, timeout=10.0) as response:
            data: dict[str, Any] = orjson.loads(response.read())
            return data


@contextlib.contextmanager
def running_servers(pace: ModelPace, workdir: Path) -> Iterator[dict[ServerKind, Server]]:
    """Start every server at once, wait until all are ready, stop them on the way out."""
    servers: dict[ServerKind, Server] = {}
    try:
        for kind in SERVER_KINDS:
            servers[kind] = Server(kind, pace, workdir)
        for server in servers.values():
            server.wait_ready()
        yield servers
    finally:
        for server in servers.values():
            server.stop()
