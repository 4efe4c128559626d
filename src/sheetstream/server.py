"""Running the app under uvicorn with sheetstream's WebSocket settings.

The WebSocket protocol class is uvicorn's Sans-I/O one with six changes. It offers the app
a direct write (`WRITE_TEXT_EXTENSION` in the scope's extensions): a text frame written to
the transport in the caller's step, without an ASGI message, while the transport takes it;
the chat writer sends every frame of a reader who keeps up this way. It holds less per
connection: the ASGI messages wait in a list with a future made only while the app waits
(`_Inbox`, for asyncio's Queue of three deques and an Event), `writable` is a flag whose
waiters exist only while someone waits (`_Flag`), and the handshake's request headers and
response are let go once the handshake is answered. Shutdown closes
clients with 1001 (going away: reconnect and resume) instead of 1012; a close asked for while
the peer has stopped reading aborts the transport instead of waiting for a drain that will
never come (the slow-consumer policy depends on it); a policy close (1008) waits one second,
not ten, for the peer's answer, and stops reading a flooding peer meanwhile; and a close frame
that arrives in the middle of a fragmented message closes cleanly, as RFC 6455 section 5.4
allows (Autobahn 7.1.5).

`serve` runs one process; `serve_workers` runs several on one socket under uvicorn's
supervisor, each building its own app through the `worker_app` factory, with the same options.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from sheetstream.access import redact_tokens
from sheetstream.protocol import FLOOD_CLOSE_REASON, CloseCode
from sheetstream.settings import Settings


class _ServerProtocol(ServerProtocol):
    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE:
            self.current_size = None  # a close may interrupt a fragmented message: drop it
        super().recv_frame(frame)


class _QuietInvalidUTF8(logging.Filter):
    """A client's invalid UTF-8 is its error (closed with 1007), not a server traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Invalid UTF-8 sequence received from client"):
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class _RedactTokens(logging.Filter):
    """Request lines carry `?token=` for browsers, and at debug level the WebSocket layer logs
    every handshake header, `Authorization` included; no token reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        return True


logging.getLogger("uvicorn.error").addFilter(_QuietInvalidUTF8())
for _name in ("uvicorn.error", "uvicorn.access"):
    logging.getLogger(_name).addFilter(_RedactTokens())


POLICY_CLOSE_TIMEOUT_S = 1.0
_SHORT_CLOSE = frozenset({CloseCode.POLICY_VIOLATION})


WRITE_TEXT_EXTENSION = "sheetstream.write_text"
_NO_HEADERS = Headers()


def text_frame_header(size: int) -> bytes:
    """The header of an unfragmented, unmasked text frame (a server's) of `size` bytes."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


class _Inbox:
    """The ASGI messages waiting for the app (uvicorn's `queue`): unbounded, as the Queue it
    stands for, and read by one task."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items


class _Flag:
    """`asyncio.Event`'s interface for uvicorn's `writable`, its waiters made only while a
    send waits for the transport to drain."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter
        return True


class SheetstreamWSProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _ServerProtocol(
            extensions=self.conn.available_extensions,
            max_size=self.config.ws_max_size,
            logger=self.conn.logger,
        )
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]
        self.writable.set()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        self.scope["extensions"][WRITE_TEXT_EXTENSION] = self.write_text_now  # type: ignore[assignment]

    def write_text_now(self, text: str) -> bool:
        """Write a text frame now; False (nothing written) while the transport pushes back,
        before the handshake, or once the connection is closing: send it the ASGI way then.

        websockets' state is OPEN only from the 101 answer to the first close, sent or
        received; a transport that is gone is closing."""
        if (
            self.conn.state is not State.OPEN
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        data = text.encode()
        if self.conn.extensions:  # compressed: the frame is the extension's to make
            self.conn.send_text(data)
            self.transport.write(b"".join(self.conn.data_to_send()))
        else:
            self.transport.write(text_frame_header(len(data)) + data)
        return True

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent:
            self.stop_keepalive()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": CloseCode.GOING_AWAY})
            self.conn.send_close(CloseCode.GOING_AWAY, "server shutting down; reconnect and resume")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.transport.close()
            return
        super().shutdown()

    async def send(self, message: Any) -> None:
        if message["type"] != "websocket.close":
            await super().send(message)
            if message["type"] == "websocket.accept":
                # Answered: nothing reads the handshake again. The scope has its own copy of
                # the headers; the request's (which websockets' parser keeps for the
                # connection's life) and uvicorn's request and response can go.
                self.request.headers = _NO_HEADERS
                self.request = self.response = None  # type: ignore[assignment]
            return
        if self.close_sent or self.transport.is_closing():
            # Closed already (a keepalive timeout, say). If the peer stopped reading, the
            # close waits on a drain that will never come: drop the connection instead.
            if not self.writable.is_set():
                self.transport.abort()
            return
        if (
            self.handshake_complete
            and not self.close_sent
            and not self.writable.is_set()
            and not self.transport.is_closing()
        ):
            # The peer stopped reading: a closing handshake cannot complete, so drop it now.
            code = message.get("code", CloseCode.NORMAL)
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code})
            self.conn.send_close(code, message.get("reason") or "")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.transport.abort()
            return
        if message.get("code") in _SHORT_CLOSE:
            # After our close frame uvicorn reads, and discards, until the peer answers it.
            # A client closed for breaking policy (flooding, a bad token) gets one second of
            # that, not ten: a flood would keep a core busy meanwhile.
            self.close_timeout = POLICY_CLOSE_TIMEOUT_S
        await super().send(message)
        if (
            message.get("reason") == FLOOD_CLOSE_REASON
            and self.close_sent
            and not self.transport.is_closing()
        ):
            # uvicorn would read, and discard, the flood until the peer answers the close;
            # leave it in the peer's socket instead, and drop the connection at the timeout
            # (abort: a flooder that does not read would hold a graceful close open forever)
            self.read_paused = True
            self.transport.pause_reading()
            if self.close_timer is not None:
                self.close_timer.cancel()
            self.close_timer = self.loop.call_later(POLICY_CLOSE_TIMEOUT_S, self.transport.abort)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The `uvicorn.Config` options of every way of serving: one process or several."""
    return {
        "host": settings.host,
        "port": settings.port,
        "ws": SheetstreamWSProtocol,
        "ws_max_size": settings.max_message_bytes,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "timeout_graceful_shutdown": settings.shutdown_grace_s,
        "log_level": settings.log_level,
        "loop": settings.event_loop,
        "lifespan": "on",
        "server_header": False,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
    }


def uvicorn_config(settings: Settings, app: Any = None, **overrides: Any) -> uvicorn.Config:
    from sheetstream.app import create_app
    from sheetstream.routes.chat import ChatDispatch

    options = uvicorn_options(settings)
    options.update(overrides)
    if app is None:
        app = ChatDispatch(create_app(settings))
    return uvicorn.Config(app, **options)


def serve(settings: Settings) -> None:
    run_server(uvicorn.Server(uvicorn_config(settings)), settings)


def run_server(server: uvicorn.Server, settings: Settings) -> None:
    """Run `server` to its end on the event loop the settings name."""
    with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:
        runner.run(server.serve())


def loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the event loop `SHEETSTREAM_EVENT_LOOP` names; None: asyncio's own."""
    if settings.event_loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


# --- several worker processes on one port

WORKER_APP = "sheetstream.server:worker_app"


def workers_problem(settings: Settings, workers: int) -> str | None:
    """Why `workers` processes cannot serve with these settings, or None when they can."""
    if workers > 1 and settings.broker_url.startswith("memory://"):
        return (
            f"--workers {workers} needs a broker the workers share, and "
            "SHEETSTREAM_BROKER_URL is memory:// (one process only). Set "
            "SHEETSTREAM_BROKER_URL=redis://host:6379/0 (pip install 'sheetstream[fleet]'). "
            "History is shared too: the default SQLite file under SHEETSTREAM_DATA_DIR works "
            "for the workers of one machine; SHEETSTREAM_DATABASE_URL=postgresql://user@host/db "
            "is recommended for many workers or more than one machine."
        )
    return None


def worker_node_id(node_id: str, pid: int) -> str:
    """A worker's node id: SHEETSTREAM_NODE_ID with the worker's pid appended, so the workers
    of one service stay apart; empty stays empty (the default id has the pid already)."""
    return f"{node_id}-{pid}" if node_id else ""


def worker_app() -> Any:
    """The app of one worker process (`uvicorn` calls this factory in each of them): settings
    from the environment the parent set, and a node id of its own."""
    from sheetstream.app import create_app
    from sheetstream.routes.chat import ChatDispatch

    settings = Settings()
    if settings.node_id:
        settings = Settings(node_id=worker_node_id(settings.node_id, os.getpid()))
    return ChatDispatch(create_app(settings))


def serve_workers(settings: Settings, workers: int) -> int:
    """Serve with `workers` processes on one socket under uvicorn's supervisor; the exit code.

    The parent binds the socket, starts the workers and restarts one that dies; SIGTERM or
    SIGINT to it ends each worker as SIGTERM ends one process (clients closed with 1001). A
    worker that fails to start stops the service (exit code 3, as one process does)."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    problem = workers_problem(settings, workers)
    if problem is not None:
        raise ValueError(problem)
    # the workers read their settings from the environment: the command line's host and port
    # (the parent binds the socket, but the allowed hosts depend on the address) go there
    os.environ["SHEETSTREAM_HOST"] = settings.host
    os.environ["SHEETSTREAM_PORT"] = str(settings.port)
    config = uvicorn.Config(WORKER_APP, factory=True, workers=workers, **uvicorn_options(settings))
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        return STARTUP_FAILURE
    return 0
