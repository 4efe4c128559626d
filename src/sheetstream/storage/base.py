"""What every store offers: sessions and the messages of their conversations, and the index
of the workbooks (which exist, whose, what they take); their files stay in the data dir."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

SESSION_NOT_FOUND = "No such session; open /ws/chat to start one."


@dataclass(slots=True)
class MessageRecord:
    """One question and its answer; `status` is `streaming` until the answer ends."""

    stream_id: str
    session_id: str
    request_id: str | None
    question: str
    mode: str
    created_at: float
    answer: str = ""
    status: str = "streaming"  # streaming | complete | cancelled | length | error | interrupted
    partial: bool = False
    error_code: str | None = None
    answer_tokens: int = 0
    chunks: int = 0
    first_token_ms: float | None = None
    duration_ms: float | None = None
    workbook_id: str | None = None
    grounding: dict[str, Any] | None = None  # numbers the answer states, found or not
    tools: list[dict[str, Any]] | None = None  # the `tool` frames the answer sent, in order

    def stored_bytes(self) -> int:
        """What the message takes in storage, as the owner's history quota counts it."""
        size = len(self.question.encode()) + len(self.answer.encode())
        for extra in (self.grounding, self.tools):
            if extra is not None:
                size += len(orjson.dumps(extra))
        return size

    def to_json(self) -> dict[str, object]:
        return {
            "stream_id": self.stream_id,
            "session_id": self.session_id,
            "request_id": self.request_id,
            "question": self.question,
            "answer": self.answer,
            "mode": self.mode,
            "status": self.status,
            "partial": self.partial,
            "error_code": self.error_code,
            "answer_tokens": self.answer_tokens,
            "chunks": self.chunks,
            "created_at": self.created_at,
            "first_token_ms": self.first_token_ms,
            "duration_ms": self.duration_ms,
            "workbook_id": self.workbook_id,
            "grounding": self.grounding,
            "tools": self.tools,
        }


@dataclass(frozen=True, slots=True)
class WorkbookEntry:
    """What the index knows of one workbook; its profile is the `workbook.json` beside its
    tables."""

    workbook_id: str
    owner: str  # '' for workbooks of an open service
    stored_bytes: int  # the original, its tables and its record, as the quota counts them
    uploaded_at: float
    summary: dict[str, Any]  # what `GET /api/workbooks` lists


class WorkbookIndex(Protocol):
    """Which workbooks exist, whose they are and what they take: the storage's part that the
    workbook service uses (a `Storage`, or an in-process index when there is none)."""

    async def add_workbook(self, entry: WorkbookEntry) -> bool:
        """Index a workbook; False (the stored entry kept) if its id is indexed already."""

    async def get_workbook(self, workbook_id: str) -> WorkbookEntry | None:
        """The workbook's entry, or None if there is no such workbook."""

    async def list_workbooks(self, owner: str | None) -> list[WorkbookEntry]:
        """`owner`'s workbooks (None: everyone's), oldest upload first."""

    async def workbook_usage(self, owner: str) -> tuple[int, int]:
        """How many workbooks `owner` ('' on an open service) has, and the bytes they take."""

    async def delete_workbook(self, workbook_id: str) -> bool:
        """Forget the workbook's entry; False if there was none."""


class Storage(WorkbookIndex, Protocol):
    """Durable sessions, history and the workbook index. Errors surface as `StorageError`."""

    async def connect(self, *, interrupt_streaming: bool = True) -> None:
        """Open the store and create or migrate its schema. With `interrupt_streaming`, mark
        the answers left `streaming` by a crash as `interrupted` (partial): right for a
        process that is the store's only user. Processes sharing one store (a fleet) pass
        False, so no live process's answers are touched, and use `interrupt_messages`."""

    async def disconnect(self) -> None: ...

    async def ping(self) -> bool:
        """True when the store answers a trivial query."""

    async def ensure_session(self, session_id: str, now: float, owner: str | None = None) -> bool:
        """Create the session, owned by `owner` ('' when None), if it does not exist, else
        touch its last-seen time; True if it was created (so it has no history to load).
        With an `owner`, a session that exists under another owner raises `NotFound` and is
        left untouched."""

    async def history_bytes(self, owner: str | None) -> int:
        """The bytes the messages of `owner`'s ('' when None) sessions take, as stored."""

    async def delete_session(self, session_id: str) -> bool:
        """Forget a session and all its messages; False if there was no such session."""

    async def forget_empty_sessions(self, session_ids: list[str] | None) -> int:
        """Forget those of the sessions (None: of all sessions) that have no messages; how
        many were forgotten."""

    async def session_owner(self, session_id: str) -> str | None:
        """The session's owner ('' for sessions of an open service), or None if none."""

    async def add_message(self, record: MessageRecord) -> None:
        """Store a question as its answer starts (status `streaming`)."""

    async def finish_message(self, record: MessageRecord) -> None:
        """Store the final answer, status and figures of a message added before."""

    async def interrupt_messages(self, stream_ids: list[str]) -> int:
        """Mark those of the messages that are still `streaming` as `interrupted` and partial,
        their answers left as stored; how many changed."""

    async def list_messages(self, session_id: str, limit: int = 1000) -> list[MessageRecord]:
        """The session's messages, oldest first."""
