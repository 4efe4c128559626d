"""Which browser origins may open a WebSocket: pure, from the handshake's headers."""

from __future__ import annotations

from typing import Any


def origin_allowed(origin: str | None, host: str | None, scheme: str, allowed: list[str]) -> bool:
    """Programs (no Origin), same-origin pages and exact allow-list entries; nothing else.

    `scheme` is the WebSocket scheme (`ws` or `wss`); the page of a same-origin handshake was
    served over the matching HTTP scheme. `null` (sandboxed frames, files) is refused unless
    listed.
    """
    if origin is None:
        return True
    if origin in allowed:
        return True
    if host is None or origin == "null":
        return False
    http = "https" if scheme in ("wss", "https") else "http"
    return origin.lower() == f"{http}://{host}".lower()


def handshake_origin_allowed(scope: dict[str, Any], allowed: list[str]) -> bool:
    """`origin_allowed` for an ASGI WebSocket scope's headers."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin")
    host = headers.get(b"host")
    return origin_allowed(
        origin.decode("latin-1") if origin is not None else None,
        host.decode("latin-1") if host is not None else None,
        scope.get("scheme", "ws"),
        allowed,
    )
