"""The synthetic model: exact file text, token counts, limits and pacing."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from sheetstream.errors import LLMUnavailable
from sheetstream.llm.base import ChatMessage, GenerationOptions, TokenRun, tokens_of
from sheetstream.llm.synthetic import SyntheticModel
from sheetstream.settings import Settings

QUESTION = [ChatMessage("user", "What is in my workbook?")]
TRICKY = (
    "\ufeffFirst line with trailing spaces   \r\n"
    "  indented\ttabs\t\tand a verylongwordthatkeepsgoingandgoing.\r\n"
    "\r\n"
    "Emoji: 👩\u200d👩\u200d👧\u200d👦 🇯🇵 👍🏽 — done.\n"
    "CJK: 電子表格には十二枚のシートがあります。合計は３．１４です。\n"
    "Combining: e\u0301 n\u0303; NBSP:\u00a0here; zero-width:\u200bjoin\n"
    "Ends with blank lines and spaces \n\n  "
)


async def collect(stream: AsyncGenerator[str | TokenRun, None]) -> list[str]:
    """The tokens, whether they came one at a time or in runs."""
    return [token async for item in stream for token in tokens_of(item)]


async def loaded(**settings: Any) -> SyntheticModel:
    model = SyntheticModel.from_settings(Settings(model="synthetic", **settings))
    await model.load()
    return model


async def test_synthetic_text_round_trips_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "answer.txt"
    path.write_bytes(TRICKY.encode("utf-8"))
    model = await loaded(synthetic_text=str(path), synthetic_tokens=3)

    tokens = await collect(model.stream(QUESTION, GenerationOptions(max_tokens=10_000)))

    assert "".join(tokens).encode("utf-8") == path.read_bytes()
    assert len(tokens) > 3, "SYNTHETIC_TEXT must win over SYNTHETIC_TOKENS"
    assert all(0 < len(token) <= 8 for token in tokens)
    # Whitespace travels with the word after it: no token has text followed by whitespace.
    assert all(token.strip() == "" or token == token.rstrip() for token in tokens)


async def test_synthetic_text_is_read_once_at_load(tmp_path: Path) -> None:
    path = tmp_path / "answer.txt"
    path.write_text("Read me once.", encoding="utf-8")
    model = await loaded(synthetic_text=str(path))
    path.unlink()

    first = await collect(model.stream(QUESTION, GenerationOptions(max_tokens=100)))
    second = await collect(model.stream(QUESTION, GenerationOptions(max_tokens=100)))

    assert "".join(first) == "".join(second) == "Read me once."


@pytest.mark.parametrize("content", [None, b"\xff\xfe not utf-8"])
async def test_unreadable_synthetic_text_is_unavailable(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "answer.txt"
    if content is not None:
        path.write_bytes(content)
    model = SyntheticModel.from_settings(Settings(model="synthetic", synthetic_text=str(path)))

    with pytest.raises(LLMUnavailable, match="SHEETSTREAM_SYNTHETIC_TEXT"):
        await model.load()
    assert not model.ready


async def test_token_count_is_honoured_with_sentences_numbers_and_paragraphs() -> None:
    model = await loaded(synthetic_tokens=300)

    tokens = await collect(model.stream(QUESTION, GenerationOptions(max_tokens=10_000)))
    text = "".join(tokens)

    assert len(tokens) == 300
    assert "\n\n" in text
    assert len(re.findall(r"[a-z]\. [A-Z]", text)) >= 3
    assert re.search(r"\d\.\d", text)


async def test_answers_are_deterministic() -> None:
    model = await loaded(synthetic_tokens=50)
    first = await collect(model.stream(QUESTION, GenerationOptions(max_tokens=50)))
    second = await collect(model.stream(QUESTION, GenerationOptions(max_tokens=50)))
    assert first == second


@pytest.mark.parametrize("use_file", [False, True])
async def test_max_tokens_is_honoured(tmp_path: Path, use_file: bool) -> None:
    path = tmp_path / "answer.txt"
    path.write_text("one two three four five six seven eight nine ten " * 5, encoding="utf-8")
    model = await loaded(synthetic_tokens=100, synthetic_text=str(path) if use_file else "")

    tokens = await collect(model.stream(QUESTION, GenerationOptions(max_tokens=7)))

    assert len(tokens) == 7


async def test_rate_paces_the_kth_token_to_k_over_rate_seconds() -> None:
    rate = 200.0
    model = await loaded(synthetic_tokens=30, synthetic_rate=rate)
    loop = asyncio.get_running_loop()

    before = loop.time()  # the stream starts at the first __anext__, which is later
    arrivals = [
        loop.time()
        async for item in model.stream(QUESTION, GenerationOptions(100))
        for _ in tokens_of(item)  # a run: all of it due by now
    ]

    assert len(arrivals) == 30
    for k, arrived in enumerate(arrivals, start=1):
        assert arrived - before >= k / rate, f"token {k} came {arrived - before:.4f} s in"


async def test_a_late_loop_gets_overdue_tokens_without_waiting() -> None:
    model = await loaded(synthetic_tokens=100, synthetic_rate=100.0)
    stream = model.stream(QUESTION, GenerationOptions(max_tokens=100))
    await anext(stream)

    time.sleep(0.25)  # noqa: ASYNC251 - blocking the loop on purpose: tokens 2..26 come due

    step = stream.__anext__()
    # A coroutine that finishes on its first step did not sleep: the overdue tokens, in one run.
    with pytest.raises(StopIteration) as done:
        step.send(None)
    run = done.value.value
    assert isinstance(run, tuple) and len(run) >= 25
    await stream.aclose()


async def test_rate_zero_hands_over_runs_one_turn_each() -> None:
    model = await loaded(synthetic_tokens=100)
    items = [item async for item in model.stream(QUESTION, GenerationOptions(max_tokens=100))]
    assert [len(item) for item in items] == [32, 32, 32, 4]


async def test_rate_zero_lets_other_tasks_run() -> None:
    model = await loaded(synthetic_tokens=2000)
    turns = 0

    async def other() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    turns = 0
    tokens = 0
    async for run in model.stream(QUESTION, GenerationOptions(max_tokens=2000)):
        tokens += len(run)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    assert tokens == 2000
    assert turns >= 2000 // 32 - 2


async def test_stream_before_load_is_unavailable() -> None:
    model = SyntheticModel()
    with pytest.raises(LLMUnavailable, match="load"):
        await anext(model.stream(QUESTION, GenerationOptions(max_tokens=5)))
