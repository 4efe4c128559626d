"""One WebSocket connection's delivery side: a bounded queue of control frames, a cursor per
stream it reads, and the writing of them in order.

A frame is written the moment it is ready while the socket takes it (`FrameSink.write_now`),
with no task and no await: that is every frame of a reader who keeps up. Only when the socket
pushes back does a writer task start, to await the socket for the frames waiting; it ends when
they are out. While it waits, the streams see the reader as busy and grow their chunks instead
of queueing (the batcher's policy), and the slow-consumer deadlines watch it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sheetstream.protocol import CloseCode
from sheetstream.ratelimit import MessageRate
from sheetstream.streaming.stats import Stats
from sheetstream.streaming.stream import Stream


class FrameSink(Protocol):
    """Where a connection's frames go: the WebSocket, behind the route's adapter."""

    def write_now(self, text: str) -> bool:
        """Write the frame at once if the socket takes it now; False leaves it unsent."""
        ...

    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


CLOSING_GRACE_S = 1.0  # longest a closing connection may take to send what it has queued


class SinkClosed(Exception):
    """The peer went away while a frame was being sent."""


@dataclass(frozen=True, slots=True)
class DeliveryLimits:
    control_frames: int
    max_lag_bytes: int
    send_timeout_s: float


class _Cursor:
    __slots__ = ("end_sent", "error_sent", "live_after", "position", "preface")

    def __init__(self, position: int, live_after: int, preface: int) -> None:
        self.position = position  # chunks of the stream handed to the writer
        self.live_after = live_after  # chunks up to this seq were replayed, not live
        self.end_sent = False
        self.error_sent = False
        self.preface = preface  # preface frames of the stream already handed to the writer


class Connection:
    def __init__(
        self,
        connection_id: str,
        session_id: str,
        sink: FrameSink,
        stats: Stats,
        limits: DeliveryLimits,
        clock: Callable[[], float],
        remote: str = "",
        address: str = "",
        owner: str | None = None,
        messages_per_minute: int = 0,
    ) -> None:
        self.connection_id = connection_id
        self.session_id = session_id
        self.remote = remote  # host:port, for the admin's view
        self.address = address  # host, for the per-address connection cap
        self.owner = owner  # the token's owner; None when the service is open
        self.connected_at = clock()
        self.last_received: float | None = None  # None until the client's first message
        self.last_sent = self.connected_at
        self.rate = MessageRate(messages_per_minute, self.connected_at)
        self.sending = False
        self.send_started = 0.0
        self.closed = False
        self.close_code: int | None = None
        self._sink = sink
        self._stats = stats
        self._limits = limits
        self._clock = clock
        # a list, and a writer task only while the socket pushes back: an idle connection
        # costs less (measured by `sheetstream bench`, RSS per idle connection)
        self._control: list[str] = []
        self._cursors: dict[Stream, _Cursor] = {}
        self._started = False
        self._writer: asyncio.Task[None] | None = None
        self._sent: tuple[Stream, int, bool] | None = None  # what the send in flight carries
        self._closing: tuple[int, str] | None = None  # close once the queued frames are out
        self._close_task: asyncio.Task[None] | None = None

    # --- what the session and streams call

    def cursor(self, stream: Stream) -> int:
        cur = self._cursors.get(stream)
        return cur.position if cur is not None else stream.last_seq

    def push(self, frame: str) -> None:
        """Queue a non-chunk frame; a reader this far behind is closed as a slow consumer."""
        if self.closed or self._closing is not None:
            return
        if len(self._control) >= self._limits.control_frames:
            self.drop_slow_consumer("too many frames waiting")
            return
        self._control.append(frame)
        self.wake()

    def wake(self) -> None:
        """Something is ready to send: written now, or by the writer already waiting."""
        if self._writer is None and self._started and not self.closed:
            self._flush()

    def subscribe(self, stream: Stream, after_seq: int = 0) -> None:
        """Read `stream` from the chunk after `after_seq`: replay first, then live."""
        position = min(after_seq, stream.ready_seq)
        # a reader that starts from the beginning gets the tool frames too
        preface = 0 if position == 0 else stream.ready_preface
        self._cursors[stream] = _Cursor(position, live_after=stream.ready_seq, preface=preface)
        stream.subscribe(self)
        self.wake()

    def unsubscribe_all(self) -> None:
        for stream in self._cursors:
            stream.unsubscribe(self)
            stream.pump()  # a reader leaving may be what held the chunk back
        self._cursors.clear()

    def lag_bytes(self) -> int:
        """Bytes of every frame waiting for this connection: control, tool, chunk, end."""
        waiting = sum(len(frame) for frame in self._control)
        for stream, cur in self._cursors.items():
            waiting += sum(len(f) for f in stream.preface[cur.preface : stream.ready_preface])
            waiting += sum(len(f) for f in stream.frames[cur.position : stream.ready_seq])
            if stream.end_ready and stream.end_frame is not None and not cur.end_sent:
                waiting += len(stream.end_frame)
                if stream.error_frame is not None and not cur.error_sent:
                    waiting += len(stream.error_frame)
        return waiting

    @property
    def closing(self) -> bool:
        """Closed, or closing once its queued frames are out: it takes no more messages."""
        return self.closed or self._closing is not None

    @property
    def following(self) -> bool:
        """Reading an answer that is still being generated."""
        return any(not stream.finished for stream in self._cursors)

    @property
    def queue_depth(self) -> int:
        behind = sum(
            stream.ready_seq - cur.position + stream.ready_preface - cur.preface
            for stream, cur in self._cursors.items()
        )
        return len(self._control) + behind

    # --- the writer

    def start(self) -> None:
        """Deliver from now on (frames queued before are sent now)."""
        self._started = True
        self.wake()

    async def stop(self) -> None:
        """Stop delivering. A connection closing after its queued frames gets up to
        `CLOSING_GRACE_S` to send them (a peer that does not read gets its close then)."""
        writer = self._writer
        if self._closing is not None and not self.closed and writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(writer), CLOSING_GRACE_S)
            self.close(*self._closing)
        self.closed = True
        self.unsubscribe_all()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, SinkClosed):
                await self._writer
        if self._close_task is not None:
            # the close frame goes out before the route returns; a transport that cannot
            # take it in time is left to the WebSocket layer's own close timeout
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._close_task), CLOSING_GRACE_S)

    def _flush(self) -> None:
        """Write what is ready while the socket takes it; the first frame it refuses goes to
        a writer task, which awaits the socket."""
        while not self.closed:
            frame = self._next_frame()
            if frame is None:
                if self._closing is not None:
                    self.close(*self._closing)
                return
            if not self._sink.write_now(frame):
                self._writer = asyncio.create_task(
                    self._run(frame), name=f"writer-{self.connection_id}"
                )
                return
            self._after_send(frame)

    async def _run(self, first: str) -> None:
        """Send `first` and whatever is ready after it, awaiting the socket; end when none is."""
        frame: str | None = first
        try:
            while frame is not None and not self.closed:
                self.sending = True
                self.send_started = self._clock()
                await self._sink.send_text(frame)
                self._after_send(frame)
                frame = self._next_frame()
                if frame is None:
                    self.sending = False
                    for stream in list(self._cursors):
                        stream.pump()  # idle now: a held-back chunk may go at once
                    frame = self._next_frame()
            if self._closing is not None and not self.closed:
                self._writer = None  # closing from inside the writer: nothing to cancel
                self.close(*self._closing)
        except SinkClosed:
            self.closed = True
        finally:
            self.sending = False
            if self._writer is asyncio.current_task():
                self._writer = None

    def _next_frame(self) -> str | None:
        if self._control:
            return self._control.pop(0)
        for stream, cur in self._cursors.items():
            if cur.preface < stream.ready_preface:
                cur.preface += 1
                self._sent = None
                return stream.preface[cur.preface - 1]
            if cur.position < stream.ready_seq:
                frame = stream.frames[cur.position]
                cur.position += 1
                self._sent = (stream, cur.position, cur.position > cur.live_after)
                return frame
            if stream.end_ready and stream.end_frame is not None and not cur.end_sent:
                self._sent = None
                if stream.error_frame is not None and not cur.error_sent:
                    cur.error_sent = True
                    return stream.error_frame
                cur.end_sent = True
                return stream.end_frame
        return None

    def _after_send(self, frame: str) -> None:
        sent, self._sent = self._sent, None
        now = self.last_sent = self._clock()
        if sent is None:
            self._forget_ended_streams()
            return
        stream, seq, live = sent
        # sentence and paragraph modes hold tokens on purpose; latency is a token-mode figure
        latency = now - stream.oldest[seq - 1] if live and stream.is_token_mode else None
        self._stats.record_chunk(stream.chunk_tokens[seq - 1], len(frame), latency, now)
        if seq == 1 and live and not stream.ttft_recorded:
            stream.ttft_recorded = True
            self._stats.record_first_token(now - stream.created_at, now)

    def _forget_ended_streams(self) -> None:
        done = [s for s, cur in self._cursors.items() if cur.end_sent]
        for stream in done:
            del self._cursors[stream]
            stream.unsubscribe(self)

    # --- closing

    def drop_slow_consumer(self, why: str) -> None:
        if self.closed:
            return
        self._stats.slow_consumers += 1
        self.close(CloseCode.TRY_AGAIN_LATER, f"slow consumer: {why}; reconnect and resume")

    def close_after_queued(self, code: int, reason: str) -> None:
        """Close once the frames already queued are sent, so the client reads why (the
        errors of a flood); streams stop, nothing new is queued. A peer that does not read
        them meets the slow-consumer deadlines."""
        if self.closed or self._closing is not None:
            return
        self._closing = (code, reason)
        self.unsubscribe_all()
        self.wake()

    def close(self, code: int, reason: str) -> None:
        """Close from the server side; the route's reader sees the disconnect and cleans up."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.unsubscribe_all()
        if self._writer is not None:
            self._writer.cancel()
        task = self._close_task = asyncio.create_task(self._close_sink(code, reason))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _close_sink(self, code: int, reason: str) -> None:
        with contextlib.suppress(SinkClosed):
            await self._sink.close(code, reason)


_closing: set[asyncio.Task[None]] = set()  # keeps close tasks alive until they finish
