"""The performance figures in Prometheus' text format, collected when scraped.

Chunk latency and time to first token are histograms (cumulative since start), so a fleet's
quantiles aggregate with `histogram_quantile(q, sum by (le) (rate(..._bucket[5m])))`; with a
node id every sample carries a constant `node` label."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sheetstream.looplag import LoopLag
from sheetstream.streaming.stats import (
    CHUNK_LATENCY_BOUNDS,
    FIRST_TOKEN_BOUNDS,
    Stats,
    cumulative,
    percentile,
)


class StatsCollector:
    def __init__(
        self,
        stats: Stats,
        loop_lag: LoopLag,
        work: dict[str, dict[str, int]],
        *,
        node: str = "",
    ) -> None:
        self._stats = stats
        self._loop_lag = loop_lag
        self._work = work  # WorkbookService.load()
        self._node = node  # when set, a constant `node` label on every sample

    def collect(self) -> Iterator[Metric]:
        if not self._node:
            yield from self._families()
            return
        for family in self._families():
            family.samples = [
                sample._replace(labels={**sample.labels, "node": self._node})
                for sample in family.samples
            ]
            yield family

    def _families(self) -> Iterator[Metric]:
        s = self._stats
        yield GaugeMetricFamily(
            "sheetstream_connections_active", "Open chat connections.", value=s.connections_active
        )
        yield CounterMetricFamily(
            "sheetstream_connections", "Chat connections accepted.", value=s.connections_total
        )
        started = CounterMetricFamily(
            "sheetstream_streams_started", "Answers started.", labels=["mode"]
        )
        for mode, n in s.streams_started.items():
            started.add_metric([mode], n)
        yield started
        active = GaugeMetricFamily(
            "sheetstream_streams_active", "Answers streaming now.", labels=["mode"]
        )
        for mode, n in s.streams_active.items():
            active.add_metric([mode], n)
        yield active
        yield CounterMetricFamily(
            "sheetstream_chunks_sent", "Chunk frames written.", value=s.chunks_sent
        )
        yield CounterMetricFamily(
            "sheetstream_tokens_sent", "Tokens written inside chunks.", value=s.tokens_sent
        )
        yield CounterMetricFamily(
            "sheetstream_chunk_bytes_sent", "Bytes of chunk frames written.", value=s.bytes_sent
        )
        yield CounterMetricFamily(
            "sheetstream_connections_refused",
            "Chat connections turned away by the connection caps.",
            value=s.refused_connections,
        )
        yield CounterMetricFamily("sheetstream_resumes", "Resume requests served.", value=s.resumes)
        yield CounterMetricFamily("sheetstream_cancels", "Answers cancelled.", value=s.cancels)
        yield CounterMetricFamily(
            "sheetstream_slow_consumers",
            "Connections closed as slow consumers.",
            value=s.slow_consumers,
        )
        errors = CounterMetricFamily(
            "sheetstream_errors", "Error frames sent, by code.", labels=["code"]
        )
        for code, n in s.errors.items():
            errors.add_metric([code], n)
        yield errors
        now = time.monotonic()
        throughput = GaugeMetricFamily(
            "sheetstream_throughput_tokens_per_second", "Tokens sent per second.", labels=["window"]
        )
        throughput.add_metric(["10s"], s.throughput(10, now))
        throughput.add_metric(["60s"], s.throughput(60, now))
        yield throughput
        yield _quantiles(
            "sheetstream_token_delivery_seconds",
            "Token produced to frame written.",
            list(s.delivery_latency),
        )
        yield _histogram(
            "sheetstream_chunk_latency_seconds",
            "Oldest token of a live token-mode chunk produced to its frame written.",
            CHUNK_LATENCY_BOUNDS,
            s.chunk_latency_buckets,
            s.chunk_latency_sum,
        )
        yield _histogram(
            "sheetstream_time_to_first_token_seconds",
            "Question received to first chunk written.",
            FIRST_TOKEN_BOUNDS,
            s.first_token_buckets,
            s.first_token_sum,
        )
        lags = self._loop_lag.recent(now)
        lag = GaugeMetricFamily(
            "sheetstream_event_loop_lag_seconds",
            "How late the event loop woke, over the last minute.",
            labels=["stat"],
        )
        if lags:
            lag.add_metric(["max"], max(lags))
            lag.add_metric(["p99"], percentile(lags, 99) or 0.0)
        yield lag
        yield GaugeMetricFamily(
            "sheetstream_uploads_in_progress",
            "Workbook uploads being received or parsed.",
            value=self._work["uploads"]["in_progress"],
        )
        for state, doc in (("running", "holding a slot"), ("waiting", "waiting for a slot")):
            gauge = GaugeMetricFamily(
                f"sheetstream_work_{state}", f"Parses and queries {doc}.", labels=["work"]
            )
            for work in ("parses", "queries"):
                gauge.add_metric([work], self._work[work][state])
            yield gauge


def _quantiles(name: str, doc: str, samples: list[float]) -> Metric:
    gauge = GaugeMetricFamily(name, doc + " Recent samples.", labels=["quantile"])
    for q in (50, 95, 99):
        value = percentile(samples, q)
        if value is not None:
            gauge.add_metric([str(q / 100)], value)
    return gauge


def _histogram(
    name: str, doc: str, bounds: tuple[float, ...], counts: list[int], total: float
) -> Metric:
    les = [str(bound) for bound in bounds] + ["+Inf"]  # "0.0005", "1.0": as client_python
    buckets = list(zip(les, cumulative(counts), strict=True))
    return HistogramMetricFamily(name, doc + " Since start.", buckets=buckets, sum_value=total)


def render(
    stats: Stats, loop_lag: LoopLag, work: dict[str, dict[str, int]], *, node: str = ""
) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(stats, loop_lag, work, node=node))
    return generate_latest(registry), CONTENT_TYPE_LATEST
