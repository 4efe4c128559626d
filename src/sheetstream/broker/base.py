"""What the processes of one service share, in three small interfaces.

- `Hub`: pub/sub of short control messages (broadcasts, cancel, disconnect, admin requests).
  Delivery is at most once: nothing that must not be lost goes through it.
- `StreamLog`: the frames of each answer, in order, kept for `STREAM_RETENTION_S` after its
  end, so a reader on any node can replay it from a seq and follow it live.
- `Claims`: exclusive keys and bounded groups, each held under a lease that lapses unless
  renewed: one answer per session, per-owner caps, node liveness, who ends a dead node's
  answers.

Each has a memory backend (one process, or several services in one process sharing a
`MemorySpace`) and a Redis backend; `tests/contract/test_broker_contract.py` runs against both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

Handler = Callable[[str], None]


class Hub(Protocol):
    async def publish(self, channel: str, message: str) -> int:
        """Send to every subscriber of `channel`; how many subscriptions (nodes) got it."""

    async def subscribe(self, channel: str, handler: Handler) -> None:
        """Call `handler` with each message on `channel` (one handler per channel); it must
        not block."""

    async def unsubscribe(self, channel: str) -> None: ...

    async def listeners(self, channels: list[str]) -> dict[str, int]:
        """How many subscriptions (nodes) each channel has now, in one round trip."""


# kinds of log entries
START, PREFACE, CHUNK, END = "start", "preface", "chunk", "end"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One frame of an answer as clients get it, with what a reader needs besides.

    `start`: `data` is the stream's description (JSON); `preface` and `chunk`: `frame` is the
    frame sent to clients and `data` the wall-clock time its oldest token was produced; `end`:
    `frame` is the `end` frame and `data` the `error` frame sent before it, or empty.

    `n` numbers the entries of each kind from 1 (a chunk's is its seq): the log keeps, per
    kind, the highest it took, and skips an entry it has already, so a write sent again
    (after a timeout that hid its success) doubles nothing. An `end`'s `n` is the number of
    chunks it follows: the log takes it only when it has exactly those.
    """

    kind: str
    frame: str
    data: str = ""
    n: int = 1


Cursor = str  # a position in one stream's log; "0" is before its first entry

# what `append` did with each stream's entries
WRITTEN = "written"  # appended (those it did not have already)
ENDED = "ended"  # appended, and the `end` among them was the log's first
REFUSED = "refused"  # nothing: the log has an end already (another node ended the stream)
LOST = "lost"  # nothing: the log is gone (expired, or Redis restarted empty) and these do
# not begin with its `start`; write it again from the start
STALE = "stale"  # the entries before the `end`, not the end: the log has other chunks than
# the end follows (read the log again and end after what it has)


class StreamLog(Protocol):
    async def append(
        self, entries: dict[str, list[LogEntry]], ttl_s: float, ended_ttl_s: float | None = None
    ) -> dict[str, str]:
        """Append entries to several streams at once (one round trip).

        Each stream's log then expires `ttl_s` after this write (`ended_ttl_s`, when given,
        for those that end). Returns per stream `WRITTEN`, `ENDED`, `REFUSED`, `LOST` or
        `STALE`."""

    async def read(self, stream_id: str, after: Cursor = "0") -> list[tuple[Cursor, LogEntry]]:
        """The entries after `after`, oldest first ([] for an unknown or expired stream)."""

    async def exists(self, stream_ids: list[str]) -> dict[str, bool]:
        """Which of the streams have a log now."""

    async def follow(
        self, follower: str, cursors: dict[str, Cursor], block_s: float
    ) -> dict[str, list[tuple[Cursor, LogEntry]]]:
        """Wait up to `block_s` for entries after the cursors; return those of each stream
        that has some (possibly none, at the timeout or after a `nudge`)."""

    async def nudge(self, follower: str) -> None:
        """Wake that follower's `follow` now (it has new streams to add)."""


class Claims(Protocol):
    async def claim(self, key: str, holder: str, ttl_s: float) -> str | None:
        """Take `key` for `ttl_s` if it is free or already `holder`'s (renewing it); None
        when taken, else the holder who has it."""

    async def release(self, key: str, holder: str) -> bool:
        """Free `key` if `holder` has it."""

    async def holder(self, key: str) -> str | None: ...

    async def join(
        self, group: str, member: str, ttl_s: float, limit: int = 0, value: str = ""
    ) -> bool:
        """Put `member` (with `value`) in `group` for `ttl_s`, or renew it; False when the
        group already has `limit` live members (0: no limit) and `member` is not one."""

    async def leave(self, group: str, member: str) -> None: ...

    async def members(self, group: str) -> dict[str, str]:
        """The live members of `group` and their values."""

    async def renew(
        self, keys: dict[str, str], groups: dict[str, list[str]], ttl_s: float
    ) -> list[str]:
        """Renew in one round trip the keys (key → holder) and the members of groups (group →
        members), taking back those that lapsed meanwhile (a stall, a Redis restart); returns
        the keys another holder has taken since, which are lost. A member taken back may
        overshoot its group's limit for as long as it lives."""


@dataclass
class Broker:
    """The three parts, and whether they reach beyond this process."""

    url: str
    hub: Hub
    log: StreamLog
    claims: Claims
    shared: bool  # another process can see what this one writes
    ping: Callable[[], Awaitable[bool]]
    close: Callable[[], Awaitable[None]]
