"""`/api/workbooks`: upload, list, describe, query and delete workbooks."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sheetstream.errors import TooLarge
from sheetstream.routes.auth import Owner
from sheetstream.routes.body import read_json
from sheetstream.workbooks.receive import limit_message
from sheetstream.workbooks.service import WorkbookService

router = APIRouter()


class QueryBody(BaseModel):
    sql: str


def _service(request: Request) -> WorkbookService:
    service: WorkbookService = request.app.state.workbooks
    return service


def _client(request: Request, owner: str | None) -> str:
    """Who shares a per-client limit: the token's owner, or the address on an open service."""
    return owner if owner is not None else (request.client.host if request.client else "")


@router.post("/api/workbooks", status_code=201)
async def upload(request: Request, owner: Owner) -> JSONResponse:
    service = _service(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > service.max_bytes + 65536:
        raise TooLarge(limit_message(service.max_bytes))
    client = _client(request, owner)
    record = await service.upload(
        request.headers.get("content-type", ""), request.stream(), owner, client
    )
    return JSONResponse(record, status_code=201)


@router.get("/api/workbooks")
async def list_workbooks(request: Request, owner: Owner) -> dict[str, Any]:
    return {"workbooks": await _service(request).list(owner)}


@router.get("/api/workbooks/{workbook_id}")
async def describe(request: Request, workbook_id: str, owner: Owner) -> dict[str, Any]:
    return await _service(request).get(workbook_id, owner)


@router.delete("/api/workbooks/{workbook_id}", status_code=204)
async def delete(request: Request, workbook_id: str, owner: Owner) -> Response:
    await _service(request).delete(workbook_id, owner)
    return Response(status_code=204)


@router.post("/api/workbooks/{workbook_id}/query")
async def query(request: Request, workbook_id: str, owner: Owner) -> Response:
    body = await read_json(request, QueryBody)
    result = await _service(request).query(workbook_id, body.sql, owner, _client(request, owner))
    return Response(orjson.dumps(result.to_json()), media_type="application/json")
