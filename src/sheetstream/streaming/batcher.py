"""When to cut the pending tokens of a stream into a chunk. Pure: the caller passes the clock.

The policy batches by coalescing while a send is in flight rather than by waiting: a
subscriber that is idle gets whatever is ready at once (the first token of a stream is never
held back); while its previous chunk is still being written, tokens gather until `max_tokens`
or `max_delay`; when every subscriber is already behind, the chunk simply grows until one
catches up, so a slow reader costs bigger chunks instead of a growing queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sheetstream.streaming.segmenters import Segmenter, token_boundary


class Demand(Enum):
    """How ready the stream's readers are for another chunk."""

    IDLE = "idle"  # some subscriber has nothing waiting and nothing in flight
    BUSY = "busy"  # the readiest subscriber has one chunk waiting or in flight
    SATURATED = "saturated"  # every subscriber has more than that waiting
    NONE = "none"  # nobody is subscribed; chunks go to the replay buffer only


@dataclass(frozen=True, slots=True)
class Piece:
    """A chunk's worth of text, how many tokens ended inside it, and its oldest token's time."""

    text: str
    tokens: int
    oldest: float


class Batcher:
    def __init__(self, segmenter: Segmenter, max_tokens: int, max_delay_s: float) -> None:
        self._segmenter = segmenter
        self._max_tokens = max_tokens
        self._max_delay_s = max_delay_s
        self._is_token_mode = segmenter is token_boundary
        self._parts: list[str] = []
        self._ends: list[int] = []  # cumulative text length after each pending token
        self._times: list[float] = []  # when each pending token arrived
        self._length = 0
        self._carry = 0  # characters of a split token already sent in the previous chunk
        self._cuts = 0

    @property
    def pending_tokens(self) -> int:
        return len(self._ends)

    def add(self, token: str, now: float) -> None:
        if not token:
            return
        self._parts.append(token)
        self._length += len(token)
        self._ends.append(self._length)
        self._times.append(now)

    def deadline(self) -> float | None:
        """When the oldest pending token has waited `max_delay`; None when nothing waits."""
        return self._times[0] + self._max_delay_s if self._times else None

    def take(self, demand: Demand, now: float) -> Piece | None:
        """The chunk to send now under this demand, or None to keep gathering."""
        if not self._parts or demand is Demand.SATURATED:
            return None
        if demand is Demand.BUSY and self._cuts == 0:
            return self._cut(final=False)  # the first token of a stream is never held back
        if demand is not Demand.IDLE and self._is_token_mode:
            due = self._times[0] + self._max_delay_s <= now
            if len(self._ends) < self._max_tokens and not due:
                return None
        return self._cut(final=False)

    def drain(self) -> Piece | None:
        """Everything still pending, at stream end."""
        return self._cut(final=True) if self._parts else None

    def _cut(self, final: bool) -> Piece | None:
        text = "".join(self._parts)
        cut = self._segmenter(text, final)
        if cut <= 0:
            self._parts = [text]
            return None
        whole = 0  # tokens that end inside the cut
        while whole < len(self._ends) and self._ends[whole] - self._carry <= cut:
            whole += 1
        oldest = self._times[0]
        rest = text[cut:]
        self._parts = [rest] if rest else []
        del self._ends[:whole]
        del self._times[:whole]
        self._carry += cut
        self._cuts += 1
        if not self._ends:  # every pending character belonged to a token that ended
            self._carry = 0
            self._length = 0
        return Piece(text=text[:cut], tokens=whole, oldest=oldest)
