"""Wire protocol version 1: client frames parsed into values, server frames dumped to text.

Pure: no I/O, no clock. `docs/protocol.md` describes the same frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from sheetstream.errors import BadRequest

PROTOCOL_VERSION = 1
SESSION_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
RESERVED_SESSION_IDS = frozenset({"chat", "admin"})


class StreamingMode(StrEnum):
    TOKEN_BY_TOKEN = "token"
    SENTENCE_BY_SENTENCE = "sentence"
    PARAGRAPH_BY_PARAGRAPH = "paragraph"


class EndReason(StrEnum):
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    LENGTH = "length"
    ERROR = "error"
    INTERRUPTED = "interrupted"  # the server generating it stopped (shutdown, or died)


def close_reason(text: str) -> str:
    """A close reason that fits a close frame: at most 123 bytes of UTF-8, cut at a character."""
    data = text.encode()
    if len(data) <= 123:
        return text
    return data[:120].decode("utf-8", "ignore") + "…"  # the ellipsis is 3 bytes


# The close reason of a connection that kept sending past the rate limit; the WebSocket layer
# stops reading such a peer at once instead of draining its flood until it answers the close.
FLOOD_CLOSE_REASON = "rate limit exceeded; reconnect and slow down"


class CloseCode:
    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013


@dataclass(frozen=True, slots=True)
class BatchOptions:
    max_tokens: int
    max_delay_ms: int


@dataclass(frozen=True, slots=True)
class ChatFrame:
    content: str
    request_id: str | None
    mode: StreamingMode
    workbook_id: str | None
    batch: BatchOptions | None


@dataclass(frozen=True, slots=True)
class CancelFrame:
    request_id: str


@dataclass(frozen=True, slots=True)
class ResumeFrame:
    stream_id: str
    after_seq: int
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class PingFrame:
    ts: Any


ClientFrame = ChatFrame | CancelFrame | ResumeFrame | PingFrame


def is_valid_session_id(value: str) -> bool:
    return SESSION_ID_RE.fullmatch(value) is not None and value not in RESERVED_SESSION_IDS


def parse_client_frame(text: str, *, default_batch: BatchOptions | None = None) -> ClientFrame:
    """Parse one client text message; raise `BadRequest` (with any `request_id`) if invalid."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadRequest("Message is not valid JSON; send one JSON object per message.") from None
    if not isinstance(data, dict):
        raise BadRequest('Message must be a JSON object with a string "type".')
    request_id = data.get("request_id")
    echo = request_id if isinstance(request_id, str) else None
    kind = data.get("type")
    try:
        if kind == "chat":
            return _parse_chat(data, echo, default_batch)
        if kind == "cancel":
            return CancelFrame(request_id=_required_str(data, "request_id"))
        if kind == "resume":
            return ResumeFrame(
                stream_id=_required_str(data, "stream_id"),
                after_seq=_non_negative_int(data, "after_seq"),
                request_id=echo,
            )
        if kind == "ping":
            return PingFrame(ts=_echoable(data.get("ts")))
    except BadRequest as exc:
        exc.request_id = echo
        raise
    if not isinstance(kind, str):
        raise BadRequest(
            'Message needs a string "type": chat, cancel, resume or ping.', request_id=echo
        )
    raise BadRequest(
        f"Unknown message type {kind[:40]!r}; expected chat, cancel, resume or ping.",
        request_id=echo,
    )


def _parse_chat(
    data: dict[str, Any], request_id: str | None, default_batch: BatchOptions | None
) -> ChatFrame:
    if "request_id" in data and request_id is None:
        raise BadRequest('"request_id" must be a string.')
    content = data.get("content")
    if not isinstance(content, str) or not content.strip():
        raise BadRequest('"chat" needs "content": a non-empty string with the question.')
    mode_value = data.get("mode", StreamingMode.TOKEN_BY_TOKEN.value)
    try:
        mode = StreamingMode(mode_value)
    except (ValueError, TypeError):
        raise BadRequest(
            f'Unknown "mode" {str(mode_value)[:40]!r}; use token, sentence or paragraph.'
        ) from None
    workbook_id = data.get("workbook_id")
    if workbook_id is not None and not isinstance(workbook_id, str):
        raise BadRequest('"workbook_id" must be a string.')
    return ChatFrame(
        content=content,
        request_id=request_id,
        mode=mode,
        workbook_id=workbook_id,
        batch=_parse_batch(data.get("batch"), default_batch),
    )


def _parse_batch(value: object, default: BatchOptions | None) -> BatchOptions | None:
    if value is None:
        return default
    if not isinstance(value, dict) or set(value) - {"max_tokens", "max_delay_ms"}:
        raise BadRequest('"batch" must be an object with "max_tokens" and/or "max_delay_ms".')
    for key, item in value.items():
        if type(item) is not int or item <= 0:
            raise BadRequest(f'"batch.{key}" must be a positive integer.')
    base = default or BatchOptions(max_tokens=4, max_delay_ms=25)
    return BatchOptions(
        max_tokens=value.get("max_tokens", base.max_tokens),
        max_delay_ms=value.get("max_delay_ms", base.max_delay_ms),
    )


def _echoable(value: Any) -> Any:
    """A value the server sends back as it came: it must serialise again (orjson reads JSON
    nested 1,024 deep but writes only 254)."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise BadRequest('"ts" is nested too deeply to send back; send a number.') from None
    return value


def _required_str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f'"{data.get("type")}" needs "{key}": a non-empty string.')
    return value


def _non_negative_int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int or value < 0:
        raise BadRequest(f'"{data.get("type")}" needs "{key}": an integer >= 0.')
    return value


# --- server frames -------------------------------------------------------------------------


def dump(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def session_frame(session_id: str, resumable: list[str]) -> str:
    return dump(
        {
            "type": "session",
            "session_id": session_id,
            "protocol": PROTOCOL_VERSION,
            "resumable": resumable,
        }
    )


def start_frame(request_id: str | None, stream_id: str, mode: StreamingMode) -> str:
    return dump(
        {"type": "start", "request_id": request_id, "stream_id": stream_id, "mode": mode.value}
    )


def chunk_frame(stream_id: str, seq: int, text: str, tokens: int) -> str:
    return dump(
        {"type": "chunk", "stream_id": stream_id, "seq": seq, "text": text, "tokens": tokens}
    )


def end_frame(
    stream_id: str,
    seq: int,
    reason: EndReason,
    tokens: int,
    request_id: str | None,
    extra: dict[str, Any] | None = None,
) -> str:
    frame = {
        "type": "end",
        "stream_id": stream_id,
        "seq": seq,
        "reason": reason.value,
        "tokens": tokens,
        "request_id": request_id,
    }
    if extra:
        frame.update(extra)
    return dump(frame)


def tool_frame(stream_id: str, request_id: str | None, name: str, **fields: Any) -> str:
    """A tool the answer used (e.g. `run_sql`): sent before the answer's chunks."""
    return dump(
        {"type": "tool", "stream_id": stream_id, "request_id": request_id, "name": name, **fields}
    )


def error_frame(code: str, message: str, request_id: str | None = None, **extra: Any) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if request_id is not None:
        frame["request_id"] = request_id
    frame.update(extra)
    return dump(frame)


def pong_frame(ts: Any, server_ts: float) -> str:
    return dump({"type": "pong", "ts": ts, "server_ts": server_ts})


def broadcast_frame(content: str, level: str, ts: float) -> str:
    return dump({"type": "broadcast", "content": content, "level": level, "ts": ts})
