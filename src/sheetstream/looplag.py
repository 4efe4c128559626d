"""How late the event loop runs: the gauge that shows a blocking call before users do.

A task asks to sleep `interval_s` and notes how much longer it took; the excess is the time
the loop spent on something else without yielding. The figures cover the last minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sheetstream.streaming.stats import percentile

WINDOW_S = 60.0


class LoopLag:
    def __init__(
        self, interval_s: float = 0.1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        # (when, lag in seconds); a blocked loop takes fewer samples, never more
        self._samples: deque[tuple[float, float]] = deque(maxlen=int(WINDOW_S / interval_s) + 1)

    def record(self, now: float, lag_s: float) -> None:
        self._samples.append((now, max(0.0, lag_s)))

    async def run(self) -> None:
        while True:
            asked = self._clock()
            await asyncio.sleep(self.interval_s)
            now = self._clock()
            self.record(now, now - asked - self.interval_s)

    def recent(self, now: float) -> list[float]:
        return [lag for when, lag in self._samples if when >= now - WINDOW_S]

    def snapshot(self, now: float) -> dict[str, Any]:
        """Max and p99 of the last minute, in milliseconds."""
        lags = self.recent(now)
        p99 = percentile(lags, 99)
        return {
            "max": round(max(lags) * 1000, 3) if lags else None,
            "p99": round(p99 * 1000, 3) if p99 is not None else None,
            "samples": len(lags),
            "window_s": WINDOW_S,
        }
