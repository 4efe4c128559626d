"""Which browser origins may open a WebSocket: pure, from the handshake's headers."""

from __future__ import annotations


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
