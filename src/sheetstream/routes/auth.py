"""Tokens at the door: the admin token and user tokens, read from a request or handshake and
compared without leaking how close a guess came. Refusals never echo the token."""

from __future__ import annotations

import hmac
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request

from sheetstream.access import TokenBook
from sheetstream.errors import Forbidden, Unauthorized


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


def handshake_token(scope: dict[str, Any]) -> str | None:
    """The token of a WebSocket handshake: `Authorization: Bearer`, else `?token=`."""
    headers = dict(scope.get("headers") or [])
    token = parse_bearer(headers.get(b"authorization", b"").decode("latin-1"))
    if token is not None:
        return token
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


def check_admin(request: Request) -> None:
    """401 without a token, 403 with a wrong one."""
    given = bearer_token(request)
    if not token_matches(given, request.app.state.settings.admin_token):
        refusal = Unauthorized if given is None else Forbidden
        raise refusal("This endpoint needs the admin token: send `Authorization: Bearer <token>`.")


def require_admin_when_configured(request: Request) -> None:
    """With SHEETSTREAM_ADMIN_TOKEN set, only its holder may read; without it, anyone."""
    if request.app.state.settings.admin_token:
        check_admin(request)


def request_owner(request: Request) -> str | None:
    """The owner a request speaks for; None when the service is open (no user tokens).

    401 without a token, 403 with one that is not a user token (the admin token is not one).
    """
    tokens: TokenBook = request.app.state.tokens
    if tokens.open:
        return None
    given = bearer_token(request)
    owner = tokens.owner_for(given)
    if owner is None:
        if given is None:
            raise Unauthorized(
                "This server needs a user token: send `Authorization: Bearer <token>` "
                "(or `?token=`); ask its operator for one."
            )
        raise Forbidden("That token is not valid here; check it, or ask the operator for one.")
    return owner


Owner = Annotated[str | None, Depends(request_owner)]
