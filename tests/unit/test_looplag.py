"""The event-loop lag gauge sees a call that blocks the loop."""

from __future__ import annotations

import asyncio
import time

from sheetstream.looplag import LoopLag


async def test_a_blocking_call_shows_as_lag() -> None:
    gauge = LoopLag(interval_s=0.02)
    watching = asyncio.create_task(gauge.run())
    await asyncio.sleep(0.1)
    calm = gauge.snapshot(time.monotonic())
    time.sleep(0.3)  # what a quadratic scan or a file parse on the loop does  # noqa: ASYNC251
    await asyncio.sleep(0.1)
    watching.cancel()
    blocked = gauge.snapshot(time.monotonic())
    assert calm["max"] is not None and calm["max"] < 250
    assert blocked["max"] >= 250
    assert blocked["samples"] > calm["samples"]


def test_only_the_last_minute_counts() -> None:
    gauge = LoopLag(interval_s=0.1, clock=lambda: 0.0)
    gauge.record(10.0, 5.0)
    gauge.record(65.0, 0.001)
    assert gauge.snapshot(75.0)["max"] == 1.0
    assert gauge.snapshot(75.0)["samples"] == 1
    assert gauge.snapshot(69.0)["max"] == 5000.0
    assert gauge.snapshot(200.0) == {"max": None, "p99": None, "samples": 0, "window_s": 60.0}
