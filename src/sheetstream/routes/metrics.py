"""`/api/websocket/performance` (JSON) and `/metrics` (Prometheus), read from the same stats."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sheetstream.prometheus import render
from sheetstream.routes.auth import require_admin_when_configured

router = APIRouter(dependencies=[Depends(require_admin_when_configured)])


@router.get("/api/websocket/performance")
async def performance(request: Request) -> dict[str, Any]:
    now = time.monotonic()
    figures: dict[str, Any] = request.app.state.chat.stats.snapshot(now)
    figures["event_loop_lag_ms"] = request.app.state.loop_lag.snapshot(now)
    figures["work"] = request.app.state.workbooks.load()
    figures["fleet"] = request.app.state.chat.fleet.figures()
    return figures


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = request.app.state
    node = getattr(state, "node_id", "") or ""  # set by the app when it knows its node id
    body, content_type = render(
        state.chat.stats, state.loop_lag, state.workbooks.load(), node=str(node)
    )
    return Response(body, media_type=content_type)
