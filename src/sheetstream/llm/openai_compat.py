"""Any OpenAI-compatible chat server (llama.cpp server, vLLM, Ollama, ...) over streaming HTTP.

Errors are mapped once, here: connection errors, HTTP 429 and 5xx are retried with exponential
backoff, but only until the first token was yielded (a retry after that would repeat text the
client already has); other 4xx are not retried. A missing first token, or a gap between tokens,
longer than the configured timeouts raises `LLMTimeout`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

import httpx
import orjson

from sheetstream.errors import LLMTimeout, LLMUnavailable
from sheetstream.llm.base import ChatMessage, GenerationOptions, ToolCall

if TYPE_CHECKING:
    from sheetstream.settings import Settings

log = logging.getLogger(__name__)

_ERROR_BODY_BYTES = 4096
_ERROR_MESSAGE_CHARS = 200
_PROBE_TIMEOUT_S = 2.0


class _Retry(Exception):
    """A failure that may go away if the request is sent again."""


class OpenAICompatModel:
    """Streams chat completions from `{base_url}/chat/completions`.

    `load` creates the HTTP client and is ready at once, even if the server is down: the
    server may start after sheetstream, and every answer reports an unreachable server as
    `LLMUnavailable` anyway. `load` probes `{base_url}/models` once, only to log a warning
    that names the URL when the server cannot be reached.
    """

    name = "openai"
    supports_tools = True
    reads_questions = True

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        model: str = "default",
        connect_timeout_s: float = 5.0,
        first_token_timeout_s: float = 30.0,
        inter_token_timeout_s: float = 15.0,
        retries: int = 2,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._model = model
        self._connect_timeout_s = connect_timeout_s
        self._first_token_timeout_s = first_token_timeout_s
        self._inter_token_timeout_s = inter_token_timeout_s
        self._retries = max(0, retries)
        self._retry_backoff_s = retry_backoff_s
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatModel:
        return cls(
            settings.openai_base_url,
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            connect_timeout_s=settings.openai_connect_timeout_s,
            first_token_timeout_s=settings.openai_first_token_timeout_s,
            inter_token_timeout_s=settings.openai_inter_token_timeout_s,
            retries=settings.openai_retries,
            retry_backoff_s=settings.openai_retry_backoff_s,
        )

    @property
    def ready(self) -> bool:
        return self._client is not None

    async def load(self) -> None:
        """Create the client and check (for the log only) that the server answers."""
        if self._client is not None:
            return
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers,
            # Reads are timed per token by `stream`; httpx only bounds connecting and sending.
            timeout=httpx.Timeout(self._connect_timeout_s, read=None),
            # Every streaming answer holds a connection; the server is the one to limit them.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        )
        try:
            response = await self._client.get(
                f"{self._base_url}/models", timeout=min(self._connect_timeout_s, _PROBE_TIMEOUT_S)
            )
        except httpx.HTTPError as exc:
            log.warning("%s (%s)", self._unreachable(exc), exc)
            return
        if response.is_error:
            log.warning("GET %s/models answered HTTP %d", self._base_url, response.status_code)

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncGenerator[str | ToolCall, None]:
        """Yield `choices[0].delta.content` pieces, then any tool calls the model made.

        Closing early closes the HTTP response.
        """
        client = self._client
        if client is None:
            raise LLMUnavailable("The model client is not loaded; call load() first.")
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [_wire_message(m) for m in messages],
            "stream": True,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
        }
        if options.tools:
            body["tools"] = list(options.tools)
        payload = orjson.dumps(body)
        loop = asyncio.get_running_loop()
        yielded = False
        attempt = 0
        while True:
            deadline = loop.time() + self._first_token_timeout_s
            try:
                response = await self._open(client, payload, deadline)
                try:
                    lines = cast(AsyncGenerator[str, None], response.aiter_lines())
                    calls: dict[int, dict[str, str]] = {}
                    async with aclosing(lines):
                        while True:
                            line = await self._next_line(lines, deadline)
                            token = _parse_line(line, calls)
                            if token is None:
                                for call in _tool_calls(calls):
                                    yield call
                                return
                            if token:
                                yielded = True
                                yield token
                                # Time spent by a slow consumer is not the server's fault.
                                deadline = loop.time() + self._inter_token_timeout_s
                finally:
                    await response.aclose()
            except TimeoutError:
                raise self._timeout(yielded) from None
            except httpx.TransportError as exc:
                failure: Exception = exc
                message = self._broken(exc) if yielded else self._unreachable(exc)
            except _Retry as exc:
                failure = exc
                message = str(exc)
            if yielded or attempt >= self._retries:
                raise LLMUnavailable(message) from failure
            await asyncio.sleep(self._retry_backoff_s * 2**attempt)
            attempt += 1

    async def _next_line(self, lines: AsyncIterator[str], deadline: float) -> str:
        """The next line of the event stream, or `TimeoutError` once `deadline` passed."""
        try:
            async with asyncio.timeout_at(deadline):
                return await anext(lines)
        except StopAsyncIteration:
            raise _Retry(
                f"The model server at {self._base_url} ended the answer without [DONE]; "
                "ask again or check its logs."
            ) from None

    async def _open(
        self, client: httpx.AsyncClient, payload: bytes, deadline: float
    ) -> httpx.Response:
        """Send the request and return a 2xx streaming response; map error statuses."""
        request = client.build_request(
            "POST",
            f"{self._base_url}/chat/completions",
            content=payload,
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
        )
        async with asyncio.timeout_at(deadline):
            response = await client.send(request, stream=True)
            if response.is_success:
                return response
            try:
                detail = await _error_detail(response)
            finally:
                await response.aclose()
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retry(
                f"The model server at {self._base_url} failed with HTTP {status} "
                f"after {self._retries + 1} attempts: {detail}; check the server or try again "
                "later."
            )
        hint = (
            "check SHEETSTREAM_OPENAI_API_KEY"
            if status in (401, 403)
            else "check SHEETSTREAM_OPENAI_MODEL and SHEETSTREAM_OPENAI_BASE_URL"
        )
        raise LLMUnavailable(
            f"The model server at {self._base_url} rejected the request with HTTP {status}: "
            f"{detail}; {hint}."
        )

    def _unreachable(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return (
                f"Could not reach the model server at {self._base_url}; check "
                "SHEETSTREAM_OPENAI_BASE_URL or start the server."
            )
        return (
            f"The model server at {self._base_url} dropped the connection before answering "
            f"({type(exc).__name__}); check its logs."
        )

    def _broken(self, exc: Exception) -> str:
        return (
            f"The connection to the model server at {self._base_url} broke mid-answer "
            f"({type(exc).__name__}); ask again."
        )

    def _timeout(self, yielded: bool) -> LLMTimeout:
        if yielded:
            return LLMTimeout(
                f"The model server at {self._base_url} sent no token for "
                f"{self._inter_token_timeout_s:g} s mid-answer; it may be overloaded "
                "(SHEETSTREAM_OPENAI_INTER_TOKEN_TIMEOUT_S sets the limit)."
            )
        return LLMTimeout(
            f"The model server at {self._base_url} sent no token within "
            f"{self._first_token_timeout_s:g} s; it may be overloaded or still loading "
            "(SHEETSTREAM_OPENAI_FIRST_TOKEN_TIMEOUT_S sets the limit)."
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _tool_calls(calls: dict[int, dict[str, str]]) -> list[ToolCall]:
    return [
        ToolCall(id=c.get("id") or f"call_{i}", name=c.get("name", ""), arguments=c["arguments"])
        for i, c in sorted(calls.items())
        if c.get("name")
    ]


def _gather_tool_calls(delta: dict[str, Any], calls: dict[int, dict[str, str]]) -> None:
    """Tool calls arrive in pieces keyed by `index`: the id and name once, arguments in parts."""
    for piece in delta.get("tool_calls") or ():
        if not isinstance(piece, dict):
            continue
        call = calls.setdefault(int(piece.get("index", 0)), {"arguments": ""})
        if piece.get("id"):
            call["id"] = str(piece["id"])
        function = piece.get("function") or {}
        if function.get("name"):
            call["name"] = str(function["name"])
        if function.get("arguments"):
            call["arguments"] += str(function["arguments"])


def _parse_line(line: str, calls: dict[int, dict[str, str]] | None = None) -> str | None:
    """The content of one SSE line: "" for lines without text, None at `[DONE]`.

    Tool-call pieces go into `calls`.

    Each `data:` line is handled on its own: OpenAI-compatible servers put one JSON object on
    one line, and waiting for the blank line that ends the event would delay every token.
    """
    if not line.startswith("data:"):
        return ""  # blank separators, `: comment` keep-alives, `event:`/`id:` fields
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    if not data:
        return ""
    try:
        event: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise LLMUnavailable(
            f"The model server sent an event that is not JSON: {_trim(data)}"
        ) from exc
    if not isinstance(event, dict):
        return ""
    if "error" in event:
        raise LLMUnavailable(f"The model server failed mid-answer: {_message_of(event)}")
    choices = event.get("choices")
    if not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta") or {}
    if calls is not None and isinstance(delta, dict):
        _gather_tool_calls(delta, calls)
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


async def _error_detail(response: httpx.Response) -> str:
    """The server's own error message from a response body, trimmed."""
    body = b""
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) >= _ERROR_BODY_BYTES:
            break
    text = body[:_ERROR_BODY_BYTES].decode("utf-8", "replace")
    try:
        parsed: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _trim(text) or response.reason_phrase or "no details"
    return _message_of(parsed) if isinstance(parsed, dict) else _trim(text)


def _message_of(event: dict[str, Any]) -> str:
    """`error.message`, `error`, `detail` or `message` of an error object, trimmed."""
    error = event.get("error")
    if isinstance(error, dict):
        error = error.get("message", error)
    for candidate in (error, event.get("detail"), event.get("message")):
        if candidate:
            return _trim(candidate if isinstance(candidate, str) else str(candidate))
    return _trim(str(event))


def _trim(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _ERROR_MESSAGE_CHARS:
        return text[: _ERROR_MESSAGE_CHARS - 1] + "…"
    return text
