"""The baseline: one JSON frame per token, each send awaited, under sheetstream's uvicorn config.

It streams the same synthetic model (same tokens, same pace) over the same WebSocket protocol
class and settings, with none of sheetstream's machinery: no batching, no replay buffer, no
storage, no writer task. Run it as `python -m sheetstream.bench.naive --port P`; settings come
from the same SHEETSTREAM_* environment as the real service.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from sheetstream.llm.base import ChatMessage, GenerationOptions, tokens_of
from sheetstream.llm.synthetic import SyntheticModel
from sheetstream.server import run_server, uvicorn_config
from sheetstream.settings import Settings


def create_naive_app(settings: Settings) -> FastAPI:
    model = SyntheticModel.from_settings(settings)
    options = GenerationOptions(
        max_tokens=settings.max_answer_tokens, temperature=settings.temperature
    )
    ids = itertools.count(1)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await model.load()
        yield
        await model.aclose()

    app = FastAPI(title="naive", lifespan=lifespan)

    @app.get("/healthz")
    async def alive() -> dict[str, str]:
        return {"status": "alive"}

    @app.websocket("/ws/chat")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        number = next(ids)
        session = {"type": "session", "session_id": f"ss_{number}", "protocol": 1, "resumable": []}
        await websocket.send_text(orjson.dumps(session).decode())
        try:
            while True:
                frame = orjson.loads(await websocket.receive_text())
                if frame.get("type") != "chat":
                    continue
                stream_id = f"st_{number}_{next(ids)}"
                start = {
                    "type": "start",
                    "request_id": frame.get("request_id"),
                    "stream_id": stream_id,
                    "mode": "token",
                }
                await websocket.send_text(orjson.dumps(start).decode())
                seq = 0
                messages = [ChatMessage("user", str(frame.get("content", "")))]
                async for item in model.stream(messages, options):
                    for token in tokens_of(item):
                        seq += 1
                        chunk = {"type": "chunk", "seq": seq, "text": token, "tokens": 1}
                        await websocket.send_text(orjson.dumps(chunk).decode())
                end = {
                    "type": "end",
                    "stream_id": stream_id,
                    "seq": seq,
                    "reason": "complete",
                    "tokens": seq,
                }
                await websocket.send_text(orjson.dumps(end).decode())
        except WebSocketDisconnect:
            return

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sheetstream.bench.naive")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    settings = Settings(port=args.port)
    server = uvicorn.Server(uvicorn_config(settings, app=create_naive_app(settings)))
    run_server(server, settings)  # as sheetstream's own: both get the same event loop
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
