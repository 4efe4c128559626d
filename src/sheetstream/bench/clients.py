"""The load generator's clients: lean `websockets` connections that check what they receive.

This runs inside the load worker processes. Each client opens `/ws/chat`, waits for its
`session` frame, and (for streaming jobs) asks one question and reads the answer to its `end`,
checking the protocol as it goes: chunk seqs 1, 2, 3, ...; `end.seq` is the last seq;
`end.tokens` is the sum of the chunks' tokens and equals the answer's length; the chunk texts
join to the synthetic model's text exactly.
"""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.client import ClientConnection, connect

CHAT = orjson.dumps(
    {"type": "chat", "request_id": "r1", "content": "How many rows are there?", "mode": "token"}
).decode()


class ProtocolViolation(Exception):
    """A frame broke the wire protocol or the answer was not the expected one."""


@dataclass(frozen=True, slots=True)
class Expected:
    text: str
    tokens: int


@dataclass(slots=True)
class Totals:
    """What one worker's clients saw; latencies are milliseconds, one per token."""

    first_send: float | None = None
    last_end: float | None = None
    streams: int = 0
    frames: int = 0
    tokens: int = 0
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    first_token_ms: array[float] = field(default_factory=lambda: array("d"))  # one per answer


async def open_client(url: str) -> ClientConnection:
    """Connect without compression or size limit and read the `session` frame."""
    ws = await connect(
        url, compression=None, max_size=None, ping_interval=None, open_timeout=60, close_timeout=5
    )
    try:
        first = orjson.loads(await ws.recv())
        if first.get("type") != "session":
            raise ProtocolViolation(f"first frame is {first.get('type')!r}, not 'session'")
    except BaseException:
        await ws.close()
        raise
    return ws


async def ask(ws: ClientConnection, expected: Expected, rate: float, totals: Totals) -> None:
    """Ask once and read the answer to its end; with `rate`, time every token against its due.

    The k-th token of an answer is due k/rate seconds after its `start` frame arrived, so the
    latency of a token is its chunk's arrival minus that.
    """
    sent = time.monotonic()
    if totals.first_send is None or sent < totals.first_send:
        totals.first_send = sent
    await ws.send(CHAT)
    latencies = totals.latencies_ms
    started: float | None = None
    seq = tokens = 0
    parts: list[str] = []
    while True:
        raw = await ws.recv()
        now = time.monotonic()
        frame = orjson.loads(raw)
        kind = frame["type"]
        if kind == "chunk":
            seq += 1
            if frame["seq"] != seq:
                raise ProtocolViolation(f"chunk seq {frame['seq']} where {seq} was due")
            count = frame["tokens"]
            if rate and started is not None:
                elapsed = now - started
                if tokens == 0:
                    totals.first_token_ms.append((elapsed - 1 / rate) * 1000.0)
                latencies.extend(
                    (elapsed - k / rate) * 1000.0 for k in range(tokens + 1, tokens + count + 1)
                )
            tokens += count
            parts.append(frame["text"])
        elif kind == "start":
            started = now
        elif kind == "end":
            _check_end(frame, seq, tokens, "".join(parts), expected)
            if started is None:
                raise ProtocolViolation("no start frame before the end")
            totals.streams += 1
            totals.frames += seq
            totals.tokens += tokens
            if totals.last_end is None or now > totals.last_end:
                totals.last_end = now
            return
        elif kind == "error":
            raise ProtocolViolation(f"error frame {frame.get('code')}: {frame.get('message')}")


def _check_end(frame: dict[str, object], seq: int, tokens: int, text: str, exp: Expected) -> None:
    if frame.get("reason") != "complete":
        raise ProtocolViolation(f"answer ended {frame.get('reason')!r}, not 'complete'")
    if frame.get("seq") != seq:
        raise ProtocolViolation(f"end.seq {frame.get('seq')} but the last chunk was {seq}")
    if frame.get("tokens") != tokens:
        raise ProtocolViolation(f"end.tokens {frame.get('tokens')} but chunks held {tokens}")
    if tokens != exp.tokens:
        raise ProtocolViolation(f"{tokens} tokens where {exp.tokens} were expected")
    if text != exp.text:
        raise ProtocolViolation("the chunk texts do not join to the expected answer")
