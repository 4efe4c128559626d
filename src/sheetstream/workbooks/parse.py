"""Turn an uploaded workbook into a DuckDB file, in a child process with a time and memory cap.

The reader (calamine, in Rust) and the load run in ``python -m
sheetstream.workbooks.parse_worker`` so that a workbook which exhausts memory, hangs or crashes
the reader takes down only the child. :func:`parse_workbook` is synchronous; callers run it in
a worker thread. Every failure becomes :class:`WorkbookUnreadable`, and a partial DuckDB file is
removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sheetstream.errors import SheetstreamError
from sheetstream.workbooks.inspect import InspectLimits, WorkbookRejected

__all__ = [
    "ParseLimits",
    "WorkbookUnreadable",
    "parse_workbook",
    "remove_outputs",
    "run_worker",
    "start_cold",
    "start_worker",
    "worker_args",
]

_HINT = "Check that the file opens in a spreadsheet program, or save it as .xlsx and try again."
_MEMORY_MARKERS = (
    "memoryerror",
    "memory allocation",
    "out of memory",
    "cannot allocate",
    "failed to map segment",
)


@dataclass(frozen=True)
class ParseLimits:
    timeout_s: float = 120.0
    memory_mb: int = 2048


class WorkbookUnreadable(SheetstreamError):
    """The workbook could not be parsed: corrupt, unsupported, too big or too slow."""

    code = "bad_request"

    def __init__(self, reason: str, *, request_id: str | None = None) -> None:
        super().__init__(f"Could not read this workbook: {reason}. {_HINT}", request_id=request_id)
        self.reason = reason


def _limit_resources(memory_mb: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def remove_outputs(dest_db: Path) -> None:
    for path in (dest_db, dest_db.with_name(dest_db.name + ".wal")):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _last_json_line(stdout: bytes) -> dict[str, Any] | None:
    for line in reversed(stdout.decode("utf-8", "replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _failure_reason(proc: subprocess.CompletedProcess[bytes], limits: ParseLimits) -> str:
    memory = (
        f"it needed more than {limits.memory_mb} MiB of memory (split it into smaller "
        "workbooks, or ask the operator to raise SHEETSTREAM_WORKBOOK_PARSE_MEMORY_MB)"
    )
    stderr = proc.stderr.decode("utf-8", "replace").lower()
    out_of_memory = any(marker in stderr for marker in _MEMORY_MARKERS)
    if proc.returncode < 0:
        sig = -proc.returncode
        if sig == signal.SIGKILL or out_of_memory:
            return memory
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"the reader crashed ({name})"
    result = _last_json_line(proc.stdout)
    if result is not None and "error" in result:
        if result.get("kind") == "memory":
            return memory
        return str(result["error"]).rstrip(".") or "the reader failed"
    if out_of_memory:
        return memory
    return f"the reader crashed (exit status {proc.returncode})"


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    # RLIMIT_AS counts address space, not memory in use, so the worker keeps little that is
    # reserved and unused: one glibc malloc arena (each reserves 64 MiB), large blocks always
    # mapped on their own and so returned when freed (glibc's moving threshold otherwise puts
    # them on a heap that does not shrink), Arrow on that allocator (its jemalloc pool
    # reserved about a gigabyte on a large sheet), one BLAS thread (each has its buffers).
    env.setdefault("MALLOC_ARENA_MAX", "1")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "131072")
    env.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def worker_args(
    src: Path,
    fmt: str,
    dest_db: Path,
    limits: ParseLimits,
    inspect_limits: InspectLimits | None,
    name: str | None = None,
) -> list[str]:
    """The worker's arguments for one parse; `name`, what the upload was called (a CSV's one
    sheet is named after it), else the file's own name."""
    args = [str(src), fmt, str(dest_db), "--memory-mb", str(limits.memory_mb)]
    if inspect_limits is not None:
        args += ["--inspect-limits", json.dumps(dataclasses.asdict(inspect_limits))]
    if name is not None:
        args += ["--name", name]
    return args


def start_worker(limits: ParseLimits, job: list[str] | None = None) -> subprocess.Popen[bytes]:
    """A parse process under the caps: with ``job`` it parses that; without, it loads its
    libraries and waits for one job line on its standard input (a warm worker)."""
    cmd = [sys.executable, "-m", "sheetstream.workbooks.parse_worker"]
    return subprocess.Popen(
        cmd + (job if job is not None else ["--serve"]),
        stdin=subprocess.DEVNULL if job is not None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limit_resources(limits.memory_mb),
        env=_environment(),
    )


def run_worker(
    proc: subprocess.Popen[bytes], job: list[str] | None, dest_db: Path, limits: ParseLimits
) -> dict[str, Any]:
    """Hand ``job`` to a warm worker (or wait for one started with its job), under the time
    limit; the profile, or the error the worker's end says."""
    line = None if job is None else (json.dumps(job) + "\n").encode()
    deadline = time.monotonic() + limits.timeout_s
    try:
        head, errors, profile = _first_line(proc, line, deadline)
        if profile is not None:
            # the DuckDB file is written and closed before the profile is printed: the
            # answer need not wait for the process to end (its address space takes a few
            # milliseconds to unmap); a thread reaps it, and kills it if it lingers
            threading.Thread(target=_reap, args=(proc, limits.timeout_s), daemon=True).start()
            return profile
        stdout, stderr = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
        stdout, stderr = head + stdout, errors + stderr
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        remove_outputs(dest_db)
        raise WorkbookUnreadable(f"it took longer than {limits.timeout_s:g} s") from None
    except OSError as exc:  # a warm worker that died before its job (BrokenPipe)
        proc.kill()
        proc.communicate()
        remove_outputs(dest_db)
        raise WorkbookUnreadable(f"the reader could not be started ({exc})") from None
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return _result(done, dest_db, limits)


def _reap(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    try:
        proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


_RESULT_MAX = 64 << 20  # a profile line longer than this is not waited for as one line
_STDERR_KEPT = 64 << 10  # the end of what the worker says on stderr, for its failure


def _first_line(
    proc: subprocess.Popen[bytes], line: bytes | None, deadline: float
) -> tuple[bytes, bytes, dict[str, Any] | None]:
    """Send the job, then read the worker's output up to its first line (its stderr read
    meanwhile, so that a full pipe cannot stall it): what it wrote to each, and the profile
    the line holds when it is one (an error line, or none, leaves the rest to
    ``communicate``)."""
    assert proc.stdout is not None and proc.stderr is not None
    if line is not None:
        assert proc.stdin is not None
        proc.stdin.write(line)
        proc.stdin.flush()  # communicate() closes it
    out, err = proc.stdout.fileno(), proc.stderr.fileno()
    poller = select.poll()  # not select(): a busy server's descriptors pass 1024
    for fd in (out, err):
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    head = errors = b""
    reading = {out, err}
    while out in reading and b"\n" not in head and len(head) < _RESULT_MAX:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(proc.args, 0)
        for fd, _ in poller.poll(remaining * 1000):
            chunk = os.read(fd, 1 << 20)
            if not chunk:  # ended: what the worker says is in its status and stderr
                poller.unregister(fd)
                reading.discard(fd)
            elif fd == out:
                head += chunk
            else:
                errors = (errors + chunk)[-_STDERR_KEPT:]
    first, newline, _ = head.partition(b"\n")
    found = _last_json_line(first) if newline else None
    if found is not None and "sheets" in found and "error" not in found:
        return head, errors, found
    return head, errors, None


def _result(
    proc: subprocess.CompletedProcess[bytes], dest_db: Path, limits: ParseLimits
) -> dict[str, Any]:
    if proc.returncode != 0:
        remove_outputs(dest_db)
        refusal = _last_json_line(proc.stdout)
        if proc.returncode == 1 and refusal is not None and refusal.get("kind") == "rejected":
            raise WorkbookRejected(str(refusal["error"]), status=int(refusal.get("status", 422)))
        raise WorkbookUnreadable(_failure_reason(proc, limits))
    profile = _last_json_line(proc.stdout)
    if profile is None or "sheets" not in profile:
        remove_outputs(dest_db)
        raise WorkbookUnreadable("the reader returned no result")
    return profile


def parse_workbook(
    src: Path,
    fmt: str,
    dest_db: Path,
    limits: ParseLimits,
    inspect_limits: InspectLimits | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Inspect ``src`` (``fmt``: xlsx, xlsm, xlsb, xls, ods or csv) under ``inspect_limits``,
    parse it into a new DuckDB file at ``dest_db`` and return its profile, with the
    inspection's warnings as ``package_warnings``, in a new capped process (a
    :class:`.parse_pool.ParsePool` has them started ahead). Raises :class:`WorkbookRejected`
    when inspection refuses the file, :class:`WorkbookUnreadable` when it cannot be read."""
    job = worker_args(src, fmt, dest_db, limits, inspect_limits, name)
    return run_worker(start_cold(limits, job, dest_db), None, dest_db, limits)


def start_cold(limits: ParseLimits, job: list[str], dest_db: Path) -> subprocess.Popen[bytes]:
    """A worker started with its job (none was warm)."""
    try:
        return start_worker(limits, job)
    except OSError as exc:
        remove_outputs(dest_db)
        raise WorkbookUnreadable(f"the reader could not be started ({exc})") from None
