"""What each client frame does: rate-limited, parsed, and handed to its job."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from sheetstream import protocol
from sheetstream.errors import RateLimited, SheetstreamError
from sheetstream.protocol import CancelFrame, ChatFrame, CloseCode, PingFrame, ResumeFrame
from sheetstream.ratelimit import Verdict
from sheetstream.streaming.connection import Connection

if TYPE_CHECKING:
    from sheetstream.streaming.chat import ChatService

log = logging.getLogger(__name__)

RATE_GRACE = 10  # refused messages in a row before a flooding connection is closed


def handle(service: ChatService, conn: Connection, text: str) -> None:
    """Act on one client text message; bad ones get an `error` frame, never a close.

    Over the message rate it gets `rate_limited`; a client that keeps flooding is closed.
    """
    if conn.closing:
        return
    now = service.clock()
    conn.last_received = now
    per_minute = service.settings.messages_per_minute
    verdict = conn.rate.take(now, per_minute, RATE_GRACE)
    if verdict is Verdict.EXCEEDED:
        service.stats.errors[RateLimited.code] += 1
        conn.close_after_queued(CloseCode.POLICY_VIOLATION, protocol.FLOOD_CLOSE_REASON)
        return
    if verdict is Verdict.LIMITED:
        wait = conn.rate.retry_after_s(per_minute)
        service.reject(
            conn,
            RateLimited(
                f"Over {per_minute} messages a minute; wait {wait:.1f} s before the next "
                "(this one was not handled)."
            ),
        )
        return
    frame = None
    try:
        frame = protocol.parse_client_frame(text, default_batch=service.default_batch)
        session = service.registry.session(conn.session_id)
        if isinstance(frame, ChatFrame):
            service.answers.start(session, frame, conn)
        elif isinstance(frame, CancelFrame):
            service.control.cancel(conn, session, frame)
        elif isinstance(frame, ResumeFrame):
            service.control.resume(conn, frame)
        elif isinstance(frame, PingFrame):
            conn.push(protocol.pong_frame(frame.ts, time.time()))
    except SheetstreamError as exc:
        if exc.request_id is None:
            exc.request_id = getattr(frame, "request_id", None)
        service.reject(conn, exc)
    except Exception:  # a bug must cost one message its answer, not the connection
        log.exception("handling a message on %s failed", conn.connection_id)
        failure = SheetstreamError("The server failed to handle this message; send it again.")
        failure.request_id = getattr(frame, "request_id", None)
        service.reject(conn, failure)
