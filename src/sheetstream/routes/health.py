"""Health: `/` for operators and API clients, `/healthz` (alive) and `/readyz` (can chat: the
model, the storage and the broker answer; 503 naming those `down` otherwise)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sheetstream.health import health_report
from sheetstream.routes.web import page

router = APIRouter()


@router.api_route("/", methods=["GET", "HEAD"], response_model=None)
async def root(request: Request) -> Response:
    """The chat page for browsers; the service's status, as JSON, for everyone else."""
    if "text/html" in request.headers.get("accept", ""):
        response: Response = page("index.html")
    else:
        report = await health_report(request.app.state)
        response = JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
    response.headers["Vary"] = "Accept"  # one URL, two answers: caches must keep both
    return response


@router.get("/healthz")
async def alive() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/readyz")
async def ready(request: Request) -> JSONResponse:
    report = await health_report(request.app.state)
    ok = report["status"] == "ok"
    body: dict[str, Any] = {"ready": ok, "node": report["node"], "down": report["down"]}
    body.update({name: report[name] for name in ("model", "storage", "broker")})
    return JSONResponse(body, status_code=200 if ok else 503)
