"""A fixed answer streamed like a model's: what the exact chat commands use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from sheetstream.llm.base import ChatMessage, GenerationOptions
from sheetstream.llm.synthetic import iter_tokens


class TextReply:
    """Streams `text` as word-piece tokens; the chunks concatenate to it byte for byte.

    Split as it is sent: an answer stopped at `max_answer_tokens` splits no further."""

    name = "command"
    supports_tools = False
    ready = True

    def __init__(self, text: str) -> None:
        self._text = text

    async def load(self) -> None:
        return None

    async def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncGenerator[str, None]:
        for index, token in enumerate(iter_tokens(self._text), start=1):
            yield token
            if index % 64 == 0:
                await asyncio.sleep(0)  # let writers run on long tables

    async def aclose(self) -> None:
        return None
