"""`/ws/echo`: sends every message back unchanged; for WebSocket conformance tests only.

Mounted only when `SHEETSTREAM_ECHO_ENDPOINT` is true. It works on the raw ASGI messages so a
text message goes back as text and a binary one as binary, with nothing decoded in between.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

router = APIRouter()


@router.websocket("/ws/echo")
async def echo_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None:
            reply = {"type": "websocket.send", "text": text}
        else:
            reply = {"type": "websocket.send", "bytes": message.get("bytes") or b""}
        try:
            await websocket.send(reply)
        except (WebSocketDisconnect, RuntimeError):
            # The peer is gone, or the server has already sent its close (protocol error,
            # shutdown): the closing handshake is the protocol's business, not ours.
            return
