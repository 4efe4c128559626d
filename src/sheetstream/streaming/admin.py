"""What the admin can see and do: statistics, sessions, broadcast, disconnect, cancel.

Broadcasts take the same road as chunks: each connection's bounded queue and its one writer,
so a slow client cannot delay the others; the receipt counts who was reached.
"""

from __future__ import annotations

import time
from typing import Any

from sheetstream import protocol
from sheetstream.errors import BadRequest, NotFound
from sheetstream.protocol import CloseCode
from sheetstream.streaming.chat import ChatService
from sheetstream.streaming.connection import Connection

LEVELS = ("info", "warning", "critical")


class AdminService:
    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    def stats(self) -> dict[str, Any]:
        figures = self.chat.stats.snapshot(time.monotonic())
        figures["queue_depth"] = {
            conn.connection_id: conn.queue_depth for conn in self.chat.registry.connections.values()
        }
        return figures

    def sessions(self) -> list[dict[str, Any]]:
        now = self.chat.clock()
        listed = []
        for session in self.chat.registry.sessions.values():
            active = session.active
            listed.append(
                {
                    "session_id": session.session_id,
                    "owner": session.owner,
                    "streaming": active is not None,
                    "mode": active.mode.value if active is not None else None,
                    "stream_id": active.stream_id if active is not None else None,
                    "workbook_id": session.workbook_id,
                    "connections": [_describe(c, now) for c in session.connections],
                }
            )
        return listed

    def broadcast(
        self, content: str, level: str, session_id: str | None, owner: str | None = None
    ) -> dict[str, int]:
        """Send to everyone, one session's connections, or one owner's; the receipt counts the
        connections reached and those that could not take it (closed, or too far behind)."""
        if level not in LEVELS:
            raise BadRequest(f"`level` must be one of {', '.join(LEVELS)}.")
        if session_id is not None and owner is not None:
            raise BadRequest("Target one `session_id` or one `owner`, not both.")
        if session_id is not None and session_id not in self.chat.registry.sessions:
            raise NotFound("No such session here; list them with `sessions`.")
        frame = protocol.broadcast_frame(content, level, time.time())
        targets = self._connections(session_id)
        if owner is not None:
            targets = [c for c in targets if c.owner == owner]
        delivered = 0
        for conn in targets:
            conn.push(frame)
            delivered += not conn.closing
        return {"delivered": delivered, "failed": len(targets) - delivered}

    def disconnect(self, session_id: str | None, connection_id: str | None, reason: str) -> int:
        if connection_id is not None:
            conn = self.chat.registry.connections.get(connection_id)
            targets = [conn] if conn is not None else []
        elif session_id is not None:
            targets = self._connections(session_id)
        else:
            raise BadRequest("`disconnect` needs `session_id` or `connection_id`.")
        if not targets:
            raise NotFound("No such session or connection; list them with `sessions`.")
        for conn in targets:
            conn.close(CloseCode.POLICY_VIOLATION, reason or "disconnected by the administrator")
        return len(targets)

    def cancel(self, stream_id: str) -> None:
        stream = self.chat.registry.streams.get(stream_id)
        if stream is None or stream.finished:
            raise NotFound(f"No running stream {stream_id[:64]!r}.")
        self.chat.cancel_stream(stream)

    def _connections(self, session_id: str | None) -> list[Connection]:
        if session_id is None:
            return list(self.chat.registry.connections.values())
        session = self.chat.registry.sessions.get(session_id)
        return list(session.connections) if session is not None else []


def _describe(conn: Connection, now: float) -> dict[str, Any]:
    return {
        "connection_id": conn.connection_id,
        "remote": conn.remote,
        "owner": conn.owner,
        "state": "streaming" if conn.following else "idle",
        "connected_s": round(now - conn.connected_at, 3),
        "queue_depth": conn.queue_depth,
        "bytes_waiting": conn.lag_bytes(),
    }
