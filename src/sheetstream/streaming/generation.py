"""Run the model for one question into its stream, and store the answer however it ends."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from typing import Any, Protocol

import orjson

from sheetstream import protocol
from sheetstream.errors import LLMError, SheetstreamError
from sheetstream.grounding import Evidence, check_numbers
from sheetstream.llm.base import ChatMessage, GenerationOptions, Model, ToolCall
from sheetstream.protocol import EndReason
from sheetstream.storage.base import MessageRecord, Storage
from sheetstream.streaming.stats import Stats
from sheetstream.streaming.stream import Stream

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 4  # tool calls one answer may go through before it must answer in words
MAX_CALLS_PER_ROUND = 4  # tools run per round; a model asked to call hundreds runs four
END_HOLD_S = 10.0  # an answer's `end` waits at most this long for the answer to be stored


class ToolRunner(Protocol):
    """Runs the tools a model calls; returns the text the model gets back."""

    async def run(self, call: ToolCall) -> str: ...


def _no_tools(options: GenerationOptions) -> GenerationOptions:
    return dataclasses.replace(options, tools=())


async def generate(
    stream: Stream,
    model: Model,
    messages: list[ChatMessage],
    options: GenerationOptions,
    storage: Storage,
    record: MessageRecord,
    stored: asyncio.Task[None],
    stats: Stats,
    evidence: Evidence | None = None,
    tools: ToolRunner | None = None,
    ended: Callable[[MessageRecord], None] | None = None,
) -> None:
    """Stream the answer into `stream`, then store it once `stored` (the question) landed.

    `ended` gets the finished record as soon as the answer ends, before it is written.

    Cancellation by `cancel` ends it as `cancelled`, keeping its text, whenever it comes.

    A cancellation that was not asked for through the stream (server shutdown) ends it as
    `interrupted`, for its readers and in the history, and propagates.
    """
    reason = EndReason.COMPLETE
    error: SheetstreamError | None = None
    shutting_down = False
    try:
        conversation = list(messages)
        for round_ in range(MAX_TOOL_ROUNDS + 1):
            # the last round offers no tools, so the model has to answer in words
            offered = (
                options if tools is not None and round_ < MAX_TOOL_ROUNDS else _no_tools(options)
            )
            calls: list[ToolCall] = []
            async with aclosing(model.stream(conversation, offered)) as tokens:
                async for token in tokens:
                    if isinstance(token, str):
                        stream.add_token(token)
                    elif isinstance(token, ToolCall):
                        calls.append(token)
                        continue
                    else:  # a run of tokens, cut at the answer's limit
                        stream.add_tokens(token[: options.max_tokens - stream.tokens])
                    if stream.tokens >= options.max_tokens:
                        reason = EndReason.LENGTH
                        break
            if not calls or tools is None or reason is EndReason.LENGTH:
                break
            conversation.append(ChatMessage("assistant", "", tool_calls=tuple(calls)))
            for number, call in enumerate(calls):
                result = (
                    await tools.run(call)
                    if number < MAX_CALLS_PER_ROUND
                    else f"Not run: at most {MAX_CALLS_PER_ROUND} tool calls at a time."
                )
                conversation.append(ChatMessage("tool", result, tool_call_id=call.id))
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if stream.cancel_requested and task is not None:
            task.uncancel()
            reason = EndReason.CANCELLED
        else:
            shutting_down = True
            reason = EndReason.INTERRUPTED
            raise
    except LLMError as exc:
        reason, error = EndReason.ERROR, exc
    except Exception:
        log.exception("generation failed for stream %s", stream.stream_id)
        reason = EndReason.ERROR
        error = SheetstreamError("The answer failed inside the server; please ask again.")
    finally:
        error_frame = None
        if error is not None:
            stats.errors[error.code] += 1
            error_frame = protocol.error_frame(error.code, error.message, stream.request_id)
        annotate = None
        if evidence is not None:

            def annotate(answer: str) -> dict[str, Any]:
                # every number the answer states, checked against this turn's data
                record.grounding = check_numbers(answer, evidence, record.question).to_json()
                return {"grounding": record.grounding}

        stream.finish(reason, error_frame, annotate, hold=True)
        stats.streams_active[stream.mode.value] -= 1
        _fill(stream, record, error, shutting_down)
        if ended is not None:
            ended(record)
        try:
            if not stream.fenced:  # else the node that ended it stored what the log has
                await _store(stream, record, storage, stored)
        finally:
            stream.publish_end()


def _fill(
    stream: Stream, record: MessageRecord, error: SheetstreamError | None, shutting_down: bool
) -> None:
    """The answer and its figures, as they will be stored."""
    record.answer = stream.text
    record.tools = [orjson.loads(frame) for frame in stream.preface] or None
    record.status = "interrupted" if shutting_down else (stream.reason or EndReason.ERROR).value
    record.partial = record.status != EndReason.COMPLETE.value
    record.error_code = error.code if error is not None else None
    record.answer_tokens = stream.tokens
    record.chunks = stream.last_seq
    if stream.first_token_at is not None:
        record.first_token_ms = round((stream.first_token_at - stream.created_at) * 1000, 3)
    record.duration_ms = round(((stream.ended_at or stream.clock()) - stream.created_at) * 1000, 3)


async def _store(
    stream: Stream, record: MessageRecord, storage: Storage, stored: asyncio.Task[None]
) -> None:
    """Store the answer, holding its `end` until it is written or `END_HOLD_S` passed (the
    write goes on: a slow disk delays the `end`, it does not lose the answer)."""

    async def write() -> None:
        await stored  # the question's row must exist before it is finished
        await storage.finish_message(record)

    def failed(task: asyncio.Task[None]) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.error("could not store the answer of stream %s", stream.stream_id, exc_info=exc)

    writing = asyncio.ensure_future(write())
    writing.add_done_callback(failed)
    try:
        await asyncio.wait_for(asyncio.shield(writing), END_HOLD_S)
    except TimeoutError:
        log.warning(
            "storing the answer of stream %s takes over %.0f s: its end goes out first",
            stream.stream_id,
            END_HOLD_S,
        )
    except Exception:
        pass  # logged by `failed`


def new_record(stream: Stream, question: str, workbook_id: str | None) -> MessageRecord:
    return MessageRecord(
        stream_id=stream.stream_id,
        session_id=stream.session_id,
        request_id=stream.request_id,
        question=question,
        mode=stream.mode.value,
        created_at=time.time(),
        workbook_id=workbook_id,
    )
