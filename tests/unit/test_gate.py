"""The gate in front of parses and queries: slots, a bounded queue, a share per client."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sheetstream.errors import Overloaded, RateLimited
from sheetstream.gate import Gate


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_past_the_slots_and_the_queue_the_next_is_refused_with_a_retry_hint() -> None:
    gate = Gate("SQL queries", slots=2, queue=1)
    release = threading.Event()
    held = [asyncio.create_task(gate.run(release.wait, 10)) for _ in range(3)]
    await settle()
    assert (gate.running, gate.waiting) == (2, 1)
    with pytest.raises(Overloaded) as refused:
        await gate.run(release.wait, 10)
    assert refused.value.retry_after_s is not None and refused.value.retry_after_s > 0
    release.set()
    assert await asyncio.gather(*held) == [True, True, True]
    assert (gate.running, gate.waiting) == (0, 0)
    gate.close()


async def test_one_client_cannot_take_every_place_and_others_still_get_in() -> None:
    gate = Gate("SQL queries", slots=2, queue=8, per_client=2)
    release = threading.Event()
    mine = [asyncio.create_task(gate.run_for("a", release.wait, 10)) for _ in range(2)]
    await settle()
    with pytest.raises(RateLimited, match="2 SQL queries running or waiting"):
        await gate.run_for("a", release.wait, 10)
    theirs = asyncio.create_task(gate.run_for("b", release.wait, 10))
    await settle()
    assert gate.clients == {"a": 2, "b": 1}
    release.set()
    await asyncio.gather(*mine, theirs)
    assert not gate.clients  # every share handed back
    assert await gate.run_for("a", lambda: 7) == 7
    gate.close()


async def test_a_caller_that_stops_waiting_gives_its_place_back() -> None:
    gate = Gate("SQL queries", slots=1, queue=4, per_client=4)
    release = threading.Event()
    running = asyncio.create_task(gate.run_for("a", release.wait, 10))
    waiting = asyncio.create_task(gate.run_for("a", release.wait, 10))
    await settle()
    assert gate.clients["a"] == 2 and gate.waiting == 1
    waiting.cancel()
    await settle()
    assert gate.clients["a"] == 1 and gate.waiting == 0
    release.set()
    assert await running is True
    assert not gate.clients and gate.running == 0
    gate.close()


async def test_a_closed_pool_refuses_without_keeping_the_slot() -> None:
    gate = Gate("workbook parses", slots=1, queue=0, per_client=1)
    gate.close()
    with pytest.raises(RuntimeError):
        await gate.run_for("a", lambda: 1)
    assert gate.running == 0 and not gate.clients
    assert gate._free.locked() is False
