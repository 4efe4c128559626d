"""Counters and recent samples behind `/api/websocket/performance` and `/metrics`.

Recording is a few additions, a deque append and one bisect into fixed histogram bounds,
cheap enough for every chunk sent; the percentiles and the cumulative bucket counts are
computed when someone asks.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import accumulate, takewhile
from typing import Any

LATENCY_SAMPLES = 20_000
WINDOW_S = 60

# Histogram upper bounds in seconds (Prometheus `le`, inclusive); +Inf is implied after them.
CHUNK_LATENCY_BOUNDS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
FIRST_TOKEN_BOUNDS: tuple[float, ...] = (*CHUNK_LATENCY_BOUNDS, 20.0, 30.0)


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile of unsorted samples; None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def cumulative(counts: list[int]) -> list[int]:
    """Per-bucket counts (the last one past every bound) as Prometheus' cumulative `le`
    counts: entry i counts every observation <= bound i; the last is the total (+Inf)."""
    return list(accumulate(counts))


@dataclass
class Stats:
    connections_active: int = 0
    connections_total: int = 0
    refused_connections: int = 0  # turned away by the connection caps (1013)
    streams_started: Counter[str] = field(default_factory=Counter)
    streams_active: Counter[str] = field(default_factory=Counter)
    chunks_sent: int = 0
    tokens_sent: int = 0
    bytes_sent: int = 0
    resumes: int = 0
    cancels: int = 0
    slow_consumers: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    delivery_latency: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    first_token: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    # when each sample above was taken (monotonic), for the figures of the last WINDOW_S
    delivery_at: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    first_token_at: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    # tokens sent per whole second of the monotonic clock, for the last WINDOW_S seconds
    _second: int = 0
    _per_second: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=WINDOW_S + 2))
    _this_second_tokens: int = 0
    # histograms since start: per-bucket (not cumulative) counts, bucket i for
    # bounds[i-1] < x <= bounds[i], the last for x > every bound; `cumulative()` on read
    chunk_latency_buckets: list[int] = field(
        default_factory=lambda: [0] * (len(CHUNK_LATENCY_BOUNDS) + 1)
    )
    chunk_latency_sum: float = 0.0
    first_token_buckets: list[int] = field(
        default_factory=lambda: [0] * (len(FIRST_TOKEN_BOUNDS) + 1)
    )
    first_token_sum: float = 0.0

    def record_chunk(self, tokens: int, size: int, latency: float | None, now: float) -> None:
        self.chunks_sent += 1
        self.tokens_sent += tokens
        self.bytes_sent += size
        if latency is not None:
            self.delivery_latency.append(latency)
            self.delivery_at.append(now)
            self.chunk_latency_buckets[bisect_left(CHUNK_LATENCY_BOUNDS, latency)] += 1
            self.chunk_latency_sum += latency
        second = int(now)
        if second != self._second:
            self._per_second.append((self._second, self._this_second_tokens))
            self._second = second
            self._this_second_tokens = 0
        self._this_second_tokens += tokens

    def record_first_token(self, seconds: float, now: float) -> None:
        self.first_token.append(seconds)
        self.first_token_at.append(now)
        self.first_token_buckets[bisect_left(FIRST_TOKEN_BOUNDS, seconds)] += 1
        self.first_token_sum += seconds

    def throughput(self, window_s: int, now: float) -> float:
        """Tokens sent per second over the last `window_s` whole seconds."""
        current = int(now)
        total = sum(n for second, n in self._per_second if current - window_s <= second < current)
        if self._second < current and self._second >= current - window_s:
            total += self._this_second_tokens
        return total / window_s

    def snapshot(self, now: float) -> dict[str, Any]:
        latency = list(self.delivery_latency)
        first = list(self.first_token)
        ms = 1000.0

        def scaled(samples: list[float], q: float) -> float | None:
            value = percentile(samples, q)
            return None if value is None else round(value * ms, 3)

        def recent(samples: deque[float], taken: deque[float]) -> dict[str, Any]:
            since = now - WINDOW_S
            newest_first = zip(reversed(samples), reversed(taken), strict=True)
            window = [v for v, _ in takewhile(lambda pair: pair[1] >= since, newest_first)]
            return {"p50": scaled(window, 50), "p99": scaled(window, 99), "samples": len(window)}

        return {
            "connections": {
                "active": self.connections_active,
                "total": self.connections_total,
                "refused": self.refused_connections,
            },
            "streams": {
                "started_by_mode": dict(self.streams_started),
                "active_by_mode": {k: v for k, v in self.streams_active.items() if v},
            },
            "chunks_sent": self.chunks_sent,
            "tokens_sent": self.tokens_sent,
            "bytes_sent": self.bytes_sent,
            "tokens_per_chunk": round(self.tokens_sent / self.chunks_sent, 3)
            if self.chunks_sent
            else None,
            "frames_saved_ratio": round(1 - self.chunks_sent / self.tokens_sent, 4)
            if self.tokens_sent
            else None,
            "throughput_tokens_per_s": {
                "last_10s": round(self.throughput(10, now), 1),
                "last_60s": round(self.throughput(60, now), 1),
            },
            "delivery_latency_ms": {
                "p50": scaled(latency, 50),
                "p95": scaled(latency, 95),
                "p99": scaled(latency, 99),
                "samples": len(latency),
                "last_60s": recent(self.delivery_latency, self.delivery_at),
            },
            "time_to_first_token_ms": {
                "p50": scaled(first, 50),
                "p99": scaled(first, 99),
                "samples": len(first),
                "last_60s": recent(self.first_token, self.first_token_at),
            },
            "resumes": self.resumes,
            "cancels": self.cancels,
            "slow_consumer_events": self.slow_consumers,
            "errors_by_code": dict(self.errors),
        }
