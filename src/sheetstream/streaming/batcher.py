"""When to cut the pending tokens of a stream into a chunk. Pure: the caller passes the clock.

The policy batches by coalescing while a send is in flight rather than by waiting: a
subscriber that is idle gets whatever is ready at once (the first token of a stream is never
held back); while its previous chunk is still being written, tokens gather until `max_tokens`
or `max_delay`; when every subscriber is already behind, the chunk simply grows until one
catches up, so a slow reader costs bigger chunks instead of a growing queue.

The pending text is kept as the tokens it came in and joined once, when a chunk is cut; the
mode's scanner sees each token once, as it is added. So the work per answer is linear in its
length, however long the text waits for a boundary.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import accumulate, islice, repeat

from sheetstream.streaming.segmenters import Scanner


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
    def __init__(self, scanner: Scanner | None, max_tokens: int, max_delay_s: float) -> None:
        """`scanner` finds the mode's boundaries; None in token mode (every token is one)."""
        self._scanner = scanner
        self._max_tokens = max_tokens
        self._max_delay_s = max_delay_s
        self._parts: deque[str] = deque()  # pending text, as the tokens it came in
        self._skip = 0  # characters of the first part already sent in an earlier chunk
        self._ends: deque[int] = deque()  # where each pending token ends (offset in the answer)
        self._times: deque[float] = deque()  # when each pending token arrived
        self._added = 0  # characters added, from the start of the answer
        self._sent = 0  # characters already cut into chunks
        self._cuts = 0

    @property
    def pending_tokens(self) -> int:
        return len(self._ends)

    def add(self, token: str, now: float) -> None:
        if not token:
            return
        self._parts.append(token)
        self._added += len(token)
        self._ends.append(self._added)
        self._times.append(now)
        if self._scanner is not None:
            self._scanner.feed(token)

    def add_many(self, tokens: Sequence[str], now: float) -> None:
        """`add` for each of `tokens`, arrived together at `now`."""
        parts = [token for token in tokens if token]
        if not parts:
            return
        self._parts.extend(parts)
        self._ends.extend(islice(accumulate(map(len, parts), initial=self._added), 1, None))
        self._added = self._ends[-1]
        self._times.extend(repeat(now, len(parts)))
        if self._scanner is not None:
            self._scanner.feed("".join(parts))  # a scanner's boundaries do not depend on splits

    def deadline(self) -> float | None:
        """When the oldest pending token has waited `max_delay`; None when nothing waits."""
        return self._times[0] + self._max_delay_s if self._times else None

    def take(self, demand: Demand, now: float) -> Piece | None:
        """The chunk to send now under this demand, or None to keep gathering."""
        if not self._parts or demand is Demand.SATURATED:
            return None
        if demand is Demand.BUSY and self._cuts == 0:
            return self._cut(final=False)  # the first token of a stream is never held back
        if demand is not Demand.IDLE and self._scanner is None:
            due = self._times[0] + self._max_delay_s <= now
            if len(self._ends) < self._max_tokens and not due:
                return None
        return self._cut(final=False)

    def drain(self) -> Piece | None:
        """Everything still pending, at stream end."""
        return self._cut(final=True) if self._parts else None

    def _cut(self, final: bool) -> Piece | None:
        scanner = self._scanner
        cut = self._added if final or scanner is None else scanner.boundary
        if cut <= self._sent:
            return None
        text = self._take_text(cut - self._sent)
        oldest = self._times[0]
        whole = 0  # tokens that end inside the cut
        ends, times = self._ends, self._times
        while ends and ends[0] <= cut:
            ends.popleft()
            times.popleft()
            whole += 1
        self._sent = cut
        self._cuts += 1
        return Piece(text=text, tokens=whole, oldest=oldest)

    def _take_text(self, length: int) -> str:
        """The next `length` pending characters, each copied once."""
        parts = self._parts
        first = parts[0]
        if self._skip == 0 and len(first) == length:  # the common case: one whole token
            parts.popleft()
            return first
        taken: list[str] = []
        while length:
            part = parts[0]
            rest = len(part) - self._skip
            if rest <= length:
                taken.append(part[self._skip :] if self._skip else part)
                parts.popleft()
                self._skip = 0
                length -= rest
            else:
                taken.append(part[self._skip : self._skip + length])
                self._skip += length
                length = 0
        return "".join(taken)
