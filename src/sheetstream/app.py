"""The FastAPI application: services built in the lifespan, routes attached, nothing global."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sheetstream import __version__
from sheetstream.access import TokenBook
from sheetstream.broker import create_broker
from sheetstream.errors import LLMError, Overloaded, SheetstreamError
from sheetstream.llm import create_model
from sheetstream.looplag import LoopLag
from sheetstream.routes import admin_http, health, metrics, sessions, web, workbooks
from sheetstream.settings import Settings
from sheetstream.storage import create_storage
from sheetstream.streaming.admin import AdminService
from sheetstream.streaming.chat import ChatService
from sheetstream.workbooks.service import WorkbookService

log = logging.getLogger("sheetstream")

_STATUS = {
    "not_found": 404,
    "workbook_not_found": 404,
    "bad_request": 400,
    "too_large": 413,
    "unauthorized": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "overloaded": 503,
    "quota_exceeded": 403,
    "unavailable": 503,
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        broker = create_broker(settings.broker_url, settings.broker_pool_size)
        storage = create_storage(settings.resolved_database_url(), settings.database_pool_size)
        # alone, every answer left `streaming` is a crash's; in a fleet, answers of other live
        # nodes are `streaming` too, and the dead nodes' are ended by the fleet's reaper
        await storage.connect(interrupt_streaming=not broker.shared)
        model = create_model(settings)
        app.state.model_error = None
        try:
            await model.load()
        except LLMError as exc:
            app.state.model_error = exc.message
            log.error("model %s is not ready: %s", settings.model, exc.message)
        app.state.workbooks = WorkbookService(settings, storage)
        await app.state.workbooks.start()
        service = ChatService(
            settings,
            model,
            storage,
            app.state.workbooks,
            tokens=app.state.tokens,
            broker=broker,
            node_id=app.state.node_id,
        )
        await service.start()
        app.state.chat = service
        app.state.loop_lag = LoopLag()
        watching = asyncio.create_task(app.state.loop_lag.run(), name="loop-lag")
        app.state.admin = AdminService(service)
        app.state.started_at = time.monotonic()
        # What exists now lives as long as the process: keep it out of every future
        # collection, so collections pause only over per-request objects.
        gc.freeze()
        try:
            yield
        finally:
            watching.cancel()
            await service.shutdown()
            app.state.workbooks.close()
            await model.aclose()
            await storage.disconnect()
            await broker.close()

    app = FastAPI(title="sheetstream", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.node_id = settings.resolved_node_id()
    app.state.tokens = TokenBook.from_entries(settings.token_entries())
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(sessions.router)
    app.include_router(workbooks.router)
    app.include_router(admin_http.router)
    app.include_router(web.router)
    app.mount("/static", web.static, name="static")
    if settings.echo_endpoint:
        from sheetstream.routes import echo

        app.include_router(echo.router)

    @app.exception_handler(SheetstreamError)
    async def _sheetstream_error(request: Request, exc: SheetstreamError) -> JSONResponse:
        status = getattr(exc, "status", None) or _STATUS.get(exc.code, 500)
        headers = None
        if isinstance(exc, Overloaded):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return JSONResponse(
            {"error": exc.code, "message": exc.message}, status_code=status, headers=headers
        )

    return app
