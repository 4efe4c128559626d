"""`POST /api/admin/broadcast` and `GET /api/admin/sessions`: the admin channel for scripts,
fleet-wide like `/ws/admin`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from sheetstream.errors import BadRequest, Forbidden
from sheetstream.routes.auth import check_admin
from sheetstream.routes.body import read_json
from sheetstream.streaming.admin import AdminService

router = APIRouter()


def require_admin(request: Request) -> AdminService:
    if not request.app.state.settings.admin_token:
        raise Forbidden("The admin endpoints are off: set SHEETSTREAM_ADMIN_TOKEN.")
    check_admin(request)
    admin: AdminService = request.app.state.admin
    return admin


Admin = Annotated[AdminService, Depends(require_admin)]


class BroadcastBody(BaseModel):
    content: str
    level: str = "info"
    session_id: str | None = None
    owner: str | None = None


@router.post("/api/admin/broadcast")
async def broadcast(request: Request, admin: Admin) -> dict[str, Any]:
    body = await read_json(request, BroadcastBody)
    if not body.content:
        raise BadRequest("`content` must be a non-empty string.")
    return {"receipt": await admin.broadcast(body.content, body.level, body.session_id, body.owner)}


@router.get("/api/admin/sessions")
async def sessions(admin: Admin) -> dict[str, Any]:
    return {"sessions": await admin.sessions()}
