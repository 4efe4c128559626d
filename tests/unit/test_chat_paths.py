"""Which WebSocket paths reach the chat handler, and the session id each names."""

from __future__ import annotations

import pytest

from sheetstream.routes.chat import chat_session_id


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/ws/chat", b"", (True, None)),
        ("/ws/chat", b"session_id=abc&x=1", (True, "abc")),
        ("/ws/chat", b"session_id=", (True, "")),  # empty: refused later, with 1008
        ("/ws/my-session", b"", (True, "my-session")),
        ("/ws/" + "x" * 70, b"", (True, "x" * 70)),  # refused later, with 1008
        ("/ws/admin", b"", (False, None)),
        ("/ws/echo", b"", (False, None)),
        ("/ws/a/b", b"", (False, None)),
        ("/api/ws/chat", b"", (False, None)),
    ],
)
def test_chat_paths(path: str, query: bytes, expected: tuple[bool, str | None]) -> None:
    assert chat_session_id(path, query) == expected
