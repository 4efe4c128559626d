"""The pieces of sheetstream's WebSocket protocol class: the frame header of its direct
write, and the lighter receive queue and `writable` flag it holds per connection."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from sheetstream.server import _Flag, _Inbox, text_frame_header


def parse(data: bytes) -> Frame:
    """A server frame as a client parses it (websockets' own parser, unmasked)."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the frame did not parse from its bytes alone")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70_000])
def test_the_direct_frame_is_the_text_frame_websockets_reads(size: int) -> None:
    payload = ("é" * size).encode()[:size]
    frame = parse(text_frame_header(len(payload)) + payload)
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


async def test_the_inbox_hands_messages_over_in_order_and_waits_when_empty() -> None:
    inbox = _Inbox()
    inbox.put_nowait({"n": 1})
    assert await inbox.get() == {"n": 1} and inbox.empty()
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put_nowait({"n": 2})
    inbox.put_nowait({"n": 3})
    assert await waiting == {"n": 2} and inbox.qsize() == 1
    assert await inbox.get() == {"n": 3}


async def test_the_flag_lets_waiters_through_only_once_set() -> None:
    flag = _Flag()
    assert not flag.is_set()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    flag.clear()
    assert not flag.is_set()
    flag.set()
    assert await flag.wait()  # set: no wait at all
