"""`/ws/chat` and `/ws/{session_id}`: one handler that feeds frames to the chat service."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from sheetstream.protocol import CloseCode, is_valid_session_id
from sheetstream.streaming.chat import ChatService
from sheetstream.streaming.connection import SinkClosed

log = logging.getLogger(__name__)
router = APIRouter()


class WebSocketSink:
    """The connection's writer sends through this; peer errors become `SinkClosed`."""

    __slots__ = ("_ws",)

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def send_text(self, text: str) -> None:
        try:
            await self._ws.send({"type": "websocket.send", "text": text})
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise SinkClosed(str(exc)) from None

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._ws.close(code, reason)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise SinkClosed(str(exc)) from None


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket, session_id: str | None = None) -> None:
    await serve_chat(websocket, session_id)


@router.websocket("/ws/{session_id}")
async def session_socket(websocket: WebSocket, session_id: str) -> None:
    await serve_chat(websocket, session_id)


async def serve_chat(websocket: WebSocket, session_id: str | None) -> None:
    service: ChatService = websocket.app.state.chat
    await websocket.accept()
    if session_id is not None and not is_valid_session_id(session_id):
        await websocket.close(
            CloseCode.POLICY_VIOLATION,
            "session id must be 1-64 of A-Z a-z 0-9 _ - (and not 'chat' or 'admin')",
        )
        return
    limit = service.settings.max_message_bytes
    remote = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else ""
    conn = await service.connect(WebSocketSink(websocket), session_id, remote)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                conn.close(
                    CloseCode.UNSUPPORTED_DATA, "binary messages are not supported; send JSON text"
                )
                break
            if len(text) > limit // 4 and len(text.encode()) > limit:
                conn.close(CloseCode.MESSAGE_TOO_BIG, f"message over {limit} bytes")
                break
            service.handle(conn, text)
    except Exception:
        log.exception("chat connection %s failed", conn.connection_id)
        conn.close(CloseCode.INTERNAL_ERROR, "internal error; reconnect and resume")
    finally:
        await service.disconnect(conn)
