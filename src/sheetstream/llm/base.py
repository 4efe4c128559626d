"""What every model backend offers: load, stream tokens for a conversation, close."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks for a tool: `arguments` is the JSON text it wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn that called tools
    tool_call_id: str | None = None  # a tool's result answers this call


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    max_tokens: int
    temperature: float = 0.2
    tools: tuple[dict[str, Any], ...] = ()  # OpenAI-style function specs, for models that call


# Several tokens handed over at once, in order: what a model that has more than one ready
# yields (a burst read from a server, a queue drained), so they cost one step, not one each.
TokenRun = tuple[str, ...]


def tokens_of(item: str | TokenRun) -> TokenRun:
    """The tokens of what a model yielded, one or a run, as a run."""
    return (item,) if isinstance(item, str) else item


class Model(Protocol):
    """A streaming chat model.

    `stream` yields the answer one token (a piece of text) at a time, or a `TokenRun` of the
    tokens it has ready at once. Closing the iterator
    early (`aclose`, or cancelling the task that iterates it) must stop the generation itself,
    not only the delivery. Errors are raised as `LLMUnavailable` or `LLMTimeout`.
    """

    name: str
    supports_tools: bool  # True when `stream` may yield `ToolCall`s given `options.tools`
    # False for a model that streams canned text whatever is asked (the synthetic one): the
    # planner leaves its answers alone
    reads_questions: bool

    async def load(self) -> None:
        """Make the model ready to answer (load weights, check the server); idempotent."""

    @property
    def ready(self) -> bool:
        """True once `load` succeeded."""

    def stream(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncGenerator[str | TokenRun | ToolCall, None]:
        """Yield the answer's tokens; a model that calls tools yields `ToolCall`s last."""

    async def aclose(self) -> None:
        """Release threads, connections and weights."""
