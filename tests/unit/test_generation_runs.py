"""A model's runs of tokens in `generate`: cut at the answer's limit, counted like tokens."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from sheetstream.llm.base import ChatMessage, GenerationOptions
from sheetstream.llm.synthetic import SyntheticModel, prose_tokens
from sheetstream.protocol import BatchOptions, EndReason, StreamingMode
from sheetstream.storage.sqlite import SQLiteStorage
from sheetstream.streaming.generation import generate, new_record
from sheetstream.streaming.stats import Stats
from sheetstream.streaming.stream import Stream


@pytest.mark.parametrize(("limit", "reason"), [(40, EndReason.LENGTH), (101, EndReason.COMPLETE)])
async def test_runs_are_cut_at_the_answer_limit(
    tmp_path: Path, limit: int, reason: EndReason
) -> None:
    storage = SQLiteStorage(f"sqlite:///{tmp_path / 'h.db'}")
    await storage.connect()
    model = SyntheticModel(tokens=100)  # at rate 0: runs of 32
    await model.load()
    stream = Stream(
        "st_1", "ss_1", "r1", StreamingMode.TOKEN_BY_TOKEN, BatchOptions(16, 25), time.monotonic
    )
    await storage.ensure_session("ss_1", time.time())
    record = new_record(stream, "q", None)
    stored = asyncio.ensure_future(storage.add_message(record))
    messages = [ChatMessage("user", "q")]
    await generate(
        stream,
        model,
        messages,
        GenerationOptions(max_tokens=limit),
        storage,
        record,
        stored,
        Stats(),
    )
    expected = min(limit, 100)
    assert stream.reason is reason and stream.tokens == expected
    assert sum(stream.chunk_tokens) == expected and record.answer_tokens == expected
    assert stream.text == "".join(prose_tokens(expected))
    await storage.disconnect()
