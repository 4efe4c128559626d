"""`/ws/chat` and `/ws/{session_id}`: one handler that feeds frames to the chat service.

It speaks raw ASGI rather than going through FastAPI's routing and middleware: a chat
connection lives for minutes and sends thousands of frames, and every framework layer costs
memory per idle connection and work per frame (`sheetstream bench` measures both).
`ChatDispatch` sends chat paths here and everything else to the FastAPI app.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import parse_qs

from sheetstream import protocol
from sheetstream.access import TokenBook
from sheetstream.errors import Busy, NotFound, Unavailable
from sheetstream.hosts import host_allowed
from sheetstream.origins import handshake_origin_allowed
from sheetstream.protocol import CloseCode, close_reason, is_valid_session_id
from sheetstream.routes.admin import serve_admin
from sheetstream.routes.auth import handshake_token
from sheetstream.server import WRITE_TEXT_EXTENSION
from sheetstream.streaming.chat import ChatService
from sheetstream.streaming.connection import SinkClosed

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any
Send = Any

RESERVED_PATHS = frozenset({"/ws/admin", "/ws/echo"})


class ASGISink:
    """The connection's frames go through this; peer errors become `SinkClosed`.

    `write_now` is the WebSocket protocol's own direct write (`server.WRITE_TEXT_EXTENSION`)
    when the server offers it: a frame written in the caller's step, with no ASGI message.
    """

    __slots__ = ("_send", "_write")

    def __init__(self, send: Send, scope: Scope) -> None:
        self._send = send
        self._write = (scope.get("extensions") or {}).get(WRITE_TEXT_EXTENSION)

    def write_now(self, text: str) -> bool:
        write = self._write
        return write is not None and bool(write(text))

    async def send_text(self, text: str) -> None:
        try:
            await self._send({"type": "websocket.send", "text": text})
        except (RuntimeError, OSError) as exc:  # uvicorn's ClientDisconnected is an OSError
            raise SinkClosed(str(exc)) from None

    async def close(self, code: int, reason: str) -> None:
        try:
            await self._send(
                {"type": "websocket.close", "code": code, "reason": close_reason(reason)}
            )
        except (RuntimeError, OSError) as exc:
            raise SinkClosed(str(exc)) from None


def chat_session_id(path: str, query_string: bytes) -> tuple[bool, str | None]:
    """(is this a chat path, the session id it names); `/ws/chat` takes `?session_id=`."""
    if path == "/ws/chat":
        values = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("session_id")
        return True, values[0] if values else None
    if path.startswith("/ws/") and path not in RESERVED_PATHS and "/" not in path[4:]:
        return True, path[4:]
    return False, None


class ChatDispatch:
    """The ASGI app uvicorn runs: chat and admin WebSockets straight to their handlers, the
    rest to `api`."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.hosts = api.state.settings.resolved_allowed_hosts()

    @property
    def state(self) -> Any:
        return self.api.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not host_allowed(
            _only_host(scope), self.hosts
        ):
            await _refuse_host(scope, receive, send)
            return
        if scope["type"] == "websocket" and scope["path"] == "/ws/admin":
            await serve_admin(self.api.state.admin, scope, receive, send)
            return
        if scope["type"] == "websocket":
            is_chat, session_id = chat_session_id(scope["path"], scope.get("query_string", b""))
            if is_chat:
                await serve_chat(self.api.state.chat, scope, receive, send, session_id)
                return
        await self.api(scope, receive, send)


def _only_host(scope: Scope) -> str | None:
    """The request's one `Host` header; None without one, or with two (which to believe?)."""
    hosts = [value for key, value in scope.get("headers") or () if key == b"host"]
    return str(hosts[0].decode("latin-1")) if len(hosts) == 1 else None


async def _refuse_host(scope: Scope, receive: Receive, send: Send) -> None:
    """A `Host` that is not one of ours: HTTP 400 (a handshake is refused with 403)."""
    log.info("refused a request for host %r", (_only_host(scope) or "")[:100])
    if scope["type"] == "websocket":
        if (await receive())["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})
        return
    body = protocol.dump(
        {
            "error": "bad_request",
            "message": "This server does not answer to that Host name; use its own address "
            "(its operator can add names to SHEETSTREAM_ALLOWED_HOSTS).",
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _host(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


async def serve_chat(
    service: ChatService, scope: Scope, receive: Receive, send: Send, session_id: str | None
) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    if not handshake_origin_allowed(scope, service.settings.allowed_origins):
        # closing before accepting refuses the handshake: the browser gets HTTP 403
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})
        return
    tokens: TokenBook = service.tokens
    owner = None if tokens.open else tokens.owner_for(handshake_token(scope))
    if not tokens.open and owner is None:
        log.info("refused a chat handshake from %s: missing or unknown token", _host(scope))
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})  # HTTP 403
        return
    await send({"type": "websocket.accept"})
    sink = ASGISink(send, scope)
    scope["headers"] = ()  # read above, never again: a long-lived connection keeps none
    if session_id is not None and not is_valid_session_id(session_id):
        await sink.close(
            CloseCode.POLICY_VIOLATION,
            "session id must be 1-64 of A-Z a-z 0-9 _ - (and not 'chat' or 'admin')",
        )
        return
    address = _host(scope)
    limit = service.settings.max_message_bytes
    client = scope.get("client")
    remote = f"{client[0]}:{client[1]}" if client else ""
    try:
        full = service.over_capacity(address)  # before the storage round trip, and after it
        if full is not None:
            raise Busy(full)
        conn = await service.connect(sink, session_id, remote, owner, address)
    except NotFound as exc:  # another owner's session: as if it did not exist
        await sink.close(CloseCode.POLICY_VIOLATION, exc.message)
        return
    except Busy as exc:
        service.stats.refused_connections += 1
        await sink.close(CloseCode.TRY_AGAIN_LATER, exc.message)
        return
    except Unavailable as exc:  # the database or the broker is away: say so, then 1013
        service.stats.refused_connections += 1
        service.stats.errors[exc.code] += 1
        with contextlib.suppress(SinkClosed):
            await sink.send_text(protocol.error_frame(exc.code, exc.message, None))
        await sink.close(CloseCode.TRY_AGAIN_LATER, "unavailable: reconnect in a few seconds")
        return
    try:
        while True:
            message: Message = await receive()
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
            if conn.closing:
                break  # a client we are closing is not read: TCP pushes back on a flood
    except Exception:
        log.exception("chat connection %s failed", conn.connection_id)
        conn.close(CloseCode.INTERNAL_ERROR, "internal error; reconnect and resume")
    finally:
        await service.disconnect(conn)
