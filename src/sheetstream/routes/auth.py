"""The admin token check for HTTP endpoints, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.query_params.get("token")


def require_admin_when_configured(request: Request) -> None:
    """With SHEETSTREAM_ADMIN_TOKEN set, only its holder may read; without it, anyone."""
    expected: str = request.app.state.settings.admin_token
    if not expected:
        return
    given = bearer_token(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401 if given is None else 403,
            "This endpoint needs the admin token: send `Authorization: Bearer <token>`.",
        )
