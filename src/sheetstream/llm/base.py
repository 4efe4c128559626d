"""What every model backend offers: load, stream tokens for a conversation, close."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    max_tokens: int
    temperature: float = 0.2


class Model(Protocol):
    """A streaming chat model.

    `stream` yields the answer one token (a piece of text) at a time. Closing the iterator
    early (`aclose`, or cancelling the task that iterates it) must stop the generation itself,
    not only the delivery. Errors are raised as `LLMUnavailable` or `LLMTimeout`.
    """

    name: str

    async def load(self) -> None:
        """Make the model ready to answer (load weights, check the server); idempotent."""

    @property
    def ready(self) -> bool:
        """True once `load` succeeded."""

    def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncGenerator[str, None]:
        """Yield the answer's tokens."""

    async def aclose(self) -> None:
        """Release threads, connections and weights."""
