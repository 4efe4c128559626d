"""The admin token: read from a request or handshake, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def parse_bearer(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def token_matches(given: str | None, expected: str) -> bool:
    """True only for a configured token given exactly; an empty `expected` matches nothing."""
    return (
        bool(expected)
        and given is not None
        and hmac.compare_digest(given.encode(), expected.encode())
    )


def bearer_token(request: Request) -> str | None:
    return parse_bearer(request.headers.get("authorization", "")) or request.query_params.get(
        "token"
    )


def check_admin(request: Request) -> None:
    """401 without a token, 403 with a wrong one; the token is never echoed."""
    given = bearer_token(request)
    if not token_matches(given, request.app.state.settings.admin_token):
        raise HTTPException(
            401 if given is None else 403,
            "This endpoint needs the admin token: send `Authorization: Bearer <token>`.",
        )


def require_admin_when_configured(request: Request) -> None:
    """With SHEETSTREAM_ADMIN_TOKEN set, only its holder may read; without it, anyone."""
    if request.app.state.settings.admin_token:
        check_admin(request)
