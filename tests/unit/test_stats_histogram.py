"""The histograms behind `/metrics`: per-bucket counts kept on the hot path, cumulative on read,
and the families the collector makes of them (with and without a node label)."""

from __future__ import annotations

import math

import pytest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from sheetstream.looplag import LoopLag
from sheetstream.prometheus import render
from sheetstream.streaming.stats import (
    CHUNK_LATENCY_BOUNDS,
    FIRST_TOKEN_BOUNDS,
    Stats,
    cumulative,
)

WORK = {
    "uploads": {"in_progress": 0},
    "parses": {"running": 0, "waiting": 0},
    "queries": {"running": 0, "waiting": 0},
}


def test_the_bounds_are_sorted_and_first_token_reaches_30_seconds() -> None:
    for bounds in (CHUNK_LATENCY_BOUNDS, FIRST_TOKEN_BOUNDS):
        assert list(bounds) == sorted(set(bounds)) and bounds[0] > 0
    assert CHUNK_LATENCY_BOUNDS[0] == 0.0005 and CHUNK_LATENCY_BOUNDS[-1] == 10.0
    assert FIRST_TOKEN_BOUNDS[-1] == 30.0
    stats = Stats()
    assert len(stats.chunk_latency_buckets) == len(CHUNK_LATENCY_BOUNDS) + 1  # and +Inf
    assert len(stats.first_token_buckets) == len(FIRST_TOKEN_BOUNDS) + 1


def test_chunk_latencies_land_in_their_le_buckets() -> None:
    stats = Stats()
    latencies = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.2, 1.0, 9.9, 10.0, 10.5, 300.0]
    for i, latency in enumerate(latencies):
        stats.record_chunk(1, 10, latency=latency, now=float(i))
    stats.record_chunk(4, 40, latency=None, now=20.0)  # replayed or held: no latency
    buckets = stats.chunk_latency_buckets
    assert sum(buckets) == len(latencies)  # the chunk without a latency is not observed
    assert buckets[0] == 2  # 0.0001 and 0.0005: `le` is inclusive
    assert buckets[CHUNK_LATENCY_BOUNDS.index(0.001)] == 1
    assert buckets[CHUNK_LATENCY_BOUNDS.index(0.005)] == 2
    assert buckets[CHUNK_LATENCY_BOUNDS.index(0.25)] == 1
    assert buckets[CHUNK_LATENCY_BOUNDS.index(1.0)] == 1
    assert buckets[CHUNK_LATENCY_BOUNDS.index(10.0)] == 2  # 9.9 and exactly 10
    assert buckets[-1] == 2  # past every bound: +Inf only
    assert stats.chunk_latency_sum == pytest.approx(sum(latencies))
    assert stats.chunks_sent == len(latencies) + 1


def test_cumulative_counts_only_grow_and_end_at_the_total() -> None:
    stats = Stats()
    latencies = [0.0004 * 1.7**i for i in range(30)]  # 0.4 ms to past 10 s
    for i, latency in enumerate(latencies):
        stats.record_chunk(1, 10, latency=latency, now=float(i))
    counts = cumulative(stats.chunk_latency_buckets)
    assert counts == sorted(counts)  # monotonic
    assert counts[-1] == len(latencies)  # +Inf == count
    for bound, count in zip(CHUNK_LATENCY_BOUNDS, counts, strict=False):
        assert count == sum(1 for x in latencies if x <= bound), bound
    assert cumulative([0, 0, 0]) == [0, 0, 0]
    assert cumulative([2, 0, 3, 1]) == [2, 2, 5, 6]


def test_first_tokens_have_their_own_histogram_up_to_30_seconds() -> None:
    stats = Stats()
    for i, seconds in enumerate((0.02, 0.02, 15.0, 30.0, 31.0)):
        stats.record_first_token(seconds, now=float(i))
    counts = cumulative(stats.first_token_buckets)
    by_le = dict(zip((*FIRST_TOKEN_BOUNDS, math.inf), counts, strict=True))
    assert by_le[0.01] == 0 and by_le[0.025] == 2 and by_le[10.0] == 2
    assert by_le[20.0] == 3 and by_le[30.0] == 4 and by_le[math.inf] == 5
    assert stats.first_token_sum == pytest.approx(76.04)
    assert sum(stats.chunk_latency_buckets) == 0  # the two histograms are apart


def scrape(stats: Stats, node: str = "") -> dict[str, Metric]:
    body, _ = render(stats, LoopLag(), WORK, node=node)
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def test_the_collector_exports_both_histograms() -> None:
    stats = Stats()
    for i, latency in enumerate((0.0002, 0.004, 0.004, 2.0)):
        stats.record_chunk(1, 10, latency=latency, now=float(i))
    stats.record_first_token(0.3, now=5.0)
    families = scrape(stats)
    chunk = families["sheetstream_chunk_latency_seconds"]
    assert chunk.type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in chunk.samples}
    assert samples[("sheetstream_chunk_latency_seconds_bucket", "0.0005")] == 1
    assert samples[("sheetstream_chunk_latency_seconds_bucket", "0.005")] == 3
    assert samples[("sheetstream_chunk_latency_seconds_bucket", "2.5")] == 4
    assert samples[("sheetstream_chunk_latency_seconds_bucket", "+Inf")] == 4
    assert samples[("sheetstream_chunk_latency_seconds_count", None)] == 4
    assert samples[("sheetstream_chunk_latency_seconds_sum", None)] == pytest.approx(2.0082)
    first = families["sheetstream_time_to_first_token_seconds"]
    assert first.type == "histogram"
    les = [s.labels["le"] for s in first.samples if s.name.endswith("_bucket")]
    assert les[-2:] == ["30.0", "+Inf"]
    kept = families["sheetstream_token_delivery_seconds"]  # the percentile gauges stay
    assert kept.type == "gauge"
    assert {s.labels["quantile"] for s in kept.samples} == {"0.5", "0.95", "0.99"}


def test_a_node_id_labels_every_sample_and_none_labels_none() -> None:
    stats = Stats()
    stats.record_chunk(1, 10, latency=0.01, now=1.0)
    stats.record_first_token(0.1, now=1.0)
    stats.streams_started["token"] += 1
    labelled = scrape(stats, node="node-a")
    samples = [s for family in labelled.values() for s in family.samples]
    assert len(samples) > 20
    assert all(s.labels.get("node") == "node-a" for s in samples)
    started = labelled["sheetstream_streams_started"].samples
    assert started[0].labels == {"mode": "token", "node": "node-a"}
    plain = scrape(stats)
    assert not any("node" in s.labels for f in plain.values() for s in f.samples)
