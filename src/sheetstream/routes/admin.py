"""`/ws/admin`: the operator's live channel, behind SHEETSTREAM_ADMIN_TOKEN.

Client frames: `stats` (`interval_ms` > 0 pushes figures at that pace, 0 once), `sessions`,
`broadcast` (`content`, `level`, optional `session_id` or `owner`), `disconnect` (`session_id`
or `connection_id`, `reason`), `cancel` (`stream_id`). Answers: `stats`, `sessions`, `receipt`,
`error`; every answer echoes `request_id`. Each covers the whole fleet, whichever node the
channel is open on (`AdminService` asks every node).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from sheetstream import protocol
from sheetstream.errors import BadRequest, SheetstreamError
from sheetstream.origins import handshake_origin_allowed
from sheetstream.protocol import CloseCode
from sheetstream.routes.auth import handshake_token, token_matches
from sheetstream.streaming.admin import AdminService

Scope = dict[str, Any]
Receive = Any
Send = Any

MIN_INTERVAL_MS = 100


async def serve_admin(admin: AdminService, scope: Scope, receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    if not handshake_origin_allowed(scope, admin.chat.settings.allowed_origins) or not (
        token_matches(handshake_token(scope), admin.chat.settings.admin_token)
    ):
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})  # HTTP 403
        return
    await send({"type": "websocket.accept"})
    pusher: asyncio.Task[None] | None = None
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await send({"type": "websocket.close", "code": CloseCode.UNSUPPORTED_DATA})
                return
            request_id, reply, interval = await _handle(admin, text)
            if interval is not None:
                if pusher is not None:
                    pusher.cancel()
                pusher = None
                if interval > 0:
                    pusher = asyncio.create_task(_push_stats(admin, send, interval, request_id))
            await send({"type": "websocket.send", "text": reply})
    finally:
        if pusher is not None:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, RuntimeError):
                await pusher


async def _handle(admin: AdminService, text: str) -> tuple[str | None, str, float | None]:
    """(request_id, the reply frame, a new stats interval in seconds or None)."""
    request_id = None
    try:
        try:
            frame: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise BadRequest("Send one JSON object per message.") from None
        if not isinstance(frame, dict):
            raise BadRequest('Send a JSON object with a "type".')
        request_id = frame.get("request_id") if isinstance(frame.get("request_id"), str) else None
        kind = frame.get("type")
        if kind == "stats":
            interval_ms = frame.get("interval_ms", 0)
            if type(interval_ms) is not int or (0 < interval_ms < MIN_INTERVAL_MS):
                raise BadRequest(f'"interval_ms" must be 0 or an integer >= {MIN_INTERVAL_MS}.')
            body = {"type": "stats", "request_id": request_id, **(await admin.stats())}
            return request_id, protocol.dump(body), interval_ms / 1000
        if kind == "sessions":
            body = {
                "type": "sessions",
                "request_id": request_id,
                "sessions": await admin.sessions(),
            }
            return request_id, protocol.dump(body), None
        if kind == "broadcast":
            content = frame.get("content")
            if not isinstance(content, str) or not content:
                raise BadRequest('"broadcast" needs "content": a non-empty string.')
            receipt = await admin.broadcast(
                content,
                _text(frame, "level") or "info",
                _text(frame, "session_id"),
                _text(frame, "owner"),
            )
            return request_id, _receipt(request_id, receipt), None
        if kind == "disconnect":
            closed = await admin.disconnect(
                _text(frame, "session_id"),
                _text(frame, "connection_id"),
                _text(frame, "reason") or "",
            )
            return request_id, _receipt(request_id, closed), None
        if kind == "cancel":
            stream_id = frame.get("stream_id")
            if not isinstance(stream_id, str):
                raise BadRequest('"cancel" needs "stream_id".')
            cancelled = await admin.cancel(stream_id)
            return request_id, _receipt(request_id, cancelled), None
        raise BadRequest(
            "Unknown admin message; use stats, sessions, broadcast, disconnect or cancel."
        )
    except SheetstreamError as exc:
        return request_id, protocol.error_frame(exc.code, exc.message, request_id), None


def _text(frame: dict[str, Any], key: str) -> str | None:
    """An optional string field: absent or null is None; any other type is a bad request."""
    value = frame.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BadRequest(f'"{key}" must be a string.')


def _receipt(request_id: str | None, receipt: dict[str, Any]) -> str:
    return protocol.dump({"type": "receipt", "request_id": request_id, **receipt})


async def _push_stats(
    admin: AdminService, send: Send, interval_s: float, request_id: str | None
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        body = {"type": "stats", "request_id": request_id, **(await admin.stats())}
        await send({"type": "websocket.send", "text": protocol.dump(body)})
