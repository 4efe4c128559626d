"""JSON request bodies, read only after the route's dependencies (the token) have passed, and
never more than `SHEETSTREAM_MAX_BODY_BYTES` of them.

FastAPI reads a body declared as a parameter before it runs the dependencies, whatever its
size (chunked encoding has no Content-Length to check first). So no route declares one: each
takes `Request` and calls `read_json` once it knows who is asking.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from sheetstream.errors import BadRequest, TooLarge

M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request, model: type[M]) -> M:
    """The body as `model`: 413 past the limit (read no further), 400 when it does not fit."""
    limit: int = request.app.state.settings.max_body_bytes
    too_large = TooLarge(
        f"The request body is larger than {limit:,} bytes; send less (this endpoint takes "
        "a small JSON object)."
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise too_large
    try:
        return model.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise BadRequest(f"The body is not the JSON this endpoint takes: {_first(exc)}.") from None


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"[:200]
