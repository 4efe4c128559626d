"""`GET /api/sessions/{id}/messages`: a session's stored history; `DELETE /api/sessions/{id}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from sheetstream.access import visible
from sheetstream.errors import NotFound
from sheetstream.protocol import is_valid_session_id
from sheetstream.routes.auth import Owner
from sheetstream.storage.base import SESSION_NOT_FOUND

router = APIRouter()


@router.get("/api/sessions/{session_id}/messages")
async def messages(
    request: Request, session_id: str, owner: Owner, limit: int = 1000
) -> dict[str, Any]:
    storage = request.app.state.chat.storage
    await _visible_owner(request, session_id, owner)
    records = await storage.list_messages(session_id, limit=max(1, min(limit, 10_000)))
    return {"session_id": session_id, "messages": [r.to_json() for r in records]}


@router.delete("/api/sessions/{session_id}", status_code=204)
async def delete(request: Request, session_id: str, owner: Owner) -> Response:
    """Close the session's connections, stop its answer and delete its history."""
    chat = request.app.state.chat
    stored = await _visible_owner(request, session_id, owner)
    await chat.delete_session(session_id, stored)
    return Response(status_code=204)


async def _visible_owner(request: Request, session_id: str, owner: str | None) -> str:
    """The session's owner; another owner's session answers exactly as a missing one does."""
    storage = request.app.state.chat.storage
    stored = await storage.session_owner(session_id) if is_valid_session_id(session_id) else None
    if stored is None or not visible(stored, owner):
        raise NotFound(SESSION_NOT_FOUND)
    return str(stored)
