"""An exact answer streamed like a model's: what the chat commands use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable

from sheetstream.llm.base import ChatMessage, GenerationOptions
from sheetstream.llm.synthetic import iter_tokens


class TextReply:
    """Streams the text `compose` returns as word-piece tokens; the chunks concatenate to it
    byte for byte.

    The text is composed when the answer starts, inside the generation, so a failure or a
    `cancel` while it is worked out (a query running) ends the answer like a model's would.
    Split as it is sent: an answer stopped at `max_answer_tokens` splits no further."""

    name = "command"
    supports_tools = False
    reads_questions = False
    ready = True

    def __init__(self, compose: Callable[[], Awaitable[str]]) -> None:
        self._compose = compose

    async def load(self) -> None:
        return None

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncGenerator[str, None]:
        for index, token in enumerate(iter_tokens(await self._compose()), start=1):
            yield token
            if index % 64 == 0:
                await asyncio.sleep(0)  # let writers run on long tables

    async def aclose(self) -> None:
        return None
