"""Cancel, resume and delete, wherever the answer runs: here, or on another node of the
fleet (through the hub for cancel and delete, from the log for resume)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from sheetstream.access import visible
from sheetstream.errors import NotFound, SheetstreamError, StreamExpired
from sheetstream.protocol import CancelFrame, CloseCode, ResumeFrame
from sheetstream.streaming.connection import Connection
from sheetstream.streaming.registry import Session
from sheetstream.streaming.stream import Stream

if TYPE_CHECKING:
    from sheetstream.streaming.chat import ChatService

log = logging.getLogger(__name__)

RESUME_RETRIES = 3  # a stream not in the log yet is looked for again, this many times
RESUME_RETRY_S = 0.05
FOLLOW_RETRIES = 5  # tries to mirror an answer announced in a session with tabs here
_STREAM_ID = re.compile(r"st_[A-Za-z0-9_-]{1,64}")


def is_stream_id(text: str) -> bool:
    """Whether `text` can name a stream (anything else never reaches the broker)."""
    return _STREAM_ID.fullmatch(text) is not None


def _not_running(request_id: str) -> NotFound:
    return NotFound(
        f"No running answer has request_id {request_id[:64]!r}; it may have ended.",
        request_id=request_id,
    )


def _expired(stream_id: str) -> StreamExpired:
    return StreamExpired(
        f"Stream {stream_id[:64]!r} is unknown or expired; its full text is in the session "
        "history (GET /api/sessions/{id}/messages)."
    )


class Control:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        fleet = service.fleet
        fleet.handlers["cancel"] = self._on_cancel
        fleet.handlers["start"] = self._on_start
        fleet.handlers["delete"] = self._on_delete

    # --- cancel

    def cancel(self, conn: Connection, session: Session, frame: CancelFrame) -> None:
        for stream in session.streams.values():
            if stream.request_id == frame.request_id and not stream.finished:
                if stream.remote_node is not None:
                    if not stream.cancel_requested:
                        stream.cancel_requested = True
                        self.service.fleet.spawn(self._cancel_remote(conn, stream), "cancel")
                    return
                self.cancel_stream(stream)
                return
        if not self.service.fleet.shared:
            raise _not_running(frame.request_id)
        self.service.fleet.spawn(
            self._cancel_elsewhere(conn, session.session_id, frame.request_id), "cancel"
        )

    async def _cancel_elsewhere(self, conn: Connection, session_id: str, request_id: str) -> None:
        fleet = self.service.fleet
        try:
            active = await fleet.active_elsewhere(session_id)
            if active is None or active["request_id"] != request_id:
                raise _not_running(request_id)
            await fleet.tell(active["node"], {"op": "cancel", "stream_id": active["stream_id"]})
        except SheetstreamError as exc:
            exc.request_id = request_id
            self.service.reject(conn, exc)

    async def _cancel_remote(self, conn: Connection, stream: Stream) -> None:
        """Ask the generating node to stop its answer; on failure the client is told, and
        may cancel again."""
        assert stream.remote_node is not None
        try:
            await self.service.fleet.tell(
                stream.remote_node, {"op": "cancel", "stream_id": stream.stream_id}
            )
        except SheetstreamError as exc:
            stream.cancel_requested = False
            exc.request_id = stream.request_id
            self.service.reject(conn, exc)

    def cancel_stream(self, stream: Stream) -> None:
        """Stop an answer: its task here, or through the node that generates it."""
        if stream.finished or stream.cancel_requested:
            return
        stream.cancel_requested = True
        fleet = self.service.fleet
        if stream.remote_node is not None:
            message = {"op": "cancel", "stream_id": stream.stream_id}
            fleet.spawn(fleet.tell(stream.remote_node, message), "cancel")
            return
        self.service.stats.cancels += 1
        if stream.task is not None:
            stream.task.cancel()

    def _on_cancel(self, message: dict[str, Any]) -> None:
        stream = self.service.registry.streams.get(message.get("stream_id", ""))
        if stream is not None and stream.remote_node is None:
            self.cancel_stream(stream)

    # --- resume

    def resume(self, conn: Connection, frame: ResumeFrame) -> None:
        registry = self.service.registry
        stream = registry.streams.get(frame.stream_id)
        if stream is None and self.service.fleet.shared and is_stream_id(frame.stream_id):
            self.service.fleet.spawn(self._resume_elsewhere(conn, frame), "resume")
            return
        home = registry.sessions.get(stream.session_id) if stream is not None else None
        if stream is None or home is None or not visible(home.owner or "", conn.owner):
            raise _expired(frame.stream_id)
        self.service.stats.resumes += 1
        conn.subscribe(stream, after_seq=frame.after_seq)

    async def _resume_elsewhere(self, conn: Connection, frame: ResumeFrame) -> None:
        try:
            stream = await self.service.fleet.follower.mirror(frame.stream_id)
            for _ in range(RESUME_RETRIES):
                if stream is not None:
                    break
                # an answer that has just started may not be in the log yet
                await asyncio.sleep(RESUME_RETRY_S)
                stream = await self.service.fleet.follower.mirror(frame.stream_id)
            if stream is None or not visible(stream.owner or "", conn.owner):
                raise _expired(frame.stream_id)
        except SheetstreamError as exc:
            self.service.reject(conn, exc)
            return
        if not conn.closing:
            self.service.stats.resumes += 1
            conn.subscribe(stream, after_seq=frame.after_seq)

    # --- an answer started on another node in a session with tabs here

    def _on_start(self, message: dict[str, Any]) -> None:
        description = message.get("description") or {}
        if description.get("node") == self.service.fleet.node_id:
            return
        session = self.service.registry.sessions.get(description.get("session_id", ""))
        if session is not None and session.connections:
            self.service.fleet.spawn(self._follow(message["stream_id"], description), "follow")

    async def _follow(self, stream_id: str, description: dict[str, Any]) -> None:
        stream = None
        for attempt in range(FOLLOW_RETRIES):
            try:
                stream = await self.service.fleet.follower.mirror(stream_id, description)
                break
            except SheetstreamError as exc:
                if attempt == FOLLOW_RETRIES - 1:
                    # the tabs here never got its `start`; they can `resume` it
                    log.warning("could not follow %s for its tabs: %s", stream_id, exc.message)
                    return
                await asyncio.sleep(RESUME_RETRY_S * 2**attempt)
        session = self.service.registry.sessions.get(description["session_id"])
        if stream is None or session is None:
            return
        for conn in session.connections:
            conn.push(stream.start_frame)
            conn.subscribe(stream)

    # --- delete

    async def delete_session(self, session_id: str, owner: str) -> bool:
        """Forget a session of `owner` on every node: its tabs are closed, its answer
        stopped, its history deleted."""
        self._close_here(session_id)
        try:
            await self.service.fleet.tell_session(session_id, {"op": "delete", "id": session_id})
        except SheetstreamError as exc:
            log.warning("could not tell the fleet session %s is deleted: %s", session_id, exc)
        deleted = await self.service.storage.delete_session(session_id)
        self.service.answers.history_used.pop(owner, None)  # read again at the next answer
        return deleted

    def _on_delete(self, message: dict[str, Any]) -> None:
        self._close_here(message.get("id", ""))

    def _close_here(self, session_id: str) -> None:
        session = self.service.registry.sessions.get(session_id)
        if session is None:
            return
        for stream in list(session.streams.values()):
            if stream.remote_node is None:
                self.cancel_stream(stream)
        for conn in list(session.connections):
            conn.close(CloseCode.NORMAL, "session deleted")
