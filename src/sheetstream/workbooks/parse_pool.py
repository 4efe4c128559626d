"""Parse processes started ahead of the uploads that need them.

Starting the interpreter and loading the readers (DuckDB, Arrow, calamine) costs more than
parsing a small workbook. The pool keeps ``size`` workers that have done that and wait for a
job; an upload takes one and a new one starts behind it, off the upload's path. Each worker
still parses exactly one workbook and exits, under the same caps as a cold one (address space
and no core dumps from its start, the time limit from its job): one hostile file can never
reach the next upload's process. A worker found dead when taken is replaced.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
from pathlib import Path
from typing import Any

from sheetstream.workbooks.inspect import InspectLimits
from sheetstream.workbooks.parse import (
    ParseLimits,
    run_worker,
    start_cold,
    start_worker,
    worker_args,
)

__all__ = ["ParsePool"]

log = logging.getLogger(__name__)


class ParsePool:
    def __init__(self, limits: ParseLimits, size: int) -> None:
        self.limits = limits
        self.size = size
        self._idle: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._filling = False
        self.started = 0  # worker processes started, warm or not (for the tests' counts)

    def start(self) -> None:
        """Start the warm workers (in the background: the server need not wait)."""
        with self._lock:
            if self._filling or self._closed or len(self._idle) >= self.size:
                return
            self._filling = True
        threading.Thread(target=self._fill, name="parse-pool", daemon=True).start()

    def _fill(self) -> None:
        try:
            self._fill_up()
        finally:
            with self._lock:
                self._filling = False

    def _fill_up(self) -> None:
        while True:
            with self._lock:
                if self._closed or len(self._idle) >= self.size:
                    return
            try:
                proc = start_worker(self.limits)
            except OSError as exc:
                log.warning("could not start a parse worker: %s", exc)
                return
            with self._lock:
                self.started += 1
                if self._closed:
                    proc.kill()
                    proc.communicate()
                    return
                self._idle.append(proc)

    def _take(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            while self._idle:
                proc = self._idle.pop(0)
                if proc.poll() is None:
                    return proc
                proc.communicate()  # died while waiting: reap it
        return None

    def parse(
        self,
        src: Path,
        fmt: str,
        dest_db: Path,
        limits: ParseLimits,
        inspect_limits: InspectLimits | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """As :func:`.parse.parse_workbook`, on a warm worker when one is ready."""
        job = worker_args(src, fmt, dest_db, limits, inspect_limits, name)
        proc = self._take() if limits == self.limits else None
        if proc is not None:
            self.start()  # the next one warms up while this one parses
            return run_worker(proc, job, dest_db, limits)
        proc = start_cold(limits, job, dest_db)
        with self._lock:
            self.started += 1
        self.start()
        return run_worker(proc, None, dest_db, limits)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for proc in idle:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.communicate()
