"""Health: `/` for operators and API clients, `/healthz` (alive) and `/readyz` (can chat)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from sheetstream.health import health_report

router = APIRouter()


@router.get("/", response_model=None)
async def root(request: Request) -> JSONResponse | HTMLResponse:
    report = await health_report(request.app.state)
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return HTMLResponse(_html(report), status_code=200)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


@router.get("/healthz")
async def alive() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz")
async def ready(request: Request) -> JSONResponse:
    report = await health_report(request.app.state)
    ok = report["status"] == "ok"
    body = {"ready": ok, "model": report["model"], "storage": report["storage"]}
    return JSONResponse(body, status_code=200 if ok else 503)


def _html(report: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{key}</th><td>{value}</td></tr>" for key, value in report.items())
    return (
        "<!doctype html><meta charset=utf-8><title>sheetstream</title>"
        f"<h1>sheetstream</h1><table>{rows}</table>"
        "<p>Chat over WebSocket at <code>/ws/chat</code>.</p>"
    )
