"""Autobahn TestSuite cases 1-7 and 10 against `/ws/echo`, served as production serves it.

The server is `python -m sheetstream serve` in a subprocess, so the WebSocket layer under test
is the one `sheetstream.server.uvicorn_config` builds (SheetstreamWSProtocol, 64 KiB message
limit, no permessage-deflate). kosoku runs the Autobahn case files as the fuzzing client; a case
passes when both its message verdict and its closing-handshake verdict are OK, NON-STRICT or
INFORMATIONAL. Cases 9 (performance) and 12/13 (compression) are out of scope.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kosoku import FailureError, run_fuzzingclient

from tests.e2e.autobahn_helpers import ServerProcess, describe, serve_subprocess, verdict_counts

GROUPS = ["1", "2", "3", "4", "5", "6", "7", "10"]
# Cases are independent connections; a few at once cuts the run from ~11 s to ~3 s.
CONCURRENCY = 4


@pytest.fixture
def echo_server(tmp_path: Path) -> Iterator[ServerProcess]:
    with serve_subprocess(
        tmp_path, SHEETSTREAM_ECHO_ENDPOINT="true", SHEETSTREAM_MODEL="synthetic"
    ) as server:
        yield server


async def test_autobahn_cases_1_to_7_and_10(echo_server: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{echo_server.port}/ws/echo"
    started = time.monotonic()
    try:
        results = await run_fuzzingclient(
            url, [f"{group}.*" for group in GROUPS], concurrency=CONCURRENCY
        )
    except FailureError as failure:
        results = failure.results  # every case's result, not only the failed ones
    elapsed = time.monotonic() - started

    counts = verdict_counts(results)
    print(f"autobahn: {len(results)} cases in {elapsed:.1f} s: {dict(counts)}")
    ran = {result.case_id.split(".")[0] for result in results}
    assert ran >= set(GROUPS), f"groups without results: {sorted(set(GROUPS) - ran)}"

    failed = [result for result in results if not result.passed]
    assert not failed, (
        f"{len(failed)} of {len(results)} Autobahn cases failed ({dict(counts)}):\n"
        + "\n".join(describe(result) for result in failed)
    )
    assert echo_server.process.poll() is None, "server exited during the run"
    log = echo_server.log.read_text(errors="replace")
    assert "Exception in ASGI application" not in log, echo_server.log_tail(80)
