"""`GET /api/sessions/{id}/messages`: a session's stored history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

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
    """Another owner's session answers exactly as a missing one does."""
    storage = request.app.state.chat.storage
    stored = await storage.session_owner(session_id) if is_valid_session_id(session_id) else None
    if stored is None or not visible(stored, owner):
        raise NotFound(SESSION_NOT_FOUND)
    records = await storage.list_messages(session_id, limit=max(1, min(limit, 10_000)))
    return {"session_id": session_id, "messages": [r.to_json() for r in records]}
