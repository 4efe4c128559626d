"""Private Redis and PostgreSQL servers on free ports, for tests that stop and restart them
(the machine's shared servers are never touched)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s} s")


class PrivateRedis:
    """`redis-server --port P` that keeps nothing on disk; stop and start it again at will."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found under /usr/lib/postgresql/*/bin")
    return found[-1]


class PrivatePostgres:
    """A cluster of its own (`initdb` in a temp dir, trust auth), run by `pg_ctl`."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.data = directory / "pgdata"
        self.log = directory / "pg.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self) -> dict[str, object]:
        # PostgreSQL refuses to run as root: run it as the `postgres` user when we are root
        if os.geteuid() != 0:
            return {}
        import pwd

        user = pwd.getpwnam("postgres")
        return {"user": user.pw_uid, "group": user.pw_gid}

    def init(self) -> None:
        self.data.parent.mkdir(parents=True, exist_ok=True)
        owner = self._as_owner()
        if owner:
            os.chown(self.data.parent, owner["user"], owner["group"])  # type: ignore[arg-type]
        subprocess.run(
            [_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **owner,  # type: ignore[arg-type]
        )

    def start(self) -> None:
        subprocess.run(
            [
                _pg_bin("pg_ctl"),
                *("-D", str(self.data), "-l", str(self.log), "-w"),
                *("-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"),
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **self._as_owner(),  # type: ignore[arg-type]
        )
        _wait_port(self.port)

    def stop(self) -> None:
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._as_owner(),  # type: ignore[arg-type]
        )


@contextlib.contextmanager
def private_postgres(directory: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(directory)
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop()
