"""An async Python client for sheetstream's WebSocket protocol.

async with SheetstreamClient.connect("ws://127.0.0.1:8005/ws/chat") as client:
    answer = await client.ask("Which region sold most?", mode="sentence")
    print(answer.text)
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

Frame = dict[str, Any]


@dataclass
class Answer:
    """One streamed answer as the client saw it."""

    request_id: str | None
    stream_id: str | None = None
    mode: str | None = None
    chunks: list[Frame] = field(default_factory=list)
    end: Frame | None = None
    errors: list[Frame] = field(default_factory=list)
    tools: list[Frame] = field(default_factory=list)  # queries the answer ran, before it

    @property
    def text(self) -> str:
        return "".join(chunk["text"] for chunk in self.chunks)

    @property
    def reason(self) -> str | None:
        return None if self.end is None else self.end["reason"]

    @property
    def last_seq(self) -> int:
        return self.chunks[-1]["seq"] if self.chunks else 0


class ServerError(Exception):
    """The server answered a request with an `error` frame."""

    def __init__(self, frame: Frame) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code: str = frame.get("code", "")


class SheetstreamClient:
    def __init__(self, ws: ClientConnection, session: Frame) -> None:
        self.ws = ws
        self.session_id: str = session["session_id"]
        self.resumable: list[str] = list(session.get("resumable", []))
        self.pending: list[Frame] = []  # frames read while looking for something else
        self._ids = itertools.count(1)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        session_id: str | None = None,
        token: str | None = None,
        **options: Any,
    ) -> _Connecting:
        """Open a chat connection; `token` goes in the `Authorization` header (URLs end up in
        logs; the server redacts `?token=`, proxies may not)."""
        if session_id:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode({'session_id': session_id})}"
        if token:
            headers = dict(options.get("additional_headers") or {})
            headers["Authorization"] = f"Bearer {token}"
            options["additional_headers"] = headers
        options.setdefault("compression", None)
        options.setdefault("max_size", None)
        return _Connecting(url, options)

    async def close(self) -> None:
        await self.ws.close()

    # --- frames

    async def send(self, frame: Frame) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def recv(self) -> Frame:
        if self.pending:
            return self.pending.pop(0)
        return await self._read()

    async def _read(self) -> Frame:
        message = await self.ws.recv()
        frame: Frame = orjson.loads(message)
        return frame

    def next_request_id(self) -> str:
        return f"r{next(self._ids)}"

    # --- requests

    async def chat(
        self,
        content: str,
        *,
        mode: str = "token",
        request_id: str | None = None,
        workbook_id: str | None = None,
        batch: dict[str, int] | None = None,
    ) -> str:
        """Send a `chat` frame; returns its request_id. Read the answer with `follow`."""
        request_id = request_id or self.next_request_id()
        frame: Frame = {"type": "chat", "request_id": request_id, "content": content, "mode": mode}
        if workbook_id is not None:
            frame["workbook_id"] = workbook_id
        if batch is not None:
            frame["batch"] = batch
        await self.send(frame)
        return request_id

    async def follow(self, request_id: str) -> AsyncIterator[Frame]:
        """Yield the frames of the answer to `request_id` (start, chunks, errors, end)."""
        stream_id: str | None = None
        skipped: list[Frame] = []
        try:
            while True:
                frame = await self.recv()
                kind = frame.get("type")
                mine = (kind == "start" and frame.get("request_id") == request_id) or (
                    stream_id is not None and frame.get("stream_id") == stream_id
                )
                if kind == "start" and mine:
                    stream_id = frame["stream_id"]
                if kind == "error" and frame.get("request_id") == request_id:
                    yield frame
                    if stream_id is None:
                        return
                    continue
                if not mine:
                    skipped.append(frame)
                    continue
                yield frame
                if kind == "end":
                    return
        finally:
            self.pending[:0] = skipped

    async def ask(self, content: str, **options: Any) -> Answer:
        """Ask and wait for the whole answer; an error before any `start` raises ServerError."""
        request_id = await self.chat(content, **options)
        answer = Answer(request_id=request_id)
        async for frame in self.follow(request_id):
            _collect(answer, frame)
        if answer.end is None and answer.errors:
            raise ServerError(answer.errors[-1])
        return answer

    async def cancel(self, request_id: str) -> None:
        await self.send({"type": "cancel", "request_id": request_id})

    async def resume(self, stream_id: str, after_seq: int = 0) -> Answer:
        """Replay a stream after `after_seq` and follow it to its end."""
        await self.send({"type": "resume", "stream_id": stream_id, "after_seq": after_seq})
        answer = Answer(request_id=None, stream_id=stream_id)
        skipped: list[Frame] = []
        try:
            while answer.end is None:
                frame = await self.recv()
                if frame.get("stream_id") == stream_id and frame["type"] in ("chunk", "end"):
                    _collect(answer, frame)
                elif frame.get("type") == "error" and frame.get("code") == "stream_expired":
                    raise ServerError(frame)
                else:
                    skipped.append(frame)
        finally:
            self.pending[:0] = skipped
        return answer

    async def ping(self, ts: float) -> Frame:
        await self.send({"type": "ping", "ts": ts})
        while True:
            frame = await self._read()
            if frame.get("type") == "pong":
                return frame
            self.pending.append(frame)


def _collect(answer: Answer, frame: Frame) -> None:
    kind = frame["type"]
    if kind == "start":
        answer.stream_id, answer.mode = frame["stream_id"], frame["mode"]
    elif kind == "chunk":
        answer.chunks.append(frame)
    elif kind == "end":
        answer.end = frame
    elif kind == "error":
        answer.errors.append(frame)
    elif kind == "tool":
        answer.tools.append(frame)


class _Connecting:
    """`await SheetstreamClient.connect(...)` or `async with SheetstreamClient.connect(...)`."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._client: SheetstreamClient | None = None

    async def _open(self) -> SheetstreamClient:
        ws = await ws_connect(self._url, **self._options)
        first: Frame = orjson.loads(await ws.recv())
        if first.get("type") != "session":
            await ws.close()
            raise ServerError(first)
        client = SheetstreamClient(ws, first)
        # The server closes connections that send nothing within its first-message deadline;
        # a ping now keeps a client that connects early and asks later.
        await client.ping(time.time())
        return client

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._open().__await__()

    async def __aenter__(self) -> SheetstreamClient:
        self._client = await self._open()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()
