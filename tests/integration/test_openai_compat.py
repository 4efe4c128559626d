"""OpenAICompatModel against a scripted HTTP server on 127.0.0.1, and against llama.cpp's server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sheetstream.errors import LLMTimeout, LLMUnavailable
from sheetstream.llm.base import ChatMessage, GenerationOptions
from sheetstream.llm.openai_compat import OpenAICompatModel
from sheetstream.settings import Settings

QUESTION = [ChatMessage("system", "Be brief."), ChatMessage("user", "What is in A1?")]
TIMEOUT_S = 0.3
BACKOFF_S = 0.05


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class ScriptedServer:
    """A raw HTTP/1.1 server: each chat request gets the next scripted handler."""

    script: list[Handler] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *header_lines = head.strip().split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            loop = asyncio.get_running_loop()
            self.requests.append(
                Request(method, path, headers, json.loads(body) if body else None, loop.time())
            )
            if path == "/v1/models":
                await respond(200, {"object": "list", "data": []})(reader, writer)
            else:
                handler = self.script.pop(0) if len(self.script) > 1 else self.script[0]
                await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected.set()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def respond(status: int, body: Any) -> Handler:
    """A complete, non-streaming JSON response."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    return handler


def chunk(text: str) -> bytes:
    data = text.encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def event(content: str | None, finish: str | None = None) -> str:
    delta = {} if content is None else {"content": content}
    body = {
        "object": "chat.completion.chunk",
        "choices": [{"delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


async def sse_head(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    # What real servers send before content: a keep-alive comment and a role-only delta.
    writer.write(chunk(": keep-alive\n\n"))
    writer.write(chunk('data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'))
    await writer.drain()


async def forever() -> None:
    await asyncio.Event().wait()


def sse(tokens: list[str], *, done: bool = True) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await sse_head(writer)
        for token in tokens:
            writer.write(chunk(event(token)))
        writer.write(chunk(event("")))
        if done:
            writer.write(chunk(event(None, "stop") + "data: [DONE]\n\n"))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    return handler


def stall_before_headers() -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await forever()

    return handler


def stall_after(tokens: list[str]) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await sse_head(writer)
        for token in tokens:
            writer.write(chunk(event(token)))
        await writer.drain()
        await forever()

    return handler


def drop_after(tokens: list[str]) -> Handler:
    """Send some tokens, then close the connection in the middle of the chunked body."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await sse_head(writer)
        for token in tokens:
            writer.write(chunk(event(token)))
        await writer.drain()

    return handler


def slow(count: int, interval: float, disconnected: asyncio.Event) -> Handler:
    """Stream tokens slowly and notice when the client goes away."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await sse_head(writer)
        eof = asyncio.create_task(reader.read(1))
        try:
            for index in range(count):
                writer.write(chunk(event(f" t{index}")))
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(eof), interval)
                if eof.done():
                    disconnected.set()
                    return
        finally:
            eof.cancel()

    return handler


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    await scripted.start()
    yield scripted
    await scripted.close()


@pytest.fixture
async def make_model() -> AsyncIterator[Callable[..., Awaitable[OpenAICompatModel]]]:
    models: list[OpenAICompatModel] = []

    async def make(url: str, **overrides: Any) -> OpenAICompatModel:
        settings: dict[str, Any] = {
            "model": "openai",
            "openai_base_url": url,
            "openai_model": "smol",
            "openai_connect_timeout_s": 1.0,
            "openai_first_token_timeout_s": TIMEOUT_S,
            "openai_inter_token_timeout_s": TIMEOUT_S,
            "openai_retries": 2,
            "openai_retry_backoff_s": BACKOFF_S,
        }
        model = OpenAICompatModel.from_settings(Settings(**(settings | overrides)))
        models.append(model)
        await model.load()
        return model

    yield make
    for model in models:
        await model.aclose()


async def collect(stream: AsyncGenerator[str, None], into: list[str] | None = None) -> list[str]:
    tokens = [] if into is None else into
    async with contextlib.aclosing(stream):
        async for token in stream:
            tokens.append(token)
    return tokens


def options(max_tokens: int = 64) -> GenerationOptions:
    return GenerationOptions(max_tokens=max_tokens, temperature=0.0)


async def test_streams_content_deltas_and_sends_the_request(server, make_model) -> None:
    server.script = [sse(["Hel", "lo", ",", " wörld 🌍"])]
    model = await make_model(server.url, openai_api_key="sk-test")

    tokens = await collect(model.stream(QUESTION, options(12)))

    assert tokens == ["Hel", "lo", ",", " wörld 🌍"]
    (request,) = server.chat_requests
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body == {
        "model": "smol",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is in A1?"},
        ],
        "stream": True,
        "max_tokens": 12,
        "temperature": 0.0,
    }


async def test_no_authorization_header_without_a_key(server, make_model) -> None:
    server.script = [sse(["ok"])]
    model = await make_model(server.url)
    assert await collect(model.stream(QUESTION, options())) == ["ok"]
    assert "authorization" not in server.chat_requests[0].headers


async def test_429_is_retried_after_a_backoff(server, make_model) -> None:
    server.script = [respond(429, {"error": {"message": "slow down"}}), sse(["ok"])]
    model = await make_model(server.url)

    assert await collect(model.stream(QUESTION, options())) == ["ok"]
    first, second = server.chat_requests
    assert second.at - first.at >= BACKOFF_S


async def test_5xx_forever_is_unavailable_after_exponential_retries(server, make_model) -> None:
    server.script = [respond(503, {"error": {"message": "model is loading"}})]
    model = await make_model(server.url)

    with pytest.raises(LLMUnavailable, match=r"HTTP 503.*model is loading") as caught:
        await collect(model.stream(QUESTION, options()))

    times = [request.at for request in server.chat_requests]
    assert len(times) == 3  # the first try and 2 retries
    assert times[1] - times[0] >= BACKOFF_S
    assert times[2] - times[1] >= 2 * BACKOFF_S
    assert "3 attempts" in caught.value.message


@pytest.mark.parametrize(
    ("status", "body", "hint"),
    [
        (404, {"error": {"message": "model 'smol' not found"}}, "SHEETSTREAM_OPENAI_MODEL"),
        (401, {"error": {"message": "invalid api key"}}, "SHEETSTREAM_OPENAI_API_KEY"),
        (400, {"detail": "x" * 5000}, "SHEETSTREAM_OPENAI_MODEL"),
    ],
)
async def test_other_4xx_are_unavailable_without_retry(
    server, make_model, status: int, body: Any, hint: str
) -> None:
    server.script = [respond(status, body)]
    model = await make_model(server.url)

    with pytest.raises(LLMUnavailable) as caught:
        await collect(model.stream(QUESTION, options()))

    assert len(server.chat_requests) == 1
    message = caught.value.message
    assert f"HTTP {status}" in message
    assert hint in message
    assert len(message) < 500, "the server's message is trimmed"
    if "error" in body:
        assert body["error"]["message"] in message


@pytest.mark.parametrize("stall", [stall_before_headers(), stall_after([])], ids=["head", "body"])
async def test_no_first_token_in_time_is_a_timeout(server, make_model, stall: Handler) -> None:
    server.script = [stall]
    model = await make_model(server.url)
    loop = asyncio.get_running_loop()
    started = loop.time()

    # The generous outer limit only catches a timeout that never fires.
    with pytest.raises(LLMTimeout, match="FIRST_TOKEN_TIMEOUT"):
        async with asyncio.timeout(30 * TIMEOUT_S):
            await collect(model.stream(QUESTION, options()))

    assert loop.time() - started >= TIMEOUT_S
    assert len(server.chat_requests) == 1, "a timeout is not retried"


async def test_a_stall_between_tokens_is_a_timeout(server, make_model) -> None:
    server.script = [stall_after(["a", "b"])]
    model = await make_model(server.url)
    tokens: list[str] = []

    with pytest.raises(LLMTimeout, match="INTER_TOKEN_TIMEOUT"):
        async with asyncio.timeout(30 * TIMEOUT_S):
            await collect(model.stream(QUESTION, options()), tokens)

    assert tokens == ["a", "b"]


async def test_a_slow_consumer_is_not_a_stalled_server(server, make_model) -> None:
    server.script = [sse(["a", "b", "c"])]
    model = await make_model(server.url)
    tokens = []

    async with contextlib.aclosing(model.stream(QUESTION, options())) as stream:
        async for token in stream:
            tokens.append(token)
            await asyncio.sleep(2 * TIMEOUT_S)

    assert tokens == ["a", "b", "c"]


async def test_failure_after_the_first_token_is_not_retried(server, make_model) -> None:
    server.script = [drop_after(["a"]), sse(["never"])]
    model = await make_model(server.url)
    tokens: list[str] = []

    with pytest.raises(LLMUnavailable, match="mid-answer"):
        await collect(model.stream(QUESTION, options()), tokens)

    assert tokens == ["a"]
    assert len(server.chat_requests) == 1


async def test_failure_before_the_first_token_is_retried(server, make_model) -> None:
    server.script = [drop_after([]), sse(["ok"])]
    model = await make_model(server.url)

    assert await collect(model.stream(QUESTION, options())) == ["ok"]
    assert len(server.chat_requests) == 2


async def test_an_answer_without_done_is_incomplete(server, make_model) -> None:
    server.script = [sse(["a"], done=False)]
    model = await make_model(server.url, openai_retries=0)
    tokens: list[str] = []

    with pytest.raises(LLMUnavailable, match="without \\[DONE\\]"):
        await collect(model.stream(QUESTION, options()), tokens)

    assert tokens == ["a"]


async def test_connection_refused_is_unavailable_with_advice(make_model) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = await make_model(f"http://127.0.0.1:{port}/v1")
    assert model.ready, "load succeeds while the server is down"

    with pytest.raises(LLMUnavailable) as caught:
        await collect(model.stream(QUESTION, options()))

    assert f"127.0.0.1:{port}" in caught.value.message
    assert "SHEETSTREAM_OPENAI_BASE_URL" in caught.value.message


async def test_closing_early_closes_the_response(server, make_model) -> None:
    server.script = [slow(200, 0.02, server.disconnected)]
    model = await make_model(server.url)

    stream = model.stream(QUESTION, options(200))
    tokens = [await anext(stream), await anext(stream)]
    await stream.aclose()

    assert tokens == [" t0", " t1"]
    await asyncio.wait_for(server.disconnected.wait(), 2.0)


async def test_stream_before_load_is_unavailable() -> None:
    model = OpenAICompatModel("http://127.0.0.1:9/v1")
    with pytest.raises(LLMUnavailable, match="load"):
        await anext(model.stream(QUESTION, options()))


async def test_a_real_llama_cpp_server_streams_an_answer(llama_server_url: str) -> None:
    model = OpenAICompatModel(
        f"{llama_server_url}/v1", first_token_timeout_s=60, inter_token_timeout_s=30
    )
    await model.load()
    try:
        tokens = await collect(
            model.stream([ChatMessage("user", "Name three colours.")], options(24))
        )
    finally:
        await model.aclose()

    assert len(tokens) >= 3
    assert "".join(tokens).strip()


async def test_a_real_llama_cpp_server_survives_an_early_close(llama_server_url: str) -> None:
    model = OpenAICompatModel(
        f"{llama_server_url}/v1", first_token_timeout_s=60, inter_token_timeout_s=30
    )
    await model.load()
    try:
        stream = model.stream([ChatMessage("user", "Write a long story.")], options(400))
        first = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        again = await collect(model.stream([ChatMessage("user", "Say hi.")], options(8)))
    finally:
        await model.aclose()

    assert all(first)
    assert again
