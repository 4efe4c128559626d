"""One answer being streamed: its batcher, its chunks kept for replay, and who is reading it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sheetstream import protocol
from sheetstream.protocol import BatchOptions, EndReason, StreamingMode
from sheetstream.streaming.batcher import Batcher, Demand, Piece
from sheetstream.streaming.segmenters import scanner_for

if TYPE_CHECKING:
    from sheetstream.streaming.connection import Connection


# Tokens closer together than this are one burst, cut together at the end of the turn.
BURST_GAP_S = 0.0002


class Stream:
    """Chunks get their seq here, once, so every reader and every replay sees the same ones.

    The chunk list is the replay buffer: each connection reads it through its own cursor, so
    a slow reader holds a position, not a copy. The list is bounded by the answer's length
    (`max_answer_tokens`) and dropped `stream_retention_s` after the end.
    """

    def __init__(
        self,
        stream_id: str,
        session_id: str,
        request_id: str | None,
        mode: StreamingMode,
        batch: BatchOptions,
        clock: Callable[[], float],
    ) -> None:
        self.stream_id = stream_id
        self.session_id = session_id
        self.request_id = request_id
        self.mode = mode
        self.is_token_mode = mode is StreamingMode.TOKEN_BY_TOKEN
        self.clock = clock
        self.created_at = clock()
        self.batcher = Batcher(scanner_for(mode), batch.max_tokens, batch.max_delay_ms / 1000)
        self.start_frame = protocol.start_frame(request_id, stream_id, mode)
        self.frames: list[str] = []  # chunk frames; seq n is frames[n - 1]
        self.oldest: list[float] = []  # when the oldest token of each chunk was produced
        self.chunk_tokens: list[int] = []
        self.text_parts: list[str] = []
        self.tokens = 0
        self.first_token_at: float | None = None
        self.end_frame: str | None = None
        self.error_frame: str | None = None  # sent just before `end` when the answer failed
        self.preface: list[str] = []  # frames before the first chunk (tools the answer used)
        self.end_extra: dict[str, Any] | None = None  # more fields for `end` (grounding)
        self.reason: EndReason | None = None
        self.ended_at: float | None = None
        self.subscribers: dict[Connection, None] = {}
        self.cancel_requested = False
        self.task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._saturated = False
        self._burst_due = False
        self._last_token_at = -BURST_GAP_S  # when the last token came
        self.ttft_recorded = False
        # in a fleet: told of each new chunk, preface and end, to write them to the log
        self.on_change: Callable[[Stream], None] | None = None
        self.owner: str | None = None
        self.remote_node: str | None = None  # a mirror of an answer another node generates
        self.begun = False  # its `start` frame went out (after the fleet admitted it)
        # What readers may be sent. In a fleet a chunk is sent once it is in the shared log
        # (`gated`, released by the relay), so a reader who moves to another node never has
        # seen a chunk the log lacks; otherwise everything is ready as soon as it is cut.
        self.gated = False
        self.fenced = False  # ended by another node: this node stores nothing of it
        self.ready_seq = 0
        self.ready_preface = 0
        self.end_ready = False
        self.end_published = False  # the `end` may go out (finish, or publish_end after a hold)

    @property
    def last_seq(self) -> int:
        return len(self.frames)

    @property
    def finished(self) -> bool:
        return self.end_frame is not None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def add_token(self, token: str) -> None:
        now = self.clock()
        self.batcher.add(token, now)
        self._added(1, now)

    def add_tokens(self, tokens: Sequence[str]) -> None:
        """Several tokens the model had ready at once."""
        if tokens:
            now = self.clock()
            self.batcher.add_many(tokens, now)
            self._added(len(tokens), now)

    def _added(self, count: int, now: float) -> None:
        if self.first_token_at is None:
            self.first_token_at = now
        self.tokens += count
        # While every reader is behind, only a reader catching up (which pumps) can release
        # a chunk: nothing to do. A token (or run) that comes alone, BURST_GAP_S or more after
        # the last, is cut at once: the reading pace of a model. One close behind another is
        # part of a burst handed over in one turn on the loop (a backend reading several
        # tokens at once): the rest of the burst is cut together once the turn is over, a
        # chunk per turn rather than per token.
        if self._saturated or self._burst_due:
            return
        alone = now - self._last_token_at >= BURST_GAP_S
        self._last_token_at = now
        if alone:
            self.pump()
            return
        self._burst_due = True
        asyncio.get_running_loop().call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        self._burst_due = False
        self.pump()

    def pump(self) -> None:
        """Cut a chunk if the readers' demand allows; otherwise wake up at the delay deadline."""
        if self.finished or not self.batcher.pending_tokens:
            return
        demand = self.demand()
        self._saturated = demand is Demand.SATURATED
        piece = self.batcher.take(demand, self.clock())
        if piece is not None:
            self._append(piece)
        if demand in (Demand.BUSY, Demand.NONE) and self._timer is None:
            deadline = self.batcher.deadline()
            if deadline is not None:
                # call_later, not call_at: the loop's clock need not be ours (uvloop's is not)
                delay = max(0.0, deadline - self.clock())
                self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def demand(self) -> Demand:
        if not self.subscribers:
            return Demand.NONE
        last = len(self.frames)
        best = last + 1
        for conn in self.subscribers:
            behind = last - conn.cursor(self)
            if behind == 0 and not conn.sending:
                return Demand.IDLE
            best = min(best, behind)
        return Demand.BUSY if best <= 1 else Demand.SATURATED

    def finish(
        self,
        reason: EndReason,
        error_frame: str | None = None,
        annotate: Callable[[str], dict[str, Any]] | None = None,
        hold: bool = False,
    ) -> None:
        """Flush the rest, then the end frame (after `error_frame` when there is one).

        `annotate` gets the whole answer and returns more fields for the `end` frame.
        With `hold` the answer is over (no more chunks, no cancel) but its `end` waits for
        `publish_end`: the answer is stored first, so a reader who has the `end` finds the
        answer in the history, on any node.
        """
        if self.finished:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        piece = self.batcher.drain()
        if piece is not None:
            self._append(piece)
        if annotate is not None:
            self.end_extra = annotate(self.text)
        self.reason = reason
        self.ended_at = self.clock()
        self.error_frame = error_frame
        self.end_frame = protocol.end_frame(
            self.stream_id, self.last_seq, reason, self.tokens, self.request_id, self.end_extra
        )
        if not hold:
            self.publish_end()

    def publish_end(self) -> None:
        """Let the held `end` out: to this node's readers, and (in a fleet) to the log."""
        if self.end_published or self.end_frame is None or self.fenced:
            return
        self.end_published = True
        if not self.gated:
            self.end_ready = True
        self._wake_readers()
        if self.on_change is not None:
            self.on_change(self)

    # --- a mirror: the chunks come from the log, as another node cut them

    def mirror_chunk(self, frame: str, text: str, tokens: int, oldest: float) -> None:
        self.frames.append(frame)
        self.oldest.append(oldest)
        self.chunk_tokens.append(tokens)
        self.text_parts.append(text)
        self.tokens += tokens
        self.ready_seq = len(self.frames)
        self._wake_readers()

    def mirror_end(self, end_frame: str, error_frame: str | None, reason: EndReason) -> None:
        if not self.finished:
            self._end_as(end_frame, error_frame, reason)

    def fence(self, end_frame: str, error_frame: str | None) -> None:
        """Another node ended this answer in the log (this node was taken for dead): its
        readers get what the log has and the log's `end`, nothing this node cut after."""
        self.fenced = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._end_as(end_frame, error_frame, EndReason.INTERRUPTED)

    def _end_as(self, end_frame: str, error_frame: str | None, reason: EndReason) -> None:
        """End with an `end` frame made elsewhere (the log's), readable at once."""
        self.reason = reason
        self.ended_at = self.clock()
        self.end_frame, self.error_frame = end_frame, error_frame
        self.end_published = self.end_ready = True
        self._wake_readers()

    def release(self, chunks: int, preface: int, ended: bool) -> None:
        """The relay wrote this much to the log: readers may have it."""
        self.ready_seq = chunks
        self.ready_preface = preface
        self.end_ready = ended
        self._wake_readers()

    def subscribe(self, conn: Connection) -> None:
        self.subscribers[conn] = None
        self._saturated = False

    def unsubscribe(self, conn: Connection) -> None:
        self.subscribers.pop(conn, None)
        self._saturated = False

    def add_preface(self, frame: str) -> None:
        self.preface.append(frame)
        if not self.gated:
            self.ready_preface = len(self.preface)
        self._wake_readers()
        if self.on_change is not None:
            self.on_change(self)

    def _append(self, piece: Piece) -> None:
        seq = len(self.frames) + 1
        self.frames.append(protocol.chunk_frame(self.stream_id, seq, piece.text, piece.tokens))
        self.oldest.append(piece.oldest)
        self.chunk_tokens.append(piece.tokens)
        self.text_parts.append(piece.text)
        if not self.gated:
            self.ready_seq = seq
        self._wake_readers()
        if self.on_change is not None:
            self.on_change(self)

    def _wake_readers(self) -> None:
        # over a copy: a reader is written to at once, and one sent its `end` leaves the dict
        for conn in tuple(self.subscribers):
            conn.wake()

    def _on_timer(self) -> None:
        self._timer = None
        self.pump()
