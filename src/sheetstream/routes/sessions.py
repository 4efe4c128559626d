"""`GET /api/sessions/{id}/messages`: a session's stored history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from sheetstream.protocol import is_valid_session_id

router = APIRouter()


@router.get("/api/sessions/{session_id}/messages")
async def messages(request: Request, session_id: str, limit: int = 1000) -> dict[str, Any]:
    storage = request.app.state.chat.storage
    if not is_valid_session_id(session_id) or not await storage.session_exists(session_id):
        raise HTTPException(404, "No such session; open /ws/chat to start one.")
    records = await storage.list_messages(session_id, limit=max(1, min(limit, 10_000)))
    return {"session_id": session_id, "messages": [r.to_json() for r in records]}
