"""Delivery to one connection: order, coalescing while a send is in flight, slow consumers."""

from __future__ import annotations

import asyncio

import orjson

from sheetstream.protocol import BatchOptions, EndReason, StreamingMode
from sheetstream.streaming.batcher import Demand
from sheetstream.streaming.connection import Connection, DeliveryLimits
from sheetstream.streaming.registry import Deadlines, Registry
from sheetstream.streaming.stats import Stats
from sheetstream.streaming.stream import Stream


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class GatedSink:
    """A peer whose reads we control: while the gate is shut nothing is written at once, and
    each send waits until the test opens it."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.closed_with: tuple[int, str] | None = None

    def write_now(self, text: str) -> bool:
        if not self.gate.is_set():  # like a socket that pushes back
            return False
        self.frames.append(orjson.loads(text))
        return True

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.frames.append(orjson.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


LIMITS = DeliveryLimits(control_frames=4, max_lag_bytes=10_000, send_timeout_s=5.0)


def make(clock: FakeClock, sink: GatedSink) -> tuple[Connection, Stream, Stats]:
    stats = Stats()
    conn = Connection("cn_1", "ss_1", sink, stats, LIMITS, clock)
    stream = Stream("st_1", "ss_1", "r1", StreamingMode.TOKEN_BY_TOKEN, BatchOptions(4, 25), clock)
    return conn, stream, stats


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_tokens_coalesce_while_a_send_is_in_flight() -> None:
    clock, sink = FakeClock(), GatedSink()
    conn, stream, _ = make(clock, sink)
    conn.subscribe(stream)
    conn.start()
    stream.add_token("first")  # idle reader: goes at once
    await settle()
    assert [f["text"] for f in sink.frames] == ["first"]
    sink.gate.clear()  # the peer stops reading
    for token in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]:
        stream.add_token(token)
        await settle()
    assert stream.demand() is Demand.SATURATED
    sink.gate.set()
    await settle()
    stream.finish(EndReason.COMPLETE)
    await settle()
    texts = [f["text"] for f in sink.frames if f["type"] == "chunk"]
    assert "".join(texts) == "firstabcdefghij"
    assert len(texts) < 6  # grew instead of queueing one chunk per token
    assert sink.frames[-1]["type"] == "end" and sink.frames[-1]["seq"] == len(texts)
    await conn.stop()


async def test_a_send_stuck_past_the_timeout_closes_1013() -> None:
    clock, sink = FakeClock(), GatedSink()
    conn, stream, stats = make(clock, sink)
    registry = Registry(clock, retention_s=60)
    registry.connections[conn.connection_id] = conn
    conn.subscribe(stream)
    conn.start()
    sink.gate.clear()
    stream.add_token("stuck")
    await settle()
    assert conn.sending
    clock.now += 4.9
    registry.enforce(Deadlines(5.0, 10_000, 0, 0))
    assert not conn.closed
    clock.now += 0.2
    registry.enforce(Deadlines(5.0, 10_000, 0, 0))
    await settle()
    assert conn.closed and sink.closed_with is not None and sink.closed_with[0] == 1013
    assert "resume" in sink.closed_with[1] and stats.slow_consumers == 1
    assert conn not in stream.subscribers  # the stream no longer waits for it
    stream.add_token("more")
    assert stream.demand() is Demand.NONE


async def test_too_many_waiting_control_frames_closes_1013() -> None:
    clock, sink = FakeClock(), GatedSink()
    conn, _, stats = make(clock, sink)
    sink.gate.clear()
    conn.start()
    for i in range(LIMITS.control_frames + 2):
        conn.push(orjson.dumps({"type": "pong", "ts": i}).decode())
        await settle()
    assert conn.closed and stats.slow_consumers == 1
    await settle()
    assert sink.closed_with is not None and sink.closed_with[0] == 1013


async def test_replay_then_live_keeps_original_seqs() -> None:
    clock, sink = FakeClock(), GatedSink()
    conn, stream, _ = make(clock, sink)
    for token in ["a", "b", "c"]:
        stream.add_token(token)  # nobody subscribed: max_tokens / delay decide
        clock.now += 1
        stream.pump()
    conn.subscribe(stream, after_seq=1)
    conn.start()
    await settle()
    stream.add_token("d")
    await settle()
    stream.finish(EndReason.COMPLETE)
    await settle()
    chunks = [f for f in sink.frames if f["type"] == "chunk"]
    assert [c["seq"] for c in chunks] == list(range(2, stream.last_seq + 1))
    assert "".join(c["text"] for c in chunks) == "bcd"
    await conn.stop()


async def test_a_connection_that_never_speaks_is_closed_at_the_first_message_deadline() -> None:
    clock, quiet, talker = FakeClock(), GatedSink(), GatedSink()
    registry = Registry(clock, retention_s=60)
    deadlines = Deadlines(5.0, 10_000, first_message_s=10.0, idle_s=0)
    silent = Connection("cn_q", "ss_1", quiet, Stats(), LIMITS, clock)
    spoke = Connection("cn_t", "ss_1", talker, Stats(), LIMITS, clock)
    for conn in (silent, spoke):
        registry.connections[conn.connection_id] = conn
    clock.now += 9.0
    spoke.last_received = clock.now
    registry.enforce(deadlines)
    assert not silent.closed
    clock.now += 1.5
    registry.enforce(deadlines)
    await settle()
    assert quiet.closed_with is not None and quiet.closed_with[0] == 1008
    assert "no message within 10 s of connecting" in quiet.closed_with[1]
    assert not spoke.closed and talker.closed_with is None


async def test_idle_connections_close_unless_reading_a_running_answer() -> None:
    clock, idle_sink, reader_sink = FakeClock(), GatedSink(), GatedSink()
    registry = Registry(clock, retention_s=60)
    deadlines = Deadlines(5.0, 10_000, first_message_s=0, idle_s=30.0)
    idle = Connection("cn_i", "ss_1", idle_sink, Stats(), LIMITS, clock)
    reader = Connection("cn_r", "ss_1", reader_sink, Stats(), LIMITS, clock)
    _, stream, _ = make(clock, GatedSink())
    reader.subscribe(stream)  # a model slow to answer: nothing moves, but it is not idle
    for conn in (idle, reader):
        conn.last_received = clock.now
        registry.connections[conn.connection_id] = conn
    clock.now += 29.0
    registry.enforce(deadlines)
    assert not idle.closed
    clock.now += 2.0
    registry.enforce(deadlines)
    await settle()
    assert idle_sink.closed_with is not None and idle_sink.closed_with[0] == 1000
    assert "idle" in idle_sink.closed_with[1]
    assert not reader.closed
    stream.finish(EndReason.COMPLETE)
    reader.unsubscribe_all()
    registry.enforce(deadlines)
    await settle()
    assert reader_sink.closed_with is not None and reader_sink.closed_with[0] == 1000


def test_recent_percentiles_cover_only_the_last_minute() -> None:
    stats = Stats()
    for i in range(10):
        stats.record_chunk(1, 10, latency=1.0, now=float(i))  # old and slow
        stats.record_first_token(2.0, now=float(i))
    for i in range(5):
        stats.record_chunk(1, 10, latency=0.001, now=100.0 + i)
        stats.record_first_token(0.1, now=100.0 + i)
    figures = stats.snapshot(now=110.0)
    assert figures["delivery_latency_ms"]["p99"] == 1000.0  # since start
    assert figures["delivery_latency_ms"]["last_60s"] == {"p50": 1.0, "p99": 1.0, "samples": 5}
    assert figures["time_to_first_token_ms"]["last_60s"] == {
        "p50": 100.0,
        "p99": 100.0,
        "samples": 5,
    }


async def test_a_silent_watcher_of_a_running_answer_is_not_cut_off() -> None:
    clock, sink = FakeClock(), GatedSink()
    registry = Registry(clock, retention_s=60)
    deadlines = Deadlines(5.0, 10_000, first_message_s=10.0, idle_s=0)
    watcher = Connection("cn_w", "ss_1", sink, Stats(), LIMITS, clock)
    _, stream, _ = make(clock, GatedSink())
    watcher.subscribe(stream)  # a second tab, reading the answer another tab asked for
    registry.connections[watcher.connection_id] = watcher
    clock.now += 60.0
    registry.enforce(deadlines)
    assert not watcher.closed
    stream.finish(EndReason.COMPLETE)
    watcher.unsubscribe_all()
    registry.enforce(deadlines)
    await settle()
    assert sink.closed_with is not None and sink.closed_with[0] == 1008


async def test_tool_and_end_frames_count_in_the_lag_of_a_reader_that_stopped() -> None:
    """A slow reader is measured by every frame waiting for it, not the chunks alone: a
    large `tool` frame nobody reads must still bring it to the slow-consumer limit."""
    clock, sink = FakeClock(), GatedSink()
    conn, stream, stats = make(clock, sink)
    registry = Registry(clock, retention_s=60)
    registry.connections[conn.connection_id] = conn
    conn.subscribe(stream)
    conn.start()
    sink.gate.clear()
    conn.push(orjson.dumps({"type": "pong"}).decode())  # in flight: the reader stopped
    await settle()
    tool = orjson.dumps({"type": "tool", "rows": ["x" * 6000]}).decode()
    stream.add_preface(tool)
    stream.add_preface(tool)
    stream.finish(EndReason.COMPLETE)
    assert conn.queue_depth == 2
    assert conn.lag_bytes() == 2 * len(tool) + len(stream.end_frame or "")
    registry.enforce(Deadlines(5.0, LIMITS.max_lag_bytes, 0, 0))
    assert conn.closed and stats.slow_consumers == 1


async def test_a_reader_who_keeps_up_is_written_to_at_once_with_no_writer_task() -> None:
    clock, sink = FakeClock(), GatedSink()
    conn, stream, _ = make(clock, sink)
    conn.subscribe(stream)
    conn.start()
    stream.add_tokens(("a", "b", "c"))  # one turn of the model: one chunk
    await asyncio.sleep(0)  # the stream cuts once the model's turn is over
    assert [f["text"] for f in sink.frames] == ["abc"] and sink.frames[0]["tokens"] == 3
    assert conn._writer is None  # nothing waits: no task per connection
    stream.finish(EndReason.COMPLETE)
    assert sink.frames[-1]["type"] == "end"  # written in the same step
    assert conn not in stream.subscribers  # a reader sent its end leaves the stream


async def test_a_writer_task_exists_only_while_the_socket_pushes_back() -> None:
    clock, sink = FakeClock(), GatedSink()
    conn, stream, _ = make(clock, sink)
    conn.subscribe(stream)
    conn.start()
    sink.gate.clear()
    stream.add_token("x")
    await settle()
    assert conn._writer is not None and conn.sending
    sink.gate.set()
    await settle()
    assert conn._writer is None and not conn.sending
    assert [f["text"] for f in sink.frames] == ["x"]
    await conn.stop()


async def test_readers_of_one_stream_all_get_the_end_written_at_once() -> None:
    clock = FakeClock()
    sinks = [GatedSink() for _ in range(3)]
    stats = Stats()
    stream = Stream("st_1", "ss_1", "r1", StreamingMode.TOKEN_BY_TOKEN, BatchOptions(4, 25), clock)
    conns = [Connection(f"cn_{i}", "ss_1", s, stats, LIMITS, clock) for i, s in enumerate(sinks)]
    for conn in conns:
        conn.subscribe(stream)
        conn.start()
    stream.add_token("only")
    stream.finish(EndReason.COMPLETE)  # each reader leaves the stream as its end is written
    for sink in sinks:
        assert [f["type"] for f in sink.frames] == ["chunk", "end"]
    assert not stream.subscribers


async def test_a_token_alone_goes_at_once_and_a_burst_goes_as_one_chunk() -> None:
    clock, sink = FakeClock(), GatedSink()
    conn, stream, _ = make(clock, sink)
    conn.subscribe(stream)
    conn.start()
    for token in ("one ", "two "):  # a reading pace: each written in the step that made it
        stream.add_token(token)
        assert sink.frames[-1]["text"] == token
        clock.now += 0.02
    for token in ("a", "b", "c", "d"):  # a backend handing over four tokens in one turn
        stream.add_token(token)
        clock.now += 0.00001
    assert [f["text"] for f in sink.frames] == ["one ", "two ", "a"]
    await asyncio.sleep(0)  # the turn is over: the rest of the burst, in one chunk
    assert [f["text"] for f in sink.frames] == ["one ", "two ", "a", "bcd"]
    await conn.stop()
